//! The field's records as the apps see them: mirrors of `client_core::model` with uniffi's
//! derives, and their conversions.
//!
//! Every conversion is mechanical: field for field, days and moments as ISO text, ids as their
//! text (see `scalars`), enums variant for variant. Input records (`New…`, `…Patch`) convert
//! with `TryFrom`, because their text must parse; output records with `From`.

use client_core::model;
use client_core::{RaisedProblem as CoreRaisedProblem, UserId};

use crate::error::DoorstepError;
use crate::scalars::{code, date, id, ids, moment, opt_date, texts, time_text};

/// Declares a uniffi enum that mirrors a client-core enum variant for variant, with the
/// conversions both ways.
macro_rules! mirror_enum {
    ($(#[$m:meta])* $name:ident = $core:ident { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum $name {
            $($(#[$vm])* $v),+
        }

        impl From<$core> for $name {
            fn from(x: $core) -> Self {
                match x {
                    $($core::$v => $name::$v),+
                }
            }
        }

        impl From<$name> for $core {
            fn from(x: $name) -> Self {
                match x {
                    $($name::$v => $core::$v),+
                }
            }
        }
    };
}
pub(crate) use mirror_enum;

use client_core::ProblemAction as CoreProblemAction;
use model::{
    ContactKind as CoreContactKind, CustomerStatus as CoreCustomerStatus,
    PaymentMethod as CorePaymentMethod, PolicyStatus as CorePolicyStatus,
    ProblemStatus as CoreProblemStatus, Role as CoreRole,
};

mirror_enum!(
    /// Who a person is in the team; managers' edits of role-governed fields win conflicts.
    Role = CoreRole {
        /// Works in the field; sees only the customers assigned to them.
        Agent,
        /// Leads a group of agents (主管).
        Supervisor,
        /// Above several groups (部经理 / 督训).
        DepartmentManager,
        /// Top of the chain (区经理).
        DistrictManager,
    }
);

mirror_enum!(
    /// Whether a customer has bought (成交) or not yet (未成交).
    CustomerStatus = CoreCustomerStatus {
        /// Holds at least one policy sold by the team.
        Closed,
        /// Not a customer yet.
        Prospect,
    }
);

mirror_enum!(
    /// Where a policy stands (保单状态).
    PolicyStatus = CorePolicyStatus {
        /// Nothing special.
        Normal,
        /// 疑难单: the customer hesitates or the deduction failed.
        Difficult,
        /// 退出单: lapsed or surrender asked.
        Exited,
        /// 死单: customer unreachable.
        Dead,
        /// 孤儿保单: its agent left; someone else must serve it.
        Orphan,
    }
);

mirror_enum!(
    /// How a premium is paid.
    PaymentMethod = CorePaymentMethod {
        /// Automatic bank deduction (the usual way).
        BankDeduction,
        /// Cash collected at the door.
        Cash,
        /// Card or transfer.
        Card,
    }
);

mirror_enum!(
    /// A phone call (电联) or an SMS (短信).
    ContactKind = CoreContactKind {
        /// A phone call.
        Call,
        /// A text message.
        Sms,
    }
);

mirror_enum!(
    /// Whether a problem still waits for an answer.
    ProblemStatus = CoreProblemStatus {
        /// Waiting at its level.
        Open,
        /// Someone answered and closed it.
        Resolved,
    }
);

mirror_enum!(
    /// What a manager does with an escalated problem.
    ProblemAction = CoreProblemAction {
        /// Answer and close it.
        Resolve,
        /// Add a note and pass it one level up.
        Escalate,
        /// Add a note, keep it open where it is.
        Note,
    }
);

/// Who uses a home: the person and their role.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Identity {
    /// The person's id (staff number).
    pub user: String,
    /// Their role.
    pub role: Role,
}

impl From<client_core::Identity> for Identity {
    fn from(i: client_core::Identity) -> Self {
        Identity {
            user: i.user.to_string(),
            role: i.role.into(),
        }
    }
}

/// The playbook in force: its name and title.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PlaybookInfo {
    /// Its short name (`insurance`, `car-insurance`…).
    pub name: String,
    /// Its title for people.
    pub title: String,
}

