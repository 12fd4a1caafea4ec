//! The conformance suite every store implementation runs: each trait's promises, checked
//! against a fresh store through the traits alone (so a PostgreSQL store runs exactly these).
//!
//! Each check is a function over a fresh store and a scratch directory (for the phones, real
//! client-core homes that sync with the store in-process through client-sync's rounds);
//! [`store_conformance!`](crate::store_conformance) writes one `#[test]` per check for an
//! implementation:
//!
//! ```ignore
//! doorstep_server::store_conformance!(|dir: &std::path::Path| {
//!     doorstep_server::store::SqliteStore::open(&dir.join("server")).unwrap()
//! });
//! ```
//!
//! The macro's caller needs `tempfile` (a dev-dependency): every test gets its own directory.
//! The checks panic on a broken promise, as a test does.

use std::future::Future;
use std::path::Path;
use std::sync::Mutex;

use chrono::{Duration, NaiveDate};
use client_core::model::{NewCustomer, NewVisit, Role};
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{CustomerId, DocId, Identity, Options, Store, UserId};
use client_sync::{run_sync_blocking, RunOptions, SyncError, SyncReport, Transport};

use super::ServerStore;
use crate::accounts::{Device, DeviceId, NewMember, TeamId};
use crate::error::Error;
use crate::import::read_policies;
use crate::matching::{import_policies, ImportReport};

/// Writes one `#[test]` per conformance check for the store `make` opens in a fresh scratch
/// directory (`make: impl Fn(&Path) -> S`, `S: ServerStore`).
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@checks tests $make);
    };
    // A store that lives in a resource of its own (a PostgreSQL database made for the test):
    // `$make` returns a guard that removes the resource when dropped, and the store (dropped
    // first).
    (guarded $make:expr) => {
        $crate::store_conformance!(@checks guarded $make);
    };
    (@checks $kind:ident $make:expr) => {
        $crate::store_conformance!(@$kind $make;
            teams_and_members,
            devices_and_tokens,
            deactivation,
            sessions_and_login_links,
            sync_retry_is_idempotent,
            refusals_are_logged_once_with_attempts,
            change_seq_grows,
            synced_visits_reach_the_projection,
            reassigned_customers_move,
            a_failed_import_plan_writes_nothing,
            spot_check_marks_are_replaced,
            imports_match_once_and_a_bad_list_writes_nothing,
        );
    };
    (@guarded $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let dir = tempfile::tempdir().unwrap();
                let (guard, store) = ($make)(dir.path());
                $crate::store::conformance::$check(&store, dir.path());
                drop(store);
                drop(guard);
            }
        )*
    };
    (@tests $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let dir = tempfile::tempdir().unwrap();
                let store = ($make)(dir.path());
                $crate::store::conformance::$check(&store, dir.path());
            }
        )*
    };
}

fn user(id: &str) -> UserId {
    id.parse().unwrap()
}

fn team() -> TeamId {
    "north".parse().unwrap()
}

/// A team with a supervisor `S-1` and agents `A-1`, `A-2` reporting to them.
fn north<S: ServerStore + ?Sized>(s: &S) {
    s.create_team(&team()).unwrap();
    for (id, role, boss) in [
        ("S-1", Role::Supervisor, None),
        ("A-1", Role::Agent, Some("S-1")),
        ("A-2", Role::Agent, Some("S-1")),
    ] {
        s.add_member(NewMember {
            user: user(id),
            name: format!("{id} name"),
            role,
            team: team(),
            reports_to: boss.map(user),
        })
        .unwrap();
    }
}

/// A transport whose server is the store, called in-process; it keeps every request.
struct InProcess<'a, S: ?Sized> {
    store: &'a S,
    device: Device,
    sent: Mutex<Vec<SyncRequest>>,
}

impl<S: ServerStore + ?Sized> Transport for InProcess<'_, S> {
    fn exchange(
        &self,
        request: &SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, SyncError>> + Send {
        self.sent.lock().unwrap().push(request.clone());
        let result = self.store.sync(&self.device, request).map_err(|e| match e {
            Error::Revoked => SyncError::Revoked,
            e => SyncError::Server {
                status: 500,
                message: e.to_string(),
            },
        });
        std::future::ready(result)
    }
}

