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
use crate::accounts::{Device, DeviceId, Member, NewMember, TeamId};
use crate::error::Error;
use crate::import::read_policies;
use crate::matching::{import_policies, import_policies_with, plan, ImportReport};

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
            concurrent_devices_on_the_same_customers_lose_nothing,
            refusals_are_logged_once_with_attempts,
            change_seq_grows,
            synced_visits_reach_the_projection,
            team_data_follows_syncs,
            reassigned_customers_move,
            a_failed_import_plan_writes_nothing,
            spot_check_marks_are_replaced,
            imports_match_once_and_a_bad_list_writes_nothing,
            two_imports_of_one_list_at_once_create_each_customer_once,
            a_stale_import_plan_writes_nothing,
            members_and_devices_in_byte_order,
            member_rules_and_figures,
            desk_device_is_registered_once,
            times_read_as_rfc3339_millis,
            login_links_and_sessions_against_the_clock,
            spot_check_marks_read_as_written,
            playbooks_keep_their_codes,
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
        // On a thread of its own, as the server calls the store on a blocking one: a store
        // with a synchronous network client (PostgreSQL's) may not block inside the run's
        // async runtime.
        let result = std::thread::scope(|t| {
            t.spawn(|| self.store.sync(&self.device, request))
                .join()
                .expect("the store's call panicked")
        });
        let result = result.map_err(|e| match e {
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

/// Documents: two devices of one agent recording visits on the same customers and syncing
/// at the same moment, round after round — each request's messages merged while the other's
/// are (on SQLite, premerged outside the document lock and found stale when the other
/// committed the same document first) — lose nothing and double nothing: the server and
/// both phones end with every visit once.
pub fn concurrent_devices_on_the_same_customers_lose_nothing<S: ServerStore + ?Sized>(
    s: &S,
    dir: &Path,
) {
    north(s);
    let phones = [
        Phone::new(s, dir, "A-1", "A-1"),
        Phone::new(s, dir, "A-1", "A-1"),
    ];
    let customers: Vec<CustomerId> = (0..6).map(|_| phones[0].customer("A-1")).collect();
    phones[0].sync(s);
    phones[1].sync(s);
    let (rounds, mut visits) = (4, vec![]);
    for _ in 0..rounds {
        for phone in &phones {
            for c in &customers {
                visits.push(phone.visit(*c).id);
            }
        }
        let reports: Vec<SyncReport> = std::thread::scope(|t| {
            let running: Vec<_> = phones.iter().map(|p| t.spawn(|| p.sync(s).0)).collect();
            running.into_iter().map(|r| r.join().unwrap()).collect()
        });
        for r in reports {
            assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        }
    }
    // Until quiet: each phone picks up what the other sent after its own last round.
    for phone in phones.iter().chain(&phones) {
        phone.sync(s);
    }
    visits.sort();
    for c in &customers {
        let on_server: Vec<_> = s
            .customer_detail(*c)
            .unwrap()
            .unwrap()
            .visits
            .iter()
            .map(|v| v.id)
            .collect();
        assert_eq!(on_server.len(), 2 * rounds, "{c}: every visit once");
        let mut expected = on_server.clone();
        expected.sort();
        let mut heads = vec![];
        for phone in &phones {
            let mut home = phone.home.lock().unwrap();
            let mut held: Vec<_> = home.visits_of(*c).unwrap().iter().map(|v| v.id).collect();
            held.sort();
            assert_eq!(held, expected, "{c}: the phone holds what the server holds");
            heads.push(home.heads(&DocId::Customer(*c)).unwrap());
        }
        assert_eq!(heads[0], heads[1], "{c}: the phones converged");
    }
    let mut all: Vec<_> = customers
        .iter()
        .flat_map(|c| s.customer_detail(*c).unwrap().unwrap().visits)
        .map(|v| v.id)
        .collect();
    all.sort();
    assert_eq!(all, visits, "exactly the visits recorded");
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

/// Projection: the views' data asked again after a sync holds what it brought (a store that
/// keeps working sets between views brings them up to date), and asked again with nothing
/// new, the same; the problems of a team without reports, or of no team, are none.
pub fn team_data_follows_syncs<S: ServerStore + ?Sized>(s: &S, dir: &Path) {
    north(s);
    let phone = Phone::new(s, dir, "A-1", "A-1");
    let c = phone.customer("A-1");
    let first = phone.visit(c);
    phone.sync(s);
    let day = first.start.date_naive();
    let (from, to) = (day - Duration::days(1), day + Duration::days(1));
    let visits = |s: &S| {
        let mut ids: Vec<_> = s
            .team_data(&team(), from, to)
            .unwrap()
            .working_set
            .visits
            .iter()
            .map(|v| v.id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(visits(s), [first.id]);
    assert_eq!(visits(s), [first.id], "asked again, nothing new");
    let second = phone.visit(c);
    phone.sync(s);
    let mut both = vec![first.id, second.id];
    both.sort();
    assert_eq!(visits(s), both, "the synced visit is in the views' data");
    assert_eq!(visits(s), both);
    assert!(s.team_problems(&team()).unwrap().is_empty());
    assert!(s
        .team_problems(&"south".parse().unwrap())
        .unwrap()
        .is_empty());
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

/// The policy list the import races use: three customers, four policies.
const RACE_LIST: &str = "customer_name,phone,policy_number,product,premium,due_date,agent\n\
                         Li Na,13800000001,P-1,Life,100.50,2027-03-01,A-1\n\
                         Li Na,13800000001,P-2,Health,20,2027-04-01,A-1\n\
                         Wang Wei,13800000002,P-3,Life,30,2027-05-01,A-2\n\
                         Zhao Lei,13800000003,P-4,Life,40,2027-06-01,A-1\n";

/// The team's customers by name and its policies by number, as the team's data reads them.
fn names_and_numbers<S: ServerStore + ?Sized>(s: &S) -> (Vec<String>, Vec<String>) {
    let today = chrono::Local::now().date_naive();
    let data = s.team_data(&team(), today, today).unwrap();
    let mut names: Vec<String> = data
        .working_set
        .customers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let mut numbers: Vec<String> = data
        .working_set
        .policies
        .iter()
        .map(|p| p.number.clone())
        .collect();
    names.sort();
    numbers.sort();
    (names, numbers)
}

/// Imports: two imports of the same list at the same moment (two threads on one store, both
/// planned before either writes) create each customer and policy once and both succeed; the
/// one that writes second plans again and finds what the first wrote.
pub fn two_imports_of_one_list_at_once_create_each_customer_once<S: ServerStore + ?Sized>(
    s: &S,
    _dir: &Path,
) {
    north(s);
    let rows = read_policies(RACE_LIST.as_bytes()).unwrap();
    let both_planned = std::sync::Barrier::new(2);
    let import = || {
        import_policies_with(s, &team(), &rows, |attempt| {
            if attempt == 0 {
                both_planned.wait();
            }
        })
    };
    let (a, b) = std::thread::scope(|t| {
        let a = t.spawn(import);
        let b = t.spawn(import);
        (a.join().unwrap(), b.join().unwrap())
    });
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.customers, b.customers, "both name the same customers");
    assert_eq!(
        (
            a.customers_created + b.customers_created,
            a.policies_created + b.policies_created
        ),
        (3, 4),
        "{a:?} {b:?}"
    );
    for (key, id) in [
        "li na|13800000001",
        "wang wei|13800000002",
        "zhao lei|13800000003",
    ]
    .iter()
    .zip(&a.customers)
    {
        assert_eq!(s.import_key(&team(), key).unwrap(), Some(*id), "{key}");
    }
    let (names, numbers) = names_and_numbers(s);
    assert_eq!(names, ["Li Na", "Wang Wei", "Zhao Lei"]);
    assert_eq!(numbers, ["P-1", "P-2", "P-3", "P-4"]);
}

/// Imports: a plan another import made stale before it was written (a customer it creates
/// exists now; a policy number it creates exists now) is refused (`StaleImport`) and writes
/// nothing; planned again, the list matches what the other import wrote.
pub fn a_stale_import_plan_writes_nothing<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    north(s);
    let today = chrono::Local::now().date_naive();
    let rows = read_policies(RACE_LIST.as_bytes()).unwrap();
    let (first, _) = plan(s, &team(), &rows, today).unwrap();
    let (second, _) = plan(s, &team(), &rows, today).unwrap();
    let ids = s.apply_import(&first).unwrap();
    let seq = s.change_seq().unwrap();
    let refused = s.apply_import(&second);
    assert!(matches!(refused, Err(Error::StaleImport(_))), "{refused:?}");
    assert_eq!(s.change_seq().unwrap(), seq, "nothing written");
    let (names, numbers) = names_and_numbers(s);
    assert_eq!(names, ["Li Na", "Wang Wei", "Zhao Lei"]);
    assert_eq!(numbers, ["P-1", "P-2", "P-3", "P-4"]);
    let again = import_policies(s, &team(), &rows).unwrap();
    assert_eq!(
        again,
        ImportReport {
            customers: ids,
            ..ImportReport::default()
        }
    );

    // A new customer whose new policy's number another new customer took meanwhile.
    let late = "customer_name,phone,policy_number,product,premium,due_date,agent\n\
                Sun Li,13800000005,P-7,Life,10,2027-06-01,A-1\n";
    let early = late.replace("Sun Li,13800000005", "Qian Yu,13800000006");
    let (stale, _) = plan(s, &team(), &read_policies(late.as_bytes()).unwrap(), today).unwrap();
    import_policies(s, &team(), &read_policies(early.as_bytes()).unwrap()).unwrap();
    let seq = s.change_seq().unwrap();
    let refused = s.apply_import(&stale);
    assert!(
        matches!(&refused, Err(Error::StaleImport(why)) if why.contains("P-7")),
        "{refused:?}"
    );
    assert_eq!(s.change_seq().unwrap(), seq, "nothing written");
    assert_eq!(s.import_key(&team(), "sun li|13800000005").unwrap(), None);
    // Planned again, the list is refused: P-7 is another customer's now.
    let replanned = import_policies(s, &team(), &read_policies(late.as_bytes()).unwrap());
    assert!(
        matches!(&replanned, Err(Error::Invalid { .. })),
        "{replanned:?}"
    );
}

/// A time as the stores hand it out: RFC 3339, UTC (`Z`), milliseconds.
fn is_stamp(t: &str) -> bool {
    t.len() == 24
        && t.ends_with('Z')
        && t.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(t).is_ok()
}

fn add(s: &(impl ServerStore + ?Sized), id: &str, role: Role, team: &str, boss: Option<&str>) {
    s.add_member(NewMember {
        user: user(id),
        name: String::new(),
        role,
        team: team.parse().unwrap(),
        reports_to: boss.map(user),
    })
    .unwrap();
}

/// Accounts: members (by team, role, id) and devices (by member, issue time) are listed in
/// byte order, as ids compare in Rust — whatever collation a database would use (`South`
/// before `north`, `A_0` after `A-2`, `a-3` after every capital).
pub fn members_and_devices_in_byte_order<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    north(s);
    s.create_team(&"South".parse().unwrap()).unwrap();
    add(s, "a-3", Role::Agent, "north", None);
    add(s, "A_0", Role::Agent, "north", None);
    add(s, "Z-9", Role::Agent, "South", None);
    add(s, "B-1", Role::Supervisor, "South", None);
    let ids = |team: Option<&TeamId>| -> Vec<String> {
        s.members(team)
            .unwrap()
            .iter()
            .map(|m| format!("{}/{}", m.member.team, m.member.user))
            .collect()
    };
    assert_eq!(
        ids(None),
        [
            "South/B-1",
            "South/Z-9",
            "north/S-1",
            "north/A-1",
            "north/A-2",
            "north/A_0",
            "north/a-3"
        ]
    );
    assert_eq!(ids(Some(&team())).len(), 5);
    let mut issued = vec![];
    for who in ["a-3", "A-1", "A_0", "A-1", "Z-9"] {
        issued.push((who, s.issue_device(&user(who)).unwrap().device));
        // Distinct issue times, even at a store's millisecond precision.
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    let listed: Vec<(String, DeviceId)> = s
        .devices()
        .unwrap()
        .into_iter()
        .map(|d| (d.user.to_string(), d.id))
        .collect();
    let expected: Vec<(String, DeviceId)> = [1, 3, 2, 4, 0]
        .iter()
        .map(|&i| (issued[i].0.to_string(), issued[i].1))
        .collect();
    assert_eq!(listed, expected, "by member (byte order), then issue time");
}

/// Accounts: who may report to whom, the server's own id, names, and the figures of the team
/// list (devices not revoked, last sync, active).
pub fn member_rules_and_figures<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    north(s);
    s.create_team(&"south".parse().unwrap()).unwrap();
    add(s, "S-9", Role::Supervisor, "south", None);
    for (id, role, boss) in [
        ("A-5", Role::Agent, "A-1"),      // an agent is nobody's manager
        ("A-6", Role::Agent, "S-9"),      // a manager of another team
        ("A-7", Role::Agent, "nobody"),   // unknown
        ("S-5", Role::Supervisor, "S-1"), // not above the new role
    ] {
        let r = s.add_member(NewMember {
            user: user(id),
            name: String::new(),
            role,
            team: team(),
            reports_to: Some(user(boss)),
        });
        assert!(matches!(r, Err(Error::Invalid { .. })), "{id}: {r:?}");
        assert!(s.member(&user(id)).unwrap().is_none(), "{id} not added");
    }
    let server = s.add_member(NewMember {
        user: user("server"),
        name: String::new(),
        role: Role::Agent,
        team: team(),
        reports_to: None,
    });
    assert!(matches!(server, Err(Error::Invalid { .. })), "{server:?}");
    let named = s
        .add_member(NewMember {
            user: user("A-8"),
            name: "  Wang Fang  ".into(),
            role: Role::Agent,
            team: team(),
            reports_to: Some(user("S-1")),
        })
        .unwrap();
    assert_eq!(named.name, "Wang Fang");
    assert_eq!(s.member(&user("A-8")).unwrap().unwrap(), named);
    add(s, "A-9", Role::Agent, "north", None);
    assert_eq!(s.member(&user("A-9")).unwrap().unwrap().name, "A-9");

    let a1 = user("A-1");
    let first = s.issue_device(&a1).unwrap();
    s.issue_device(&a1).unwrap();
    let row = |id: &UserId| {
        s.members(Some(&team()))
            .unwrap()
            .into_iter()
            .find(|m| m.member.user == *id)
            .unwrap()
    };
    let listed = row(&a1);
    assert_eq!(
        (listed.devices, listed.active, listed.last_sync.clone()),
        (2, true, None)
    );
    s.revoke_device(first.device).unwrap();
    assert_eq!(row(&a1).devices, 1, "a revoked device is not counted");
    assert_eq!(row(&user("A-2")).devices, 0);
    let back = s.set_active(&a1, true, None).unwrap();
    assert_eq!(
        (back.devices, back.active),
        (1, true),
        "already active: no change"
    );
    assert_eq!(back.member.user, a1);
}

/// Accounts: a manager's desk home is one device, registered on first use and the same one
/// afterwards, listed as a desk; another desk home of the same manager (another instance's)
/// is another device; deactivating its manager does not revoke it (a desk is no phone),
/// revoking it does.
pub fn desk_device_is_registered_once<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    const HOME: &str = "0a0b0c0d0e0f00010203040506070809";
    const OTHER_HOME: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    north(s);
    let manager = s.member(&user("S-1")).unwrap().unwrap();
    let desk = s.desk_device(&manager, HOME).unwrap();
    assert_eq!(desk.member, manager);
    assert!(!desk.revoked);
    assert_eq!(
        s.desk_device(&manager, HOME).unwrap().id,
        desk.id,
        "asked twice"
    );
    assert_eq!(
        s.desk_device(&manager, &HOME.to_ascii_uppercase())
            .unwrap()
            .id,
        desk.id,
        "the actor is read in lower case"
    );
    assert!(matches!(
        s.desk_device(&manager, "not hex"),
        Err(Error::Invalid { .. })
    ));
    let listed = s.devices().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].desk && listed[0].id == desk.id && listed[0].user == manager.user);
    let other = s.desk_device(&manager, OTHER_HOME).unwrap();
    assert_ne!(other.id, desk.id, "another desk home is another device");
    let listed = s.devices().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|d| d.desk && d.user == manager.user));
    s.revoke_device(other.id).unwrap();

    let phone = s.issue_device(&manager.user).unwrap();
    s.set_active(&manager.user, false, None).unwrap();
    assert!(s.authenticate(&phone.token).unwrap().unwrap().revoked);
    let kept = s.desk_device(&manager, HOME).unwrap();
    assert_eq!((kept.id, kept.revoked), (desk.id, false));
    s.set_active(&manager.user, true, None).unwrap();

    let stranger = Member {
        user: user("nobody"),
        ..manager.clone()
    };
    assert!(matches!(
        s.desk_device(&stranger, HOME),
        Err(Error::NotFound { .. })
    ));
    let agent = s.member(&user("A-2")).unwrap().unwrap();
    s.set_active(&agent.user, false, None).unwrap();
    assert!(matches!(
        s.desk_device(&agent, HOME),
        Err(Error::Invalid { .. })
    ));
    assert_eq!(s.devices().unwrap().len(), 3, "no desk issued to either");

    s.revoke_device(desk.id).unwrap();
    assert!(matches!(s.desk_device(&manager, HOME), Err(Error::Revoked)));
    assert_eq!(
        s.devices().unwrap().len(),
        3,
        "a revoked desk is not replaced"
    );
}

