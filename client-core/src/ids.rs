//! Identifiers as newtypes.
//!
//! A customer id and a visit id are both UUIDs on the wire, but mixing them up is a bug the
//! compiler should catch. Each identifier parses with its own error, so a bad id typed on the
//! command line or sent by a phone is refused at the edge, never deep inside a query.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random identifier.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// The identifier as a UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| Error::InvalidId {
                    what: $what,
                    value: s.to_string(),
                })
            }
        }
    };
}

uuid_id!(
    /// A customer: one Automerge document holds the card, policies, visits and contacts.
    CustomerId,
    "customer id"
);
uuid_id!(
    /// A policy inside a customer's document.
    PolicyId,
    "policy id"
);
uuid_id!(
    /// A visit inside a customer's document.
    VisitId,
    "visit id"
);
uuid_id!(
    /// A phone call or an SMS inside a customer's document.
    ContactId,
    "contact id"
);
uuid_id!(
    /// A problem raised in an evening report.
    ProblemId,
    "problem id"
);
uuid_id!(
    /// A manager's comment on a visit.
    CommentId,
    "comment id"
);

/// A person of the team (agent or manager), as the team's directory names them.
///
/// Free text rather than a UUID: a company's staff number ("A-0042") is what people type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UserId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(Error::InvalidId {
                what: "user id",
                value: s.to_string(),
            })
        }
    }
}

/// The name of one Automerge document: `customer:<uuid>` or `day:<user>:<yyyy-mm-dd>`.
///
/// The name is what the store, the index and (later) the sync protocol key documents by.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum DocId {
    /// A customer's card, policies, visits, contacts and comments.
    Customer(CustomerId),
    /// One agent's work log, evening report and problems for one day.
    Day(UserId, chrono::NaiveDate),
}

impl DocId {
    /// The kind of document, as stored in the `documents` table.
    pub fn kind(&self) -> &'static str {
        match self {
            DocId::Customer(_) => "customer",
            DocId::Day(..) => "day",
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocId::Customer(c) => write!(f, "customer:{c}"),
            DocId::Day(u, d) => write!(f, "day:{u}:{}", d.format("%Y-%m-%d")),
        }
    }
}

impl FromStr for DocId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidId {
            what: "document id",
            value: s.to_string(),
        };
        if let Some(rest) = s.strip_prefix("customer:") {
            return Ok(DocId::Customer(rest.parse().map_err(|_| bad())?));
        }
        if let Some(rest) = s.strip_prefix("day:") {
            let (user, date) = rest.rsplit_once(':').ok_or_else(bad)?;
            let date = iso_date(date).ok_or_else(bad)?;
            return Ok(DocId::Day(user.parse().map_err(|_| bad())?, date));
        }
        Err(bad())
    }
}

/// Parses a date written exactly `YYYY-MM-DD` (four-digit year, two-digit month and day):
/// chrono's `%Y-%m-%d` alone also takes `2026-6-1` and `+2026-06-01`, which would name the
/// same day under another spelling (and another genesis actor, for a document id).
pub fn iso_date(s: &str) -> Option<chrono::NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape {
        return None;
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

impl From<DocId> for String {
    fn from(d: DocId) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for DocId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_round_trip_and_refuse_garbage() {
        let c = DocId::Customer(CustomerId::new());
        assert_eq!(c.to_string().parse::<DocId>().unwrap(), c);
        let d = DocId::Day(
            "agent-7".parse().unwrap(),
            chrono::NaiveDate::from_ymd_opt(2026, 6, 15).unwrap(),
        );
        assert_eq!(d.to_string(), "day:agent-7:2026-06-15");
        assert_eq!(d.to_string().parse::<DocId>().unwrap(), d);
        for bad in [
            "",
            "customer:xyz",
            "day:a:2026-13-01",
            "day:a:2026-6-15",
            "day:a:+2026-06-15",
            "day:a:2026-06-15 ",
            "day::2026-01-01",
            "visit:1",
        ] {
            assert!(bad.parse::<DocId>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn user_ids_are_short_plain_text() {
        assert!("A-0042".parse::<UserId>().is_ok());
        assert!("".parse::<UserId>().is_err());
        assert!("a b".parse::<UserId>().is_err());
        assert!("x".repeat(65).parse::<UserId>().is_err());
    }
}
