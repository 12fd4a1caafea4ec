//! Every document the server merges reads as the model, through a real `doorstep serve`:
//! new customers whose card the server cannot read, records missing a field, documents that do
//! not start with their genesis, texts over their limit and dates that are not `YYYY-MM-DD`
//! are refused `invalid_record` naming the document and the field path, and nothing of them is
//! stored or sent to anyone. Plus the published JSON Schema, playbook codes checked against the
//! team's playbook history, and a race of uploads against other agents' syncs that never sends
//! a foreign document.

mod support;

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT};
use chrono::Duration;
use client_core::documents::{genesis, obj, record_obj, register_actor, to_fields, write_fields};
use client_core::model::{
    Contact, ContactKind, Customer, CustomerStatus, NewCustomer, PaymentMethod, Policy,
    PolicyStatus, Role, Visit,
};
use client_core::protocol::{DocMessage, SyncResponse};
use client_core::{ContactId, CustomerId, DocId, PolicyId, VisitId};
use serde_json::{json, Map, Value};
use support::*;
use tempfile::TempDir;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn actor(phone: &Phone) -> ActorId {
    ActorId::from(hex(&phone.store.actor_hex()))
}

fn card(phone: &Phone, id: CustomerId) -> Map<String, Value> {
    let c = Customer {
        id,
        name: "Zhao Lei".into(),
        phones: vec!["13900000000".into()],
        address: Some("8 Garden Road".into()),
        postcode: Some("100010".into()),
        birthday: Some(chrono::NaiveDate::from_ymd_opt(1979, 4, 5).unwrap()),
        family: None,
        income_band: None,
        workplace: None,
        notes: None,
        grade: Some("B".into()),
        status: CustomerStatus::Prospect,
        agent: Some(phone.store.identity().user.clone()),
        location: None,
        created_on: phone.store.now().date_naive(),
    };
    to_fields(&c, &["id"])
}

/// A new customer document as the phone would create it, with `card` as its card's fields.
fn new_customer_doc(phone: &Phone, doc: &DocId, card: &Map<String, Value>) -> AutoCommit {
    let mut d = genesis(doc, &actor(phone)).unwrap();
    register_actor(&mut d, Role::Agent, phone.store.identity().user.as_str()).unwrap();
    let o = obj(&d, &ROOT, "card").unwrap();
    write_fields(&mut d, &o, card).unwrap();
    d.commit();
    d
}

/// Applies a hand-made message the server accepted to the phone's own copy too (the server
/// will not send the phone its own changes back), so the next hand-made change follows it.
fn keep(phone: &mut Phone, doc: &DocId, data: &[u8]) {
    let mut st = automerge::sync::State::new();
    phone
        .store
        .receive_sync_message(doc, &mut st, data)
        .unwrap();
}

async fn send(phone: &Phone, url: &str, doc: &DocId, data: Vec<u8>) -> SyncResponse {
    let req = phone.request(vec![DocMessage {
        doc: doc.clone(),
        data,
    }]);
    let (status, body) = post_sync(&http(), url, &phone.token, &req, false).await;
    assert_eq!(status, 200, "{body}");
    response(&body)
}

/// The one rejection of a response, as (code, message).
fn rejection(resp: &SyncResponse) -> (String, String) {
    assert_eq!(resp.rejected.len(), 1, "{:?}", resp.rejected);
    let r = &resp.rejected[0];
    (r.code.clone(), r.message.clone())
}

async fn customer_status(url: &str, token: &str, id: CustomerId) -> u16 {
    get(&http(), url, token, &format!("/v1/customers/{id}"))
        .await
        .0
}