/// Accounts: the times a store hands out are RFC 3339 UTC with milliseconds, whatever it
/// stores (so the HTTP answers read the same on every store); `last_seen` moves when a token
/// is used, a revoked device's token is still known (told to wipe).
pub fn times_read_as_rfc3339_millis<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    north(s);
    let before = chrono::Utc::now() - Duration::seconds(5);
    let issued = s.issue_device(&user("A-1")).unwrap();
    let info = s.devices().unwrap().remove(0);
    assert!(is_stamp(&info.created_at), "{info:?}");
    assert!(info.last_seen.is_none() && info.last_sync.is_none());
    let created = chrono::DateTime::parse_from_rfc3339(&info.created_at).unwrap();
    assert!(created > before && created < chrono::Utc::now() + Duration::seconds(5));
    std::thread::sleep(std::time::Duration::from_millis(3));
    s.authenticate(&issued.token).unwrap().unwrap();
    let seen = s.devices().unwrap().remove(0).last_seen.unwrap();
    assert!(is_stamp(&seen) && seen >= info.created_at, "{seen}");
    let revoked = s.revoke_device(issued.device).unwrap();
    assert_eq!(revoked.created_at, info.created_at);
    assert_eq!(revoked.last_seen.as_deref(), Some(seen.as_str()));
    let device = s.authenticate(&issued.token).unwrap().unwrap();
    assert!(device.revoked && device.id == issued.device && device.member.user == user("A-1"));
    let mark = s
        .mark_spot_check(
            &user("A-1"),
            NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            &user("S-1"),
            "",
        )
        .unwrap();
    assert!(is_stamp(&mark.at), "{mark:?}");
}

