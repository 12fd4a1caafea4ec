//! The record layout as a contract: what every record of both document kinds must read as,
//! checked in one place and published as a JSON Schema.
//!
//! `index` reads documents leniently (a record that does not read as the model is skipped, so
//! one bad record never hides a customer), which means that a record the model cannot read is
//! invisible everywhere. So nothing may be *written* that does not read: the phone checks a
//! document after each of its own writes (`Store`), the server checks a document after each
//! received message (`verify`), with the same [`check_document`]. A document must also grow
//! from its genesis change (`documents::genesis`): its root objects are the genesis's own, and
//! no other change may start a history of its own.
//!
//! The rules are a table ([`RECORDS`]): for each record kind its fields, their types, which are
//! required, text limits, enumerations, and which codes come from the playbook. The same table
//! produces the JSON Schema ([`json_schema`], served at `/v1/schema/documents.json` and kept in
//! `docs/schema/documents.json`); tests check it against the model's Rust types.
//!
//! Ids are canonical UUIDs: lower-case, hyphenated (what `Uuid`'s `Display` writes). Dates are
//! `YYYY-MM-DD`, timestamps RFC 3339 with an offset; years run from 1900 to 2199.

use std::collections::BTreeSet;
use std::fmt;

use automerge::{AutoCommit, ChangeHash, ObjId, ReadDoc, Value, ROOT};
use chrono::{DateTime, Datelike, NaiveDate};
use serde_json::{json, Map, Value as Json};

use crate::documents::{
    actor_roles, genesis_hash, get_obj, keys, read_customer_fields, read_fields, ActorRoles,
    CustomerFields, GenesisRef,
};
use crate::ids::{DocId, UserId};
use crate::index::{customer_view, CustomerView};
use crate::playbook::Playbook;

/// The earliest year a date or timestamp may name.
pub const MIN_YEAR: i32 = 1900;
/// The latest year a date or timestamp may name.
pub const MAX_YEAR: i32 = 2199;

/// A set of codes the playbook defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeSet {
    /// Customer grades.
    Grades,
    /// Visit kinds.
    VisitKinds,
    /// Visit purposes.
    Purposes,
    /// Contact (call, SMS) purposes.
    ContactPurposes,
    /// Outcomes of visits and contacts.
    Outcomes,
}

impl CodeSet {
    fn name(self) -> &'static str {
        match self {
            CodeSet::Grades => "grades",
            CodeSet::VisitKinds => "visit_kinds",
            CodeSet::Purposes => "purposes",
            CodeSet::ContactPurposes => "contact_purposes",
            CodeSet::Outcomes => "outcomes",
        }
    }
}

/// The playbook codes a record may use: the union over every playbook a team has had in force,
/// so that a phone still on an older playbook is not refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Codes {
    grades: BTreeSet<String>,
    visit_kinds: BTreeSet<String>,
    purposes: BTreeSet<String>,
    contact_purposes: BTreeSet<String>,
    outcomes: BTreeSet<String>,
}

impl Codes {
    /// The union of the codes of these playbooks.
    pub fn of<'a>(playbooks: impl IntoIterator<Item = &'a Playbook>) -> Codes {
        let mut c = Codes::default();
        for p in playbooks {
            c.grades.extend(p.grades.iter().map(|g| g.code.clone()));
            c.visit_kinds
                .extend(p.visit_kinds.iter().map(|g| g.code.clone()));
            c.purposes.extend(p.purposes.iter().map(|g| g.code.clone()));
            c.contact_purposes
                .extend(p.contact_purposes.iter().map(|g| g.code.clone()));
            c.outcomes.extend(p.outcomes.iter().map(|g| g.code.clone()));
        }
        c
    }

    fn set(&self, s: CodeSet) -> &BTreeSet<String> {
        match s {
            CodeSet::Grades => &self.grades,
            CodeSet::VisitKinds => &self.visit_kinds,
            CodeSet::Purposes => &self.purposes,
            CodeSet::ContactPurposes => &self.contact_purposes,
            CodeSet::Outcomes => &self.outcomes,
        }
    }
}

/// The type of a field.
#[derive(Clone, Copy, Debug)]
pub enum Type {
    /// A string of at most this many characters (may be empty).
    Text(usize),
    /// A string of 1 to this many characters, not only blanks.
    Name(usize),
    /// Up to `items` strings of 1 to `chars` characters.
    Texts {
        /// Most items.
        items: usize,
        /// Most characters per item.
        chars: usize,
    },
    /// A `YYYY-MM-DD` date.
    Date,
    /// An RFC 3339 timestamp with its offset.
    Timestamp,
    /// A canonical UUID.
    Uuid,
    /// Up to this many canonical UUIDs.
    Uuids(usize),
    /// A user id (1–64 of `A-Z a-z 0-9 - _ . @`).
    User,
    /// An integer amount in minor units, 0 to 10^13.
    Money,
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// A code of the playbook.
    Code(CodeSet),
    /// Up to this many codes of the playbook.
    CodeList(CodeSet, usize),
    /// A number in a closed range.
    Number(f64, f64),
    /// A nested object with these fields.
    Object(&'static [Field]),
}

/// One field of a record.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// Its key in the record's map.
    pub name: &'static str,
    /// Its type.
    pub ty: Type,
    /// Whether it may be absent or null (the model's `Option`).
    pub optional: bool,
}

const fn req(name: &'static str, ty: Type) -> Field {
    Field {
        name,
        ty,
        optional: false,
    }
}

const fn opt(name: &'static str, ty: Type) -> Field {
    Field {
        name,
        ty,
        optional: true,
    }
}

/// One kind of record: where it lives in its document and its fields.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// The record's name in the schema (`card`, `visit`, …).
    pub name: &'static str,
    /// The document kind that holds it.
    pub doc: &'static str,
    /// Where: a root key (`card`) or a collection (`visits/<id>`).
    pub at: &'static str,
    /// Its fields (without those its place implies: id, customer, agent and date of a day).
    pub fields: &'static [Field],
}

const ROLES: &[&str] = &[
    "agent",
    "supervisor",
    "department_manager",
    "district_manager",
];

/// Longest note, comment, summary or problem text.
pub const MAX_NOTE: usize = 4_000;
/// Longest work log (a diary of the day's visits).
pub const MAX_LOG: usize = 20_000;

const GEO: &[Field] = &[
    req("lat", Type::Number(-90.0, 90.0)),
    req("lon", Type::Number(-180.0, 180.0)),
];

const OUTCOME: &[Field] = &[
    req("code", Type::Code(CodeSet::Outcomes)),
    opt("amount_cents", Type::Money),
    opt("date", Type::Date),
    opt("detail", Type::Text(500)),
];