/// A phone: a client-core home of `who` (as `identity`) and a device issued to `who`.
struct Phone {
    home: Mutex<Store>,
    device: Device,
}

impl Phone {
    fn new<S: ServerStore + ?Sized>(s: &S, dir: &Path, who: &str, identity: &str) -> Phone {
        let issued = s.issue_device(&user(who)).unwrap();
        let device = s.authenticate(&issued.token).unwrap().unwrap();
        let path = dir.join(format!("phone-{}.db", issued.device));
        let role = s
            .member(&user(identity))
            .unwrap()
            .map_or(Role::Agent, |m| m.role);
        let home = Store::create(
            &path,
            Identity {
                user: user(identity),
                role,
            },
            Options::default(),
        )
        .unwrap();
        Phone {
            home: Mutex::new(home),
            device,
        }
    }

    /// Syncs until quiet; returns the report and every request sent.
    fn sync<S: ServerStore + ?Sized>(&self, s: &S) -> (SyncReport, Vec<SyncRequest>) {
        let transport = InProcess {
            store: s,
            device: self.device.clone(),
            sent: Mutex::new(vec![]),
        };
        let report = run_sync_blocking(&self.home, &transport, &RunOptions::default()).unwrap();
        (report, transport.sent.into_inner().unwrap())
    }

    fn customer(&self, agent: &str) -> CustomerId {
        let mut home = self.home.lock().unwrap();
        home.add_customer(NewCustomer {
            name: "Li Na".into(),
            phones: vec!["13800000000".into()],
            agent: Some(user(agent)),
            ..NewCustomer::default()
        })
        .unwrap()
        .id
    }

    fn visit(&self, customer: CustomerId) -> client_core::model::Visit {
        let mut home = self.home.lock().unwrap();
        let end = home.now() - Duration::minutes(10);
        home.record_visit(
            customer,
            NewVisit {
                kind: "sales".into(),
                purposes: vec!["needs_discovery".into()],
                outcome: None,
                policies: vec![],
                start: end - Duration::minutes(40),
                end,
                location: None,
                notes: "met at home".into(),
            },
        )
        .unwrap()
    }
}

/// Accounts: a team once, members in order, unknown ids `None`.
pub fn teams_and_members<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    assert!(!s.team_exists(&team()).unwrap());
    north(s);
    assert!(s.team_exists(&team()).unwrap());
    assert!(matches!(s.create_team(&team()), Err(Error::Exists { .. })));
    let again = s.add_member(NewMember {
        user: user("A-1"),
        name: "twice".into(),
        role: Role::Agent,
        team: team(),
        reports_to: None,
    });
    assert!(matches!(again, Err(Error::Exists { .. })), "{again:?}");
    let elsewhere = s.add_member(NewMember {
        user: user("A-9"),
        name: String::new(),
        role: Role::Agent,
        team: "south".parse().unwrap(),
        reports_to: None,
    });
    assert!(
        matches!(elsewhere, Err(Error::NotFound { .. })),
        "{elsewhere:?}"
    );
    assert_eq!(s.member(&user("A-1")).unwrap().unwrap().name, "A-1 name");
    assert!(s.member(&user("nobody")).unwrap().is_none());
    let ids: Vec<String> = s
        .members(Some(&team()))
        .unwrap()
        .iter()
        .map(|m| m.member.user.to_string())
        .collect();
    assert_eq!(
        ids,
        ["S-1", "A-1", "A-2"],
        "by role, highest first, then id"
    );
}