/// Sessions: expiry is compared as time against the clock, a few seconds either way; a
/// login link opens once (also when it had expired, it is gone); deactivation ends links and
/// hides the password; a new password ends the sessions.
pub fn login_links_and_sessions_against_the_clock<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    north(s);
    let s1 = user("S-1");
    let stamp =
        |d: Duration| (chrono::Utc::now() + d).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    s.create_session(&s1, "soon", &stamp(Duration::seconds(30)))
        .unwrap();
    s.create_session(&s1, "just-gone", &stamp(Duration::seconds(-2)))
        .unwrap();
    assert_eq!(s.session_member("soon").unwrap().unwrap().user, s1);
    assert!(s.session_member("just-gone").unwrap().is_none());

    s.set_password(&s1, "$argon2id$one").unwrap();
    assert!(
        s.session_member("soon").unwrap().is_none(),
        "a new password ends the sessions"
    );

    assert!(matches!(
        s.create_login_link(&user("nobody"), "x", &stamp(Duration::hours(1))),
        Err(Error::NotFound { .. })
    ));
    // (A store may sweep expired links when it makes a new one: "gone" is made last.)
    s.create_login_link(&s1, "fresh", &stamp(Duration::seconds(30)))
        .unwrap();
    s.create_login_link(&s1, "gone", &stamp(Duration::seconds(-2)))
        .unwrap();
    assert_eq!(s.redeem_login_link("gone").unwrap(), None, "expired");
    assert_eq!(s.redeem_login_link("fresh").unwrap(), Some(s1.clone()));
    assert_eq!(s.redeem_login_link("fresh").unwrap(), None, "once");

    s.create_login_link(&s1, "pending", &stamp(Duration::hours(1)))
        .unwrap();
    s.create_session(&s1, "open", &stamp(Duration::hours(1)))
        .unwrap();
    s.set_active(&s1, false, None).unwrap();
    assert!(
        s.password_hash(&s1).unwrap().is_none(),
        "hidden while deactivated"
    );
    assert!(s.session_member("open").unwrap().is_none());
    s.set_active(&s1, true, None).unwrap();
    assert_eq!(
        s.password_hash(&s1).unwrap().as_deref(),
        Some("$argon2id$one"),
        "kept for a return"
    );
    assert_eq!(
        s.redeem_login_link("pending").unwrap(),
        None,
        "deactivation ended the link for good"
    );
    assert!(
        s.session_member("open").unwrap().is_none(),
        "and the session"
    );
}

