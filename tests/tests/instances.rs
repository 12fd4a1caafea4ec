//! Several `doorstep serve` instances in front of one PostgreSQL database (issue 12), as a
//! load balancer with no stickiness would use them: 20 phones (six agents with three phones
//! each, a supervisor with two) hop at random between three instances for several rounds,
//! syncing from threads at once, while the agents and the supervisor edit the same customers.
//! Midway one instance is killed with SIGKILL in the middle of the traffic; its phones carry
//! on through the others, and it comes back later. At the end every phone holds its documents
//! at the same heads as every other phone holding them and as a fresh device reading the
//! record, every visit recorded anywhere is there exactly once, and the three instances
//! answer the managers' views the same.
//!
//! Real processes, a real database (made for the test and dropped, `doorstep_tests::pg`).
//! `DOORSTEP_SEED` replays a run.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_core::model::{CustomerPatch, NewCustomer, Role};
use client_core::{CustomerId, DocId, VisitId};
use doorstep_tests::pg::TestDatabase;
use doorstep_tests::phone::{replica, sales_visit, Phone, Replica};
use doorstep_tests::server::{create_team, issue_token, ServerProcess, Storage};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

const INSTANCES: usize = 3;
const AGENTS: usize = 6;
const PHONES_PER_AGENT: usize = 3;
const BOSS: &str = "S-01";
const CUSTOMERS_EACH: usize = 3;
const ROUNDS: usize = 4;

/// One phone of the run: who, and (agents) whose customers it works on.
struct Device {
    phone: Phone,
    agent: Option<usize>,
}