#[tokio::test]
async fn new_customers_whose_card_does_not_read_are_refused_and_sent_to_nobody() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut a1 = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    let mut a2 = Phone::new("A-0002", Role::Agent, token_for(&data, "A-0002"));
    let mut s1 = Phone::new("S-01", Role::Supervisor, token_for(&data, "S-01"));
    a1.sync(&http, &server.url).await;

    let mut refused = vec![];
    let cases: Vec<(&str, Value)> = vec![
        ("created_on", Value::Null),
        ("name", Value::Null),
        ("phones", Value::Null),
        ("status", Value::Null),
        ("status", json!("weird")),
    ];
    for (field, value) in cases {
        let id = CustomerId::new();
        let doc = DocId::Customer(id);
        let mut fields = card(&a1, id);
        if value.is_null() {
            fields.remove(field);
        } else {
            fields.insert(field.into(), value);
        }
        let mut d = new_customer_doc(&a1, &doc, &fields);
        let resp = send(&a1, &server.url, &doc, changes_message(&mut d, &[])).await;
        let (code, message) = rejection(&resp);
        assert_eq!(code, "invalid_record", "{field}: {message}");
        assert!(
            message.contains(&doc.to_string()) && message.contains(&format!("card.{field}")),
            "{message}"
        );
        assert!(resp.messages.iter().all(|m| m.doc != doc));
        refused.push(id);
    }
    // Nothing of them is stored: not in the read API, not sent to any device of the team.
    for id in &refused {
        assert_eq!(customer_status(&server.url, &s1.token, *id).await, 404);
    }
    for phone in [&mut a2, &mut s1] {
        let responses = phone.sync(&http, &server.url).await;
        for r in &responses {
            for m in &r.messages {
                assert!(
                    !refused.iter().any(|id| m.doc == DocId::Customer(*id)),
                    "{} received a refused document {}",
                    phone.store.identity().user,
                    m.doc
                );
            }
        }
    }
    let log = admin(&data, &["rejections"]);
    assert_eq!(
        log.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["code"] == "invalid_record")
            .count(),
        refused.len(),
        "{log}"
    );

    // The same card with every field reads, is accepted and reaches the supervisor.
    let id = CustomerId::new();
    let doc = DocId::Customer(id);
    let mut d = new_customer_doc(&a1, &doc, &card(&a1, id));
    let resp = send(&a1, &server.url, &doc, changes_message(&mut d, &[])).await;
    assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
    assert_eq!(customer_status(&server.url, &s1.token, id).await, 200);
}

/// One record of each kind, as the model writes it: (collection, id, fields).
fn records(customer: CustomerId, phone: &Phone) -> Vec<(&'static str, String, Map<String, Value>)> {
    let now = phone.store.now();
    let policy = Policy {
        id: PolicyId::new(),
        customer,
        number: "P-900".into(),
        product: "Term life".into(),
        policyholder: "Zhao Lei".into(),
        insured: "Zhao Lei".into(),
        premium_cents: 120_000,
        payment_method: PaymentMethod::BankDeduction,
        riders: vec![],
        due_date: now.date_naive(),
        status: PolicyStatus::Normal,
        paid_on: None,
        deduction_failed_on: None,
    };
    let visit = Visit {
        id: VisitId::new(),
        customer,
        agent: phone.store.identity().user.clone(),
        kind: "service".into(),
        purposes: vec!["policy_service".into()],
        outcome: None,
        policies: vec![],
        start: now - Duration::hours(2),
        end: now - Duration::hours(1),
        location: None,
        notes: "".into(),
        number: 0,
    };
    let contact = Contact {
        id: ContactId::new(),
        customer,
        agent: phone.store.identity().user.clone(),
        kind: ContactKind::Call,
        at: now - Duration::hours(3),
        purpose: Some("care".into()),
        outcome: None,
        policies: vec![],
        notes: "".into(),
    };
    vec![
        (
            "policies",
            policy.id.to_string(),
            to_fields(&policy, &["id", "customer"]),
        ),
        (
            "visits",
            visit.id.to_string(),
            to_fields(&visit, &["id", "customer", "number"]),
        ),
        (
            "contacts",
            contact.id.to_string(),
            to_fields(&contact, &["id", "customer"]),
        ),
    ]
}

/// A message adding (or changing) one record of an existing customer under the phone's actor.
fn record_message(
    phone: &mut Phone,
    doc: &DocId,
    coll: &str,
    id: &str,
    f: &Map<String, Value>,
) -> Vec<u8> {
    let since = phone.store.heads(doc).unwrap();
    let mut d = phone.automerge(doc).with_actor(actor(phone));
    register_actor(&mut d, Role::Agent, phone.store.identity().user.as_str()).unwrap();
    let o = record_obj(&mut d, coll, id, true).unwrap().unwrap();
    write_fields(&mut d, &o, f).unwrap();
    d.commit();
    changes_message(&mut d, &since)
}

