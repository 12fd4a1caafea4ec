//! How the field's records are laid out inside Automerge documents.
//!
//! Two kinds of documents (see `docs/ARCHITECTURE.md` for why this granularity):
//!
//! * `customer:<uuid>`: root keys `card` (a map of the card's fields), `policies`, `visits`,
//!   `contacts`, `comments` (maps from a record's UUID to a map of its fields);
//! * `day:<user>:<date>`: root keys `log`, `report` (maps of fields) and `problems` (UUID →
//!   map, each with an `answers` map).
//!
//! Every document also has `actors`, a map from an Automerge actor (hex) to `"role:user"`,
//! written by each writer before its first change, so that any replica can tell a manager's
//! concurrent value from an agent's and resolve the conflict the same way.
//!
//! **Genesis.** Each document starts with a change that is byte-for-byte the same on every
//! replica (a fixed actor derived from the document's name, time 0, the same operations), so
//! two phones that create the same day document offline do not end up with two conflicting
//! `log` objects after merging — the known Automerge data-loss trap.
//!
//! Field values are JSON-shaped: strings, numbers, booleans and null are Automerge scalars;
//! arrays and objects are nested Automerge lists and maps replaced as a whole when they change.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, ScalarValueRef, Value, ValueRef,
    ROOT,
};
use serde_json::{Map, Number, Value as Json};

use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::model::{Conflict, Role};

/// Fields whose concurrent values are settled by the writer's role: a manager's value beats an
/// agent's whatever the merge order. Everything else follows Automerge's own rule (the value of
/// the operation with the greatest Lamport id wins).
pub const ROLE_GOVERNED: &[&str] = &["grade", "agent", "targets", "level"];

/// The collections a customer document holds, besides `card`.
pub const CUSTOMER_COLLECTIONS: &[&str] = &["policies", "visits", "contacts", "comments"];

/// The marker put in every document's root, with the layout version.
const MARKER: &str = "doorstep";
const LAYOUT_VERSION: i64 = 1;

/// The actor that writes a document's genesis change: derived from the document's name so it
/// is the same on every replica.
pub fn genesis_actor(doc: &DocId) -> ActorId {
    let u = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, doc.to_string().as_bytes());
    ActorId::from(u.as_bytes().as_slice())
}

/// A new document holding only its genesis change, then switched to `actor` for later edits.
pub fn genesis(doc: &DocId, actor: &ActorId) -> Result<AutoCommit> {
    let mut d = genesis_under(doc, genesis_actor(doc))?;
    d.set_actor(actor.clone());
    Ok(d)
}

/// `doc`'s genesis written under `genesis_actor` (its own derived one, or a template's).
fn genesis_under(doc: &DocId, genesis_actor: ActorId) -> Result<AutoCommit> {
    let mut d = AutoCommit::new().with_actor(genesis_actor);
    d.put(ROOT, MARKER, doc.kind())?;
    d.put(ROOT, "layout", LAYOUT_VERSION)?;
    d.put_object(ROOT, "actors", ObjType::Map)?;
    let roots: &[&str] = match doc {
        DocId::Customer(_) => &["card", "policies", "visits", "contacts", "comments"],
        DocId::Day(..) => &["log", "report", "problems"],
    };
    for key in roots {
        d.put_object(ROOT, *key, ObjType::Map)?;
    }
    d.commit_with(CommitOptions::default().with_time(0));
    Ok(d)
}

/// The hash of a document's genesis change: the one change every replica may carry under the
/// genesis actor.
pub fn genesis_hash(doc: &DocId) -> Result<automerge::ChangeHash> {
    Ok(GenesisRef::of(doc)?.hash)
}