/// Logs: a mark reads back as it was written (its time included), the marks of a week come
/// by agent in byte order, only for the agents asked about.
pub fn spot_check_marks_read_as_written<S: ServerStore + ?Sized>(s: &S, _dir: &Path) {
    north(s);
    add(s, "A_0", Role::Agent, "north", None);
    let week = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let (s1, boss) = (user("S-1"), user("D-1"));
    let mut written = vec![];
    for a in ["A_0", "A-2", "A-1"] {
        written.push(s.mark_spot_check(&user(a), week, &s1, a).unwrap());
    }
    let replaced = s
        .mark_spot_check(&user("A-2"), week, &boss, "again")
        .unwrap();
    written[1] = replaced.clone();
    assert_eq!(replaced.checked_by, boss);
    let all = [user("A-1"), user("A-2"), user("A_0")];
    let marks = s.spot_check_marks(&all, week).unwrap();
    assert_eq!(
        marks,
        [written[2].clone(), written[1].clone(), written[0].clone()]
    );
    let some = s
        .spot_check_marks(&[user("A_0"), user("nobody")], week)
        .unwrap();
    assert_eq!(some, [written[0].clone()]);
    assert!(s.spot_check_marks(&[], week).unwrap().is_empty());
    assert!(s
        .spot_check_marks(&all, week - Duration::days(7))
        .unwrap()
        .is_empty());
}