const CARD: &[Field] = &[
    req("name", Type::Name(200)),
    req(
        "phones",
        Type::Texts {
            items: 20,
            chars: 32,
        },
    ),
    opt("address", Type::Text(500)),
    opt("postcode", Type::Text(20)),
    opt("birthday", Type::Date),
    opt("family", Type::Text(500)),
    opt("income_band", Type::Text(100)),
    opt("workplace", Type::Text(200)),
    opt("notes", Type::Text(MAX_NOTE)),
    opt("grade", Type::Code(CodeSet::Grades)),
    req("status", Type::Enum(&["closed", "prospect"])),
    opt("agent", Type::User),
    opt("location", Type::Object(GEO)),
    req("created_on", Type::Date),
];

const POLICY: &[Field] = &[
    req("number", Type::Name(64)),
    req("product", Type::Text(200)),
    req("policyholder", Type::Text(200)),
    req("insured", Type::Text(200)),
    req("premium_cents", Type::Money),
    req(
        "payment_method",
        Type::Enum(&["bank_deduction", "cash", "card"]),
    ),
    req(
        "riders",
        Type::Texts {
            items: 50,
            chars: 200,
        },
    ),
    req("due_date", Type::Date),
    req(
        "status",
        Type::Enum(&["normal", "difficult", "exited", "dead", "orphan"]),
    ),
    opt("paid_on", Type::Date),
    opt("deduction_failed_on", Type::Date),
];

const VISIT: &[Field] = &[
    req("agent", Type::User),
    req("kind", Type::Code(CodeSet::VisitKinds)),
    req("purposes", Type::CodeList(CodeSet::Purposes, 20)),
    opt("outcome", Type::Object(OUTCOME)),
    req("policies", Type::Uuids(100)),
    req("start", Type::Timestamp),
    req("end", Type::Timestamp),
    opt("location", Type::Object(GEO)),
    req("notes", Type::Text(MAX_NOTE)),
];

const CONTACT: &[Field] = &[
    req("agent", Type::User),
    req("kind", Type::Enum(&["call", "sms"])),
    req("at", Type::Timestamp),
    opt("purpose", Type::Code(CodeSet::ContactPurposes)),
    opt("outcome", Type::Code(CodeSet::Outcomes)),
    req("policies", Type::Uuids(100)),
    req("notes", Type::Text(MAX_NOTE)),
];

const COMMENT: &[Field] = &[
    req("visit", Type::Uuid),
    req("author", Type::User),
    req("role", Type::Enum(ROLES)),
    req("text", Type::Name(MAX_NOTE)),
    req("at", Type::Timestamp),
];

const LOG: &[Field] = &[
    req("text", Type::Name(MAX_LOG)),
    req("written_at", Type::Timestamp),
];

const REPORT: &[Field] = &[
    req("summary", Type::Name(MAX_NOTE)),
    req("submitted_at", Type::Timestamp),
];

const PROBLEM: &[Field] = &[
    req("text", Type::Name(MAX_NOTE)),
    opt("customer", Type::Uuid),
    req("level", Type::Enum(ROLES)),
    req("status", Type::Enum(&["open", "resolved"])),
];

const ANSWER: &[Field] = &[
    req("author", Type::User),
    req("role", Type::Enum(ROLES)),
    req("text", Type::Name(MAX_NOTE)),
    req("at", Type::Timestamp),
];

/// Every record kind of both document kinds.
pub const RECORDS: &[Record] = &[
    Record {
        name: "card",
        doc: "customer",
        at: "card",
        fields: CARD,
    },
    Record {
        name: "policy",
        doc: "customer",
        at: "policies/<id>",
        fields: POLICY,
    },
    Record {
        name: "visit",
        doc: "customer",
        at: "visits/<id>",
        fields: VISIT,
    },
    Record {
        name: "contact",
        doc: "customer",
        at: "contacts/<id>",
        fields: CONTACT,
    },
    Record {
        name: "comment",
        doc: "customer",
        at: "comments/<id>",
        fields: COMMENT,
    },
    Record {
        name: "log",
        doc: "day",
        at: "log",
        fields: LOG,
    },
    Record {
        name: "report",
        doc: "day",
        at: "report",
        fields: REPORT,
    },
    Record {
        name: "problem",
        doc: "day",
        at: "problems/<id>",
        fields: PROBLEM,
    },
    Record {
        name: "answer",
        doc: "day",
        at: "problems/<id>/answers/<id>",
        fields: ANSWER,
    },
];

/// The record kind named `name`.
pub fn record(name: &str) -> &'static Record {
    RECORDS
        .iter()
        .find(|r| r.name == name)
        .expect("a record kind of the table")
}

/// Something in a document that does not read as the model.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Issue {
    /// Where: `card.status`, `visits/<id>.start`, `visits/<id>.outcome.code`, `(root).card`…
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

fn issue(out: &mut Vec<Issue>, path: impl Into<String>, reason: impl Into<String>) {
    out.push(Issue {
        path: path.into(),
        reason: reason.into(),
    });
}

/// Whether `s` is a canonical UUID (lower-case, hyphenated).
pub fn is_canonical_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.to_string() == s)
}

/// Parses a strict `YYYY-MM-DD` date within the year range.
pub fn strict_date(s: &str) -> Option<NaiveDate> {
    crate::ids::iso_date(s).filter(|d| (MIN_YEAR..=MAX_YEAR).contains(&d.year()))
}

