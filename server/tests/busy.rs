//! A server with more phones at once than it can work for answers the ones it cannot take in
//! time `503 busy` with `Retry-After`, and the phones come back then and lose nothing
//! (`doorstep serve --sync-queue-wait-secs`, `http::sync::Admission`). Before, a phone whose
//! request waited in the queue longer than its own 60 s timeout gave up on a request the
//! server would still work on, and tried again at once.

mod support;

use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use client_core::model::{NewCustomer, Role};
use client_core::{Durability, Identity, Options, Store};
use client_sync::{run_sync_blocking, HttpTransport, RunOptions, SyncError};
use support::{admin, north_team, token_for, Server};
use tempfile::TempDir;

const PHONES: usize = 6;
const CUSTOMERS: usize = 40;

#[test]
fn phones_turned_away_busy_come_back_after_retry_after_and_lose_nothing() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    // One request at a time, and none waits: whoever finds the server working is busy.
    let server = Server::start_with(
        &data,
        &["--sync-concurrency", "1", "--sync-queue-wait-secs", "0"],
    );
    let mut homes = vec![];
    for i in 0..PHONES {
        let user = format!("A-1{i:03}");
        admin(
            &data,
            &[
                "user", "add", "--team", "north", "--user", &user, "--role", "agent",
            ],
        );
        let mut store = Store::create(
            dir.path().join(format!("{user}.db")),
            Identity {
                user: user.parse().unwrap(),
                role: Role::Agent,
            },
            Options {
                durability: Durability::Process,
                ..Options::default()
            },
        )
        .unwrap();
        for j in 0..CUSTOMERS {
            store
                .add_customer(NewCustomer {
                    name: format!("{user} customer {j}"),
                    phones: vec![format!("138{i:02}{j:06}")],
                    ..Default::default()
                })
                .unwrap();
        }
        homes.push((user.clone(), token_for(&data, &user), store));
    }

    let start = Arc::new(Barrier::new(PHONES));
    let threads: Vec<_> = homes
        .into_iter()
        .map(|(user, token, store)| {
            let (url, start) = (server.url.clone(), start.clone());
            std::thread::spawn(move || {
                let store = Mutex::new(store);
                let transport = HttpTransport::new(&url, &token).unwrap();
                let mut waits = vec![];
                start.wait();
                for _ in 0..40 {
                    match run_sync_blocking(&store, &transport, &RunOptions::default()) {
                        Ok(_) => return (user, waits, store.into_inner().unwrap()),
                        Err(SyncError::Busy {
                            retry_after_secs, ..
                        }) => {
                            // What the phone's scheduler does (client-core's SyncEngine waits
                            // at least this long): come back when told, not sooner.
                            waits.push(retry_after_secs);
                            std::thread::sleep(Duration::from_secs(retry_after_secs));
                        }
                        Err(e) => panic!("{user}: a busy server must say busy, not {e:?}"),
                    }
                }
                panic!("{user}: still busy after 40 tries");
            })
        })
        .collect();
    let mut turned_away = 0;
    for t in threads {
        let (user, waits, store) = t.join().unwrap();
        for w in &waits {
            assert!((1..=60).contains(w), "{user}: Retry-After {w}");
        }
        turned_away += waits.len();
        // Everything the phone wrote is on the server: its sync state says the server has
        // the phone's heads for every document (nothing left to send).
        assert!(
            store.out_of_sync("server").unwrap().is_empty(),
            "{user}: documents left unsynced"
        );
    }
    assert!(
        turned_away > 0,
        "{PHONES} phones at once on one permit and no queue: someone must have been busy"
    );
    // And the team's record holds every customer of every phone: the supervisor sees them.
    let supervisor = token_for(&data, "S-01");
    let boss = Store::create(
        dir.path().join("S-01.db"),
        Identity {
            user: "S-01".parse().unwrap(),
            role: Role::Supervisor,
        },
        Options {
            durability: Durability::Process,
            ..Options::default()
        },
    )
    .unwrap();
    let boss = Mutex::new(boss);
    let transport = HttpTransport::new(&server.url, &supervisor).unwrap();
    run_sync_blocking(&boss, &transport, &RunOptions::default()).unwrap();
    let names: Vec<String> = boss
        .lock()
        .unwrap()
        .customers()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .filter(|n| n.starts_with("A-1"))
        .collect();
    assert_eq!(names.len(), PHONES * CUSTOMERS);
    assert!(
        server.log_text().contains("busy"),
        "the busy answers are logged"
    );
}