/// Accounts: a token finds its device, an unknown one nothing; a revoked device says so.
pub fn devices_and_tokens<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    north(s);
    let issued = s.issue_device(&user("A-1")).unwrap();
    let device = s.authenticate(&issued.token).unwrap().unwrap();
    assert_eq!(device.id, issued.device);
    assert_eq!(device.member.user, user("A-1"));
    assert!(!device.revoked);
    assert!(s.authenticate("not-a-token").unwrap().is_none());
    assert!(s.authenticate("").unwrap().is_none());
    assert!(matches!(
        s.issue_device(&user("nobody")),
        Err(Error::NotFound { .. })
    ));
    let listed = s.devices().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].last_seen.is_some(),
        "authenticate records the visit"
    );
    let info = s.revoke_device(issued.device).unwrap();
    assert!(info.revoked);
    assert!(
        s.revoke_device(issued.device).unwrap().revoked,
        "twice: the same"
    );
    assert!(s.authenticate(&issued.token).unwrap().unwrap().revoked);
    assert!(matches!(
        s.revoke_device(DeviceId::new()),
        Err(Error::NotFound { .. })
    ));
}

/// Accounts and sessions: deactivating revokes phones and ends sessions; twice changes
/// nothing; reactivating lets the member back in.
pub fn deactivation<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    north(s);
    let a1 = user("A-1");
    let issued = s.issue_device(&a1).unwrap();
    s.create_session(&a1, "session-hash", "2999-01-01T00:00:00.000Z")
        .unwrap();
    let by = user("S-1");
    let off = s.set_active(&a1, false, Some(&by)).unwrap();
    assert!(!off.active);
    assert_eq!(off.devices, 0);
    let members_before = s.members(Some(&team())).unwrap().len();
    let twice = s.set_active(&a1, false, Some(&by)).unwrap();
    assert_eq!(
        (twice.active, twice.devices),
        (off.active, off.devices),
        "deactivating twice changes nothing"
    );
    assert_eq!(s.members(Some(&team())).unwrap().len(), members_before);
    assert!(!s.is_active(&a1).unwrap());
    assert!(s.is_active(&user("nobody")).unwrap());
    assert!(s.authenticate(&issued.token).unwrap().unwrap().revoked);
    assert!(s.session_member("session-hash").unwrap().is_none());
    assert!(matches!(s.issue_device(&a1), Err(Error::Invalid { .. })));
    assert!(s.set_active(&a1, true, Some(&by)).unwrap().active);
    assert!(s.issue_device(&a1).is_ok());
    assert!(matches!(
        s.set_active(&user("nobody"), false, None),
        Err(Error::NotFound { .. })
    ));
}

/// Sessions: live, expired and ended sessions; a login link works once and not after expiry.
pub fn sessions_and_login_links<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    north(s);
    let s1 = user("S-1");
    assert!(s.password_hash(&s1).unwrap().is_none());
    s.set_password(&s1, "$argon2id$first").unwrap();
    s.set_password(&s1, "$argon2id$second").unwrap();
    assert_eq!(
        s.password_hash(&s1).unwrap().as_deref(),
        Some("$argon2id$second")
    );
    assert!(s.set_password(&user("nobody"), "$x").is_err());

    s.create_session(&s1, "live", "2999-01-01T00:00:00.000Z")
        .unwrap();
    s.create_session(&s1, "old", "2000-01-01T00:00:00.000Z")
        .unwrap();
    assert_eq!(s.session_member("live").unwrap().unwrap().user, s1);
    assert!(s.session_member("old").unwrap().is_none(), "expired");
    assert!(s.session_member("unknown").unwrap().is_none());
    s.delete_session("live").unwrap();
    s.delete_session("live").unwrap();
    assert!(s.session_member("live").unwrap().is_none(), "ended");

    s.create_login_link(&s1, "link", "2999-01-01T00:00:00.000Z")
        .unwrap();
    s.create_login_link(&s1, "stale", "2000-01-01T00:00:00.000Z")
        .unwrap();
    assert_eq!(s.redeem_login_link("link").unwrap(), Some(s1));
    assert_eq!(s.redeem_login_link("link").unwrap(), None, "used twice");
    assert_eq!(s.redeem_login_link("stale").unwrap(), None, "expired");
    assert_eq!(s.redeem_login_link("unknown").unwrap(), None);
}

