//! The field's records, in the users' language (see `shared/domain.md`).
//!
//! These are plain values: what a screen shows, what the command line prints as JSON and what
//! the playbook computations take as input. How they are laid out inside Automerge documents is
//! the business of `documents`; how they are indexed in SQLite is the business of `index`.
//!
//! Codes that a team's playbook defines (grades, visit kinds, purposes, outcomes) are strings
//! checked against the playbook when a record is written, so a car-insurance desk can grade
//! customers "loyal/general/at_risk/lost" without a code change.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::ids::{CommentId, ContactId, CustomerId, PolicyId, ProblemId, UserId, VisitId};

/// A moment as the agent's phone saw it: local time with its UTC offset.
///
/// The offset is kept so that a visit is credited to the local day it happened on, whatever
/// time zone the server or a manager is in.
pub type Timestamp = DateTime<FixedOffset>;

/// Who a person is in the team. Managers outrank agents when their edits conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works in the field; sees only the customers assigned to them.
    Agent,
    /// Leads a group of agents (主管).
    Supervisor,
    /// Above several groups (部经理 / 督训).
    DepartmentManager,
    /// Top of the chain (区经理).
    DistrictManager,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [
        Role::Agent,
        Role::Supervisor,
        Role::DepartmentManager,
        Role::DistrictManager,
    ];

    /// Whether this role manages others (its edits of role-governed fields win conflicts).
    pub fn is_manager(self) -> bool {
        self != Role::Agent
    }

    /// The next level a problem escalates to, if any.
    pub fn escalates_to(self) -> Option<Role> {
        match self {
            Role::Agent => Some(Role::Supervisor),
            Role::Supervisor => Some(Role::DepartmentManager),
            Role::DepartmentManager => Some(Role::DistrictManager),
            Role::DistrictManager => None,
        }
    }

    /// The role's code as stored and printed.
    pub fn code(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::DepartmentManager => "department_manager",
            Role::DistrictManager => "district_manager",
        }
    }

    /// Parses a role's code.
    pub fn from_code(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == s)
    }
}

/// A point on the map (WGS 84 degrees).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude in degrees, −90 to 90.
    pub lat: f64,
    /// Longitude in degrees, −180 to 180.
    pub lon: f64,
}

impl GeoPoint {
    /// Great-circle distance in metres (haversine).
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        let r = 6_371_000.0_f64;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = (other.lat - self.lat).to_radians();
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * r * a.sqrt().asin()
    }

    /// Whether both coordinates are in range.
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }
}

/// Whether a customer has bought (成交) or not yet (未成交).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CustomerStatus {
    /// Holds at least one policy sold by the team.
    Closed,
    /// Not a customer yet.
    #[default]
    Prospect,
}

impl CustomerStatus {
    /// The status's code as stored and printed.
    pub fn code(self) -> &'static str {
        match self {
            CustomerStatus::Closed => "closed",
            CustomerStatus::Prospect => "prospect",
        }
    }

    /// Parses a status code.
    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "closed" => Some(CustomerStatus::Closed),
            "prospect" => Some(CustomerStatus::Prospect),
            _ => None,
        }
    }
}

/// A customer card (客户).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// The customer's identifier (also names their document).
    pub id: CustomerId,
    /// Full name.
    pub name: String,
    /// Phone numbers, in the order they were added.
    pub phones: Vec<String>,
    /// Street address.
    pub address: Option<String>,
    /// Postcode: lists and routes are grouped by it.
    pub postcode: Option<String>,
    /// Birthday: the agent greets every customer on it.
    pub birthday: Option<NaiveDate>,
    /// Family structure, in the agent's words.
    pub family: Option<String>,
    /// Household income band.
    pub income_band: Option<String>,
    /// Workplace.
    pub workplace: Option<String>,
    /// Free notes.
    pub notes: Option<String>,
    /// Grade code from the playbook (A–D by default). A manager's concurrent grade wins.
    pub grade: Option<String>,
    /// Closed customer or prospect.
    pub status: CustomerStatus,
    /// The agent the customer is assigned to. A manager's concurrent assignment wins.
    pub agent: Option<UserId>,
    /// The address's coordinates, when known: used for the visit distance rule.
    pub location: Option<GeoPoint>,
    /// The day the card was created (a new prospect counts as a 10-3-1 result that day).
    pub created_on: NaiveDate,
}