/// Parses an RFC 3339 timestamp as the schema's `date-time` reads it: chrono's parser also
/// takes a space between date and time, which JSON Schema validators (and other languages'
/// RFC 3339 parsers) refuse, so a record the server stored would not read elsewhere.
fn strict_timestamp(s: &str) -> Option<DateTime<chrono::FixedOffset>> {
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .filter(|t| (MIN_YEAR..=MAX_YEAR).contains(&t.year()))
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn check_value(v: &Json, ty: Type, path: &str, codes: Option<&Codes>, out: &mut Vec<Issue>) {
    let text = |out: &mut Vec<Issue>, max: usize, non_empty: bool| -> Option<()> {
        let Some(s) = v.as_str() else {
            issue(out, path, "must be a string");
            return None;
        };
        if non_empty && s.trim().is_empty() {
            issue(out, path, "must not be empty");
        } else if chars(s) > max {
            issue(out, path, format!("longer than {max} characters"));
        }
        Some(())
    };
    match ty {
        Type::Text(max) => {
            text(out, max, false);
        }
        Type::Name(max) => {
            text(out, max, true);
        }
        Type::Texts { items, chars: max } => match v.as_array() {
            None => issue(out, path, "must be a list of strings"),
            Some(a) if a.len() > items => issue(out, path, format!("more than {items} items")),
            Some(a) => {
                for (i, x) in a.iter().enumerate() {
                    check_value(x, Type::Name(max), &format!("{path}[{i}]"), codes, out);
                }
            }
        },
        Type::Date => match v.as_str() {
            Some(s) if strict_date(s).is_some() => {}
            _ => issue(
                out,
                path,
                format!("must be a YYYY-MM-DD date in {MIN_YEAR}–{MAX_YEAR}"),
            ),
        },
        Type::Timestamp => match v.as_str() {
            Some(s) if strict_timestamp(s).is_some() => {}
            _ => issue(
                out,
                path,
                format!("must be an RFC 3339 timestamp with offset in {MIN_YEAR}–{MAX_YEAR}"),
            ),
        },
        Type::Uuid => match v.as_str() {
            Some(s) if is_canonical_uuid(s) => {}
            _ => issue(out, path, "must be a lower-case hyphenated UUID"),
        },
        Type::Uuids(items) => match v.as_array() {
            None => issue(out, path, "must be a list of UUIDs"),
            Some(a) if a.len() > items => issue(out, path, format!("more than {items} items")),
            Some(a) => {
                for (i, x) in a.iter().enumerate() {
                    check_value(x, Type::Uuid, &format!("{path}[{i}]"), codes, out);
                }
            }
        },
        Type::User => match v.as_str() {
            Some(s) if s.parse::<UserId>().is_ok_and(|u| u.as_str() == s) => {}
            _ => issue(out, path, "must be a user id"),
        },
        Type::Money => match v.as_i64() {
            Some(n) if (0..=10_000_000_000_000).contains(&n) => {}
            _ => issue(
                out,
                path,
                "must be a whole number of minor units, 0 to 10^13",
            ),
        },
        Type::Enum(allowed) => match v.as_str() {
            Some(s) if allowed.contains(&s) => {}
            _ => issue(out, path, format!("must be one of {}", allowed.join(", "))),
        },
        Type::Code(set) => match v.as_str() {
            Some(s) if chars(s) <= 64 && codes.is_none_or(|c| c.set(set).contains(s)) => {}
            Some(s) if chars(s) <= 64 => issue(
                out,
                path,
                format!("{s:?} is not one of the team's {}", set.name()),
            ),
            _ => issue(out, path, "must be a code of the playbook"),
        },
        Type::CodeList(set, items) => match v.as_array() {
            None => issue(out, path, "must be a list of codes"),
            Some(a) if a.len() > items => issue(out, path, format!("more than {items} items")),
            Some(a) => {
                for (i, x) in a.iter().enumerate() {
                    check_value(x, Type::Code(set), &format!("{path}[{i}]"), codes, out);
                }
            }
        },
        Type::Number(lo, hi) => match v.as_f64() {
            Some(x) if x.is_finite() && (lo..=hi).contains(&x) => {}
            _ => issue(out, path, format!("must be a number from {lo} to {hi}")),
        },
        Type::Object(fields) => match v.as_object() {
            Some(m) => check_fields(m, fields, path, codes, out),
            None => issue(out, path, "must be an object"),
        },
    }
}

fn check_fields(
    m: &Map<String, Json>,
    fields: &[Field],
    path: &str,
    codes: Option<&Codes>,
    out: &mut Vec<Issue>,
) {
    for f in fields {
        let at = format!("{path}.{}", f.name);
        match m.get(f.name) {
            None | Some(Json::Null) if f.optional => {}
            None => issue(out, at, "is missing"),
            Some(Json::Null) => issue(out, at, "must not be null"),
            Some(v) => check_value(v, f.ty, &at, codes, out),
        }
    }
    for k in m.keys() {
        if !fields.iter().any(|f| f.name == k) {
            issue(out, format!("{path}.{k}"), "is not a field of this record");
        }
    }
}

/// Checks one record's fields (as JSON, without the fields its place implies) against its
/// kind; `path` names it in the issues. Codes are checked when `codes` is given.
pub fn check_record(
    kind: &Record,
    fields: &Map<String, Json>,
    path: &str,
    codes: Option<&Codes>,
) -> Vec<Issue> {
    let mut out = vec![];
    check_fields(fields, kind.fields, path, codes, &mut out);
    if kind.name == "visit" {
        let t = |k: &str| {
            fields
                .get(k)
                .and_then(Json::as_str)
                .and_then(strict_timestamp)
        };
        if let (Some(s), Some(e)) = (t("start"), t("end")) {
            if e < s {
                issue(&mut out, format!("{path}.end"), "before the start");
            } else if e - s > chrono::Duration::hours(24) {
                issue(
                    &mut out,
                    format!("{path}.end"),
                    "more than 24 hours after the start",
                );
            }
        }
    }
    out
}

/// Checks that the document grew from its genesis: each root object is the genesis's own
/// (no other change replaced it, none was created concurrently), and the marker names the
/// document's kind. An empty document (nothing received yet) passes.
fn check_origin(d: &AutoCommit, doc: &DocId, g: Option<&GenesisRef>, out: &mut Vec<Issue>) {
    if d.keys(ROOT).next().is_none() {
        return;
    }
    let built;
    let g = match g {
        Some(g) => g,
        None => match GenesisRef::of(doc) {
            Ok(b) => {
                built = b;
                &built
            }
            Err(_) => return,
        },
    };
    for (key, want, wid) in &g.roots {
        let have = d.get_all(ROOT, key.as_str()).unwrap_or_default();
        let same = match (want, have.as_slice()) {
            (Value::Object(_), [(Value::Object(_), hid)]) => wid == hid,
            (Value::Scalar(w), [(Value::Scalar(h), _)]) => w == h,
            _ => false,
        };
        if !same {
            issue(
                out,
                format!("(root).{key}"),
                "is not the one the genesis change created: the document does not start with \
                 its genesis change",
            );
        }
    }
    for key in keys(d, &ROOT) {
        if g.roots.binary_search_by(|(k, _, _)| k.cmp(&key)).is_err() {
            issue(
                out,
                format!("(root).{key}"),
                "is not a root key of this document",
            );
        }
    }
}

/// Checks that the changes a message adds that depend on nothing are the genesis change only
/// (a second history would hide a correct device's card and visits after a merge).
pub fn check_roots(doc: &DocId, new_roots: &[ChangeHash]) -> Vec<Issue> {
    if new_roots.is_empty() {
        return vec![];
    }
    check_roots_against(genesis_hash(doc).ok(), new_roots)
}

/// [`check_roots`] with the document's genesis hash already computed (`None`: unknown).
pub fn check_roots_against(genesis: Option<ChangeHash>, new_roots: &[ChangeHash]) -> Vec<Issue> {
    new_roots
        .iter()
        .filter(|h| Some(**h) != genesis)
        .map(|h| Issue {
            path: "(changes)".into(),
            reason: format!(
                "change {h} depends on nothing but is not the genesis change: the document \
                 does not start with its genesis change"
            ),
        })
        .collect()
}

/// What [`each_record`] calls for each record: its path, its object, its fields, the issues.
type OnRecord<'a> = dyn FnMut(&str, ObjId, Map<String, Json>, &mut Vec<Issue>) + 'a;

/// The records of one collection (`policies`, `problems/<id>/answers`…), with their paths.
fn each_record(
    d: &AutoCommit,
    coll: &ObjId,
    coll_path: &str,
    roles: &ActorRoles,
    only: Option<&[String]>,
    out: &mut Vec<Issue>,
    f: &mut OnRecord<'_>,
) {
    // Limited to some records: look them up, rather than walk a long history.
    let ids: Vec<String> = match only {
        None => keys(d, coll),
        Some(paths) => {
            let prefix = format!("{coll_path}/");
            paths
                .iter()
                .filter_map(|p| p.strip_prefix(&prefix))
                .filter(|id| !id.contains('/') && d.get(coll, *id).ok().flatten().is_some())
                .map(str::to_string)
                .collect()
        }
    };
    for id in ids {
        let path = format!("{coll_path}/{id}");
        if !is_canonical_uuid(&id) {
            issue(
                out,
                &path,
                "the record's id must be a lower-case hyphenated UUID",
            );
            continue;
        }
        match get_obj(d, coll, &id) {
            Ok(Some(o)) => {
                let m = read_fields(d, &o, &path, roles, &mut vec![]);
                f(&path, o, m, out);
            }
            _ => issue(out, &path, "must be an object"),
        }
    }
}

/// Every place in the document that does not read as the model (empty when it all reads).
///
/// Conflicting values are settled as every reader settles them (`documents::read_fields`),
/// so what is checked is what the index and every phone will show. A root record with no
/// field at all (`card` before the card is written, a day's `log` before the log) is absent,
/// not invalid.
pub fn check_document(d: &AutoCommit, doc: &DocId, codes: Option<&Codes>) -> Vec<Issue> {
    check(d, doc, codes, None, None, &actor_roles(d)).0
}

/// [`check_document`] against `doc`'s genesis already built ([`GenesisRef::of`]): the same
/// checks, without building the genesis again.
pub fn check_document_against(
    d: &AutoCommit,
    doc: &DocId,
    codes: Option<&Codes>,
    genesis: &GenesisRef,
) -> Vec<Issue> {
    check(d, doc, codes, None, Some(genesis), &actor_roles(d)).0
}

/// [`check_document`] with what the caller has already computed for this document state:
/// its genesis (if built) and its [`actor_roles`] (`roles`). The same checks.
pub fn check_document_with(
    d: &AutoCommit,
    doc: &DocId,
    codes: Option<&Codes>,
    genesis: Option<&GenesisRef>,
    roles: &ActorRoles,
) -> Vec<Issue> {
    check(d, doc, codes, None, genesis, roles).0
}

/// [`check_document_with`] for a customer document, and the customer as it reads
/// (`index::read_customer`), from one reading of its records: what a received message's
/// checks need of the merged document (the layout, then the card's owner and the records'
/// authors), which the projection then reuses. A day document reads as an empty view.
pub fn check_and_read_customer(
    d: &AutoCommit,
    doc: &DocId,
    codes: Option<&Codes>,
    genesis: Option<&GenesisRef>,
    roles: &ActorRoles,
) -> (Vec<Issue>, CustomerView) {
    let (issues, fields) = check(d, doc, codes, None, genesis, roles);
    let view = match doc {
        DocId::Customer(_) => customer_view(
            doc,
            fields.unwrap_or_else(|| read_customer_fields(d, roles, None)),
        ),
        DocId::Day(..) => CustomerView::default(),
    };
    (issues, view)
}

/// [`check_document`] limited to the records at these paths (`card`, `visits/<id>`,
/// `problems/<id>` with its answers, …), plus the document's origin: what a write that
/// touched only these records needs checked. Reading a record costs about as much as the
/// index's projection of it, so a phone's write checks the records it wrote, not the
/// customer's whole history.
pub fn check_records(
    d: &AutoCommit,
    doc: &DocId,
    paths: &[String],
    codes: Option<&Codes>,
) -> Vec<Issue> {
    check(d, doc, codes, Some(paths), None, &actor_roles(d)).0
}

/// The checks, and a customer document's records as they were read for them (`None` when
/// the origin check failed first, or for a day).
fn check(
    d: &AutoCommit,
    doc: &DocId,
    codes: Option<&Codes>,
    only: Option<&[String]>,
    genesis: Option<&GenesisRef>,
    roles: &ActorRoles,
) -> (Vec<Issue>, Option<CustomerFields>) {
    let wanted = |path: &str| only.is_none_or(|o| o.iter().any(|p| p == path));
    let mut out = vec![];
    check_origin(d, doc, genesis, &mut out);
    if !out.is_empty() {
        return (out, None);
    }
    let root = |key: &str| get_obj(d, &ROOT, key).ok().flatten();
    let single = |key: &str, kind: &Record, out: &mut Vec<Issue>| {
        if !wanted(key) {
            return;
        }
        if let Some(o) = root(key) {
            let m = read_fields(d, &o, key, roles, &mut vec![]);
            if !m.is_empty() {
                out.extend(check_record(kind, &m, key, codes));
            }
        }
    };
    match doc {
        DocId::Customer(_) => {
            let fields = read_customer_fields(d, roles, only);
            check_customer_fields(&fields, codes, &mut out);
            return (out, Some(fields));
        }
        DocId::Day(..) => {
            single("log", record("log"), &mut out);
            single("report", record("report"), &mut out);
            if let Some(c) = root("problems") {
                each_record(
                    d,
                    &c,
                    "problems",
                    roles,
                    only,
                    &mut out,
                    &mut |path, o, mut m, out| {
                        let answers = m.remove("answers");
                        out.extend(check_record(record("problem"), &m, path, codes));
                        let apath = format!("{path}/answers");
                        match (answers, get_obj(d, &o, "answers").ok().flatten()) {
                            (Some(Json::Object(_)), Some(a)) => {
                                each_record(
                                    d,
                                    &a,
                                    &apath,
                                    roles,
                                    None,
                                    out,
                                    &mut |p, _, m, out| {
                                        out.extend(check_record(record("answer"), &m, p, codes));
                                    },
                                );
                            }
                            _ => issue(out, format!("{path}.answers"), "must be an object"),
                        }
                    },
                );
            }
        }
    }
    (out, None)
}

/// The record kind each customer collection holds.
fn collection_kind(coll: &str) -> &'static Record {
    record(match coll {
        "policies" => "policy",
        "visits" => "visit",
        "contacts" => "contact",
        _ => "comment",
    })
}