/// Documents: the same requests sent again (answers lost) store nothing twice.
pub fn sync_retry_is_idempotent<S: ServerStore + ?Sized>(s: &S, dir: &Path) {
    north(s);
    let phone = Phone::new(s, dir, "A-1", "A-1");
    let c = phone.customer("A-1");
    let v = phone.visit(c);
    let (report, sent) = phone.sync(s);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert!(sent.len() >= 2, "a first upload takes rounds");
    let seq = s.change_seq().unwrap();
    let day = v.start.date_naive();
    let visits = s.visits(&user("A-1"), day).unwrap();
    assert_eq!(visits.len(), 1);
    for request in &sent {
        let answer = s.sync(&phone.device, request).unwrap();
        assert!(answer.rejected.is_empty(), "{:?}", answer.rejected);
    }
    assert_eq!(s.change_seq().unwrap(), seq, "nothing stored twice");
    assert_eq!(s.visits(&user("A-1"), day).unwrap(), visits);
    // And the phone, syncing again, has nothing to send or receive.
    let (again, _) = phone.sync(s);
    assert!(again.rejected.is_empty() && again.removed.is_empty());
    assert_eq!(s.change_seq().unwrap(), seq);
}

/// Documents and logs: a refused message stores nothing and is logged once; the same message
/// sent again counts an attempt.
pub fn refusals_are_logged_once_with_attempts<S: ServerStore + ?Sized>(s: &S, dir: &Path) {
    north(s);
    // A-1's device, but a home that writes as A-2: its changes claim to be another member's.
    let phone = Phone::new(s, dir, "A-1", "A-2");
    let c = phone.customer("A-2");
    let seq = s.change_seq().unwrap();
    let (report, sent) = phone.sync(s);
    let doc = DocId::Customer(c);
    assert!(
        report.rejected.iter().any(|r| r.doc == doc),
        "refused: {:?}",
        report.rejected
    );
    assert!(s.customer_agent(c).unwrap().is_none(), "nothing stored");
    assert_eq!(s.change_seq().unwrap(), seq);
    let logged: Vec<_> = s
        .rejections(100)
        .unwrap()
        .into_iter()
        .filter(|r| r.doc == doc.to_string())
        .collect();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].attempts, 1);
    assert_eq!(logged[0].device, phone.device.id);
    for request in &sent {
        s.sync(&phone.device, request).unwrap();
    }
    let logged: Vec<_> = s
        .rejections(100)
        .unwrap()
        .into_iter()
        .filter(|r| r.doc == doc.to_string())
        .collect();
    assert_eq!(logged.len(), 1, "one record, attempts counted: {logged:?}");
    assert_eq!(logged[0].attempts, 2);
    assert!(s.customer_agent(c).unwrap().is_none());
}

/// Documents: the change sequence grows with every stored change, never goes down.
pub fn change_seq_grows<S: ServerStore + ?Sized>(s: &S, dir: &Path) {
    north(s);
    let start = s.change_seq().unwrap();
    let phone = Phone::new(s, dir, "A-1", "A-1");
    let c = phone.customer("A-1");
    phone.sync(s);
    let after_upload = s.change_seq().unwrap();
    assert!(after_upload > start, "{start} → {after_upload}");
    s.assign(c, &user("A-2"), false).unwrap();
    let after_assign = s.change_seq().unwrap();
    assert!(
        after_assign > after_upload,
        "{after_upload} → {after_assign}"
    );
    phone.visit(c);
    phone.sync(s);
    assert!(s.change_seq().unwrap() >= after_assign);
}