#[tokio::test]
async fn a_policy_visit_or_contact_missing_any_required_field_is_refused() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut a1 = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    a1.sync(&http, &server.url).await;
    let cid: CustomerId = customers[0].parse().unwrap();
    let doc = DocId::Customer(cid);
    let mut refused = 0;
    for (coll, id, full) in records(cid, &a1) {
        let kind = match coll {
            "policies" => "policy",
            "visits" => "visit",
            _ => "contact",
        };
        for field in client_core::layout::record(kind).fields {
            if field.optional {
                continue;
            }
            let mut f = full.clone();
            f.remove(field.name);
            let msg = record_message(&mut a1, &doc, coll, &id, &f);
            let resp = send(&a1, &server.url, &doc, msg).await;
            let (code, message) = rejection(&resp);
            assert_eq!(code, "invalid_record", "{message}");
            let path = format!("{coll}/{id}.{}", field.name);
            assert!(message.contains(&path), "{path}: {message}");
            refused += 1;
        }
        // Whole, it is accepted and visible in the read API.
        let msg = record_message(&mut a1, &doc, coll, &id, &full);
        let resp = send(&a1, &server.url, &doc, msg.clone()).await;
        assert!(resp.rejected.is_empty(), "{coll}: {:?}", resp.rejected);
        keep(&mut a1, &doc, &msg);
    }
    assert_eq!(
        refused,
        9 + 7 + 5,
        "every required field of the three kinds"
    );
    let (_, c) = get(
        &http,
        &server.url,
        &a1.token,
        &format!("/v1/customers/{cid}"),
    )
    .await;
    for coll in ["policies", "visits", "contacts"] {
        let n = c[coll].as_array().unwrap().len();
        assert!(n >= 1, "{coll}: {c}");
    }
}

#[tokio::test]
async fn long_texts_bad_dates_and_upper_case_ids_are_refused_on_the_server_and_the_phone() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut a1 = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    a1.sync(&http, &server.url).await;
    let cid: CustomerId = customers[0].parse().unwrap();
    let doc = DocId::Customer(cid);
    let big = "评".repeat(1_900_000 / 3);

    let mut cases: Vec<(&str, String, Map<String, Value>, &str)> = vec![];
    let mut notes = Map::new();
    notes.insert("notes".into(), json!(big));
    cases.push(("card", String::new(), notes, "card.notes"));
    for (field, bad) in [("birthday", "2026-6-1"), ("birthday", "-262143-01-01")] {
        let mut m = Map::new();
        m.insert(field.into(), json!(bad));
        cases.push(("card", String::new(), m, "card.birthday"));
    }
    let (_, pid, mut policy) = records(cid, &a1).remove(0);
    policy.insert("due_date".into(), json!("2026-6-1"));
    cases.push(("policies", pid.clone(), policy, "due_date"));
    let (_, vid, visit) = records(cid, &a1).remove(1);
    cases.push(("visits", vid.to_uppercase(), visit, "must be a lower-case"));
    for (coll, id, fields, path) in cases {
        let since = a1.store.heads(&doc).unwrap();
        let mut d = a1.automerge(&doc).with_actor(actor(&a1));
        register_actor(&mut d, Role::Agent, "A-0001").unwrap();
        let o = if coll == "card" {
            obj(&d, &ROOT, "card").unwrap()
        } else {
            record_obj(&mut d, coll, &id, true).unwrap().unwrap()
        };
        write_fields(&mut d, &o, &fields).unwrap();
        d.commit();
        let resp = send(&a1, &server.url, &doc, changes_message(&mut d, &since)).await;
        let (code, message) = rejection(&resp);
        assert_eq!(code, "invalid_record", "{message}");
        assert!(message.contains(path), "{path}: {message}");
    }
    let (_, c) = get(
        &http,
        &server.url,
        &a1.token,
        &format!("/v1/customers/{cid}"),
    )
    .await;
    assert!(c["customer"]["notes"].is_null(), "nothing of it stored");
    assert!(c["policies"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["id"] != pid.as_str()));

    // The phone refuses the same write before it makes it, naming the field.
    let e = a1
        .store
        .edit_customer(
            cid,
            client_core::model::CustomerPatch {
                notes: Some(Some(big.clone())),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "invalid");
    assert!(e.to_string().contains("card.notes"), "{e}");
    let e = a1
        .store
        .add_customer(NewCustomer {
            name: "x".repeat(201),
            ..Default::default()
        })
        .unwrap_err();
    assert!(e.to_string().contains("card.name"), "{e}");
    assert!(a1.store.customer(cid).unwrap().notes.is_none());
}