/// A document's genesis as the checks compare against it, built once: the genesis change's
/// hash and the root values it creates (key, value, object id), in key order. Building the
/// genesis document is most of what checking a new document's origin costs; a received
/// message's checks share one ([`crate::Incoming::genesis_ref`]).
#[derive(Clone, Debug)]
pub struct GenesisRef {
    /// The hash of the genesis change.
    pub hash: automerge::ChangeHash,
    /// The root values the genesis creates, in key order.
    pub roots: Vec<(String, Value<'static>, ObjId)>,
}

/// The genesis of every document of one kind, written under [`TEMPLATE_ACTOR`]: a document's
/// own genesis change is these bytes with its genesis actor in the template actor's place
/// (the actor appears once in a change's bytes; the operations refer to it by index).
struct GenesisTemplate {
    bytes: Vec<u8>,
    actor_at: usize,
    roots: Vec<(String, Value<'static>, ObjId)>,
}

/// A template's actor: 16 bytes no derived genesis actor shares (a UUID v5 has its version
/// nibble set to 5; this one's is 0xA).
const TEMPLATE_ACTOR: [u8; 16] = [0xA5; 16];

impl GenesisTemplate {
    fn build(doc: &DocId) -> Option<GenesisTemplate> {
        let mut g = genesis_under(doc, ActorId::from(&TEMPLATE_ACTOR[..])).ok()?;
        let change = g.get_changes(&[]).into_iter().next()?;
        let bytes = change.raw_bytes().to_vec();
        let mut at = bytes
            .windows(TEMPLATE_ACTOR.len())
            .enumerate()
            .filter(|(_, w)| *w == TEMPLATE_ACTOR)
            .map(|(i, _)| i);
        let actor_at = at.next()?;
        if at.next().is_some() {
            return None;
        }
        let mut roots = map_values(&g, &ROOT);
        roots.sort_by(|a, b| a.0.cmp(&b.0));
        Some(GenesisTemplate {
            bytes,
            actor_at,
            roots,
        })
    }

    fn of(doc: &DocId) -> Option<&'static GenesisTemplate> {
        static CUSTOMER: OnceLock<Option<GenesisTemplate>> = OnceLock::new();
        static DAY: OnceLock<Option<GenesisTemplate>> = OnceLock::new();
        let cell = match doc {
            DocId::Customer(_) => &CUSTOMER,
            DocId::Day(..) => &DAY,
        };
        cell.get_or_init(|| GenesisTemplate::build(doc)).as_ref()
    }

    /// `doc`'s genesis from the template: the change's bytes with `doc`'s genesis actor put
    /// in, parsed (and hashed) by Automerge; `None` if that does not give a change by that
    /// actor.
    fn instantiate(&self, doc: &DocId) -> Option<GenesisRef> {
        let actor = genesis_actor(doc);
        let own = actor.to_bytes();
        if own.len() != TEMPLATE_ACTOR.len() {
            return None;
        }
        let mut bytes = self.bytes.clone();
        bytes[self.actor_at..self.actor_at + own.len()].copy_from_slice(own);
        let change = automerge::Change::try_from(&bytes[..]).ok()?;
        if change.actor_id() != &actor || !change.deps().is_empty() {
            return None;
        }
        let roots = self
            .roots
            .iter()
            .map(|(k, v, id)| {
                let id = match id {
                    ObjId::Id(counter, _, index) => ObjId::Id(*counter, actor.clone(), *index),
                    ObjId::Root => ObjId::Root,
                };
                (k.clone(), v.clone(), id)
            })
            .collect();
        Some(GenesisRef {
            hash: change.hash(),
            roots,
        })
    }
}

impl GenesisRef {
    /// `doc`'s genesis hash and root values: from the kind's template (building a document
    /// costs far more than hashing its one change), else by building the genesis.
    pub fn of(doc: &DocId) -> Result<GenesisRef> {
        if let Some(g) = GenesisTemplate::of(doc).and_then(|t| t.instantiate(doc)) {
            return Ok(g);
        }
        GenesisRef::built(doc)
    }