/// Checks a customer document's records as read: the card (unless it has no field yet), then
/// each collection's records in reading order; a record's key must be a canonical UUID and
/// hold a map.
fn check_customer_fields(f: &CustomerFields, codes: Option<&Codes>, out: &mut Vec<Issue>) {
    if let Some(m) = &f.card {
        if !m.is_empty() {
            out.extend(check_record(record("card"), m, "card", codes));
        }
    }
    for (coll, records) in &f.collections {
        let kind = collection_kind(coll);
        for (id, m) in records {
            let path = format!("{coll}/{id}");
            if !is_canonical_uuid(id) {
                issue(
                    out,
                    &path,
                    "the record's id must be a lower-case hyphenated UUID",
                );
                continue;
            }
            match m {
                Some(m) => out.extend(check_record(kind, m, &path, codes)),
                None => issue(out, &path, "must be an object"),
            }
        }
    }
}

/// The issues of `after` that `before` did not have already: what a write or a message
/// introduced. A document that was stored before these rules existed keeps its old faults
/// without blocking every later change.
pub fn new_issues(before: Vec<Issue>, after: Vec<Issue>) -> Vec<Issue> {
    let old: BTreeSet<(String, String)> = before.into_iter().map(|i| (i.path, i.reason)).collect();
    after
        .into_iter()
        .filter(|i| !old.contains(&(i.path.clone(), i.reason.clone())))
        .collect()
}

