//! Merging replicas: two or three homes edit the same customers offline, then exchange
//! standard Automerge sync messages until quiet, and must end with the same state and with
//! nothing lost. This is the contract the server's sync (next issue) builds on.

use automerge::sync;
use chrono::{DateTime, FixedOffset, NaiveDate};
use client_core::model::{CustomerPatch, NewCustomer, NewPolicy, NewVisit, Outcome, Role};
use client_core::{DocId, Identity, Options, Store};
use tempfile::TempDir;

fn home(dir: &TempDir, name: &str, role: Role) -> Store {
    let mut s = Store::create(
        dir.path().join(format!("{name}.db")),
        Identity {
            user: name.parse().unwrap(),
            role,
        },
        Options::default(),
    )
    .unwrap();
    s.set_clock(Box::new(|| t("2026-06-16T18:00:00+08:00")));
    s
}

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

/// Exchanges sync messages for every document either side holds until neither has anything
/// to send. Returns the number of messages exchanged.
fn sync_pair(a: &mut Store, b: &mut Store) -> usize {
    let mut docs = a.doc_ids().unwrap();
    docs.extend(b.doc_ids().unwrap());
    docs.sort();
    docs.dedup();
    let mut messages = 0;
    for doc in docs {
        let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
        for _round in 0..20 {
            let ma = a.generate_sync_message(&doc, &mut sa).unwrap();
            if let Some(m) = &ma {
                b.receive_sync_message(&doc, &mut sb, m).unwrap();
                messages += 1;
            }
            let mb = b.generate_sync_message(&doc, &mut sb).unwrap();
            if let Some(m) = &mb {
                a.receive_sync_message(&doc, &mut sa, m).unwrap();
                messages += 1;
            }
            if ma.is_none() && mb.is_none() {
                break;
            }
        }
    }
    messages
}

fn visit(kind: &str, start: &str, end: &str) -> NewVisit {
    NewVisit {
        kind: kind.into(),
        purposes: vec!["needs_discovery".into()],
        outcome: Some(Outcome {
            code: "appointment".into(),
            amount_cents: None,
            date: None,
            detail: None,
        }),
        policies: vec![],
        start: t(start),
        end: t(end),
        location: None,
        notes: String::new(),
    }
}