impl From<&client_core::playbook::Playbook> for PlaybookInfo {
    fn from(p: &client_core::playbook::Playbook) -> Self {
        PlaybookInfo {
            name: p.name.clone(),
            title: p.title.clone(),
        }
    }
}

/// The playbook's vocabulary for building forms (client-core's `FormVocabulary`).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct FormVocabulary {
    /// The playbook's short name.
    pub playbook: String,
    /// Its title.
    pub title: String,
    /// The language asked for (`zh`, `en`).
    pub language: String,
    /// Customer grades, best first.
    pub grades: Vec<Term>,
    /// Visit kinds.
    pub visit_kinds: Vec<Term>,
    /// Visit purposes.
    pub purposes: Vec<Term>,
    /// Purposes of calls and SMS.
    pub contact_purposes: Vec<Term>,
    /// Outcomes, with what each needs.
    pub outcomes: Vec<OutcomeTerm>,
}

/// One code of the playbook with its label.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Term {
    /// What records store.
    pub code: String,
    /// What screens show.
    pub label: String,
    /// What it covers.
    pub description: Option<String>,
    /// `collection`, `service` or `sales`, for visit kinds and contact purposes.
    pub category: Option<String>,
    /// The family of purposes it belongs to.
    pub group: Option<String>,
    /// For a visit purpose: whether it can make a visit effective.
    pub effective: Option<bool>,
}

/// An outcome with what a form must ask for.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct OutcomeTerm {
    /// What records store.
    pub code: String,
    /// What screens show.
    pub label: String,
    /// What it means.
    pub description: Option<String>,
    /// The visit form must ask for an amount above zero.
    pub requires_amount: bool,
    /// The visit form must ask for a date.
    pub requires_date: bool,
    /// Whether the customer was met.
    pub met: bool,
    /// Whether it marks the policies named paid.
    pub marks_paid: bool,
    /// Whether it is new business closed.
    pub closes: bool,
}