fn schema_of(ty: Type) -> Json {
    match ty {
        Type::Text(max) => json!({"type": "string", "maxLength": max}),
        // `\S`: not only blanks, as the check refuses them.
        Type::Name(max) => json!({"type": "string", "minLength": 1, "maxLength": max,
            "pattern": "\\S"}),
        Type::Texts { items, chars } => json!({"type": "array", "maxItems": items,
            "items": schema_of(Type::Name(chars))}),
        Type::Date => json!({"type": "string", "format": "date",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "x-year-range": [MIN_YEAR, MAX_YEAR]}),
        Type::Timestamp => json!({"type": "string", "format": "date-time",
            "x-year-range": [MIN_YEAR, MAX_YEAR]}),
        Type::Uuid => json!({"type": "string", "format": "uuid",
            "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}),
        Type::Uuids(items) => json!({"type": "array", "maxItems": items,
            "items": schema_of(Type::Uuid)}),
        Type::User => json!({"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$"}),
        Type::Money => json!({"type": "integer", "minimum": 0, "maximum": 10_000_000_000_000i64}),
        Type::Enum(v) => json!({"type": "string", "enum": v}),
        Type::Code(set) => json!({"type": "string", "maxLength": 64,
            "x-playbook-codes": set.name()}),
        Type::CodeList(set, items) => json!({"type": "array", "maxItems": items,
            "items": schema_of(Type::Code(set))}),
        Type::Number(lo, hi) => json!({"type": "number", "minimum": lo, "maximum": hi}),
        Type::Object(fields) => object_schema(fields),
    }
}

fn object_schema(fields: &[Field]) -> Json {
    let mut props = Map::new();
    let mut required = vec![];
    for f in fields {
        let mut s = schema_of(f.ty);
        if f.optional {
            s = json!({"anyOf": [s, {"type": "null"}]});
        } else {
            required.push(f.name);
        }
        props.insert(f.name.into(), s);
    }
    json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

/// The JSON Schema (draft 2020-12) of every record of both document kinds, from [`RECORDS`].
///
/// `x-playbook-codes` names the playbook list a code must come from (the union over every
/// playbook the team has had in force); `x-year-range` bounds dates and timestamps; `x-at`
/// says where in its document a record lives.
pub fn json_schema() -> Json {
    let mut defs = Map::new();
    for r in RECORDS {
        let mut s = object_schema(r.fields);
        s["x-document"] = json!(r.doc);
        s["x-at"] = json!(r.at);
        defs.insert(r.name.into(), s);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://doorstep.invalid/v1/schema/documents.json",
        "title": "Doorstep document records (layout 1)",
        "description": "The fields of every record of customer and day documents, as read \
            after conflicts are settled. Record ids (map keys) are lower-case hyphenated UUIDs. \
            See docs/protocol.md.",
        "$defs": defs,
    })
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::ActorId;
    use chrono::TimeZone;
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use super::*;
    use crate::documents::{genesis, obj, record_obj, to_fields, write_fields};
    use crate::ids::{CommentId, ContactId, CustomerId, PolicyId, ProblemId, VisitId};
    use crate::model::*;

    fn at() -> Timestamp {
        chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 6, 1, 10, 0, 0)
            .unwrap()
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    fn customer() -> Customer {
        Customer {
            id: CustomerId::new(),
            name: "Li Na".into(),
            phones: vec!["13800000000".into()],
            address: Some("1 Road".into()),
            postcode: Some("100000".into()),
            birthday: Some(NaiveDate::from_ymd_opt(1980, 2, 3).unwrap()),
            family: Some("two children".into()),
            income_band: Some("mid".into()),
            workplace: Some("school".into()),
            notes: Some("likes tea".into()),
            grade: Some("A".into()),
            status: CustomerStatus::Closed,
            agent: Some("A-0001".parse().unwrap()),
            location: Some(GeoPoint {
                lat: 39.9,
                lon: 116.4,
            }),
            created_on: day(),
        }
    }

    fn visit(c: CustomerId) -> Visit {
        Visit {
            id: VisitId::new(),
            customer: c,
            agent: "A-0001".parse().unwrap(),
            kind: "collection".into(),
            purposes: vec!["renewal_contact".into()],
            outcome: Some(Outcome {
                code: "paid".into(),
                amount_cents: Some(100),
                date: Some(day()),
                detail: Some("cash".into()),
            }),
            policies: vec![PolicyId::new()],
            start: at(),
            end: at() + chrono::Duration::minutes(30),
            location: Some(GeoPoint { lat: 1.0, lon: 2.0 }),
            notes: "ok".into(),
            number: 1,
        }
    }

    /// One sample of every record kind, as the model writes it (to_fields without the fields
    /// its place implies), with the implied fields to add back when deserialising.
    /// A record kind's name, its fields as written, and the fields its place implies.
    type Sample = (&'static str, Map<String, Json>, Map<String, Json>);

    fn samples() -> Vec<Sample> {
        fn split<T: Serialize>(v: &T, implied: &[&str]) -> (Map<String, Json>, Map<String, Json>) {
            let all = to_fields(v, &[]);
            let mut fields = all.clone();
            let mut imp = Map::new();
            for k in implied {
                if let Some(x) = fields.remove(*k) {
                    imp.insert((*k).into(), x);
                }
            }
            (fields, imp)
        }
        let c = customer();
        let policy = Policy {
            id: PolicyId::new(),
            customer: c.id,
            number: "P-1".into(),
            product: "Life".into(),
            policyholder: "Li".into(),
            insured: "Li".into(),
            premium_cents: 100,
            payment_method: PaymentMethod::Cash,
            riders: vec!["accident".into()],
            due_date: day(),
            status: PolicyStatus::Normal,
            paid_on: Some(day()),
            deduction_failed_on: Some(day()),
        };
        let contact = Contact {
            id: ContactId::new(),
            customer: c.id,
            agent: "A-0001".parse().unwrap(),
            kind: ContactKind::Call,
            at: at(),
            purpose: Some("appointment".into()),
            outcome: Some("appointment".into()),
            policies: vec![],
            notes: "".into(),
        };
        let comment = Comment {
            id: CommentId::new(),
            visit: VisitId::new(),
            author: "S-01".parse().unwrap(),
            role: Role::Supervisor,
            text: "good".into(),
            at: at(),
        };
        let log = WorkLog {
            agent: "A-0001".parse().unwrap(),
            date: day(),
            text: "visited".into(),
            written_at: at(),
        };
        let report = EveningReport {
            agent: "A-0001".parse().unwrap(),
            date: day(),
            summary: "fine".into(),
            submitted_at: at(),
            problems: vec![],
        };
        let problem = Problem {
            id: ProblemId::new(),
            text: "help".into(),
            customer: Some(c.id),
            level: Role::Supervisor,
            status: ProblemStatus::Open,
            answers: vec![],
        };
        let answer = Answer {
            author: "S-01".parse().unwrap(),
            role: Role::Supervisor,
            text: "do this".into(),
            at: at(),
        };
        let mut out = vec![];
        let mut push = |name, (f, i)| out.push((name, f, i));
        push("card", split(&c, &["id"]));
        push("policy", split(&policy, &["id", "customer"]));
        push("visit", split(&visit(c.id), &["id", "customer", "number"]));
        push("contact", split(&contact, &["id", "customer"]));
        push("comment", split(&comment, &["id"]));
        push("log", split(&log, &["agent", "date"]));
        push("report", split(&report, &["agent", "date", "problems"]));
        push("problem", split(&problem, &["id", "answers"]));
        push("answer", split(&answer, &[]));
        out
    }

    fn reads<T: DeserializeOwned>(m: &Map<String, Json>) -> bool {
        serde_json::from_value::<T>(Json::Object(m.clone())).is_ok()
    }

    fn reads_as(name: &str, m: &Map<String, Json>) -> bool {
        match name {
            "card" => reads::<Customer>(m),
            "policy" => reads::<Policy>(m),
            "visit" => reads::<Visit>(m),
            "contact" => reads::<Contact>(m),
            "comment" => reads::<Comment>(m),
            "log" => reads::<WorkLog>(m),
            "report" => reads::<EveningReport>(m),
            "problem" => reads::<Problem>(m),
            "answer" => reads::<Answer>(m),
            other => panic!("no model for {other}"),
        }
    }

    /// The table names exactly the fields the Rust types write, and a field is required in
    /// the table exactly when the type cannot be read without it.
    #[test]
    fn the_table_matches_the_model_types() {
        let codes = Codes::of([&Playbook::insurance()]);
        let samples = samples();
        assert_eq!(samples.len(), RECORDS.len());
        for (name, fields, implied) in samples {
            let kind = record(name);
            let mut want: Vec<&str> = kind.fields.iter().map(|f| f.name).collect();
            let mut have: Vec<&str> = fields.keys().map(String::as_str).collect();
            want.sort();
            have.sort();
            assert_eq!(want, have, "{name}: the table's fields are the type's");
            assert_eq!(
                check_record(kind, &fields, name, Some(&codes)),
                vec![],
                "{name}"
            );
            let mut whole = fields.clone();
            whole.extend(implied.clone());
            assert!(reads_as(name, &whole), "{name} reads as the model");
            for f in kind.fields {
                let mut m = whole.clone();
                m.remove(f.name);
                assert_eq!(
                    reads_as(name, &m),
                    f.optional,
                    "{name}.{}: optional in the table iff the type reads without it",
                    f.name
                );
                let mut partial = fields.clone();
                partial.remove(f.name);
                let issues = check_record(kind, &partial, name, Some(&codes));
                assert_eq!(
                    issues.is_empty(),
                    f.optional,
                    "{name}.{}: {issues:?}",
                    f.name
                );
                if !f.optional {
                    assert_eq!(issues[0].path, format!("{name}.{}", f.name));
                }
            }
        }
    }

    #[test]
    fn the_enumerations_are_the_models_codes() {
        let en = |rec: &str, field: &str| match record(rec)
            .fields
            .iter()
            .find(|f| f.name == field)
            .unwrap()
            .ty
        {
            Type::Enum(v) => v.to_vec(),
            _ => panic!("not an enum"),
        };
        let roles: Vec<&str> = Role::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(en("comment", "role"), roles);
        assert_eq!(en("problem", "level"), roles);
        let ps: Vec<&str> = PolicyStatus::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(en("policy", "status"), ps);
        for s in en("card", "status") {
            assert!(CustomerStatus::from_code(s).is_some());
        }
        for s in en("policy", "payment_method") {
            assert!(PaymentMethod::from_code(s).is_some());
        }
        for s in en("contact", "kind") {
            assert!(ContactKind::from_code(s).is_some());
        }
    }

    fn card_fields() -> Map<String, Json> {
        to_fields(&customer(), &["id"])
    }

    fn card_issues(m: &Map<String, Json>) -> Vec<String> {
        let codes = Codes::of([&Playbook::insurance()]);
        check_record(record("card"), m, "card", Some(&codes))
            .into_iter()
            .map(|i| i.to_string())
            .collect()
    }

    #[test]
    fn bad_values_are_named_with_their_path() {
        let mut m = card_fields();
        m.insert("status".into(), json!("weird"));
        assert_eq!(
            card_issues(&m),
            vec!["card.status: must be one of closed, prospect"]
        );
        for bad in [
            "2026-6-1",
            "-262143-01-01",
            "1899-12-31",
            "2026-02-30",
            "26-06-01",
        ] {
            let mut m = card_fields();
            m.insert("birthday".into(), json!(bad));
            let i = card_issues(&m);
            assert!(
                i.len() == 1 && i[0].starts_with("card.birthday:"),
                "{bad}: {i:?}"
            );
        }
        let mut m = card_fields();
        m.insert("notes".into(), json!("x".repeat(1_900_000)));
        assert_eq!(
            card_issues(&m),
            vec![format!("card.notes: longer than {MAX_NOTE} characters")]
        );
        let mut m = card_fields();
        m.insert("name".into(), json!("  "));
        m.insert("grade".into(), json!("Z"));
        m.insert("extra".into(), json!(1));
        assert_eq!(
            card_issues(&m),
            vec![
                "card.name: must not be empty".to_string(),
                "card.grade: \"Z\" is not one of the team's grades".to_string(),
                "card.extra: is not a field of this record".to_string(),
            ]
        );
        // Without codes (a phone checking its own write), playbook codes are not looked up.
        assert!(check_record(record("card"), &m, "card", None).len() == 2);
        let mut v = to_fields(&visit(CustomerId::new()), &["id", "customer", "number"]);
        v.insert(
            "policies".into(),
            json!([PolicyId::new().to_string().to_uppercase()]),
        );
        v.insert("end".into(), json!("2026-06-01T09:00:00+08:00"));
        let i: Vec<String> = check_record(record("visit"), &v, "visits/x", None)
            .into_iter()
            .map(|i| i.path)
            .collect();
        assert_eq!(i, vec!["visits/x.policies[0]", "visits/x.end"]);
    }

    /// What the published schema says of names and timestamps is what the check does: a
    /// name of blanks is refused by both (the schema said nothing of blanks), and a timestamp
    /// with a space for its `T` by both (the check took it).
    #[test]
    fn the_schema_and_the_check_agree_on_blank_names_and_timestamps() {
        let s = json_schema();
        for r in RECORDS {
            for f in r.fields {
                let prop = &s["$defs"][r.name]["properties"][f.name];
                let prop = if f.optional { &prop["anyOf"][0] } else { prop };
                match f.ty {
                    Type::Name(_) => assert_eq!(prop["pattern"], "\\S", "{}.{}", r.name, f.name),
                    Type::Texts { .. } => {
                        assert_eq!(prop["items"]["pattern"], "\\S", "{}.{}", r.name, f.name)
                    }
                    _ => {}
                }
            }
        }
        let mut m = card_fields();
        m.insert("name".into(), json!(" \t "));
        assert_eq!(card_issues(&m), vec!["card.name: must not be empty"]);
        let mut m = card_fields();
        m.insert("phones".into(), json!(["  "]));
        assert_eq!(card_issues(&m), vec!["card.phones[0]: must not be empty"]);
        let log = |at: &str| {
            let m: Map<String, Json> =
                serde_json::from_value(json!({"text": "t", "written_at": at})).unwrap();
            check_record(record("log"), &m, "log", None).len()
        };
        assert_eq!(log("2026-06-15T10:30:00+08:00"), 0);
        assert_eq!(log("2026-06-15t10:30:00Z"), 0);
        assert_eq!(log("2026-06-15 10:30:00+08:00"), 1);
        assert_eq!(log("2026-06-15_10:30:00+08:00"), 1);
    }

    fn doc_with_card(id: &DocId, fields: &Map<String, Json>) -> AutoCommit {
        let mut d = genesis(id, &ActorId::from(&[1u8; 16][..])).unwrap();
        let card = obj(&d, &ROOT, "card").unwrap();
        write_fields(&mut d, &card, fields).unwrap();
        d.commit();
        d
    }

    #[test]
    fn documents_are_checked_whole_and_from_their_genesis() {
        let id = DocId::Customer(CustomerId::new());
        let mut d = doc_with_card(&id, &card_fields());
        assert_eq!(check_document(&d, &id, None), vec![]);
        // A visit whose id is upper-case, and one missing its start.
        let visits = obj(&d, &ROOT, "visits").unwrap();
        d.put_object(
            &visits,
            VisitId::new().to_string().to_uppercase(),
            automerge::ObjType::Map,
        )
        .unwrap();
        let mut f = to_fields(&visit(CustomerId::new()), &["id", "customer", "number"]);
        f.remove("start");
        let vid = VisitId::new().to_string();
        let o = record_obj(&mut d, "visits", &vid, true).unwrap().unwrap();
        write_fields(&mut d, &o, &f).unwrap();
        d.commit();
        let paths: Vec<String> = check_document(&d, &id, None)
            .into_iter()
            .map(|i| i.path)
            .collect();
        assert_eq!(paths.len(), 2, "{paths:?}");
        assert!(paths.contains(&format!("visits/{vid}.start")));
        // Limited to the records a write touched: the others are not read.
        let only = check_records(&d, &id, &[format!("visits/{vid}")], None);
        assert_eq!(only.len(), 1, "{only:?}");
        assert_eq!(only[0].path, format!("visits/{vid}.start"));
        assert_eq!(check_records(&d, &id, &["card".into()], None), vec![]);

        // A document that does not start with the genesis change.
        let mut rogue = AutoCommit::new();
        for key in [
            "card", "policies", "visits", "contacts", "comments", "actors",
        ] {
            rogue
                .put_object(ROOT, key, automerge::ObjType::Map)
                .unwrap();
        }
        rogue.put(ROOT, "doorstep", "customer").unwrap();
        rogue.put(ROOT, "layout", 1).unwrap();
        rogue.commit();
        let i = check_document(&rogue, &id, None);
        assert!(
            i.iter()
                .any(|i| i.path == "(root).card" && i.reason.contains("genesis")),
            "{i:?}"
        );
        assert_eq!(check_roots(&id, &[genesis_hash(&id).unwrap()]), vec![]);
        let h = rogue.get_heads()[0];
        assert_eq!(check_roots(&id, &[h]).len(), 1);
        // Nothing received yet, or only the genesis: nothing to refuse.
        assert_eq!(check_document(&AutoCommit::new(), &id, None), vec![]);
        let g = genesis(&id, &ActorId::from(&[1u8; 16][..])).unwrap();
        assert_eq!(check_document(&g, &id, None), vec![]);
    }

    /// The two readings a received customer document had before they were shared: the
    /// layout check's walk of each collection (a seek per key) and `index::read_customer`'s.
    fn two_readings(d: &AutoCommit, id: &DocId, only: Option<&[String]>) -> (Vec<Issue>, String) {
        let roles = actor_roles(d);
        let mut out = vec![];
        check_origin(d, id, None, &mut out);
        if out.is_empty() {
            let wanted = |p: &str| only.is_none_or(|o| o.iter().any(|x| x == p));
            if let (true, Some(o)) = (wanted("card"), get_obj(d, &ROOT, "card").unwrap()) {
                let m = read_fields(d, &o, "card", &roles, &mut vec![]);
                if !m.is_empty() {
                    out.extend(check_record(record("card"), &m, "card", None));
                }
            }
            for coll in crate::documents::CUSTOMER_COLLECTIONS {
                if let Some(c) = get_obj(d, &ROOT, coll).unwrap() {
                    let kind = collection_kind(coll);
                    each_record(d, &c, coll, &roles, only, &mut out, &mut |p, _, m, out| {
                        out.extend(check_record(kind, &m, p, None));
                    });
                }
            }
        }
        // The customer as it read before, key by key.
        let mut v = CustomerView::default();
        let DocId::Customer(cid) = id else {
            unreachable!()
        };
        let read = |m: Map<String, Json>| -> Json { Json::Object(m) };
        let mut by_kind: Vec<(String, Json)> = vec![];
        if let Some(card) = get_obj(d, &ROOT, "card").unwrap() {
            let m = read_fields(d, &card, "card", &roles, &mut v.conflicts);
            if m.contains_key("name") {
                let mut m = m;
                m.insert("id".into(), Json::from(cid.to_string()));
                v.customer = serde_json::from_value(read(m)).ok();
            }
        }
        for coll in crate::documents::CUSTOMER_COLLECTIONS {
            if let Some(c) = get_obj(d, &ROOT, coll).unwrap() {
                for k in keys(d, &c) {
                    if let Some(o) = get_obj(d, &c, &k).unwrap() {
                        let m =
                            read_fields(d, &o, &format!("{coll}/{k}"), &roles, &mut v.conflicts);
                        by_kind.push((format!("{coll}/{k}"), read(m)));
                    }
                }
            }
        }
        (
            out,
            format!("{:?} {:?} {by_kind:?}", v.customer, v.conflicts),
        )
    }

    /// `read_customer_fields`, as `two_readings` describes it.
    fn one_reading(d: &AutoCommit, id: &DocId) -> String {
        let f = read_customer_fields(d, &actor_roles(d), None);
        let view = customer_view(id, f.clone());
        let mut by_kind = vec![];
        for (coll, records) in f.collections {
            for (k, m) in records {
                if let Some(m) = m {
                    by_kind.push((format!("{coll}/{k}"), Json::Object(m)));
                }
            }
        }
        format!("{:?} {:?} {by_kind:?}", view.customer, view.conflicts)
    }

    /// The one shared reading of a customer document refuses exactly what the layout check's
    /// own reading refused, and reads the customer as `read_customer` read it, on documents
    /// with every kind of fault the check knows: bad values, a non-canonical id, a key that
    /// holds no map, concurrent values of a role-governed field, a broken origin.
    #[test]
    fn one_reading_checks_and_reads_as_the_two_readings_did() {
        let id = DocId::Customer(CustomerId::new());
        let DocId::Customer(cid) = id else {
            unreachable!()
        };
        let mut d = doc_with_card(&id, &card_fields());
        crate::documents::register_actor(&mut d, Role::Agent, "A-0001").unwrap();
        d.commit();
        let mut cases: Vec<AutoCommit> = vec![AutoCommit::new(), d.clone()];
        // Good records of every kind, then faults one by one, each case on top of the last.
        for (coll, v) in [
            (
                "visits",
                to_fields(&visit(cid), &["id", "customer", "number"]),
            ),
            (
                "visits",
                to_fields(&visit(cid), &["id", "customer", "number"]),
            ),
        ] {
            let o = record_obj(&mut d, coll, &VisitId::new().to_string(), true)
                .unwrap()
                .unwrap();
            write_fields(&mut d, &o, &v).unwrap();
        }
        d.commit();
        cases.push(d.clone());
        let visits = obj(&d, &ROOT, "visits").unwrap();
        d.put_object(
            &visits,
            VisitId::new().to_string().to_uppercase(),
            automerge::ObjType::Map,
        )
        .unwrap();
        d.put(&visits, VisitId::new().to_string(), "not a record")
            .unwrap();
        let mut f = to_fields(&visit(cid), &["id", "customer", "number"]);
        f.remove("start");
        f.insert("kind".into(), Json::from("teleport"));
        let o = record_obj(&mut d, "policies", &PolicyId::new().to_string(), true)
            .unwrap()
            .unwrap();
        d.put(&o, "number", "").unwrap();
        let vid = VisitId::new().to_string();
        let o = record_obj(&mut d, "visits", &vid, true).unwrap().unwrap();
        write_fields(&mut d, &o, &f).unwrap();
        d.commit();
        cases.push(d.clone());
        // Concurrent values: the card's agent (role-governed) and its name, from a manager.
        let mut other = d.fork().with_actor(ActorId::from(&[2u8; 16][..]));
        crate::documents::register_actor(&mut other, Role::Supervisor, "S-01").unwrap();
        let card = obj(&other, &ROOT, "card").unwrap();
        other.put(&card, "agent", "A-0002").unwrap();
        other.put(&card, "name", "Li Na (manager)").unwrap();
        other.commit();
        let card = obj(&d, &ROOT, "card").unwrap();
        d.put(&card, "agent", "A-0003").unwrap();
        d.put(&card, "name", "Li Na (agent)").unwrap();
        d.commit();
        d.merge(&mut other).unwrap();
        cases.push(d.clone());
        // A document that does not start with its genesis.
        let mut rogue = AutoCommit::new();
        for key in [
            "card", "policies", "visits", "contacts", "comments", "actors",
        ] {
            rogue
                .put_object(ROOT, key, automerge::ObjType::Map)
                .unwrap();
        }
        rogue.commit();
        cases.push(rogue);

        let mut issues_seen = 0;
        for (i, case) in cases.iter().enumerate() {
            let roles = actor_roles(case);
            let (old_issues, old_read) = two_readings(case, &id, None);
            let (issues, view) = check_and_read_customer(case, &id, None, None, &roles);
            assert_eq!(issues, old_issues, "case {i}");
            assert_eq!(check_document(case, &id, None), old_issues, "case {i}");
            assert_eq!(one_reading(case, &id), old_read, "case {i}");
            assert_eq!(
                format!("{view:?}"),
                format!("{:?}", crate::index::read_customer(case, &id)),
                "case {i}"
            );
            issues_seen += issues.len();
            // Limited to some records (a phone's write): the same as the limited walk.
            let only = vec![format!("visits/{vid}"), "card".to_string()];
            assert_eq!(
                check_records(case, &id, &only, None),
                two_readings(case, &id, Some(&only)).0,
                "case {i}"
            );
        }
        assert!(issues_seen >= 6, "the cases have faults to find");
        let last = &cases[4];
        assert!(
            crate::index::read_customer(last, &id).conflicts.len() >= 2,
            "the merged case has conflicts"
        );
    }

    #[test]
    fn old_faults_do_not_block_new_changes() {
        let before = vec![Issue {
            path: "card.status".into(),
            reason: "x".into(),
        }];
        let after = vec![
            before[0].clone(),
            Issue {
                path: "card.name".into(),
                reason: "y".into(),
            },
        ];
        assert_eq!(new_issues(before, after.clone()), after[1..].to_vec());
    }

    /// `docs/schema/documents.json` is what this build generates (regenerate with
    /// `DOORSTEP_BLESS=1 cargo test -p doorstep-client-core --lib layout`).
    #[test]
    fn the_published_schema_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schema/documents.json");
        let fresh = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        if std::env::var_os("DOORSTEP_BLESS").is_some() {
            std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
            std::fs::write(path, &fresh).unwrap();
        }
        let published = std::fs::read_to_string(path).unwrap_or_default();
        assert!(published == fresh, "{path} is stale: regenerate it");
        let s = json_schema();
        for r in RECORDS {
            let req: Vec<&str> = s["$defs"][r.name]["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let want: Vec<&str> = r
                .fields
                .iter()
                .filter(|f| !f.optional)
                .map(|f| f.name)
                .collect();
            assert_eq!(req, want, "{}", r.name);
        }
    }
}
