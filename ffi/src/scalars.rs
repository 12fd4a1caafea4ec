//! How dates, moments and identifiers cross the boundary: as text.
//!
//! Kotlin, Swift and Python each have their own date types, none of which maps one-to-one onto
//! chrono's. ISO 8601 text — `2026-06-15` for a day, RFC 3339 with the phone's UTC offset for
//! a moment — is what the sync protocol and the JSON API already use, survives every binding
//! unchanged and keeps the offset a visit is credited by. Identifiers are their canonical text
//! (UUIDs, staff numbers). Text that does not parse is [`DoorstepError::Invalid`], never a crash.

use std::str::FromStr;

use chrono::NaiveDate;
use client_core::model::Timestamp;
use serde::Serialize;

use crate::error::DoorstepError;

/// Parses a day (`YYYY-MM-DD`).
pub(crate) fn date(field: &str, s: &str) -> Result<NaiveDate, DoorstepError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| DoorstepError::Invalid {
        detail: format!("{field}: {s:?} is not a date (YYYY-MM-DD)"),
    })
}

/// Parses an optional day.
pub(crate) fn opt_date(field: &str, s: Option<String>) -> Result<Option<NaiveDate>, DoorstepError> {
    s.map(|s| date(field, &s)).transpose()
}

/// Parses a moment: RFC 3339 with its UTC offset, or the same without seconds (what Java's
/// `OffsetDateTime.toString()` prints on a whole minute).
pub(crate) fn moment(field: &str, s: &str) -> Result<Timestamp, DoorstepError> {
    let t = s.trim();
    chrono::DateTime::parse_from_rfc3339(t)
        .or_else(|_| chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M%:z"))
        .map_err(|_| DoorstepError::Invalid {
            detail: format!("{field}: {s:?} is not an RFC 3339 time (2026-06-15T09:30:00+08:00)"),
        })
}

/// Parses an identifier with its own newtype's rules.
pub(crate) fn id<T: FromStr<Err = client_core::Error>>(s: &str) -> Result<T, DoorstepError> {
    Ok(s.parse()?)
}

/// Parses a list of identifiers.
pub(crate) fn ids<T: FromStr<Err = client_core::Error>>(
    v: Vec<String>,
) -> Result<Vec<T>, DoorstepError> {
    v.iter().map(|s| id(s)).collect()
}

/// Formats a moment as RFC 3339.
pub(crate) fn time_text(t: Timestamp) -> String {
    t.to_rfc3339()
}

/// The code of a playbook vocabulary value (metric, phase, tier…), as its JSON spells it.
pub(crate) fn code<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Formats any identifier or value that displays itself.
pub(crate) fn texts<T: ToString>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_parse_with_or_without_seconds_and_garbage_is_invalid() {
        let a = moment("t", "2026-06-15T09:30:00+08:00").unwrap();
        let b = moment("t", "2026-06-15T09:30+08:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.offset().local_minus_utc(), 8 * 3600);
        assert!(matches!(
            moment("t", "2026-06-15 09:30"),
            Err(DoorstepError::Invalid { .. })
        ));
        assert!(matches!(
            date("d", "2026-02-30"),
            Err(DoorstepError::Invalid { .. })
        ));
        assert_eq!(date("d", " 2026-06-15 ").unwrap().to_string(), "2026-06-15");
    }
}