#[tokio::test]
async fn a_document_that_does_not_start_with_its_genesis_is_refused() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut a1 = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    a1.sync(&http, &server.url).await;

    let id = CustomerId::new();
    let doc = DocId::Customer(id);
    // Same keys and values as a genesis, but written under the device's own actor.
    let mut rogue = AutoCommit::new().with_actor(actor(&a1));
    rogue.put(ROOT, "doorstep", "customer").unwrap();
    rogue.put(ROOT, "layout", 1).unwrap();
    rogue
        .put_object(ROOT, "actors", automerge::ObjType::Map)
        .unwrap();
    for key in ["card", "policies", "visits", "contacts", "comments"] {
        rogue
            .put_object(ROOT, key, automerge::ObjType::Map)
            .unwrap();
    }
    register_actor(&mut rogue, Role::Agent, "A-0001").unwrap();
    let o = obj(&rogue, &ROOT, "card").unwrap();
    write_fields(&mut rogue, &o, &card(&a1, id)).unwrap();
    rogue.commit();
    let resp = send(&a1, &server.url, &doc, changes_message(&mut rogue, &[])).await;
    let (code, message) = rejection(&resp);
    assert_eq!(code, "invalid_record");
    assert!(message.contains("genesis"), "{message}");
    assert_eq!(customer_status(&server.url, &a1.token, id).await, 404);

    // A correct device creating the same id later keeps its card and its visit.
    let mut good = new_customer_doc(&a1, &doc, &card(&a1, id));
    let resp = send(&a1, &server.url, &doc, changes_message(&mut good, &[])).await;
    assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
    let (_, c) = get(
        &http,
        &server.url,
        &a1.token,
        &format!("/v1/customers/{id}"),
    )
    .await;
    assert_eq!(c["customer"]["name"], "Zhao Lei", "{c}");
}

#[tokio::test]
async fn playbook_codes_are_checked_against_every_playbook_the_team_had() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut a1 = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    a1.sync(&http, &server.url).await;
    // The team moves to the car-insurance playbook; the phone is still on the built-in one.
    let car = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/playbooks/car-insurance.toml"
    );
    admin(&data, &["playbook", "--team", "north", "--file", car]);
    let cid: CustomerId = customers[0].parse().unwrap();
    let doc = DocId::Customer(cid);
    let (_, vid, visit) = records(cid, &a1).remove(1);
    assert_eq!(visit["kind"], "service", "an insurance playbook code");
    let msg = record_message(&mut a1, &doc, "visits", &vid, &visit);
    let resp = send(&a1, &server.url, &doc, msg.clone()).await;
    assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
    keep(&mut a1, &doc, &msg);
    // A code no playbook of the team ever had is refused.
    let (_, vid, mut visit) = records(cid, &a1).remove(1);
    visit.insert("kind".into(), json!("séance"));
    let msg = record_message(&mut a1, &doc, "visits", &vid, &visit);
    let resp = send(&a1, &server.url, &doc, msg).await;
    let (code, message) = rejection(&resp);
    assert_eq!(code, "invalid_record");
    assert!(message.contains(&format!("visits/{vid}.kind")), "{message}");
}

#[tokio::test]
async fn the_record_schema_is_served_and_is_the_published_file() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    let server = Server::start(&data);
    let resp = reqwest::get(format!("{}/v1/schema/documents.json", server.url))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "public: no token");
    let served: Value = resp.json().await.unwrap();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schema/documents.json");
    let published: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(served, published);
    assert_eq!(
        served["$defs"]["card"]["required"],
        json!(["name", "phones", "status", "created_on"])
    );
}

