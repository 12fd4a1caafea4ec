//! SMS templates: the team's wording of the messages agents send (after a visit, three days
//! after a visit that did not close, birthday, payment reminder, deduction success), with
//! placeholders filled in on the phone.
//!
//! A template is checked when the playbook loads, so a misspelt placeholder is a load error for
//! the person editing the file, not a "{custmer}" in a customer's inbox.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 3] = ["customer", "agent", "date"];

/// The team's SMS templates and how dates are written in them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// How `{date}` is written (chrono `strftime` syntax, e.g. `%m月%d日`).
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// The templates.
    #[serde(default)]
    pub templates: Vec<SmsTemplate>,
}

impl Default for SmsSettings {
    fn default() -> Self {
        SmsSettings {
            date_format: default_date_format(),
            templates: Vec::new(),
        }
    }
}

fn default_date_format() -> String {
    "%Y-%m-%d".to_string()
}

/// One SMS template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsTemplate {
    /// The template's code (`birthday`, `payment_reminder`…).
    pub code: String,
    /// What screens show.
    pub label: String,
    /// What English screens show; the primary `label` when absent (see `language`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    /// The text, with `{customer}`, `{agent}` and `{date}` placeholders; `{{` and `}}` are
    /// literal braces.
    pub text: String,
}

/// The values put into a template's placeholders.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SmsValues {
    /// The customer's name, for `{customer}`.
    pub customer: String,
    /// The agent's name, for `{agent}`.
    pub agent: String,
    /// The date, for `{date}` (a due date, an appointment…).
    pub date: Option<NaiveDate>,
}

#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Brace(char),
    Placeholder(&'a str),
}

/// Splits a template into text and placeholders, refusing unknown placeholders and stray
/// braces.
fn parse(text: &str) -> std::result::Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        if i > 0 {
            pieces.push(Piece::Text(&rest[..i]));
        }
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            pieces.push(Piece::Brace('{'));
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            pieces.push(Piece::Brace('}'));
            rest = after;
        } else if tail.starts_with('}') {
            return Err("a `}` without its `{` (write `}}` for a brace)".to_string());
        } else {
            let close = tail
                .find('}')
                .ok_or_else(|| "a `{` without its `}` (write `{{` for a brace)".to_string())?;
            let name = &tail[1..close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "unknown placeholder `{{{name}}}` (known: {{customer}}, {{agent}}, {{date}})"
                ));
            }
            pieces.push(Piece::Placeholder(name));
            rest = &tail[close + 1..];
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// Checks a template's text; the reason when it is unusable.
pub(crate) fn check_template(text: &str) -> std::result::Result<(), String> {
    parse(text).map(|_| ())
}

/// Checks a `strftime` date format; the reason when it is unusable.
pub(crate) fn check_date_format(format: &str) -> std::result::Result<(), String> {
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        Err(format!(
            "date_format `{format}` is not a valid strftime format"
        ))
    } else {
        Ok(())
    }
}

impl SmsSettings {
    /// The template with this code.
    pub fn template(&self, code: &str) -> Option<&SmsTemplate> {
        self.templates.iter().find(|t| t.code == code)
    }

    /// Fills a template's placeholders.
    ///
    /// Fails with [`Error::NotFound`] for an unknown template and [`Error::Invalid`] when the
    /// template uses `{date}` and no date is given (or the text or date format is broken).
    pub fn render(&self, code: &str, values: &SmsValues) -> Result<String> {
        let template = self.template(code).ok_or_else(|| Error::NotFound {
            what: "sms template",
            id: code.to_string(),
        })?;
        let pieces = parse(&template.text).map_err(|r| Error::invalid(format!("sms {code}"), r))?;
        let mut out = String::with_capacity(template.text.len() + 16);
        for piece in pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Brace(c) => out.push(c),
                Piece::Placeholder("customer") => out.push_str(&values.customer),
                Piece::Placeholder("agent") => out.push_str(&values.agent),
                Piece::Placeholder(_) => {
                    let date = values.date.ok_or_else(|| {
                        Error::invalid("date", format!("sms template `{code}` needs a date"))
                    })?;
                    check_date_format(&self.date_format)
                        .map_err(|r| Error::invalid("date_format", r))?;
                    write!(out, "{}", date.format(&self.date_format))
                        .map_err(|_| Error::invalid("date_format", "cannot format the date"))?;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::playbook::testing::d;
    use crate::playbook::Playbook;

    #[test]
    fn templates_render_with_their_placeholders() {
        let pb = Playbook::insurance();
        let values = SmsValues {
            customer: "王芳".into(),
            agent: "李明".into(),
            date: Some(d(2026, 6, 15)),
        };
        let text = pb
            .render_sms("payment_reminder", &values)
            .expect("payment reminder renders");
        assert!(text.contains("王芳"), "{text}");
        assert!(text.contains("李明"), "{text}");
        assert!(text.contains("06月15日"), "{text}");
        assert!(!text.contains('{'), "{text}");
        for code in [
            "after_visit",
            "not_closed_follow_up",
            "birthday",
            "payment_reminder",
            "deduction_success",
        ] {
            assert!(pb.render_sms(code, &values).is_ok(), "{code}");
        }
    }

    #[test]
    fn a_missing_date_or_template_is_an_error_not_a_panic() {
        let pb = Playbook::insurance();
        let no_date = SmsValues {
            customer: "王芳".into(),
            agent: "李明".into(),
            date: None,
        };
        let err = pb.render_sms("payment_reminder", &no_date).unwrap_err();
        assert!(err.to_string().contains("needs a date"), "{err}");
        let err = pb.render_sms("no_such_template", &no_date).unwrap_err();
        assert_eq!(err.code(), "not_found");
    }

    #[test]
    fn template_text_is_checked() {
        let table = [
            ("Hello {customer}", Ok(())),
            ("{{literal}} {agent}", Ok(())),
            ("Hello {custmer}", Err("unknown placeholder `{custmer}`")),
            ("Hello {customer", Err("without its `}`")),
            ("Hello customer}", Err("without its `{`")),
        ];
        for (text, want) in table {
            match (check_template(text), want) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(w)) => assert!(e.contains(w), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
        let settings = SmsSettings {
            date_format: "%Y".into(),
            templates: vec![SmsTemplate {
                code: "t".into(),
                label: "t".into(),
                label_en: None,
                text: "{{{customer}}}".into(),
            }],
        };
        let values = SmsValues {
            customer: "x".into(),
            ..SmsValues::default()
        };
        assert_eq!(settings.render("t", &values).unwrap(), "{x}");
        assert!(check_date_format("%Y年%m月%d日").is_ok());
        assert!(check_date_format("%Q").is_err());
    }

    proptest! {
        #[test]
        fn rendering_any_text_never_panics(text in ".{0,40}", fmt in "[%a-zA-Z]{0,6}") {
            let settings = SmsSettings {
                date_format: fmt,
                templates: vec![SmsTemplate { code: "t".into(), label: "t".into(), label_en: None, text }],
            };
            let values = SmsValues { date: Some(d(2026, 2, 28)), ..SmsValues::default() };
            let _ = settings.render("t", &values);
        }
    }
}