/// Changes to a customer card; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerPatch {
    /// New name.
    pub name: Option<String>,
    /// Replaces the phone numbers.
    pub phones: Option<Vec<String>>,
    /// New address (`Some(None)` clears it).
    pub address: Option<Option<String>>,
    /// New postcode.
    pub postcode: Option<Option<String>>,
    /// New birthday.
    pub birthday: Option<Option<NaiveDate>>,
    /// New family structure.
    pub family: Option<Option<String>>,
    /// New income band.
    pub income_band: Option<Option<String>>,
    /// New workplace.
    pub workplace: Option<Option<String>>,
    /// New notes.
    pub notes: Option<Option<String>>,
    /// New grade code.
    pub grade: Option<Option<String>>,
    /// New status.
    pub status: Option<CustomerStatus>,
    /// New assigned agent.
    pub agent: Option<Option<UserId>>,
    /// New coordinates.
    pub location: Option<Option<GeoPoint>>,
}

/// A new customer card, before it has an identifier.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewCustomer {
    /// Full name (required).
    pub name: String,
    /// Phone numbers.
    pub phones: Vec<String>,
    /// Street address.
    pub address: Option<String>,
    /// Postcode.
    pub postcode: Option<String>,
    /// Birthday.
    pub birthday: Option<NaiveDate>,
    /// Family structure.
    pub family: Option<String>,
    /// Household income band.
    pub income_band: Option<String>,
    /// Workplace.
    pub workplace: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Grade code.
    pub grade: Option<String>,
    /// Closed customer or prospect.
    pub status: CustomerStatus,
    /// Assigned agent; the device's own user when `None`.
    pub agent: Option<UserId>,
    /// Coordinates of the address.
    pub location: Option<GeoPoint>,
}

/// Where a policy stands (保单状态).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PolicyStatus {
    /// Nothing special.
    #[default]
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

impl PolicyStatus {
    /// Every status.
    pub const ALL: [PolicyStatus; 5] = [
        PolicyStatus::Normal,
        PolicyStatus::Difficult,
        PolicyStatus::Exited,
        PolicyStatus::Dead,
        PolicyStatus::Orphan,
    ];

    /// The status's code as stored and printed.
    pub fn code(self) -> &'static str {
        match self {
            PolicyStatus::Normal => "normal",
            PolicyStatus::Difficult => "difficult",
            PolicyStatus::Exited => "exited",
            PolicyStatus::Dead => "dead",
            PolicyStatus::Orphan => "orphan",
        }
    }

    /// Parses a status code.
    pub fn from_code(s: &str) -> Option<Self> {
        PolicyStatus::ALL.into_iter().find(|p| p.code() == s)
    }
}

/// How the premium is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Automatic bank deduction (the usual way).
    #[default]
    BankDeduction,
    /// Cash collected at the door.
    Cash,
    /// Card or transfer.
    Card,
}

impl PaymentMethod {
    /// The method's code as stored and printed.
    pub fn code(self) -> &'static str {
        match self {
            PaymentMethod::BankDeduction => "bank_deduction",
            PaymentMethod::Cash => "cash",
            PaymentMethod::Card => "card",
        }
    }

    /// Parses a method code.
    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "bank_deduction" => Some(PaymentMethod::BankDeduction),
            "cash" => Some(PaymentMethod::Cash),
            "card" => Some(PaymentMethod::Card),
            _ => None,
        }
    }
}

