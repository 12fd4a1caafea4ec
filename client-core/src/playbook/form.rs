//! The playbook's vocabulary as an app builds its forms from it: visit kinds, purposes, contact
//! purposes, outcomes and grades, each a code to store and a label to show, with what a form
//! must know about it (which outcome needs an amount or a date, which purpose makes a visit
//! effective).
//!
//! Without this an app would hard-code the insurance playbook's codes, and a team that puts the
//! car-insurance or home-improvement playbook in force would need a new app; with it, the form
//! follows the playbook in force. The phone library (ffi) and the server's API
//! (`GET /v1/team/playbook/vocabulary`) both return this one shape, computed here.
//!
//! Labels come in the language asked for (`zh` or `en`, see [`super::Language`]): a file's
//! `label_en` for English where it gives one, its primary (Chinese) label otherwise.

use serde::Serialize;

use super::vocabulary::Category;
use super::{Language, Playbook};
use crate::error::{Error, Result};

/// The languages a form's labels can be asked in.
pub const LANGUAGES: [&str; 2] = ["zh", "en"];

/// Everything a visit, call or customer form needs from the playbook in force.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FormVocabulary {
    /// The playbook's short name.
    pub playbook: String,
    /// Its title.
    pub title: String,
    /// The language asked for (`zh` or `en`).
    pub language: String,
    /// Customer grades, best first (the customer card's grade picker).
    pub grades: Vec<Term>,
    /// Visit kinds (the visit form's first choice).
    pub visit_kinds: Vec<Term>,
    /// Visit purposes (several may be ticked; `effective` marks those that make a visit count
    /// toward the daily standard).
    pub purposes: Vec<Term>,
    /// Purposes of calls and SMS.
    pub contact_purposes: Vec<Term>,
    /// Outcomes of visits and calls, with the fields each needs.
    pub outcomes: Vec<OutcomeTerm>,
}

/// One code of the playbook with its label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Term {
    /// What records store.
    pub code: String,
    /// What screens show.
    pub label: String,
    /// What it covers, if the playbook says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its column in the standards (`collection`, `service`, `sales`), for visit kinds and
    /// contact purposes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// The family it belongs to, for grouping a long list of purposes on screen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// For a visit purpose: whether it can make a visit effective.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<bool>,
}

/// An outcome with what a form must ask for when it is chosen.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutcomeTerm {
    /// What records store.
    pub code: String,
    /// What screens show.
    pub label: String,
    /// What it means, if the playbook says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The visit form must ask for an amount above zero (`paid`).
    pub requires_amount: bool,
    /// The visit form must ask for a date (`promised`).
    pub requires_date: bool,
    /// Whether the customer was met (`false`: not at home).
    pub met: bool,
    /// Whether it is a renewal: it marks the policies named on the record paid.
    pub marks_paid: bool,
    /// Whether it is new business closed.
    pub closes: bool,
}

impl Playbook {
    /// The playbook's vocabulary for forms, with labels in `language` (one of [`LANGUAGES`], or
    /// a tag of one such as `zh-CN` or `en-US`; another is a validation error naming the ones
    /// known).
    pub fn form_vocabulary(&self, language: &str) -> Result<FormVocabulary> {
        let Some(lang) = Language::from_tag(language) else {
            return Err(Error::invalid(
                "lang",
                format!(
                    "unknown language `{language}` (known: {})",
                    LANGUAGES.join(", ")
                ),
            ));
        };
        let pb = self.in_language(lang);
        let term = |code: &str, label: &str, description: &Option<String>| Term {
            code: code.to_string(),
            label: label.to_string(),
            description: description.clone(),
            category: None,
            group: None,
            effective: None,
        };
        Ok(FormVocabulary {
            playbook: pb.name.clone(),
            title: pb.title.clone(),
            language: language.to_string(),
            grades: pb
                .grades
                .iter()
                .map(|g| term(&g.code, &g.label, &g.description))
                .collect(),
            visit_kinds: pb
                .visit_kinds
                .iter()
                .map(|k| Term {
                    category: Some(k.category),
                    ..term(&k.code, &k.label, &k.description)
                })
                .collect(),
            purposes: pb
                .purposes
                .iter()
                .map(|p| Term {
                    group: p.group.clone(),
                    effective: Some(p.effective),
                    ..term(&p.code, &p.label, &p.description)
                })
                .collect(),
            contact_purposes: pb
                .contact_purposes
                .iter()
                .map(|p| Term {
                    category: p.category,
                    ..term(&p.code, &p.label, &p.description)
                })
                .collect(),
            outcomes: pb
                .outcomes
                .iter()
                .map(|o| OutcomeTerm {
                    code: o.code.clone(),
                    label: o.label.clone(),
                    description: o.description.clone(),
                    requires_amount: o.requires_amount,
                    requires_date: o.requires_date,
                    met: o.met,
                    marks_paid: o.marks_paid,
                    closes: o.closes,
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::testing::car;

    #[test]
    fn a_visit_form_is_built_from_the_playbook_in_force() {
        let pb = Playbook::insurance();
        let v = pb.form_vocabulary("zh").expect("zh");
        assert_eq!(
            (v.playbook.as_str(), v.language.as_str()),
            ("insurance", "zh")
        );
        let kinds: Vec<(&str, &str)> = v
            .visit_kinds
            .iter()
            .map(|k| (k.code.as_str(), k.label.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("collection", "收费访"),
                ("service", "服务访"),
                ("sales", "销售访")
            ]
        );
        let paid = v.outcomes.iter().find(|o| o.code == "paid").expect("paid");
        assert!(paid.requires_amount && !paid.requires_date && paid.marks_paid);
        let promised = v
            .outcomes
            .iter()
            .find(|o| o.code == "promised")
            .expect("promised");
        assert!(promised.requires_date && !promised.requires_amount);
        let birthday = v
            .purposes
            .iter()
            .find(|p| p.code == "birthday")
            .expect("birthday");
        assert_eq!(birthday.effective, Some(false));
        assert_eq!(v.grades.len(), 4);
        assert_eq!(v.outcomes.len(), pb.outcomes.len());
        assert_eq!(v.purposes.len(), pb.purposes.len());
        assert_eq!(v.contact_purposes.len(), pb.contact_purposes.len());
        // Another playbook, another form, no code change.
        let c = car().form_vocabulary("en").expect("en");
        assert!(c.visit_kinds.iter().any(|k| k.code == "shop_visit"));
        assert!(c
            .outcomes
            .iter()
            .any(|o| o.code == "renewed" && o.marks_paid));
        assert_eq!(c.language, "en");
        // English labels where the file gives them, the primary label otherwise.
        let en = pb.form_vocabulary("en-US").expect("en-US");
        let collection = |v: &FormVocabulary| {
            v.visit_kinds
                .iter()
                .find(|k| k.code == "collection")
                .map(|k| k.label.clone())
        };
        assert_eq!(collection(&v).as_deref(), Some("收费访"));
        let en_label = collection(&en).expect("collection");
        assert!(en_label.is_ascii() && !en_label.is_empty(), "{en_label}");
        let e = pb.form_vocabulary("fr").unwrap_err();
        assert_eq!(e.code(), "invalid");
        assert!(e.to_string().contains("zh, en"), "{e}");
    }
}