/// Accounts and documents: a playbook put in force reaches the phones; a record written
/// under it stays valid after the team changes playbook again (every playbook a team has had
/// counts); a playbook for an unknown team or one that does not load is refused.
pub fn playbooks_keep_their_codes<S: ServerStore + ?Sized>(s: &S, dir: &Path) {
    use super::sqlite::{sha256_hex, BUILT_IN_PLAYBOOK};
    north(s);
    let with_tea = BUILT_IN_PLAYBOOK.replacen(
        "[[visit_kinds]]",
        "[[visit_kinds]]\ncode = \"tea\"\nlabel = \"茶访\"\nlabel_en = \"Tea visit\"\n\
         category = \"service\"\ndescription = \"a cup of tea\"\n\n[[visit_kinds]]",
        1,
    );
    assert!(matches!(
        s.set_playbook(&"south".parse().unwrap(), &with_tea),
        Err(Error::NotFound { .. })
    ));
    assert!(s.set_playbook(&team(), "name = [").is_err());
    let put = s.set_playbook(&team(), &with_tea).unwrap();
    assert_eq!(put.hash, sha256_hex(with_tea.as_bytes()));

    let phone = Phone::new(s, dir, "A-1", "A-1");
    let (report, _) = phone.sync(s);
    assert_eq!(report.playbook.as_deref(), Some(put.hash.as_str()));
    let c = phone.customer("A-1");
    let v = {
        let mut home = phone.home.lock().unwrap();
        let end = home.now() - Duration::minutes(10);
        home.record_visit(
            c,
            NewVisit {
                kind: "tea".into(),
                purposes: vec!["needs_discovery".into()],
                outcome: None,
                policies: vec![],
                start: end - Duration::minutes(40),
                end,
                location: None,
                notes: String::new(),
            },
        )
        .unwrap()
    };
    // The team goes back to the built-in playbook before the phone syncs its visit.
    s.set_playbook(&team(), BUILT_IN_PLAYBOOK).unwrap();
    let (report, _) = phone.sync(s);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(
        s.visit(v.id).unwrap().map(|x| x.kind).as_deref(),
        Some("tea")
    );
}