#[test]
fn phone_and_grade_edited_on_two_replicas_both_survive() {
    let dir = TempDir::new().unwrap();
    let mut agent = home(&dir, "agent-1", Role::Agent);
    let mut boss = home(&dir, "boss", Role::Supervisor);
    let c = agent
        .add_customer(NewCustomer {
            name: "Wang Fang".into(),
            phones: vec!["13800000000".into()],
            grade: Some("C".into()),
            ..Default::default()
        })
        .unwrap();
    sync_pair(&mut agent, &mut boss);
    assert_eq!(boss.customer(c.id).unwrap().name, "Wang Fang");

    // Offline: the agent fixes the phone number, the supervisor regrades.
    agent
        .edit_customer(
            c.id,
            CustomerPatch {
                phones: Some(vec!["13911112222".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    boss.edit_customer(
        c.id,
        CustomerPatch {
            grade: Some(Some("B".into())),
            ..Default::default()
        },
    )
    .unwrap();
    sync_pair(&mut agent, &mut boss);
    for s in [&agent, &boss] {
        let got = s.customer(c.id).unwrap();
        assert_eq!(got.phones, vec!["13911112222".to_string()]);
        assert_eq!(got.grade.as_deref(), Some("B"));
        assert!(s.conflicts(&DocId::Customer(c.id)).unwrap().is_empty());
    }
}

#[test]
fn two_visits_recorded_on_two_devices_are_both_kept_and_numbered() {
    let dir = TempDir::new().unwrap();
    let mut phone = home(&dir, "agent-1", Role::Agent);
    let mut tablet = home(&dir, "agent-1b", Role::Agent);
    let c = phone
        .add_customer(NewCustomer {
            name: "Li Lei".into(),
            ..Default::default()
        })
        .unwrap();
    sync_pair(&mut phone, &mut tablet);
    let v1 = phone
        .record_visit(
            c.id,
            visit(
                "sales",
                "2026-06-16T10:00:00+08:00",
                "2026-06-16T10:40:00+08:00",
            ),
        )
        .unwrap();
    let v2 = tablet
        .record_visit(
            c.id,
            visit(
                "service",
                "2026-06-16T15:00:00+08:00",
                "2026-06-16T15:30:00+08:00",
            ),
        )
        .unwrap();
    // Both were "visit no. 1" on their own device.
    assert_eq!((v1.number, v2.number), (1, 1));
    sync_pair(&mut phone, &mut tablet);
    for s in [&phone, &tablet] {
        let vs = s.visits_of(c.id).unwrap();
        assert_eq!(vs.len(), 2);
        assert_eq!(vs[0].id, v1.id);
        assert_eq!((vs[0].number, vs[1].number), (1, 2));
        let day = NaiveDate::from_ymd_opt(2026, 6, 16).unwrap();
        assert_eq!(s.visits_on(day).unwrap().len(), 2);
    }
}

#[test]
fn same_field_edited_concurrently_manager_wins_governed_fields_and_losers_stay_visible() {
    for merge_first in [true, false] {
        let dir = TempDir::new().unwrap();
        let mut agent = home(&dir, "agent-1", Role::Agent);
        let mut boss = home(&dir, "boss", Role::Supervisor);
        let c = agent
            .add_customer(NewCustomer {
                name: "Zhao".into(),
                grade: Some("D".into()),
                notes: Some("first".into()),
                ..Default::default()
            })
            .unwrap();
        sync_pair(&mut agent, &mut boss);
        let patch = |grade: &str, notes: &str| CustomerPatch {
            grade: Some(Some(grade.into())),
            notes: Some(Some(notes.into())),
            ..Default::default()
        };
        agent
            .edit_customer(c.id, patch("A", "agent's note"))
            .unwrap();
        boss.edit_customer(c.id, patch("C", "boss's note")).unwrap();
        if merge_first {
            sync_pair(&mut agent, &mut boss);
        } else {
            sync_pair(&mut boss, &mut agent);
        }
        let a = agent.customer(c.id).unwrap();
        let b = boss.customer(c.id).unwrap();
        assert_eq!(a, b, "replicas converge");
        assert_eq!(a.grade.as_deref(), Some("C"), "the supervisor's grade wins");
        let conflicts = agent.conflicts(&DocId::Customer(c.id)).unwrap();
        assert_eq!(conflicts, boss.conflicts(&DocId::Customer(c.id)).unwrap());
        let grade = conflicts.iter().find(|c| c.field == "grade").unwrap();
        assert_eq!(grade.losers, vec![serde_json::json!("A")]);
        // Notes follow Automerge's rule; whichever won, the other is kept as a loser.
        let notes = conflicts.iter().find(|c| c.field == "notes").unwrap();
        let mut all = vec![notes.winner.clone()];
        all.extend(notes.losers.clone());
        all.sort_by_key(|v| v.to_string());
        assert_eq!(
            all,
            vec![
                serde_json::json!("agent's note"),
                serde_json::json!("boss's note")
            ]
        );
        assert_eq!(
            a.notes.as_ref().map(|s| serde_json::json!(s)),
            Some(notes.winner.clone())
        );

        // A later edit (after seeing the merge) settles the conflict.
        agent.edit_customer(c.id, patch("B", "settled")).unwrap();
        sync_pair(&mut agent, &mut boss);
        assert_eq!(boss.customer(c.id).unwrap().grade.as_deref(), Some("B"));
        assert!(boss.conflicts(&DocId::Customer(c.id)).unwrap().is_empty());
    }
}

#[test]
fn three_replicas_converge_whatever_the_order() {
    let dir = TempDir::new().unwrap();
    let mut a = home(&dir, "agent-1", Role::Agent);
    let mut b = home(&dir, "agent-2", Role::Agent);
    let mut m = home(&dir, "boss", Role::Supervisor);
    let c = a
        .add_customer(NewCustomer {
            name: "Chen".into(),
            ..Default::default()
        })
        .unwrap();
    let p = a
        .add_policy(
            c.id,
            NewPolicy {
                number: "P-1".into(),
                product: "Life".into(),
                policyholder: String::new(),
                insured: String::new(),
                premium_cents: 120_000,
                payment_method: Default::default(),
                riders: vec![],
                due_date: NaiveDate::from_ymd_opt(2026, 6, 15).unwrap(),
                status: Default::default(),
            },
        )
        .unwrap();
    sync_pair(&mut a, &mut b);
    sync_pair(&mut a, &mut m);
    a.record_visit(
        c.id,
        visit(
            "collection",
            "2026-06-16T09:00:00+08:00",
            "2026-06-16T09:20:00+08:00",
        ),
    )
    .unwrap();
    b.record_visit(
        c.id,
        visit(
            "service",
            "2026-06-16T11:00:00+08:00",
            "2026-06-16T11:20:00+08:00",
        ),
    )
    .unwrap();
    m.edit_policy(
        p.id,
        client_core::model::PolicyPatch {
            status: Some(client_core::model::PolicyStatus::Difficult),
            ..Default::default()
        },
    )
    .unwrap();
    sync_pair(&mut b, &mut m);
    sync_pair(&mut m, &mut a);
    sync_pair(&mut a, &mut b);
    let doc = DocId::Customer(c.id);
    let heads = a.heads(&doc).unwrap();
    assert_eq!(heads, b.heads(&doc).unwrap());
    assert_eq!(heads, m.heads(&doc).unwrap());
    for s in [&a, &b, &m] {
        assert_eq!(s.visits_of(c.id).unwrap().len(), 2);
        assert_eq!(
            s.policy(p.id).unwrap().status,
            client_core::model::PolicyStatus::Difficult
        );
    }
}

#[test]
fn day_documents_created_offline_on_two_devices_merge_without_losing_the_log() {
    // The same agent on two devices writes the log on one and the report on the other: both
    // create the day document offline. Genesis makes the creations identical.
    let dir = TempDir::new().unwrap();
    let mut phone = home(&dir, "agent-1", Role::Agent);
    let mut tablet = Store::create(
        dir.path().join("tablet.db"),
        Identity {
            user: "agent-1".parse().unwrap(),
            role: Role::Agent,
        },
        Options::default(),
    )
    .unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 6, 16).unwrap();
    phone.write_log(day, "Visited Chen, Zhao and Li.").unwrap();
    tablet
        .submit_report(
            day,
            "Two promises.",
            vec![("Chen's bank refuses the deduction".into(), None)],
        )
        .unwrap();
    sync_pair(&mut phone, &mut tablet);
    for s in [&phone, &tablet] {
        let d = s.day(&"agent-1".parse().unwrap(), day).unwrap().unwrap();
        assert_eq!(d.log.unwrap().text, "Visited Chen, Zhao and Li.");
        let r = d.report.unwrap();
        assert_eq!(r.problems.len(), 1);
    }
}

#[test]
fn escalated_problem_answer_reaches_the_agent() {
    let dir = TempDir::new().unwrap();
    let mut agent = home(&dir, "agent-1", Role::Agent);
    let mut boss = home(&dir, "boss", Role::Supervisor);
    let day = NaiveDate::from_ymd_opt(2026, 6, 16).unwrap();
    agent
        .submit_report(
            day,
            "Quiet day.",
            vec![("Customer wants to surrender".into(), None)],
        )
        .unwrap();
    sync_pair(&mut agent, &mut boss);
    let open = boss
        .problems(Some(client_core::model::ProblemStatus::Open))
        .unwrap();
    assert_eq!(open.len(), 1);
    let id = open[0].problem.id;
    // Agents cannot answer.
    assert!(matches!(
        agent.answer_problem(id, "ok", client_core::ProblemAction::Resolve),
        Err(client_core::Error::Forbidden(_))
    ));
    let p = boss
        .answer_problem(
            id,
            "Beyond me: department manager please",
            client_core::ProblemAction::Escalate,
        )
        .unwrap();
    assert_eq!(p.level, Role::DepartmentManager);
    sync_pair(&mut agent, &mut boss);
    let mine = agent.problems(None).unwrap();
    assert_eq!(mine[0].problem.answers.len(), 1);
    assert_eq!(mine[0].problem.level, Role::DepartmentManager);
}

#[test]
fn index_rebuilds_to_the_same_rows() {
    let dir = TempDir::new().unwrap();
    let mut s = home(&dir, "agent-1", Role::Agent);
    let c = s
        .add_customer(NewCustomer {
            name: "Sun".into(),
            ..Default::default()
        })
        .unwrap();
    s.record_visit(
        c.id,
        visit(
            "sales",
            "2026-06-16T10:00:00+08:00",
            "2026-06-16T10:30:00+08:00",
        ),
    )
    .unwrap();
    let before = (s.customers().unwrap(), s.visits_of(c.id).unwrap());
    s.rebuild_index().unwrap();
    assert_eq!(before, (s.customers().unwrap(), s.visits_of(c.id).unwrap()));
}

#[test]
fn a_corrupt_sync_message_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let mut s = home(&dir, "agent-1", Role::Agent);
    let c = s
        .add_customer(NewCustomer {
            name: "Sun".into(),
            ..Default::default()
        })
        .unwrap();
    let doc = DocId::Customer(c.id);
    let heads = s.heads(&doc).unwrap();
    let mut st = sync::State::new();
    for garbage in [
        &b""[..],
        b"\x42",
        b"\x42\xff\xff\xff\xff",
        b"not automerge at all",
    ] {
        let err = s.receive_sync_message(&doc, &mut st, garbage).unwrap_err();
        assert!(
            matches!(err, client_core::Error::CorruptDocument { .. }),
            "{err}"
        );
    }
    assert_eq!(s.heads(&doc).unwrap(), heads);
    assert_eq!(s.customer(c.id).unwrap().name, "Sun");
}

/// One batched exchange between a device and a hub: every round carries the messages of all
/// documents at once. Returns the number of round trips until both sides are quiet.
fn batched_sync(device: &mut Store, hub: &mut Store) -> usize {
    let mut ds = device.start_sync("hub");
    let mut hs = hub.start_sync("device");
    for round in 1..=10 {
        let out = device.sync_outgoing(&mut ds).unwrap();
        for m in &out {
            hub.sync_receive(&mut hs, m, &mut |_| Ok(())).unwrap();
        }
        // The hub answers for the documents it heard about and pushes what the device lacks.
        let back = hub.sync_outgoing(&mut hs).unwrap();
        for m in &back {
            device.sync_receive(&mut ds, m, &mut |_| Ok(())).unwrap();
        }
        if out.is_empty() && back.is_empty() {
            return round - 1;
        }
    }
    panic!("no convergence in 10 rounds");
}

#[test]
fn batched_sessions_converge_in_a_few_round_trips_after_a_day_offline() {
    let dir = TempDir::new().unwrap();
    let mut phone = home(&dir, "agent-1", Role::Agent);
    let mut hub = home(&dir, "hub", Role::DistrictManager);
    let mut customers = vec![];
    for i in 0..60 {
        customers.push(
            phone
                .add_customer(NewCustomer {
                    name: format!("Customer {i}"),
                    ..Default::default()
                })
                .unwrap()
                .id,
        );
    }
    batched_sync(&mut phone, &mut hub);
    assert_eq!(hub.customers().unwrap().len(), 60);
    assert!(phone.out_of_sync("hub").unwrap().is_empty());
    // A day offline: 8 visits to 8 customers, while the hub regrades another one.
    for c in customers.iter().take(8) {
        phone
            .record_visit(
                *c,
                visit(
                    "sales",
                    "2026-06-16T10:00:00+08:00",
                    "2026-06-16T10:30:00+08:00",
                ),
            )
            .unwrap();
    }
    hub.edit_customer(
        customers[30],
        CustomerPatch {
            grade: Some(Some("A".into())),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        phone.out_of_sync("hub").unwrap().len(),
        8,
        "only touched documents are sent"
    );
    let rounds = batched_sync(&mut phone, &mut hub);
    assert!(rounds <= 3, "{rounds} round trips");
    assert_eq!(
        hub.visits_on(NaiveDate::from_ymd_opt(2026, 6, 16).unwrap())
            .unwrap()
            .len(),
        8
    );
    assert_eq!(
        phone.customer(customers[30]).unwrap().grade.as_deref(),
        Some("A")
    );
    // Nothing left to say; a dropped document disappears from the index too.
    assert_eq!(batched_sync(&mut phone, &mut hub), 0);
    phone.drop_document(&DocId::Customer(customers[0])).unwrap();
    assert!(phone.customer(customers[0]).is_err());
    assert!(phone.visits_of(customers[0]).unwrap().is_empty());
}

/// A sender that believes the peer holds a change it lacks (a Bloom filter's false positive
/// in the peer's `have`) sends only the change's dependents; the peer queues them, and a
/// server that reloads the document from storage for its next request (it keeps no queue
/// between requests) no longer has them either. The peer then names what it lacks in its
/// `need`, and the sender must send it again even though its session already sent it once;
/// otherwise both sides exchange empty messages until the run gives up (the loop
/// `tests/convergence.rs` caught under load: one document, `received=1 sent=1 changed=false`
/// round after round).
#[test]
fn a_change_the_peer_lost_after_it_was_sent_is_sent_again_in_the_same_session() {
    let dir = TempDir::new().unwrap();
    let mut phone = home(&dir, "agent-1", Role::Agent);
    let mut hub = home(&dir, "hub", Role::DistrictManager);
    let c = phone
        .add_customer(NewCustomer {
            name: "Zhao Lei".into(),
            ..Default::default()
        })
        .unwrap()
        .id;
    // Enough history that two new changes travel as two changes, not as a whole document.
    for i in 0..12 {
        let notes = Some(Some(format!("note {i}")));
        let patch = CustomerPatch {
            notes,
            ..Default::default()
        };
        phone.edit_customer(c, patch).unwrap();
    }
    batched_sync(&mut phone, &mut hub);
    let doc = DocId::Customer(c);
    let before_edits = phone.heads(&doc).unwrap();
    assert_eq!(hub.heads(&doc).unwrap(), before_edits);
    // Offline: two changes, the second after the first.
    for (notes, grade) in [("first", "B"), ("second", "A")] {
        let patch = CustomerPatch {
            notes: Some(Some(notes.into())),
            grade: Some(Some(grade.into())),
            ..Default::default()
        };
        phone.edit_customer(c, patch).unwrap();
    }
    // The server starts a session of its own for every request (`hub.start_sync` below).
    let mut ps = phone.start_sync("hub");
    let hello = phone.sync_outgoing(&mut ps).unwrap();
    assert_eq!(hello.len(), 1);
    let mut hs = hub.start_sync("device");
    hub.sync_receive(&mut hs, &hello[0], &mut |_| Ok(()))
        .unwrap();
    let answer = hub.sync_generate(&mut hs, &doc).unwrap().unwrap();
    phone
        .sync_receive(&mut ps, &answer, &mut |_| Ok(()))
        .unwrap();
    let out = phone.sync_outgoing(&mut ps).unwrap();
    let mut message = sync::Message::decode(&out[0].data).unwrap();
    // Automerge 0.12 sends both changes in one chunk (its V2 message: the changes' bytes
    // one after the other).
    let offline = phone.changes_since(&doc, &before_edits).unwrap();
    assert_eq!(offline.len(), 2);
    let (first, second) = (offline[0].raw_bytes(), offline[1].raw_bytes());
    let chunks: Vec<&[u8]> = message.changes.iter().collect();
    assert_eq!(chunks, [[first, second].concat().as_slice()]);
    // Only the second arrives; the hub queues it (its dependency is missing)...
    message.changes = vec![second.to_vec()].into();
    let partial = client_core::protocol::DocMessage {
        doc: doc.clone(),
        data: message.encode(),
    };
    let mut hs = hub.start_sync("device");
    let before = hub.heads(&doc).unwrap();
    hub.sync_receive(&mut hs, &partial, &mut |_| Ok(()))
        .unwrap();
    assert_eq!(hub.heads(&doc).unwrap(), before, "queued, not applied");
    let answer = hub.sync_generate(&mut hs, &doc).unwrap().unwrap();
    phone
        .sync_receive(&mut ps, &answer, &mut |_| Ok(()))
        .unwrap();
    // ...and loses the queue: the next request works on the document as stored.
    drop(hub);
    let mut hub = Store::open(dir.path().join("hub.db"), Options::default()).unwrap();
    let mut rounds = 0;
    loop {
        let out = phone.sync_outgoing(&mut ps).unwrap();
        if out.is_empty() {
            break;
        }
        rounds += 1;
        assert!(rounds <= 4, "still exchanging messages after 4 rounds");
        let mut hs = hub.start_sync("device");
        for m in &out {
            hub.sync_receive(&mut hs, m, &mut |_| Ok(())).unwrap();
            if let Some(answer) = hub.sync_generate(&mut hs, &m.doc).unwrap() {
                phone
                    .sync_receive(&mut ps, &answer, &mut |_| Ok(()))
                    .unwrap();
            }
        }
    }
    assert_eq!(hub.heads(&doc).unwrap(), phone.heads(&doc).unwrap());
    let on_hub = hub.customer(c).unwrap();
    assert_eq!(on_hub.notes.as_deref(), Some("second"));
    assert_eq!(on_hub.grade.as_deref(), Some("A"));
}