/// Projection: a synced visit appears in the visits, the agent's day and the working set;
/// unknown ids read as `None`.
pub fn synced_visits_reach_the_projection<S: ServerStore + ?Sized>(s: &S, dir: &Path) {
    north(s);
    let phone = Phone::new(s, dir, "A-1", "A-1");
    let c = phone.customer("A-1");
    let v = phone.visit(c);
    let day = v.start.date_naive();
    assert!(s.visit(v.id).unwrap().is_none());
    phone.sync(s);
    let a1 = user("A-1");
    assert_eq!(s.customer_agent(c).unwrap(), Some(Some(a1.clone())));
    assert_eq!(s.customer(c).unwrap().unwrap().name, "Li Na");
    assert_eq!(s.visit(v.id).unwrap().map(|x| x.id), Some(v.id));
    let ids = |vs: Vec<client_core::model::Visit>| vs.iter().map(|x| x.id).collect::<Vec<_>>();
    assert_eq!(ids(s.visits(&a1, day).unwrap()), [v.id]);
    assert!(s.visits(&user("A-2"), day).unwrap().is_empty());
    assert_eq!(ids(s.agent_day(&a1, day).unwrap().visits), [v.id]);
    assert_eq!(
        ids(s
            .visits_between(std::slice::from_ref(&a1), day, day)
            .unwrap()),
        [v.id]
    );
    let data = s.team_data(&team(), day, day).unwrap();
    assert!(data.working_set.visits.iter().any(|x| x.id == v.id));
    assert!(data.working_set.customers.iter().any(|x| x.id == c));
    let detail = s.customer_detail(c).unwrap().unwrap();
    assert_eq!(ids(detail.visits), [v.id]);
    assert!(!detail.history.is_empty());
    let nobody = CustomerId::new();
    assert!(s.customer_agent(nobody).unwrap().is_none());
    assert!(s.customer_detail(nobody).unwrap().is_none());
    assert!(s
        .visits(&a1, NaiveDate::from_ymd_opt(2001, 1, 1).unwrap())
        .unwrap()
        .is_empty());
    assert!(matches!(
        s.team_data(&"south".parse().unwrap(), day, day),
        Err(Error::NotFound { .. })
    ));
}

/// Projection and documents: a reassigned customer moves to the new agent's records, and the
/// old agent's phone is told to drop it.
pub fn reassigned_customers_move<S: ServerStore + ?Sized>(s: &S, dir: &Path) {
    north(s);
    let phone = Phone::new(s, dir, "A-1", "A-1");
    let c = phone.customer("A-1");
    let v = phone.visit(c);
    let day = v.start.date_naive();
    phone.sync(s);
    let moved = s.assign(c, &user("A-2"), false).unwrap();
    assert_eq!(moved.agent, Some(user("A-2")));
    assert_eq!(s.customer_agent(c).unwrap(), Some(Some(user("A-2"))));
    let data = s.team_data(&team(), day, day).unwrap();
    let card = data
        .working_set
        .customers
        .iter()
        .find(|x| x.id == c)
        .unwrap();
    assert_eq!(card.agent, Some(user("A-2")));
    let (report, _) = phone.sync(s);
    assert!(report.removed.contains(&DocId::Customer(c)), "{report:?}");
    assert!(matches!(
        s.assign(CustomerId::new(), &user("A-2"), false),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.assign(c, &user("nobody"), false),
        Err(Error::NotFound { .. })
    ));
}

/// Imports: a plan that fails part-way in the store (here at a customer no import created)
/// writes nothing, not even the customers before it.
pub fn a_failed_import_plan_writes_nothing<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    north(s);
    let seq = s.change_seq().unwrap();
    let plan = super::ImportPlan {
        team: team(),
        customers: vec![
            super::PlannedCustomer {
                key: "zhao lei|13800000003".into(),
                card: super::PlannedCard::New(NewCustomer {
                    name: "Zhao Lei".into(),
                    agent: Some(user("A-1")),
                    ..NewCustomer::default()
                }),
                policies: vec![],
            },
            super::PlannedCustomer {
                key: "nobody|13800000004".into(),
                card: super::PlannedCard::Existing(CustomerId::new(), None),
                policies: vec![],
            },
        ],
    };
    assert!(matches!(s.apply_import(&plan), Err(Error::NotFound { .. })));
    assert_eq!(s.import_key(&team(), "zhao lei|13800000003").unwrap(), None);
    assert_eq!(s.change_seq().unwrap(), seq);
    let today = chrono::Local::now().date_naive();
    let data = s.team_data(&team(), today, today).unwrap();
    assert!(
        data.working_set.customers.is_empty(),
        "{:?}",
        data.working_set.customers
    );
}