/// A policy (保单), held in its policyholder's customer document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// The policy's identifier.
    pub id: PolicyId,
    /// The customer whose document holds it.
    pub customer: CustomerId,
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
    /// The due date (缴费对应日) of the current cycle; for car insurance, the expiry date.
    pub due_date: NaiveDate,
    /// Where the policy stands.
    pub status: PolicyStatus,
    /// When the current cycle's premium was received, if it was.
    pub paid_on: Option<NaiveDate>,
    /// When the last bank deduction failed, if one did and nothing was paid since.
    pub deduction_failed_on: Option<NaiveDate>,
}

/// A new policy, before it has an identifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewPolicy {
    /// The company's policy number (required).
    pub number: String,
    /// Product name.
    pub product: String,
    /// Policyholder; the customer's name when empty.
    pub policyholder: String,
    /// Insured; the policyholder when empty.
    pub insured: String,
    /// Premium in minor units.
    pub premium_cents: i64,
    /// How the premium is paid.
    pub payment_method: PaymentMethod,
    /// Riders.
    pub riders: Vec<String>,
    /// Due date of the current cycle.
    pub due_date: NaiveDate,
    /// Status.
    pub status: PolicyStatus,
}

/// Changes to a policy; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyPatch {
    /// New product name.
    pub product: Option<String>,
    /// New premium.
    pub premium_cents: Option<i64>,
    /// New payment method.
    pub payment_method: Option<PaymentMethod>,
    /// New due date (the next cycle).
    pub due_date: Option<NaiveDate>,
    /// New status.
    pub status: Option<PolicyStatus>,
    /// Premium received on this day (`Some(None)` clears it).
    pub paid_on: Option<Option<NaiveDate>>,
    /// Deduction failed on this day (`Some(None)` clears it).
    pub deduction_failed_on: Option<Option<NaiveDate>>,
}

/// What came of a visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Outcome code from the playbook (`paid`, `promised`, `appointment`, `referral`,
    /// `proposal`, `refused`, `not_at_home`, `dead_confirmed`, …).
    pub code: String,
    /// Amount collected, in minor units, for a payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<i64>,
    /// Promised payment date or appointment time's day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// Reason for an appointment, name of a referral, and so on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An in-person visit (亲访).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    /// The visit's identifier.
    pub id: VisitId,
    /// The customer visited.
    pub customer: CustomerId,
    /// Who visited.
    pub agent: UserId,
    /// Visit kind code from the playbook (collection, service, sales by default).
    pub kind: String,
    /// Purpose codes from the playbook.
    pub purposes: Vec<String>,
    /// What came of it.
    pub outcome: Option<Outcome>,
    /// Policies touched.
    pub policies: Vec<PolicyId>,
    /// Arrival.
    pub start: Timestamp,
    /// Departure.
    pub end: Timestamp,
    /// Where the phone was, if it knew.
    pub location: Option<GeoPoint>,
    /// The agent's notes.
    pub notes: String,
    /// The visit's number for its customer (1 for the first visit): derived from the order of
    /// start times, so two visits recorded offline on two phones never claim the same number.
    pub number: u32,
}

/// A visit to record, before it has an identifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewVisit {
    /// Visit kind code.
    pub kind: String,
    /// Purpose codes.
    pub purposes: Vec<String>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// Policies touched (must belong to the customer).
    pub policies: Vec<PolicyId>,
    /// Arrival.
    pub start: Timestamp,
    /// Departure (not before arrival).
    pub end: Timestamp,
    /// Where the phone was.
    pub location: Option<GeoPoint>,
    /// Notes.
    pub notes: String,
}

/// A phone call (电联) or an SMS (短信).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    /// A phone call.
    Call,
    /// A text message.
    Sms,
}