/// Syncs `phone` through a random live instance until a run succeeds (an instance killed
/// under it is a network error: the phone tries another, as a phone behind a load balancer
/// would).
fn sync_somewhere(phone: &Phone, urls: &[String], rng: &mut StdRng) {
    for attempt in 0..30 {
        let url = urls.choose(rng).unwrap();
        match phone.sync_with(url) {
            Ok(r) => {
                assert!(
                    r.rejected.is_empty() && r.failed.is_empty(),
                    "{}: {r:?}",
                    phone.user
                );
                return;
            }
            Err(e) if e.is_retryable() => {
                eprintln!("{} via {url}: {e} (attempt {attempt})", phone.user);
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{} via {url}: {e}", phone.user),
        }
    }
    panic!("{} could not sync through any instance", phone.user);
}

/// `GET path` with a bearer token, over plain HTTP/1.1: (status, body).
fn get(url: &str, token: &str, path: &str) -> (u16, String) {
    request(url, token, "GET", path, None)
}

/// One HTTP/1.1 request with a bearer token and an optional JSON body: (status, body).
fn request(url: &str, token: &str, method: &str, path: &str, json: Option<&str>) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let body = json.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Accept-Language: zh-CN\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn phones_hopping_between_three_instances_on_one_database_converge() {
    let seed: u64 = std::env::var("DOORSTEP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("seed = {seed} (replay with DOORSTEP_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let db = TestDatabase::new();
    let storage = Storage::Postgres(db.url());
    let dir = TempDir::new().unwrap();

    let agents: Vec<String> = (1..=AGENTS).map(|i| format!("A-{i}")).collect();
    let mut members: Vec<(&str, &str)> = vec![(BOSS, "supervisor")];
    members.extend(agents.iter().map(|a| (a.as_str(), "agent")));
    create_team(&storage, "north", &members);
    let mut servers: Vec<ServerProcess> = (0..INSTANCES)
        .map(|i| {
            ServerProcess::start_on(storage.clone(), &dir.path().join(format!("i{i}")), "warn")
        })
        .collect();
    let urls: Vec<String> = servers.iter().map(ServerProcess::url).collect();

    let mut devices = vec![];
    for (a, user) in agents.iter().enumerate() {
        for k in 0..PHONES_PER_AGENT {
            let token = issue_token(&storage, user);
            let phone = Phone::create_named(
                dir.path(),
                &format!("{user}-{k}"),
                user,
                Role::Agent,
                &urls[0],
                &token,
            );
            devices.push(Device {
                phone,
                agent: Some(a),
            });
        }
    }
    for k in 0..2 {
        let token = issue_token(&storage, BOSS);
        let phone = Phone::create_named(
            dir.path(),
            &format!("{BOSS}-{k}"),
            BOSS,
            Role::Supervisor,
            &urls[0],
            &token,
        );
        devices.push(Device { phone, agent: None });
    }

    // Each agent's first phone brings the customers; everyone syncs (through any instance).
    let mut visits: BTreeMap<VisitId, CustomerId> = BTreeMap::new();
    let mut customers: Vec<Vec<CustomerId>> = vec![vec![]; AGENTS];
    for (a, user) in agents.iter().enumerate() {
        let first = &devices[a * PHONES_PER_AGENT].phone;
        for j in 0..CUSTOMERS_EACH {
            let c = first
                .store()
                .add_customer(NewCustomer {
                    name: format!("{user} customer {j}"),
                    phones: vec![format!("1390000{a}{j:02}")],
                    ..Default::default()
                })
                .unwrap()
                .id;
            customers[a].push(c);
        }
    }
    for d in &devices {
        sync_somewhere(&d.phone, &urls, &mut rng);
    }
    for d in &devices {
        sync_somewhere(&d.phone, &urls, &mut rng);
    }

    let devices = Arc::new(devices);
    let visits_log = Arc::new(Mutex::new(BTreeMap::new()));
    let all_customers: Vec<CustomerId> = customers.iter().flatten().copied().collect();
    for round in 0..ROUNDS {
        // Offline work on every phone: agents visit and edit their customers (the same
        // customers on an agent's three phones), the supervisor grades any of them.
        for d in devices.iter() {
            let mut s = d.phone.store();
            for _ in 0..rng.random_range(1..=3) {
                match d.agent {
                    Some(a) => {
                        let c = *customers[a].choose(&mut rng).unwrap();
                        if rng.random_bool(0.7) {
                            let now = s.now();
                            let minutes = rng.random_range(30..600);
                            let note = format!("{} round {round}", d.phone.user);
                            let v = s.record_visit(c, sales_visit(now, minutes, &note)).unwrap();
                            visits_log.lock().unwrap().insert(v.id, c);
                        } else {
                            let patch = CustomerPatch {
                                notes: Some(Some(format!("{} round {round}", d.phone.user))),
                                ..Default::default()
                            };
                            s.edit_customer(c, patch).unwrap();
                        }
                    }
                    None => {
                        let c = *all_customers.choose(&mut rng).unwrap();
                        let grade = *["A", "B", "C"].choose(&mut rng).unwrap();
                        let patch = CustomerPatch {
                            grade: Some(Some(grade.to_string())),
                            ..Default::default()
                        };
                        s.edit_customer(c, patch).unwrap();
                    }
                }
            }
        }
        // Every phone syncs at once, from a thread of its own, through random instances;
        // in round 1 instance 1 is killed while they do, and comes back in round 3.
        let seeds: Vec<u64> = (0..devices.len()).map(|_| rng.random()).collect();
        let threads: Vec<_> = seeds
            .into_iter()
            .enumerate()
            .map(|(i, seed)| {
                let (devices, urls) = (devices.clone(), urls.clone());
                std::thread::spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed);
                    sync_somewhere(&devices[i].phone, &urls, &mut rng);
                })
            })
            .collect();
        if round == 1 {
            std::thread::sleep(Duration::from_millis(rng.random_range(50..300)));
            println!("round {round}: SIGKILL instance 1");
            servers[1].kill();
        }
        for t in threads {
            t.join().unwrap();
        }
        if round == 3 {
            servers[1].restart();
        }
        println!("round {round}: every phone synced");
    }
    visits.extend(visits_log.lock().unwrap().iter().map(|(v, c)| (*v, *c)));

    // Quiet: two more passes each, so that what one phone sent reaches the others.
    for _ in 0..2 {
        for d in devices.iter() {
            sync_somewhere(&d.phone, &urls, &mut rng);
        }
    }

    // A fresh device of the supervisor reads the record as it stands (through instance 2).
    let auditor_token = issue_token(&storage, BOSS);
    let auditor = Phone::create_named(
        dir.path(),
        "auditor",
        BOSS,
        Role::Supervisor,
        &urls[2],
        &auditor_token,
    );
    auditor.sync().unwrap();
    let record: Replica = replica(&mut auditor.store());
    assert!(record.len() >= AGENTS * CUSTOMERS_EACH, "{}", record.len());

    for d in devices.iter() {
        let mine = replica(&mut d.phone.store());
        let expected: BTreeSet<&String> = record
            .iter()
            .filter(
                |(doc, state)| match (d.agent, doc.parse::<DocId>().unwrap()) {
                    (None, _) => true,
                    (Some(a), DocId::Customer(_)) => {
                        state.view["customer"]["agent"].as_str() == Some(agents[a].as_str())
                    }
                    (Some(a), DocId::Day(u, _)) => u.as_str() == agents[a],
                },
            )
            .map(|(doc, _)| doc)
            .collect();
        let held: BTreeSet<&String> = mine.keys().collect();
        assert_eq!(held, expected, "{} holds the wrong documents", d.phone.user);
        for (doc, state) in &mine {
            assert_eq!(
                state, &record[doc],
                "{} and the record differ on {doc}",
                d.phone.user
            );
        }
        assert_eq!(
            d.phone.pending(),
            0,
            "{} has pending documents",
            d.phone.user
        );
    }

    // Every visit recorded anywhere is in the record once, on its customer.
    let mut on_record: BTreeMap<String, String> = BTreeMap::new();
    let mut count = 0;
    for (doc, state) in &record {
        for v in state.view["visits"].as_array().into_iter().flatten() {
            count += 1;
            on_record.insert(v["id"].as_str().unwrap().to_string(), doc.clone());
        }
    }
    assert_eq!(count, on_record.len(), "a visit appears twice");
    for (v, c) in &visits {
        assert_eq!(
            on_record.get(&v.to_string()),
            Some(&DocId::Customer(*c).to_string()),
            "visit {v} is missing"
        );
    }
    assert_eq!(count, visits.len(), "unexpected visits");

    // The three instances answer the managers' views the same.
    let token = &devices.last().unwrap().phone.token;
    for path in [
        "/v1/views/today",
        "/v1/views/pipeline",
        "/v1/views/problems",
    ] {
        let answers: Vec<(u16, String)> = urls.iter().map(|u| get(u, token, path)).collect();
        assert_eq!(answers[0].0, 200, "{path}: {}", answers[0].1);
        for (i, a) in answers.iter().enumerate().skip(1) {
            assert_eq!(
                a, &answers[0],
                "{path}: instance {i} differs from instance 0"
            );
        }
    }
    // The supervisor comments from the dashboard through each instance in turn: each
    // instance writes from a desk home of its own (a desk device each), and the agent's
    // phones receive every comment, under the supervisor's name.
    let (visit, customer) = visits.iter().next().map(|(v, c)| (*v, *c)).unwrap();
    for (i, url) in urls.iter().enumerate() {
        let text = format!("{{\"text\": \"instance {i}: 好，继续跟进\"}}");
        let (status, body) = request(
            url,
            token,
            "POST",
            &format!("/v1/visits/{visit}/comments"),
            Some(&text),
        );
        assert_eq!(status, 200, "comment through instance {i}: {body}");
    }
    let owner = devices
        .iter()
        .find(|d| {
            d.agent.is_some_and(|a| {
                record[&DocId::Customer(customer).to_string()].view["customer"]["agent"].as_str()
                    == Some(agents[a].as_str())
            })
        })
        .expect("the customer's agent has a phone");
    sync_somewhere(&owner.phone, &urls, &mut rng);
    let comments: Vec<_> = owner
        .phone
        .store()
        .customer_view(customer)
        .unwrap()
        .comments
        .into_iter()
        .filter(|c| c.visit == visit && c.author.as_str() == BOSS)
        .collect();
    assert_eq!(comments.len(), INSTANCES, "{comments:?}");

    println!(
        "{} documents, {} visits, 20 phones equal to the record",
        record.len(),
        count
    );
}
