//! The codes a team records with: grades, visit kinds, visit purposes, contact purposes and
//! outcomes.
//!
//! Records keep these as plain strings (see `model`), so a car-insurance desk or a
//! home-improvement team names its own without a code change. What the computations need to
//! know about a code (is this purpose part of an effective visit? does this outcome count as the
//! "1 result" of 10-3-1?) is a flag set here, in the playbook file, never a string compared in
//! code.

use serde::{Deserialize, Serialize};

/// A customer grade (客户分类). The playbook lists grades best first: the first one is the
/// "top grade" of the gold standard (A in the insurance playbook).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grade {
    /// The code stored on the customer card (`A`, `loyal`, `hot`…).
    pub code: String,
    /// What screens show.
    pub label: String,
    /// What English screens show; the primary `label` when absent (see `language`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    /// Who belongs to the grade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What to do with a closed customer (成交) of this grade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_action: Option<String>,
    /// What to do with a prospect (未成交) of this grade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prospect_action: Option<String>,
}

/// What a visit or a contact is for, broadly: the three kinds of visit of the "seven things a
/// day" and of the gold standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Premium, receipts, failed deductions, difficult or exited policies (收费).
    Collection,
    /// Dividends, policy service, claims, maturity, birthdays, thanks (服务).
    Service,
    /// Needs, proposal, closing (销售).
    Sales,
}

/// A kind of visit (收费访, 服务访, 销售访…).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitKind {
    /// The code stored on the visit.
    pub code: String,
    /// What screens show.
    pub label: String,
    /// What English screens show; the primary `label` when absent (see `language`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    /// Which column of the standards the visit counts in.
    pub category: Category,
    /// What the kind covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A purpose a visit can have (renewal contact, needs discovery, closing…).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// The code stored on the visit.
    pub code: String,
    /// What screens show.
    pub label: String,
    /// What English screens show; the primary `label` when absent (see `language`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    /// Whether a visit with this purpose can be an effective visit (有效拜访). Every purpose
    /// must say so: the flag is the heart of the 311 standard.
    pub effective: bool,
    /// The family of purposes it belongs to, for grouping on screens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// What the purpose covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A purpose a phone call or an SMS can have (appointment, payment reminder, birthday…).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPurpose {
    /// The code stored on the contact.
    pub code: String,
    /// What screens show.
    pub label: String,
    /// What English screens show; the primary `label` when absent (see `language`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    /// Which column of the standards the contact counts in (a service call, a payment
    /// reminder…), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// What the purpose covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An outcome a visit or a call can record (paid, promised, appointment, refused…).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeKind {
    /// The code stored on the visit or contact.
    pub code: String,
    /// What screens show.
    pub label: String,
    /// What English screens show; the primary `label` when absent (see `language`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    /// Whether the customer was met or reached (`false` for "not at home"). A visit whose
    /// outcome was not met is never effective and is not a meeting.
    #[serde(default = "yes")]
    pub met: bool,
    /// Whether it is the "1 result" of 10-3-1 (a renewal served or paid, a new policy, a
    /// referral or a new prospect).
    #[serde(default)]
    pub result: bool,
    /// Whether it means the premium was received.
    #[serde(default)]
    pub marks_paid: bool,
    /// Whether it is new business closed (成交): counts in the `closes` metric.
    #[serde(default)]
    pub closes: bool,
    /// Whether a visit recording it must give the amount (`paid`: "paid with amount"). A call
    /// or SMS carries no amount and is not checked.
    #[serde(default)]
    pub requires_amount: bool,
    /// Whether a visit recording it must give a date (`promised`: the promised day). A call or
    /// SMS carries no date and is not checked.
    #[serde(default)]
    pub requires_date: bool,
    /// What the outcome means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn yes() -> bool {
    true
}