impl ContactKind {
    /// The kind's code as stored and printed.
    pub fn code(self) -> &'static str {
        match self {
            ContactKind::Call => "call",
            ContactKind::Sms => "sms",
        }
    }

    /// Parses a kind code.
    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "call" => Some(ContactKind::Call),
            "sms" => Some(ContactKind::Sms),
            _ => None,
        }
    }
}

/// A call or SMS to a customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The contact's identifier.
    pub id: ContactId,
    /// The customer contacted.
    pub customer: CustomerId,
    /// Who contacted them.
    pub agent: UserId,
    /// Call or SMS.
    pub kind: ContactKind,
    /// When.
    pub at: Timestamp,
    /// Purpose code (`appointment`, `payment_reminder`, `birthday`, `service`, `care`, …).
    pub purpose: Option<String>,
    /// Outcome code, as for visits.
    pub outcome: Option<String>,
    /// Policies concerned.
    pub policies: Vec<PolicyId>,
    /// Notes or the SMS text.
    pub notes: String,
}

/// A call or SMS to record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewContact {
    /// Call or SMS.
    pub kind: ContactKind,
    /// When.
    pub at: Timestamp,
    /// Purpose code.
    pub purpose: Option<String>,
    /// Outcome code.
    pub outcome: Option<String>,
    /// Policies concerned.
    pub policies: Vec<PolicyId>,
    /// Notes or the SMS text.
    pub notes: String,
}

/// A manager's comment on a visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    /// The comment's identifier.
    pub id: CommentId,
    /// The visit commented on.
    pub visit: VisitId,
    /// Who wrote it.
    pub author: UserId,
    /// The author's role.
    pub role: Role,
    /// The text.
    pub text: String,
    /// When.
    pub at: Timestamp,
}

/// The daily work log (工作日志): the day's diary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkLog {
    /// Whose day.
    pub agent: UserId,
    /// Which day.
    pub date: NaiveDate,
    /// The diary text.
    pub text: String,
    /// When it was last written.
    pub written_at: Timestamp,
}

/// Whether a problem is still waiting for an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemStatus {
    /// Waiting at `level`.
    Open,
    /// Someone answered and closed it.
    Resolved,
}

/// An answer to, or escalation of, a problem.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Who answered.
    pub author: UserId,
    /// Their role.
    pub role: Role,
    /// The text.
    pub text: String,
    /// When.
    pub at: Timestamp,
}

/// A problem submitted in an evening report; it escalates one level at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The problem's identifier.
    pub id: ProblemId,
    /// The problem as the agent wrote it.
    pub text: String,
    /// The customer concerned, if any.
    pub customer: Option<CustomerId>,
    /// The level it waits at (supervisor first).
    pub level: Role,
    /// Open or resolved.
    pub status: ProblemStatus,
    /// Answers and escalation notes, oldest first.
    pub answers: Vec<Answer>,
}

/// The evening report (晚汇报).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EveningReport {
    /// Whose day.
    pub agent: UserId,
    /// Which day.
    pub date: NaiveDate,
    /// The day's summary.
    pub summary: String,
    /// When it was submitted.
    pub submitted_at: Timestamp,
    /// The open problems submitted with it.
    pub problems: Vec<Problem>,
}

/// An agent's day as the day document holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Day {
    /// Whose day.
    pub agent: UserId,
    /// Which day.
    pub date: NaiveDate,
    /// The work log, once written.
    pub log: Option<WorkLog>,
    /// The evening report, once submitted.
    pub report: Option<EveningReport>,
}

/// One field's concurrent values after a merge: the value shown and the ones that lost.
///
/// Nothing is silently dropped: a screen can show "edited on two phones" and let the agent
/// pick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The object's path in the document, e.g. `card` or `policies/<id>`.
    pub object: String,
    /// The field.
    pub field: String,
    /// The value that wins, as JSON.
    pub winner: serde_json::Value,
    /// The concurrent values that lost, as JSON.
    pub losers: Vec<serde_json::Value>,
}