impl From<client_core::playbook::FormVocabulary> for FormVocabulary {
    fn from(v: client_core::playbook::FormVocabulary) -> Self {
        let terms = |t: Vec<client_core::playbook::Term>| t.into_iter().map(Into::into).collect();
        FormVocabulary {
            playbook: v.playbook,
            title: v.title,
            language: v.language,
            grades: terms(v.grades),
            visit_kinds: terms(v.visit_kinds),
            purposes: terms(v.purposes),
            contact_purposes: terms(v.contact_purposes),
            outcomes: v.outcomes.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<client_core::playbook::Term> for Term {
    fn from(t: client_core::playbook::Term) -> Self {
        Term {
            code: t.code,
            label: t.label,
            description: t.description,
            category: t.category.map(|c| code(&c)),
            group: t.group,
            effective: t.effective,
        }
    }
}

impl From<client_core::playbook::OutcomeTerm> for OutcomeTerm {
    fn from(o: client_core::playbook::OutcomeTerm) -> Self {
        OutcomeTerm {
            code: o.code,
            label: o.label,
            description: o.description,
            requires_amount: o.requires_amount,
            requires_date: o.requires_date,
            met: o.met,
            marks_paid: o.marks_paid,
            closes: o.closes,
        }
    }
}

/// A point on the map (WGS 84 degrees).
#[derive(Clone, Copy, Debug, PartialEq, uniffi::Record)]
pub struct GeoPoint {
    /// Latitude, −90 to 90.
    pub lat: f64,
    /// Longitude, −180 to 180.
    pub lon: f64,
}

impl From<model::GeoPoint> for GeoPoint {
    fn from(g: model::GeoPoint) -> Self {
        GeoPoint {
            lat: g.lat,
            lon: g.lon,
        }
    }
}

impl From<GeoPoint> for model::GeoPoint {
    fn from(g: GeoPoint) -> Self {
        model::GeoPoint {
            lat: g.lat,
            lon: g.lon,
        }
    }
}

/// A customer card (客户).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Customer {
    /// The customer's id.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Phone numbers.
    pub phones: Vec<String>,
    /// Street address.
    pub address: Option<String>,
    /// Postcode: lists and routes are grouped by it.
    pub postcode: Option<String>,
    /// Birthday (YYYY-MM-DD).
    pub birthday: Option<String>,
    /// Family structure.
    pub family: Option<String>,
    /// Household income band.
    pub income_band: Option<String>,
    /// Workplace.
    pub workplace: Option<String>,
    /// Free notes.
    pub notes: Option<String>,
    /// Grade code from the playbook (A–D by default).
    pub grade: Option<String>,
    /// Closed customer or prospect.
    pub status: CustomerStatus,
    /// The agent the customer is assigned to.
    pub agent: Option<String>,
    /// The address's coordinates.
    pub location: Option<GeoPoint>,
    /// The day the card was created (YYYY-MM-DD).
    pub created_on: String,
}

impl From<model::Customer> for Customer {
    fn from(c: model::Customer) -> Self {
        Customer {
            id: c.id.to_string(),
            name: c.name,
            phones: c.phones,
            address: c.address,
            postcode: c.postcode,
            birthday: c.birthday.map(|d| d.to_string()),
            family: c.family,
            income_band: c.income_band,
            workplace: c.workplace,
            notes: c.notes,
            grade: c.grade,
            status: c.status.into(),
            agent: c.agent.map(|a| a.to_string()),
            location: c.location.map(Into::into),
            created_on: c.created_on.to_string(),
        }
    }
}

/// A new customer card.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct NewCustomer {
    /// Full name (required).
    pub name: String,
    /// Phone numbers.
    #[uniffi(default)]
    pub phones: Vec<String>,
    /// Street address.
    #[uniffi(default)]
    pub address: Option<String>,
    /// Postcode.
    #[uniffi(default)]
    pub postcode: Option<String>,
    /// Birthday (YYYY-MM-DD).
    #[uniffi(default)]
    pub birthday: Option<String>,
    /// Family structure.
    #[uniffi(default)]
    pub family: Option<String>,
    /// Household income band.
    #[uniffi(default)]
    pub income_band: Option<String>,
    /// Workplace.
    #[uniffi(default)]
    pub workplace: Option<String>,
    /// Notes.
    #[uniffi(default)]
    pub notes: Option<String>,
    /// Grade code.
    #[uniffi(default)]
    pub grade: Option<String>,
    /// Closed customer or prospect.
    pub status: CustomerStatus,
    /// Assigned agent; the home's own user when absent.
    #[uniffi(default)]
    pub agent: Option<String>,
    /// Coordinates of the address.
    #[uniffi(default)]
    pub location: Option<GeoPoint>,
}

impl TryFrom<NewCustomer> for model::NewCustomer {
    type Error = DoorstepError;
    fn try_from(c: NewCustomer) -> Result<Self, DoorstepError> {
        Ok(model::NewCustomer {
            name: c.name,
            phones: c.phones,
            address: c.address,
            postcode: c.postcode,
            birthday: opt_date("birthday", c.birthday)?,
            family: c.family,
            income_band: c.income_band,
            workplace: c.workplace,
            notes: c.notes,
            grade: c.grade,
            status: c.status.into(),
            agent: c.agent.map(|a| id::<UserId>(&a)).transpose()?,
            location: c.location.map(Into::into),
        })
    }
}

/// Changes to a customer card: each field given replaces the card's; absent fields stay.
#[derive(Clone, Debug, Default, PartialEq, uniffi::Record)]
pub struct CustomerPatch {
    /// New name.
    #[uniffi(default)]
    pub name: Option<String>,
    /// Replaces the phone numbers.
    #[uniffi(default)]
    pub phones: Option<Vec<String>>,
    /// New address.
    #[uniffi(default)]
    pub address: Option<String>,
    /// New postcode.
    #[uniffi(default)]
    pub postcode: Option<String>,
    /// New birthday (YYYY-MM-DD).
    #[uniffi(default)]
    pub birthday: Option<String>,
    /// New family structure.
    #[uniffi(default)]
    pub family: Option<String>,
    /// New income band.
    #[uniffi(default)]
    pub income_band: Option<String>,
    /// New workplace.
    #[uniffi(default)]
    pub workplace: Option<String>,
    /// New notes.
    #[uniffi(default)]
    pub notes: Option<String>,
    /// New grade code.
    #[uniffi(default)]
    pub grade: Option<String>,
    /// New status.
    #[uniffi(default)]
    pub status: Option<CustomerStatus>,
    /// New assigned agent.
    #[uniffi(default)]
    pub agent: Option<String>,
    /// New coordinates.
    #[uniffi(default)]
    pub location: Option<GeoPoint>,
}

impl TryFrom<CustomerPatch> for model::CustomerPatch {
    type Error = DoorstepError;
    fn try_from(p: CustomerPatch) -> Result<Self, DoorstepError> {
        Ok(model::CustomerPatch {
            name: p.name,
            phones: p.phones,
            address: p.address.map(Some),
            postcode: p.postcode.map(Some),
            birthday: opt_date("birthday", p.birthday)?.map(Some),
            family: p.family.map(Some),
            income_band: p.income_band.map(Some),
            workplace: p.workplace.map(Some),
            notes: p.notes.map(Some),
            grade: p.grade.map(Some),
            status: p.status.map(Into::into),
            agent: p.agent.map(|a| id::<UserId>(&a).map(Some)).transpose()?,
            location: p.location.map(|g| Some(g.into())),
        })
    }
}

/// A policy (保单).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Policy {
    /// The policy's id.
    pub id: String,
    /// The customer whose document holds it.
    pub customer: String,
    /// The company's policy number.
    pub number: String,
    /// Product name.
    pub product: String,
    /// Policyholder (投保人).
    pub policyholder: String,
    /// Insured (被保险人).
    pub insured: String,
    /// Premium in minor units (cents, fen).
    pub premium_cents: i64,
    /// How the premium is paid.
    pub payment_method: PaymentMethod,
    /// Riders.
    pub riders: Vec<String>,
    /// Due date of the current cycle (YYYY-MM-DD).
    pub due_date: String,
    /// Where the policy stands.
    pub status: PolicyStatus,
    /// When the current cycle's premium was received.
    pub paid_on: Option<String>,
    /// When the last bank deduction failed, if nothing was paid since.
    pub deduction_failed_on: Option<String>,
}

