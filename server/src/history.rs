//! A document's full history, read from Automerge: who changed what, and when.
//!
//! Every change of a document is kept (Automerge never forgets), so the authoritative record
//! can say, change by change, which person under which role changed which field: the writer
//! comes from the document's `actors` map, what changed from `diff(deps, [change])` rendered as
//! short lines (`card.grade = "A"`, `visits/<id> added`). client-core commits without a
//! timestamp, so the time shown is the change's own when it has one, else when the server
//! first received it (from the server's change log).

use std::collections::{BTreeSet, HashMap};

use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, Patch, PatchAction, Prop, ReadDoc, Value};
use client_core::documents::{actor_roles, genesis_hash};
use client_core::model::Role;
use client_core::DocId;
use serde::Serialize;

use crate::error::{Error, Result};

/// When and from which device the server first received a change.
#[derive(Clone, Debug)]
pub struct Receipt {
    /// RFC 3339.
    pub at: String,
    /// The device it came from, or `admin` for the server's own changes.
    pub via: String,
}

/// One change of a document's history.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryEntry {
    /// The change's hash.
    pub hash: String,
    /// When (RFC 3339): the change's own time, else when the server received it.
    pub at: Option<String>,
    /// The writer's actor (hex).
    pub actor: String,
    /// The writer, from the document's `actors` map (`None` for the genesis change).
    pub user: Option<String>,
    /// The writer's role.
    pub role: Option<Role>,
    /// The device it came from (or `admin`), when the server knows.
    pub via: Option<String>,
    /// What it changed, one line per field or record.
    pub changes: Vec<String>,
}

/// The customer documents' collections, rendered `visits/<id>` rather than `visits.<id>`.
const COLLECTIONS: &[&str] = &["policies", "visits", "contacts", "comments", "problems"];

/// The history of a document saved as `bytes`, oldest change first.
pub fn history(
    doc: &DocId,
    bytes: &[u8],
    receipts: &HashMap<String, Receipt>,
) -> Result<Vec<HistoryEntry>> {
    let mut d = AutoCommit::load(bytes).map_err(|e| client_core::Error::CorruptDocument {
        doc: doc.to_string(),
        reason: e.to_string(),
    })?;
    let roles = actor_roles(&d);
    let genesis = genesis_hash(doc).map_err(Error::Core)?;
    let changes: Vec<(ChangeHash, Vec<ChangeHash>, String, i64)> = d
        .get_changes(&[])
        .iter()
        .map(|c| {
            (
                c.hash(),
                c.deps().to_vec(),
                c.actor_id().to_hex_string(),
                c.timestamp(),
            )
        })
        .collect();
    let mut out = vec![];
    for (hash, deps, actor, time) in changes {
        let receipt = receipts.get(&hash.to_string());
        let at = if time > 0 {
            chrono::DateTime::from_timestamp(time, 0).map(|t| t.to_rfc3339())
        } else {
            receipt.map(|r| r.at.clone())
        };
        let who = roles.get(&actor);
        let lines = if hash == genesis {
            vec!["document created".to_string()]
        } else {
            let patches = d.diff(&deps, &[hash]);
            render(&d, &patches, &[hash])
        };
        out.push(HistoryEntry {
            hash: hash.to_string(),
            at,
            actor,
            user: who.map(|(_, u)| u.clone()),
            role: who.map(|(r, _)| *r),
            via: receipt.map(|r| r.via.clone()),
            changes: lines,
        });
    }
    Ok(out)
}

fn prop_text(p: &Prop) -> String {
    match p {
        Prop::Map(k) => k.clone(),
        Prop::Seq(i) => format!("[{i}]"),
    }
}

/// `card.grade`, `visits/<id>`, `visits/<id>.notes`.
fn path_text(segments: &[String]) -> String {
    let mut s = String::new();
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            let sep = if i == 1 && COLLECTIONS.contains(&segments[0].as_str()) {
                "/"
            } else if seg.starts_with('[') {
                ""
            } else {
                "."
            };
            s.push_str(sep);
        }
        s.push_str(seg);
    }
    s
}

/// A value as short JSON text, reading nested objects at `heads`.
fn value_text(d: &AutoCommit, v: &Value<'_>, id: &ObjId, heads: &[ChangeHash]) -> String {
    json_at(d, v, id, heads).to_string()
}

