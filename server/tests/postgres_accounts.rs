//! The PostgreSQL store's accounts and sessions under several instances: two `PgStore`s on
//! one database (two `doorstep serve` processes) racing for what must happen once — a login
//! link redeemed, a manager's desk registered — and the lists' order on a database whose
//! collation is not byte order. Against the real PostgreSQL at `DOORSTEP_TEST_PG` (see
//! `support::pg`); the behaviour every store shares is in the conformance suite.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;

use client_core::model::Role;
use client_core::UserId;
use doorstep_server::accounts::{NewMember, TeamId};
use doorstep_server::store::postgres::{PgOptions, PgStore};
use doorstep_server::store::{conformance, Accounts, Sessions};
use postgres::NoTls;
use support::pg::TestDb;

fn user(id: &str) -> UserId {
    id.parse().unwrap()
}

fn team() -> TeamId {
    "north".parse().unwrap()
}

/// Runs `f` on both stores at the same moment (one thread each, released together); returns
/// both results, the first store's first.
fn at_once<R: Send + 'static>(
    stores: &[Arc<PgStore>; 2],
    f: impl Fn(&PgStore) -> R + Send + Sync + 'static,
) -> [R; 2] {
    let f = Arc::new(f);
    let start = Arc::new(Barrier::new(2));
    let handles: Vec<_> = stores
        .iter()
        .map(|s| {
            let (s, f, start) = (s.clone(), f.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                f(&s)
            })
        })
        .collect();
    let mut out = handles.into_iter().map(|h| h.join().unwrap());
    [out.next().unwrap(), out.next().unwrap()]
}

/// Two instances on one fresh database, with a team `north`.
fn two_instances(db: &TestDb) -> [Arc<PgStore>; 2] {
    let a = db.store();
    a.create_team(&team()).unwrap();
    [Arc::new(a), Arc::new(db.store())]
}

#[test]
fn a_login_link_redeemed_by_two_instances_at_once_opens_one_session() {
    let db = TestDb::new();
    let stores = two_instances(&db);
    stores[0]
        .add_member(NewMember {
            user: user("S-1"),
            name: String::new(),
            role: Role::Supervisor,
            team: team(),
            reports_to: None,
        })
        .unwrap();
    for round in 0..40 {
        let hash = format!("link-{round}");
        stores[round % 2]
            .create_login_link(&user("S-1"), &hash, "2999-01-01T00:00:00.000Z")
            .unwrap();
        let both = at_once(&stores, move |s| s.redeem_login_link(&hash).unwrap());
        let opened = both.iter().filter(|r| r.is_some()).count();
        assert_eq!(opened, 1, "round {round}: {both:?}");
        assert!(both.contains(&Some(user("S-1"))));
    }
}

/// A desk home's actor (each instance's desk home has its own; here one home asks twice).
const HOME: &str = "0a0b0c0d0e0f00010203040506070809";

#[test]
fn one_desk_home_asked_for_twice_at_once_is_one_device() {
    let db = TestDb::new();
    let stores = two_instances(&db);
    let managers: Vec<_> = (0..25)
        .map(|i| {
            stores[0]
                .add_member(NewMember {
                    user: user(&format!("S-{i}")),
                    name: String::new(),
                    role: Role::Supervisor,
                    team: team(),
                    reports_to: None,
                })
                .unwrap()
        })
        .collect();
    for manager in &managers {
        let m = manager.clone();
        let [a, b] = at_once(&stores, move |s| s.desk_device(&m, HOME).unwrap());
        assert_eq!(
            a.id, b.id,
            "{}: both instances answer the same desk",
            manager.user
        );
        assert_eq!(a.member, *manager);
    }
    let devices = stores[1].devices().unwrap();
    assert_eq!(
        devices.len(),
        managers.len(),
        "one device per desk: {devices:?}"
    );
    assert!(devices.iter().all(|d| d.desk && !d.revoked));
    for manager in &managers {
        let again = stores[1].desk_device(manager, HOME).unwrap();
        assert!(devices
            .iter()
            .any(|d| d.id == again.id && d.user == manager.user));
    }
}

/// A database made with an ICU `en-US` default collation (where `north` sorts before
/// `South` and `A_0` before `A-1`), dropped at the end.
struct IcuDb {
    inner: TestDb,
}

impl IcuDb {
    fn new() -> IcuDb {
        let inner = TestDb::new();
        let name = inner.config.get_dbname().unwrap().to_string();
        let admin_url =
            std::env::var("DOORSTEP_TEST_PG").unwrap_or_else(|_| support::pg::DEFAULT_PG.into());
        let mut admin = postgres::Client::connect(&admin_url, NoTls).unwrap();
        admin
            .batch_execute(&format!("DROP DATABASE {name}"))
            .unwrap();
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu \
                 ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            ))
            .unwrap();
        IcuDb { inner }
    }
}

#[test]
fn lists_come_in_byte_order_whatever_the_database_collation() {
    let checks: [fn(&PgStore, &std::path::Path); 2] = [
        conformance::members_and_devices_in_byte_order,
        conformance::spot_check_marks_read_as_written,
    ];
    for check in checks {
        let db = IcuDb::new();
        let before: bool = db
            .inner
            .client()
            .query_one("SELECT 'north' < 'South' AND 'A_0' < 'A-1'", &[])
            .unwrap()
            .get(0);
        assert!(before, "the database sorts text in en-US order, not bytes");
        let store = PgStore::open_config(db.inner.config.clone(), PgOptions::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        check(&store, dir.path());
    }
}

/// `Imports::import_key` before `apply_import` exists on PostgreSQL: the key's row and the
/// customer's index row written by hand, as an import and the index writer leave them.
#[test]
fn an_import_key_names_its_customer_while_the_customer_exists() {
    use client_core::CustomerId;
    use doorstep_server::store::Imports;
    let db = TestDb::new();
    let store = db.store();
    let customer = CustomerId::new();
    let mut client = db.client();
    client
        .execute(
            "INSERT INTO import_keys (team, key, customer) VALUES ('north', 'Li Na|138', $1)",
            &[&customer.as_uuid()],
        )
        .unwrap();
    let south: TeamId = "south".parse().unwrap();
    assert_eq!(
        store.import_key(&team(), "Li Na|138").unwrap(),
        None,
        "no customer yet"
    );
    client
        .execute(
            "INSERT INTO customers (id, name, status, json) VALUES ($1, 'Li Na', 'active', '{}')",
            &[&customer.to_string()],
        )
        .unwrap();
    assert_eq!(
        store.import_key(&team(), "Li Na|138").unwrap(),
        Some(customer)
    );
    assert_eq!(store.import_key(&team(), "Li Na|139").unwrap(), None);
    assert_eq!(
        store.import_key(&south, "Li Na|138").unwrap(),
        None,
        "keys are a team's"
    );
    assert_eq!(store.import_key(&team(), "").unwrap(), None);
}