impl From<model::Policy> for Policy {
    fn from(p: model::Policy) -> Self {
        Policy {
            id: p.id.to_string(),
            customer: p.customer.to_string(),
            number: p.number,
            product: p.product,
            policyholder: p.policyholder,
            insured: p.insured,
            premium_cents: p.premium_cents,
            payment_method: p.payment_method.into(),
            riders: p.riders,
            due_date: p.due_date.to_string(),
            status: p.status.into(),
            paid_on: p.paid_on.map(|d| d.to_string()),
            deduction_failed_on: p.deduction_failed_on.map(|d| d.to_string()),
        }
    }
}

/// A new policy.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct NewPolicy {
    /// The company's policy number (required).
    pub number: String,
    /// Product name.
    #[uniffi(default = "")]
    pub product: String,
    /// Policyholder; the customer's name when empty.
    #[uniffi(default = "")]
    pub policyholder: String,
    /// Insured; the policyholder when empty.
    #[uniffi(default = "")]
    pub insured: String,
    /// Premium in minor units.
    pub premium_cents: i64,
    /// How the premium is paid.
    pub payment_method: PaymentMethod,
    /// Riders.
    #[uniffi(default)]
    pub riders: Vec<String>,
    /// Due date of the current cycle (YYYY-MM-DD).
    pub due_date: String,
    /// Status.
    pub status: PolicyStatus,
}

impl TryFrom<NewPolicy> for model::NewPolicy {
    type Error = DoorstepError;
    fn try_from(p: NewPolicy) -> Result<Self, DoorstepError> {
        Ok(model::NewPolicy {
            number: p.number,
            product: p.product,
            policyholder: p.policyholder,
            insured: p.insured,
            premium_cents: p.premium_cents,
            payment_method: p.payment_method.into(),
            riders: p.riders,
            due_date: date("due_date", &p.due_date)?,
            status: p.status.into(),
        })
    }
}

/// Changes to a policy: each field given replaces the policy's.
#[derive(Clone, Debug, Default, PartialEq, uniffi::Record)]
pub struct PolicyPatch {
    /// New product name.
    #[uniffi(default)]
    pub product: Option<String>,
    /// New premium.
    #[uniffi(default)]
    pub premium_cents: Option<i64>,
    /// New payment method.
    #[uniffi(default)]
    pub payment_method: Option<PaymentMethod>,
    /// New due date (the next cycle).
    #[uniffi(default)]
    pub due_date: Option<String>,
    /// New status.
    #[uniffi(default)]
    pub status: Option<PolicyStatus>,
    /// Premium received on this day.
    #[uniffi(default)]
    pub paid_on: Option<String>,
    /// Bank deduction failed on this day.
    #[uniffi(default)]
    pub deduction_failed_on: Option<String>,
}