fn json_at(d: &AutoCommit, v: &Value<'_>, id: &ObjId, heads: &[ChangeHash]) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Scalar(s) => match s.as_ref() {
            automerge::ScalarValue::Str(t) => J::from(t.to_string()),
            automerge::ScalarValue::Int(i) => J::from(*i),
            automerge::ScalarValue::Uint(u) => J::from(*u),
            automerge::ScalarValue::F64(f) => J::from(*f),
            automerge::ScalarValue::Boolean(b) => J::from(*b),
            automerge::ScalarValue::Timestamp(t) => J::from(*t),
            automerge::ScalarValue::Counter(c) => J::from(i64::from(c)),
            _ => J::Null,
        },
        Value::Object(ObjType::List) => J::Array(
            (0..d.length_at(id, heads))
                .filter_map(|i| d.get_at(id, i, heads).ok().flatten())
                .map(|(v, vid)| json_at(d, &v, &vid, heads))
                .collect(),
        ),
        Value::Object(ObjType::Text) => J::from(d.text_at(id, heads).unwrap_or_default()),
        Value::Object(_) => {
            let mut m = serde_json::Map::new();
            for k in d.keys_at(id, heads) {
                if let Ok(Some((v, vid))) = d.get_at(id, k.as_str(), heads) {
                    m.insert(k, json_at(d, &v, &vid, heads));
                }
            }
            J::Object(m)
        }
    }
}

/// Renders one change's patches as lines; fields of objects the change created are folded
/// into the object's own line.
fn render(d: &AutoCommit, patches: &[Patch], heads: &[ChangeHash]) -> Vec<String> {
    let mut created: BTreeSet<ObjId> = BTreeSet::new();
    let mut lines = vec![];
    for p in patches {
        let mut segs: Vec<String> = p.path.iter().map(|(_, prop)| prop_text(prop)).collect();
        if segs.first().is_some_and(|s| s == "actors") {
            continue;
        }
        if p.path.iter().any(|(o, _)| created.contains(o)) || created.contains(&p.obj) {
            continue;
        }
        match &p.action {
            PatchAction::PutMap { key, value, .. } => {
                if segs.is_empty() && key == "actors" {
                    continue;
                }
                segs.push(key.clone());
                let path = path_text(&segs);
                match &value.0 {
                    Value::Object(_) => {
                        created.insert(value.1.clone());
                        let is_record = segs.len() == 2 && COLLECTIONS.contains(&segs[0].as_str());
                        if is_record {
                            lines.push(format!("{path} added"));
                        } else {
                            lines.push(format!(
                                "{path} = {}",
                                value_text(d, &value.0, &value.1, heads)
                            ));
                        }
                    }
                    v => lines.push(format!("{path} = {}", value_text(d, v, &value.1, heads))),
                }
            }
            PatchAction::DeleteMap { key } => {
                segs.push(key.clone());
                lines.push(format!("{} removed", path_text(&segs)));
            }
            PatchAction::Conflict { .. } => {}
            _ => {
                let line = format!("{} changed", path_text(&segs));
                if lines.last() != Some(&line) {
                    lines.push(line);
                }
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT};
    use client_core::documents::{genesis, obj, register_actor};
    use client_core::CustomerId;

    use super::*;

    #[test]
    fn history_names_the_writer_and_the_fields() {
        let id = DocId::Customer(CustomerId::new());
        let mut d = genesis(&id, &ActorId::from(&[7u8; 16][..])).unwrap();
        register_actor(&mut d, Role::Supervisor, "s1").unwrap();
        let card = obj(&d, &ROOT, "card").unwrap();
        d.put(&card, "grade", "A").unwrap();
        d.commit();
        let visits = obj(&d, &ROOT, "visits").unwrap();
        let v = d.put_object(&visits, "v1", ObjType::Map).unwrap();
        d.put(&v, "notes", "hello").unwrap();
        d.commit();
        let h = history(&id, &d.save(), &HashMap::new()).unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].changes, vec!["document created"]);
        assert_eq!(h[1].changes, vec!["card.grade = \"A\""]);
        assert_eq!(h[1].user.as_deref(), Some("s1"));
        assert_eq!(h[1].role, Some(Role::Supervisor));
        assert_eq!(h[2].changes, vec!["visits/v1 added"]);
    }
}