    /// Builds `doc`'s genesis and reads what the checks need from it.
    pub fn built(doc: &DocId) -> Result<GenesisRef> {
        let mut g = genesis(doc, &ActorId::from(&[0u8; 16][..]))?;
        let hash = g
            .get_heads()
            .into_iter()
            .next()
            .ok_or_else(|| Error::CorruptDocument {
                doc: doc.to_string(),
                reason: "genesis has no change".into(),
            })?;
        let mut roots = map_values(&g, &ROOT);
        roots.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(GenesisRef { hash, roots })
    }
}

/// Checks that a loaded or received document is one of ours, of the expected kind.
pub fn check_kind(d: &mut AutoCommit, doc: &DocId) -> Result<()> {
    let marker = match d.get(ROOT, MARKER)? {
        Some((Value::Scalar(s), _)) => Some(s.as_str().map(str::to_string)),
        Some(_) => Some(None),
        None => None,
    };
    match marker {
        Some(Some(kind)) if kind == doc.kind() => Ok(()),
        // A document still being synced may not have its genesis yet.
        None if d.get_heads().is_empty() => Ok(()),
        _ => Err(Error::CorruptDocument {
            doc: doc.to_string(),
            reason: format!("not a Doorstep {} document", doc.kind()),
        }),
    }
}

/// Records, once per actor, who writes with it: `"role:user"` under `actors/<hex>`.
pub fn register_actor(d: &mut AutoCommit, role: Role, user: &str) -> Result<()> {
    let actors = obj(d, &ROOT, "actors")?;
    let hex = d.get_actor().to_hex_string();
    let want = format!("{}:{}", role.code(), user);
    let have = match d.get(&actors, hex.as_str())? {
        Some((Value::Scalar(s), _)) => s.as_str().map(str::to_string),
        _ => None,
    };
    if have.as_deref() != Some(want.as_str()) {
        d.put(&actors, hex, want)?;
    }
    Ok(())
}

/// Who writes with each actor of a document: actor (hex) to role and user.
pub type ActorRoles = BTreeMap<String, (Role, String)>;

/// Who wrote with each actor of the document (role and user), as registered.
///
/// Every reader of a document's fields needs it (a role-governed field's conflict is settled
/// by it); a caller that reads one document state several times computes it once and hands
/// it down (`Incoming::roles_after`).
pub fn actor_roles(d: &AutoCommit) -> ActorRoles {
    let mut out = BTreeMap::new();
    let Ok(Some((_, actors))) = d.get(ROOT, "actors") else {
        return out;
    };
    for (hex, v, _) in map_values(d, &actors) {
        if let Value::Scalar(s) = v {
            if let Some((role, user)) = s.as_str().and_then(|s| s.split_once(':')) {
                if let Some(role) = Role::from_code(role) {
                    out.insert(hex, (role, user.to_string()));
                }
            }
        }
    }
    out
}

/// The object under `key` in `parent` (the winning one if several were created concurrently).
pub fn obj(d: &AutoCommit, parent: &ObjId, key: &str) -> Result<ObjId> {
    match d.get(parent, key)? {
        Some((Value::Object(_), id)) => Ok(id),
        _ => Err(Error::CorruptDocument {
            doc: String::new(),
            reason: format!("missing object {key:?}"),
        }),
    }
}

/// The object under `key` in `parent`, if it exists.
pub fn get_obj(d: &AutoCommit, parent: &ObjId, key: &str) -> Result<Option<ObjId>> {
    Ok(match d.get(parent, key)? {
        Some((Value::Object(_), id)) => Some(id),
        _ => None,
    })
}

/// The winning value of each key of a map object, in key order: what `keys` then `get` per key
/// returns, in one pass over the map (a key in conflict, or holding a counter, is looked up
/// with `get`, which settles it as Automerge does).
fn map_values(d: &AutoCommit, o: &ObjId) -> Vec<(String, Value<'static>, ObjId)> {
    let mut out = vec![];
    for item in d.map_range(o, ..) {
        let counter = matches!(&item.value, ValueRef::Scalar(ScalarValueRef::Counter(_)));
        if !item.conflict && !counter {
            let id = item.id();
            out.push((item.key.into_owned(), Value::from(item.value), id));
            continue;
        }
        let k = item.key.into_owned();
        if let Ok(Some((v, vid))) = d.get(o, k.as_str()) {
            out.push((k, v.into_owned(), vid));
        }
    }
    out
}

/// The keys of a map object, in order.
pub fn keys(d: &AutoCommit, o: &ObjId) -> Vec<String> {
    d.keys(o).collect()
}

/// Reads an Automerge value (scalar or object) as JSON.
fn to_json(d: &AutoCommit, v: &Value<'_>, id: &ObjId) -> Json {
    match v {
        Value::Scalar(s) => scalar_json(s),
        Value::Object(ObjType::Map) | Value::Object(ObjType::Table) => {
            let mut m = Map::new();
            for (k, v, vid) in map_values(d, id) {
                m.insert(k, to_json(d, &v, &vid));
            }
            Json::Object(m)
        }
        Value::Object(ObjType::List) => {
            let n = d.length(id);
            Json::Array(
                (0..n)
                    .filter_map(|i| d.get(id, i).ok().flatten())
                    .map(|(v, vid)| to_json(d, &v, &vid))
                    .collect(),
            )
        }
        Value::Object(ObjType::Text) => Json::String(d.text(id).unwrap_or_default()),
    }
}

fn scalar_json(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) => Json::from(*i),
        ScalarValue::Uint(u) => Json::from(*u),
        ScalarValue::F64(f) => Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        ScalarValue::Counter(c) => Json::from(i64::from(c)),
        ScalarValue::Timestamp(t) => Json::from(*t),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Null => Json::Null,
        ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => Json::Null,
    }
}