impl TryFrom<PolicyPatch> for model::PolicyPatch {
    type Error = DoorstepError;
    fn try_from(p: PolicyPatch) -> Result<Self, DoorstepError> {
        Ok(model::PolicyPatch {
            product: p.product,
            premium_cents: p.premium_cents,
            payment_method: p.payment_method.map(Into::into),
            due_date: opt_date("due_date", p.due_date)?,
            status: p.status.map(Into::into),
            paid_on: opt_date("paid_on", p.paid_on)?.map(Some),
            deduction_failed_on: opt_date("deduction_failed_on", p.deduction_failed_on)?.map(Some),
        })
    }
}

/// What came of a visit.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Outcome {
    /// Outcome code from the playbook (`paid`, `promised`, `appointment`, `refused`…).
    pub code: String,
    /// Amount collected, in minor units, for a payment.
    #[uniffi(default)]
    pub amount_cents: Option<i64>,
    /// Promised payment day or appointment day (YYYY-MM-DD).
    #[uniffi(default)]
    pub date: Option<String>,
    /// Reason for an appointment, name of a referral…
    #[uniffi(default)]
    pub detail: Option<String>,
}

impl From<model::Outcome> for Outcome {
    fn from(o: model::Outcome) -> Self {
        Outcome {
            code: o.code,
            amount_cents: o.amount_cents,
            date: o.date.map(|d| d.to_string()),
            detail: o.detail,
        }
    }
}

impl TryFrom<Outcome> for model::Outcome {
    type Error = DoorstepError;
    fn try_from(o: Outcome) -> Result<Self, DoorstepError> {
        Ok(model::Outcome {
            code: o.code,
            amount_cents: o.amount_cents,
            date: opt_date("outcome date", o.date)?,
            detail: o.detail,
        })
    }
}

/// An in-person visit (亲访).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Visit {
    /// The visit's id.
    pub id: String,
    /// The customer visited.
    pub customer: String,
    /// Who visited.
    pub agent: String,
    /// Visit kind code (collection, service, sales by default).
    pub kind: String,
    /// Purpose codes.
    pub purposes: Vec<String>,
    /// What came of it.
    pub outcome: Option<Outcome>,
    /// Policies touched.
    pub policies: Vec<String>,
    /// Arrival (RFC 3339).
    pub start: String,
    /// Departure (RFC 3339).
    pub end: String,
    /// Where the phone was.
    pub location: Option<GeoPoint>,
    /// The agent's notes.
    pub notes: String,
    /// The visit's number for its customer (1 for the first).
    pub number: u32,
}

impl From<model::Visit> for Visit {
    fn from(v: model::Visit) -> Self {
        Visit {
            id: v.id.to_string(),
            customer: v.customer.to_string(),
            agent: v.agent.to_string(),
            kind: v.kind,
            purposes: v.purposes,
            outcome: v.outcome.map(Into::into),
            policies: texts(&v.policies),
            start: time_text(v.start),
            end: time_text(v.end),
            location: v.location.map(Into::into),
            notes: v.notes,
            number: v.number,
        }
    }
}

/// A visit to record.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct NewVisit {
    /// Visit kind code.
    pub kind: String,
    /// Purpose codes.
    pub purposes: Vec<String>,
    /// Outcome.
    #[uniffi(default)]
    pub outcome: Option<Outcome>,
    /// Policies touched (the customer's).
    #[uniffi(default)]
    pub policies: Vec<String>,
    /// Arrival (RFC 3339 with the phone's offset).
    pub start: String,
    /// Departure (not before arrival).
    pub end: String,
    /// Where the phone was.
    #[uniffi(default)]
    pub location: Option<GeoPoint>,
    /// Notes.
    #[uniffi(default = "")]
    pub notes: String,
}

impl TryFrom<NewVisit> for model::NewVisit {
    type Error = DoorstepError;
    fn try_from(v: NewVisit) -> Result<Self, DoorstepError> {
        Ok(model::NewVisit {
            kind: v.kind,
            purposes: v.purposes,
            outcome: v.outcome.map(TryInto::try_into).transpose()?,
            policies: ids(v.policies)?,
            start: moment("start", &v.start)?,
            end: moment("end", &v.end)?,
            location: v.location.map(Into::into),
            notes: v.notes,
        })
    }
}