/// Logs: marking a week again replaces the mark; marks are per week and agent.
pub fn spot_check_marks_are_replaced<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    north(s);
    let week = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let (a1, a2, s1) = (user("A-1"), user("A-2"), user("S-1"));
    s.mark_spot_check(&a1, week, &s1, "first").unwrap();
    s.mark_spot_check(&a1, week, &s1, "second").unwrap();
    s.mark_spot_check(&a2, week + Duration::days(7), &s1, "next week")
        .unwrap();
    let marks = s.spot_check_marks(&[a1.clone(), a2.clone()], week).unwrap();
    assert_eq!(marks.len(), 1, "{marks:?}");
    assert_eq!(
        (marks[0].agent.clone(), marks[0].note.as_str()),
        (a1.clone(), "second")
    );
    assert!(s.spot_check_marks(&[a2], week).unwrap().is_empty());
}

/// Imports (decided by `matching`): a list imports once, the same list again changes nothing,
/// a changed premium updates one policy, and a list with a policy of another customer is
/// refused before anything is written.
pub fn imports_match_once_and_a_bad_list_writes_nothing<S: ServerStore + ?Sized>(
    s: &S,
    _dir: &Path,
) {
    north(s);
    let csv = "customer_name,phone,policy_number,product,premium,due_date,agent\n\
               Li Na,13800000001,P-1,Life,100.50,2027-03-01,A-1\n\
               Li Na,13800000001,P-2,Health,20,2027-04-01,A-1\n\
               Wang Wei,13800000002,P-3,Life,30,2027-05-01,A-2\n";
    let rows = read_policies(csv.as_bytes()).unwrap();
    let first = import_policies(s, &team(), &rows).unwrap();
    assert_eq!(
        (
            first.customers_created,
            first.policies_created,
            first.customers_updated,
            first.policies_updated
        ),
        (2, 3, 0, 0)
    );
    assert_eq!(first.customers.len(), 2);
    assert_eq!(
        s.customer_agent(first.customers[1]).unwrap(),
        Some(Some(user("A-2")))
    );
    let p2 = s.policy_by_number("P-2").unwrap().unwrap();
    assert_eq!(p2.customer, first.customers[0]);
    assert_eq!(p2.premium_cents, 2000);

    let again = import_policies(s, &team(), &rows).unwrap();
    assert_eq!(
        again,
        ImportReport {
            customers: first.customers.clone(),
            ..ImportReport::default()
        }
    );

    let changed = csv.replace("P-3,Life,30", "P-3,Life,35");
    let report = import_policies(s, &team(), &read_policies(changed.as_bytes()).unwrap()).unwrap();
    assert_eq!(
        (
            report.customers_updated,
            report.policies_updated,
            report.policies_created
        ),
        (0, 1, 0)
    );
    assert_eq!(
        s.policy_by_number("P-3").unwrap().unwrap().premium_cents,
        3500
    );

    let bad = format!(
        "{changed}Zhao Lei,13800000003,P-9,Life,10,2027-06-01,A-1\n\
         Zhao Lei,13800000003,P-1,Life,10,2027-06-01,A-1\n"
    );
    let seq = s.change_seq().unwrap();
    let refused = import_policies(s, &team(), &read_policies(bad.as_bytes()).unwrap());
    assert!(
        matches!(&refused, Err(Error::Invalid { .. })) && format!("{refused:?}").contains("P-1"),
        "{refused:?}"
    );
    assert!(
        s.policy_by_number("P-9").unwrap().is_none(),
        "nothing written"
    );
    assert_eq!(s.change_seq().unwrap(), seq);
    assert!(matches!(
        import_policies(s, &"south".parse().unwrap(), &rows),
        Err(Error::NotFound { .. })
    ));
}