/// Writes a JSON value under `key` of map `o`.
fn put_json(d: &mut AutoCommit, o: &ObjId, key: &str, v: &Json) -> Result<()> {
    match v {
        Json::Null => d.put(o, key, ScalarValue::Null)?,
        Json::Bool(b) => d.put(o, key, *b)?,
        Json::Number(n) => match n.as_i64() {
            Some(i) => d.put(o, key, i)?,
            None => d.put(o, key, n.as_f64().unwrap_or(0.0))?,
        },
        Json::String(s) => d.put(o, key, s.as_str())?,
        Json::Array(items) => {
            let l = d.put_object(o, key, ObjType::List)?;
            for (i, item) in items.iter().enumerate() {
                insert_json(d, &l, i, item)?;
            }
        }
        Json::Object(m) => {
            let child = d.put_object(o, key, ObjType::Map)?;
            for (k, v) in m {
                put_json(d, &child, k, v)?;
            }
        }
    }
    Ok(())
}

fn insert_json(d: &mut AutoCommit, l: &ObjId, i: usize, v: &Json) -> Result<()> {
    match v {
        Json::Array(_) | Json::Object(_) => {
            let ty = if v.is_array() {
                ObjType::List
            } else {
                ObjType::Map
            };
            let child = d.insert_object(l, i, ty)?;
            match v {
                Json::Array(items) => {
                    for (j, item) in items.iter().enumerate() {
                        insert_json(d, &child, j, item)?;
                    }
                }
                Json::Object(m) => {
                    for (k, v) in m {
                        put_json(d, &child, k, v)?;
                    }
                }
                _ => {}
            }
        }
        Json::Null => d.insert(l, i, ScalarValue::Null)?,
        Json::Bool(b) => d.insert(l, i, *b)?,
        Json::Number(n) => match n.as_i64() {
            Some(x) => d.insert(l, i, x)?,
            None => d.insert(l, i, n.as_f64().unwrap_or(0.0))?,
        },
        Json::String(s) => d.insert(l, i, s.as_str())?,
    }
    Ok(())
}

/// One field as a replica sees it after merges: the winner and the concurrent losers.
struct Resolved {
    winner: Json,
    losers: Vec<Json>,
}

/// Settles a field's concurrent values deterministically.
///
/// Candidates are ordered by (role rank if the field is role-governed, Lamport counter, actor
/// bytes); the greatest wins. The order depends only on the set of values, never on the order
/// changes arrived in, so every replica shows the same winner.
fn resolve(d: &AutoCommit, o: &ObjId, key: &str, roles: &ActorRoles) -> Option<Resolved> {
    let all = d.get_all(o, key).ok()?;
    if all.is_empty() {
        return None;
    }
    let governed = ROLE_GOVERNED.contains(&key);
    // (role rank, Lamport counter, actor bytes) orders the candidates.
    type Rank = (u8, u64, Vec<u8>);
    let mut ranked: Vec<(Rank, Json)> = all
        .iter()
        .map(|(v, id)| {
            let (counter, actor) = match id {
                automerge::ObjId::Id(c, a, _) => (*c, a.clone()),
                automerge::ObjId::Root => (0, ActorId::from(&[][..])),
            };
            let rank = if governed {
                roles
                    .get(&actor.to_hex_string())
                    .map(|(r, _)| *r as u8)
                    .unwrap_or(0)
            } else {
                0
            };
            (
                (rank, counter, actor.to_bytes().to_vec()),
                to_json(d, v, id),
            )
        })
        .collect();
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    let (_, winner) = ranked.pop()?;
    Some(Resolved {
        winner,
        losers: ranked.into_iter().rev().map(|(_, j)| j).collect(),
    })
}