/// A phone uploads new customers while a colleague's phone syncs over and over: whatever the
/// interleaving, the colleague is never sent a document that is not theirs (with the
/// entitlement computed before the request waited for the store, it was sent the new
/// customers and told to drop them on its next round).
#[tokio::test]
async fn uploads_racing_other_agents_syncs_never_send_a_foreign_document() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mine: BTreeSet<DocId> = customers[4..8]
        .iter()
        .map(|c| DocId::Customer(c.parse().unwrap()))
        .collect();
    let seeds: u64 = std::env::var("DOORSTEP_RACE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    for seed in 0..seeds {
        let mut a1 = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
        let mut a2 = Phone::new("A-0002", Role::Agent, token_for(&data, "A-0002"));
        a2.sync(&http, &server.url).await;
        let n = 20 + (seed as usize * 7) % 25;
        for i in 0..n {
            a1.store
                .add_customer(NewCustomer {
                    name: format!("New {seed}-{i}"),
                    phones: vec!["13700000000".into()],
                    ..Default::default()
                })
                .unwrap();
        }
        let delay = std::time::Duration::from_millis(seed * 3 % 11);
        let upload = async {
            tokio::time::sleep(delay).await;
            a1.sync(&http, &server.url).await;
        };
        let watch = async {
            let mut seen = vec![];
            for _ in 0..8 {
                for r in a2.sync(&http, &server.url).await {
                    seen.extend(r.messages.into_iter().map(|m| m.doc));
                }
            }
            seen
        };
        let ((), seen) = tokio::join!(upload, watch);
        for doc in seen {
            let ok = match &doc {
                DocId::Customer(_) => mine.contains(&doc),
                DocId::Day(agent, _) => agent.as_str() == "A-0002",
            };
            assert!(ok, "seed {seed}: A-0002 was sent {doc}");
        }
    }
}

/// The stop rule of docs/protocol.md §4: in a fresh session, the first message for a changed
/// document carries only its heads and `have` (Automerge sends changes once it knows the
/// peer's heads), the server's answer tells it, the second request carries the change and its
/// answer acknowledges it; then the phone has nothing to send. Stopping there is two round
/// trips; waiting for a response without messages costs a third, empty one.
#[tokio::test]
async fn one_change_costs_two_round_trips_with_the_documented_stop_rule() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut a1 = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    a1.sync(&http, &server.url).await;
    let cid: CustomerId = customers[0].parse().unwrap();
    a1.store
        .edit_customer(
            cid,
            client_core::model::CustomerPatch {
                notes: Some(Some("call after six".into())),
                ..Default::default()
            },
        )
        .unwrap();
    let mut session = a1.store.start_sync("server");
    let mut trips = 0;
    let mut last_had_messages = false;
    loop {
        let out = a1.store.sync_outgoing(&mut session).unwrap();
        if out.is_empty() {
            break;
        }
        assert!(trips < 5, "no convergence");
        trips += 1;
        let (status, body) =
            post_sync(&http, &server.url, &a1.token, &a1.request(out), false).await;
        assert_eq!(status, 200);
        let resp = response(&body);
        assert!(!resp.more && resp.rejected.is_empty());
        last_had_messages = !resp.messages.is_empty();
        for m in &resp.messages {
            a1.store
                .sync_receive(&mut session, m, &mut |_| Ok(()))
                .unwrap();
        }
    }
    assert_eq!(trips, 2, "stop when the next request would be empty");
    assert!(last_had_messages, "the change was acknowledged");
    // The older rule's extra round: an empty request, answered with nothing.
    let (_, body) = post_sync(&http, &server.url, &a1.token, &a1.request(vec![]), false).await;
    assert!(response(&body).messages.is_empty());
    let (_, c) = get(
        &http,
        &server.url,
        &a1.token,
        &format!("/v1/customers/{cid}"),
    )
    .await;
    assert_eq!(c["customer"]["notes"], "call after six");
}