/// A call or SMS to a customer.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Contact {
    /// The contact's id.
    pub id: String,
    /// The customer contacted.
    pub customer: String,
    /// Who contacted them.
    pub agent: String,
    /// Call or SMS.
    pub kind: ContactKind,
    /// When (RFC 3339).
    pub at: String,
    /// Purpose code.
    pub purpose: Option<String>,
    /// Outcome code.
    pub outcome: Option<String>,
    /// Policies concerned.
    pub policies: Vec<String>,
    /// Notes or the SMS text.
    pub notes: String,
}

impl From<model::Contact> for Contact {
    fn from(c: model::Contact) -> Self {
        Contact {
            id: c.id.to_string(),
            customer: c.customer.to_string(),
            agent: c.agent.to_string(),
            kind: c.kind.into(),
            at: time_text(c.at),
            purpose: c.purpose,
            outcome: c.outcome,
            policies: texts(&c.policies),
            notes: c.notes,
        }
    }
}

/// A call or SMS to record.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct NewContact {
    /// Call or SMS.
    pub kind: ContactKind,
    /// When (RFC 3339).
    pub at: String,
    /// Purpose code (`appointment`, `payment_reminder`, `birthday`…).
    #[uniffi(default)]
    pub purpose: Option<String>,
    /// Outcome code.
    #[uniffi(default)]
    pub outcome: Option<String>,
    /// Policies concerned.
    #[uniffi(default)]
    pub policies: Vec<String>,
    /// Notes or the SMS text.
    #[uniffi(default = "")]
    pub notes: String,
}

impl TryFrom<NewContact> for model::NewContact {
    type Error = DoorstepError;
    fn try_from(c: NewContact) -> Result<Self, DoorstepError> {
        Ok(model::NewContact {
            kind: c.kind.into(),
            at: moment("at", &c.at)?,
            purpose: c.purpose,
            outcome: c.outcome,
            policies: ids(c.policies)?,
            notes: c.notes,
        })
    }
}

/// A manager's comment on a visit.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Comment {
    /// The comment's id.
    pub id: String,
    /// The visit commented on.
    pub visit: String,
    /// Who wrote it.
    pub author: String,
    /// The author's role.
    pub role: Role,
    /// The text.
    pub text: String,
    /// When (RFC 3339).
    pub at: String,
}

impl From<model::Comment> for Comment {
    fn from(c: model::Comment) -> Self {
        Comment {
            id: c.id.to_string(),
            visit: c.visit.to_string(),
            author: c.author.to_string(),
            role: c.role.into(),
            text: c.text,
            at: time_text(c.at),
        }
    }
}

/// The daily work log (工作日志).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct WorkLog {
    /// Whose day.
    pub agent: String,
    /// Which day (YYYY-MM-DD).
    pub date: String,
    /// The diary text.
    pub text: String,
    /// When it was last written (RFC 3339).
    pub written_at: String,
}

impl From<model::WorkLog> for WorkLog {
    fn from(l: model::WorkLog) -> Self {
        WorkLog {
            agent: l.agent.to_string(),
            date: l.date.to_string(),
            text: l.text,
            written_at: time_text(l.written_at),
        }
    }
}

/// An answer to, or escalation of, a problem.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Answer {
    /// Who answered.
    pub author: String,
    /// Their role.
    pub role: Role,
    /// The text.
    pub text: String,
    /// When (RFC 3339).
    pub at: String,
}

impl From<model::Answer> for Answer {
    fn from(a: model::Answer) -> Self {
        Answer {
            author: a.author.to_string(),
            role: a.role.into(),
            text: a.text,
            at: time_text(a.at),
        }
    }
}

/// A problem of an evening report; it escalates one level at a time.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Problem {
    /// The problem's id.
    pub id: String,
    /// The problem as the agent wrote it.
    pub text: String,
    /// The customer concerned.
    pub customer: Option<String>,
    /// The level it waits at.
    pub level: Role,
    /// Open or resolved.
    pub status: ProblemStatus,
    /// Answers and escalation notes, oldest first.
    pub answers: Vec<Answer>,
}