/// Reads a map object's fields as a JSON object, settling conflicts; the losers are appended
/// to `conflicts` under `path`.
pub fn read_fields(
    d: &AutoCommit,
    o: &ObjId,
    path: &str,
    roles: &ActorRoles,
    conflicts: &mut Vec<Conflict>,
) -> Map<String, Json> {
    let mut m = Map::new();
    // One pass over the map's visible values: a field with a single value is that value (the
    // common case: no seek per key); only a conflicted one (or a counter, whose value
    // `resolve` reads with its increments) is looked up again and settled.
    for item in d.map_range(o, ..) {
        let counter = matches!(&item.value, ValueRef::Scalar(ScalarValueRef::Counter(_)));
        if !item.conflict && !counter {
            let id = item.id();
            let value = Value::from(item.value);
            m.insert(item.key.into_owned(), to_json(d, &value, &id));
            continue;
        }
        let k = item.key.into_owned();
        if let Some(r) = resolve(d, o, &k, roles) {
            if !r.losers.is_empty() {
                conflicts.push(Conflict {
                    object: path.to_string(),
                    field: k.clone(),
                    winner: r.winner.clone(),
                    losers: r.losers,
                });
            }
            m.insert(k, r.winner);
        }
    }
    m
}

/// One record of a collection as read: its key, and its fields (`None`: the key does not hold
/// a map, so it is no record).
pub type RecordFields = (String, Option<Map<String, Json>>);

/// A customer document's records as read once, conflicts settled: what both the layout check
/// (`layout`) and the model's reading (`index::customer_view`) are made from, so that a
/// received message's document is walked once for both.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomerFields {
    /// The card's fields, if `card` is a map (empty before the card is written).
    pub card: Option<Map<String, Json>>,
    /// Each collection of [`CUSTOMER_COLLECTIONS`], in that order, with its records in key
    /// order (or, when limited to some paths, in the order of those paths).
    pub collections: Vec<(&'static str, Vec<RecordFields>)>,
    /// Fields edited concurrently, with the values that lost, in reading order.
    pub conflicts: Vec<Conflict>,
}

/// Reads a customer document's records (`roles`: its [`actor_roles`]). With `only`, the card
/// only if `card` is among these paths and, of each collection, only the records these
/// paths name (`visits/<id>`), looked up one by one rather than walking a long history.
pub fn read_customer_fields(
    d: &AutoCommit,
    roles: &ActorRoles,
    only: Option<&[String]>,
) -> CustomerFields {
    let wanted = |path: &str| only.is_none_or(|o| o.iter().any(|p| p == path));
    let mut out = CustomerFields::default();
    if wanted("card") {
        if let Ok(Some(card)) = get_obj(d, &ROOT, "card") {
            out.card = Some(read_fields(d, &card, "card", roles, &mut out.conflicts));
        }
    }
    for coll in CUSTOMER_COLLECTIONS {
        let Ok(Some(c)) = get_obj(d, &ROOT, coll) else {
            continue;
        };
        // The records' objects: in one pass over the collection, or (limited) by lookup.
        let found: Vec<(String, Option<ObjId>)> = match only {
            None => map_values(d, &c)
                .into_iter()
                .map(|(id, v, o)| (id, matches!(v, Value::Object(_)).then_some(o)))
                .collect(),
            Some(paths) => {
                let prefix = format!("{coll}/");
                paths
                    .iter()
                    .filter_map(|p| p.strip_prefix(&prefix))
                    .filter(|id| !id.contains('/') && d.get(&c, *id).ok().flatten().is_some())
                    .map(|id| (id.to_string(), get_obj(d, &c, id).ok().flatten()))
                    .collect()
            }
        };
        let records = found
            .into_iter()
            .map(|(id, o)| {
                let m = o.map(|o| {
                    read_fields(d, &o, &format!("{coll}/{id}"), roles, &mut out.conflicts)
                });
                (id, m)
            })
            .collect();
        out.collections.push((coll, records));
    }
    out
}