impl From<model::Problem> for Problem {
    fn from(p: model::Problem) -> Self {
        Problem {
            id: p.id.to_string(),
            text: p.text,
            customer: p.customer.map(|c| c.to_string()),
            level: p.level.into(),
            status: p.status.into(),
            answers: p.answers.into_iter().map(Into::into).collect(),
        }
    }
}

/// A problem to submit with the evening report.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct NewProblem {
    /// The problem, in the agent's words.
    pub text: String,
    /// The customer concerned.
    #[uniffi(default)]
    pub customer: Option<String>,
}

/// A problem with the report it came from, for a manager's list.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct RaisedProblem {
    /// Who raised it.
    pub agent: String,
    /// In which day's report (YYYY-MM-DD).
    pub date: String,
    /// The problem.
    pub problem: Problem,
}

impl From<CoreRaisedProblem> for RaisedProblem {
    fn from(r: CoreRaisedProblem) -> Self {
        RaisedProblem {
            agent: r.agent.to_string(),
            date: r.date.to_string(),
            problem: r.problem.into(),
        }
    }
}

/// The evening report (晚汇报).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct EveningReport {
    /// Whose day.
    pub agent: String,
    /// Which day (YYYY-MM-DD).
    pub date: String,
    /// The day's summary.
    pub summary: String,
    /// When it was submitted (RFC 3339).
    pub submitted_at: String,
    /// The problems submitted with it.
    pub problems: Vec<Problem>,
}

impl From<model::EveningReport> for EveningReport {
    fn from(r: model::EveningReport) -> Self {
        EveningReport {
            agent: r.agent.to_string(),
            date: r.date.to_string(),
            summary: r.summary,
            submitted_at: time_text(r.submitted_at),
            problems: r.problems.into_iter().map(Into::into).collect(),
        }
    }
}

/// An agent's day: the log and the report, once written.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Day {
    /// Whose day.
    pub agent: String,
    /// Which day (YYYY-MM-DD).
    pub date: String,
    /// The work log.
    pub log: Option<WorkLog>,
    /// The evening report.
    pub report: Option<EveningReport>,
}

impl From<model::Day> for Day {
    fn from(d: model::Day) -> Self {
        Day {
            agent: d.agent.to_string(),
            date: d.date.to_string(),
            log: d.log.map(Into::into),
            report: d.report.map(Into::into),
        }
    }
}

/// One field edited concurrently on two phones: the value shown and the ones that lost.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Conflict {
    /// The object's path in the document (`card`, `policies/<id>`).
    pub object: String,
    /// The field.
    pub field: String,
    /// The value that wins, as JSON text.
    pub winner: String,
    /// The values that lost, as JSON text.
    pub losers: Vec<String>,
}

impl From<model::Conflict> for Conflict {
    fn from(c: model::Conflict) -> Self {
        Conflict {
            object: c.object,
            field: c.field,
            winner: c.winner.to_string(),
            losers: texts(&c.losers),
        }
    }
}

/// A customer's screen: the card, policies, visits, contacts, comments and conflicts.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct CustomerView {
    /// The card (a document still arriving may not have one yet).
    pub customer: Option<Customer>,
    /// Its policies.
    pub policies: Vec<Policy>,
    /// Its visits, numbered by start time.
    pub visits: Vec<Visit>,
    /// Its calls and SMS.
    pub contacts: Vec<Contact>,
    /// Managers' comments on its visits.
    pub comments: Vec<Comment>,
    /// Fields edited concurrently, with the values that lost.
    pub conflicts: Vec<Conflict>,
}

impl From<client_core::index::CustomerView> for CustomerView {
    fn from(v: client_core::index::CustomerView) -> Self {
        CustomerView {
            customer: v.customer.map(Into::into),
            policies: v.policies.into_iter().map(Into::into).collect(),
            visits: v.visits.into_iter().map(Into::into).collect(),
            contacts: v.contacts.into_iter().map(Into::into).collect(),
            comments: v.comments.into_iter().map(Into::into).collect(),
            conflicts: v.conflicts.into_iter().map(Into::into).collect(),
        }
    }
}

/// Converts every element of a list (the many `Vec<model::X>` results).
pub(crate) fn all<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(Into::into).collect()
}