/// Writes the fields of `fields` that differ from what the document shows (or that are in
/// conflict, so that writing settles it). Unchanged fields write nothing.
pub fn write_fields(d: &mut AutoCommit, o: &ObjId, fields: &Map<String, Json>) -> Result<()> {
    for (k, v) in fields {
        let all = d.get_all(o, k.as_str())?;
        let unchanged = all.len() == 1 && {
            let (val, id) = &all[0];
            to_json(d, val, id) == *v
        };
        if !unchanged {
            put_json(d, o, k, v)?;
        }
    }
    Ok(())
}

/// The map for record `id` in collection `coll`, created if `create`.
pub fn record_obj(d: &mut AutoCommit, coll: &str, id: &str, create: bool) -> Result<Option<ObjId>> {
    let c = obj(d, &ROOT, coll)?;
    match get_obj(d, &c, id)? {
        Some(o) => Ok(Some(o)),
        None if create => Ok(Some(d.put_object(&c, id, ObjType::Map)?)),
        None => Ok(None),
    }
}

/// Serialises a record to a JSON object, dropping the fields the document's structure implies
/// (its id, its customer, derived numbers).
pub fn to_fields<T: serde::Serialize>(value: &T, drop: &[&str]) -> Map<String, Json> {
    let mut m = match serde_json::to_value(value) {
        Ok(Json::Object(m)) => m,
        _ => Map::new(),
    };
    for k in drop {
        m.remove(*k);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CustomerId;

    fn actor(b: u8) -> ActorId {
        ActorId::from(&[b; 16][..])
    }

    #[test]
    fn the_genesis_from_its_template_is_the_built_one() {
        let mut ids: Vec<DocId> = (0..20)
            .map(|_| DocId::Customer(CustomerId::new()))
            .collect();
        ids.push("day:A-1:2026-06-01".parse().unwrap());
        ids.push("day:S-01:2031-12-31".parse().unwrap());
        for id in &ids {
            let fast = GenesisRef::of(id).unwrap();
            let built = GenesisRef::built(id).unwrap();
            assert_eq!(fast.hash, built.hash, "{id}");
            let mut g = genesis(id, &actor(3)).unwrap();
            assert_eq!(g.get_heads(), vec![fast.hash], "{id}");
            assert_eq!(fast.roots.len(), built.roots.len());
            for (a, b) in fast.roots.iter().zip(&built.roots) {
                assert_eq!((&a.0, &a.1, &a.2), (&b.0, &b.1, &b.2), "{id}");
                if let (ObjId::Id(_, x, _), ObjId::Id(_, y, _)) = (&a.2, &b.2) {
                    assert_eq!(x, y);
                }
            }
        }
        assert!(
            GenesisTemplate::of(&ids[0]).is_some() && GenesisTemplate::of(&ids[20]).is_some(),
            "both kinds have a template (else every check builds a genesis)"
        );
    }

    #[test]
    fn genesis_is_identical_on_every_replica() {
        let id = DocId::Customer(CustomerId::new());
        let mut a = genesis(&id, &actor(1)).unwrap();
        let mut b = genesis(&id, &actor(2)).unwrap();
        assert_eq!(a.get_heads(), b.get_heads());
        // Both edit the card offline, then merge: nothing is lost, no duplicate `card` object.
        let ca = obj(&a, &ROOT, "card").unwrap();
        a.put(&ca, "name", "Li").unwrap();
        let cb = obj(&b, &ROOT, "card").unwrap();
        b.put(&cb, "phones", "138").unwrap();
        a.merge(&mut b).unwrap();
        let card = obj(&a, &ROOT, "card").unwrap();
        assert_eq!(a.get_all(ROOT, "card").unwrap().len(), 1);
        let mut c = vec![];
        let f = read_fields(&a, &card, "card", &actor_roles(&a), &mut c);
        assert_eq!(f["name"], "Li");
        assert_eq!(f["phones"], "138");
        assert!(c.is_empty());
    }

    /// The test vectors docs/protocol.md §2.2 gives client authors in other languages.
    #[test]
    fn genesis_matches_the_protocols_test_vectors() {
        let doc = include_str!("../../docs/protocol.md");
        for (id, actor_hex, hash) in [
            (
                "customer:00000000-0000-0000-0000-000000000001",
                "7ee1b09e043b52b892d86458a4841886",
                "85d54b6ee8497fce122a1ab2222beff534c55007522c928be9de35819a90c274",
            ),
            (
                "day:A-0001:2026-06-15",
                "66ea944dd64b5e30aa2fbfaed3d51977",
                "8f07f53ee32b8aa65c1307c32822092ee54bb05fe05f8bb1a47ee05565ed0527",
            ),
        ] {
            let row = format!("| `{id}` | `{actor_hex}` | `{hash}` |");
            assert!(doc.contains(&row), "protocol.md lacks {row}");
            let id: DocId = id.parse().unwrap();
            assert_eq!(genesis_actor(&id).to_hex_string(), actor_hex, "{id}");
            assert_eq!(genesis_hash(&id).unwrap().to_string(), hash, "{id}");
        }
    }

    #[test]
    fn independent_initialisation_would_lose_edits() {
        // The trap genesis avoids: two replicas creating `card` each with their own actor.
        let mut a = AutoCommit::new().with_actor(actor(1));
        let mut b = AutoCommit::new().with_actor(actor(2));
        let ca = a.put_object(ROOT, "card", ObjType::Map).unwrap();
        a.put(&ca, "name", "Li").unwrap();
        let cb = b.put_object(ROOT, "card", ObjType::Map).unwrap();
        b.put(&cb, "phones", "138").unwrap();
        a.merge(&mut b).unwrap();
        let card = obj(&a, &ROOT, "card").unwrap();
        let n = d_keys(&a, &card);
        assert_eq!(n.len(), 1, "one side's edits are hidden: {n:?}");
    }

    fn d_keys(d: &AutoCommit, o: &ObjId) -> Vec<String> {
        keys(d, o)
    }

    #[test]
    fn manager_wins_governed_fields_in_any_merge_order() {
        let id = DocId::Customer(CustomerId::new());
        for order in 0..2 {
            // Give the agent the greater actor so Automerge's own rule would pick the agent.
            let mut m = genesis(&id, &actor(1)).unwrap();
            let mut a = genesis(&id, &actor(9)).unwrap();
            register_actor(&mut m, Role::Supervisor, "boss").unwrap();
            register_actor(&mut a, Role::Agent, "ag").unwrap();
            let cm = obj(&m, &ROOT, "card").unwrap();
            m.put(&cm, "grade", "A").unwrap();
            m.put(&cm, "notes", "from manager").unwrap();
            let ca = obj(&a, &ROOT, "card").unwrap();
            a.put(&ca, "grade", "C").unwrap();
            a.put(&ca, "notes", "from agent").unwrap();
            let merged = if order == 0 {
                m.merge(&mut a).unwrap();
                m
            } else {
                a.merge(&mut m).unwrap();
                a
            };
            let card = obj(&merged, &ROOT, "card").unwrap();
            let mut conflicts = vec![];
            let f = read_fields(
                &merged,
                &card,
                "card",
                &actor_roles(&merged),
                &mut conflicts,
            );
            assert_eq!(f["grade"], "A", "manager's grade wins (order {order})");
            // Ungoverned: the greatest op id wins (same counter, so the greater actor: agent).
            assert_eq!(f["notes"], "from agent");
            assert_eq!(conflicts.len(), 2);
            let g = conflicts.iter().find(|c| c.field == "grade").unwrap();
            assert_eq!(g.losers, vec![Json::from("C")]);
        }
    }

    #[test]
    fn write_fields_skips_unchanged_values() {
        let id = DocId::Customer(CustomerId::new());
        let mut d = genesis(&id, &actor(1)).unwrap();
        let card = obj(&d, &ROOT, "card").unwrap();
        let mut f = Map::new();
        f.insert("name".into(), Json::from("Li"));
        f.insert("phones".into(), serde_json::json!(["1", "2"]));
        write_fields(&mut d, &card, &f).unwrap();
        d.commit();
        let heads = d.get_heads();
        write_fields(&mut d, &card, &f).unwrap();
        assert!(d.commit().is_none(), "no change when nothing changed");
        assert_eq!(d.get_heads(), heads);
    }
}
