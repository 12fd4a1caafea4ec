//! The sync server end to end: a real `doorstep serve` on a loopback port, `doorstep admin`
//! as a process, phones that are plain client-core homes syncing over real HTTP. Convergence,
//! data flowing down from managers, forged changes refused and logged, revoked devices,
//! bad requests answered with JSON errors, reassignment, graceful shutdown.

mod support;

use std::io::Write;

use automerge::transaction::Transactable;
use automerge::ActorId;
use chrono::Duration;
use client_core::documents::{record_obj, to_fields, write_fields};
use client_core::model::{CustomerPatch, NewVisit, Outcome, PolicyStatus, Role, Visit};
use client_core::protocol::{DocMessage, SyncResponse};
use client_core::{CustomerId, DocId, ProblemAction, VisitId};
use serde_json::{json, Value};
use support::*;
use tempfile::TempDir;

fn new_visit(phone: &Phone) -> NewVisit {
    let now = phone.store.now();
    NewVisit {
        kind: "sales".into(),
        purposes: vec!["needs_discovery".into()],
        outcome: Some(Outcome {
            code: "appointment".into(),
            amount_cents: None,
            date: None,
            detail: None,
        }),
        policies: vec![],
        start: now - Duration::minutes(90),
        end: now - Duration::minutes(60),
        location: None,
        notes: "Talked about the children's education plan.".into(),
    }
}

fn cid(s: &str) -> CustomerId {
    s.parse().unwrap()
}

#[tokio::test]
async fn health_answers_and_admin_manages_accounts() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    admin(&data, &["team", "create", "north"]);
    let (code, v) = admin_run(&data, &["team", "create", "north"]);
    assert_eq!((code, v["error"]["code"].as_str()), (2, Some("exists")));
    admin(
        &data,
        &[
            "user",
            "add",
            "--team",
            "north",
            "--user",
            "S-01",
            "--role",
            "supervisor",
            "--name",
            "Wang Jun",
        ],
    );
    let m = admin(
        &data,
        &[
            "user",
            "add",
            "--team",
            "north",
            "--user",
            "A-0001",
            "--role",
            "agent",
            "--reports-to",
            "S-01",
        ],
    );
    assert_eq!(m["reports_to"], "S-01");
    let (code, v) = admin_run(
        &data,
        &[
            "user", "add", "--team", "nowhere", "--user", "X", "--role", "agent",
        ],
    );
    assert_eq!((code, v["error"]["code"].as_str()), (2, Some("not_found")));
    let (code, _) = admin_run(
        &data,
        &[
            "user", "add", "--team", "north", "--user", "X", "--role", "boss",
        ],
    );
    assert_eq!(code, 2);

    let issued = admin(&data, &["device", "issue", "--user", "A-0001"]);
    let token = issued["token"].as_str().unwrap();
    assert!(token.len() >= 43, "{issued}");
    let list = admin(&data, &["device", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains(token),
        "a token is never shown again"
    );
    // Only the hash is stored: the token's text is nowhere in the data directory.
    for e in std::fs::read_dir(&data).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }

    let server = Server::start(&data);
    let resp = reqwest::get(format!("{}/health", server.url))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let (status, members) = get(&http(), &server.url, token, "/v1/team/members").await;
    assert_eq!(status, 200);
    assert_eq!(members.as_array().unwrap().len(), 2, "{members}");
    let log = server.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("answered") && l.contains("route=/v1/team/members")),
        "every request's line is in the log scanned: {log}"
    );
    assert!(!log.contains(token), "tokens are never logged");
}

#[tokio::test]
async fn phones_converge_with_the_server_and_managers_work_flows_down() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut agent = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    agent.gzip = true;
    let mut boss = Phone::new("S-01", Role::Supervisor, token_for(&data, "S-01"));

    // The agent's phone receives exactly its four customers, and the team's playbook.
    let rounds = agent.sync(&http, &server.url).await;
    assert!(rounds.len() <= 4, "{} rounds", rounds.len());
    assert!(rounds[0].playbook.is_some());
    let mine: Vec<String> = agent
        .store
        .customers()
        .unwrap()
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    let mut expected = customers[..4].to_vec();
    expected.sort();
    let mut got = mine.clone();
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(
        agent.store.policies_of(cid(&customers[0])).unwrap().len(),
        2
    );

    // Offline work: a visit, a new prospect, the day's log and report with a problem.
    let visit = agent
        .store
        .record_visit(cid(&customers[0]), new_visit(&agent))
        .unwrap();
    let prospect = agent
        .store
        .add_customer(client_core::model::NewCustomer {
            name: "Gao Yan".into(),
            phones: vec!["13100131009".into()],
            ..Default::default()
        })
        .unwrap();
    let today = agent.store.now().date_naive();
    agent
        .store
        .write_log(today, "Three visits on Jiefang Road.")
        .unwrap();
    agent
        .store
        .submit_report(
            today,
            "Good day",
            vec![("Li Wei hesitates".into(), Some(cid(&customers[0])))],
        )
        .unwrap();
    let rounds = agent.sync(&http, &server.url).await;
    assert!(rounds.iter().all(|r| r.rejected.is_empty()), "{rounds:?}");
    assert!(
        rounds[0].playbook.is_none(),
        "the playbook is sent only when it changed"
    );
    assert!(
        agent.store.out_of_sync("server").unwrap().is_empty(),
        "the server acknowledged every change: nothing pending on the phone"
    );

    // The server's record has them, with who wrote them.
    let (status, c) = get(
        &http,
        &server.url,
        &agent.token,
        &format!("/v1/customers/{}", customers[0]),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["visits"][0]["id"], visit.id.to_string());
    let history = c["history"].as_array().unwrap();
    let added = format!("visits/{} added", visit.id);
    let entry = history
        .iter()
        .find(|h| {
            h["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l == &json!(added))
        })
        .unwrap_or_else(|| panic!("{added} not in {history:?}"));
    assert_eq!(
        (entry["user"].as_str(), entry["role"].as_str()),
        (Some("A-0001"), Some("agent"))
    );
    assert!(entry["at"].is_string(), "{entry}");
    assert!(
        history.iter().any(|h| h["user"] == "server"),
        "the import is in the history"
    );
    let (status, _) = get(
        &http,
        &server.url,
        &agent.token,
        &format!("/v1/customers/{}", prospect.id),
    )
    .await;
    assert_eq!(status, 200, "the new prospect reached the server");
    let (status, visits) = get(
        &http,
        &server.url,
        &agent.token,
        &format!("/v1/agents/A-0001/visits?date={}", visit.start.date_naive()),
    )
    .await;
    assert_eq!((status, visits.as_array().unwrap().len()), (200, 1));

    // The supervisor's phone gets the team's customers and the agent's day; comments and
    // answers, and a new grade, flow back to the agent.
    boss.sync(&http, &server.url).await;
    assert_eq!(boss.store.customers().unwrap().len(), 9);
    boss.store
        .comment_visit(visit.id, "Bring the proposal next time.")
        .unwrap();
    let problem = boss.store.problems(None).unwrap()[0].problem.id;
    boss.store
        .answer_problem(problem, "Call her husband too.", ProblemAction::Resolve)
        .unwrap();
    boss.store
        .edit_customer(
            cid(&customers[1]),
            CustomerPatch {
                grade: Some(Some("A".into())),
                ..Default::default()
            },
        )
        .unwrap();
    let rounds = boss.sync(&http, &server.url).await;
    assert!(rounds.iter().all(|r| r.rejected.is_empty()), "{rounds:?}");
    agent.sync(&http, &server.url).await;
    let view = agent.store.customer_view(cid(&customers[0])).unwrap();
    assert_eq!(view.comments.len(), 1);
    assert_eq!(view.comments[0].text, "Bring the proposal next time.");
    let answered = &agent.store.problems(None).unwrap()[0].problem;
    assert_eq!(answered.answers.len(), 1);
    assert_eq!(
        agent
            .store
            .customer(cid(&customers[1]))
            .unwrap()
            .grade
            .as_deref(),
        Some("A")
    );

    assert!(boss.store.out_of_sync("server").unwrap().is_empty());
    assert!(agent.store.out_of_sync("server").unwrap().is_empty());
    // Every replica and the server agree: same heads for every document.
    for doc in agent.store.doc_ids().unwrap() {
        assert_eq!(
            agent.store.heads(&doc).unwrap(),
            boss.store.heads(&doc).unwrap(),
            "{doc}"
        );
    }
    let (status, c) = get(
        &http,
        &server.url,
        &boss.token,
        &format!("/v1/customers/{}", customers[1]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(c["customer"]["grade"], "A");
    let grade = c["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["changes"].to_string().contains("card.grade = \\\"A\\\""))
        .unwrap_or_else(|| panic!("{}", c["history"]));
    assert_eq!(grade["role"], "supervisor");

    // The manager's dashboard computes the day with the playbook, with each agent's last sync.
    let (status, t) = get(
        &http,
        &server.url,
        &boss.token,
        &format!("/v1/team/today?date={today}"),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    let a1 = t
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "A-0001")
        .unwrap();
    assert!(a1["last_sync"].is_string());
    assert_eq!(a1["today"]["work_log"], true, "{a1}");
    assert_eq!(a1["today"]["evening_report"], true);
    let a2 = t
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "A-0002")
        .unwrap();
    assert!(
        a2["last_sync"].is_null(),
        "not yet synced reads as such: {a2}"
    );
}

#[tokio::test]
async fn forged_actor_and_forged_visit_are_refused_and_logged_while_honest_messages_apply() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut phone = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    phone.sync(&http, &server.url).await;

    let (honest, forged_actor, forged_visit) = (
        DocId::Customer(cid(&customers[0])),
        DocId::Customer(cid(&customers[1])),
        DocId::Customer(cid(&customers[2])),
    );
    // Honest: the agent edits a card.
    let since = phone.store.heads(&honest).unwrap();
    phone
        .store
        .edit_customer(
            cid(&customers[0]),
            CustomerPatch {
                notes: Some(Some("Prefers visits after 18:00".into())),
                ..Default::default()
            },
        )
        .unwrap();
    let mut d = phone.automerge(&honest);
    let honest_msg = changes_message(&mut d, &since);

    // Forged actor: a change under an actor that is not the device's.
    let since = phone.store.heads(&forged_actor).unwrap();
    let mut d = phone.automerge(&forged_actor).with_actor(ActorId::random());
    let card = client_core::documents::obj(&d, &automerge::ROOT, "card").unwrap();
    d.put(&card, "notes", "written by someone else").unwrap();
    d.commit();
    let forged_actor_msg = changes_message(&mut d, &since);

    // Forged visit: under the device's own actor, a visit of another agent.
    let since = phone.store.heads(&forged_visit).unwrap();
    let actor = ActorId::from(hex(&phone.store.actor_hex()));
    let mut d = phone.automerge(&forged_visit).with_actor(actor);
    let v = Visit {
        id: VisitId::new(),
        customer: cid(&customers[2]),
        agent: "A-0002".parse().unwrap(),
        kind: "sales".into(),
        purposes: vec!["needs_discovery".into()],
        outcome: None,
        policies: vec![],
        start: phone.store.now() - Duration::hours(2),
        end: phone.store.now() - Duration::hours(1),
        location: None,
        notes: "never happened".into(),
        number: 0,
    };
    let o = record_obj(&mut d, "visits", &v.id.to_string(), true)
        .unwrap()
        .unwrap();
    write_fields(&mut d, &o, &to_fields(&v, &["id", "customer", "number"])).unwrap();
    d.commit();
    let forged_visit_msg = changes_message(&mut d, &since);

    let req = phone.request(vec![
        DocMessage {
            doc: forged_actor.clone(),
            data: forged_actor_msg,
        },
        DocMessage {
            doc: honest.clone(),
            data: honest_msg,
        },
        DocMessage {
            doc: forged_visit.clone(),
            data: forged_visit_msg,
        },
    ]);
    let (status, body) = post_sync(&http, &server.url, &phone.token, &req, false).await;
    assert_eq!(status, 200, "{body}");
    let resp = response(&body);
    let codes: Vec<(String, String)> = resp
        .rejected
        .iter()
        .map(|r| (r.doc.to_string(), r.code.clone()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (forged_actor.to_string(), "forged_actor".to_string()),
            (forged_visit.to_string(), "forbidden".to_string()),
        ]
    );
    assert!(
        resp.messages.iter().all(|m| m.doc == honest),
        "no reply for refused documents"
    );

    // The honest edit is in the record; the forged ones are not.
    let (_, c) = get(
        &http,
        &server.url,
        &phone.token,
        &format!("/v1/customers/{}", customers[0]),
    )
    .await;
    assert_eq!(c["customer"]["notes"], "Prefers visits after 18:00");
    let (_, c) = get(
        &http,
        &server.url,
        &phone.token,
        &format!("/v1/customers/{}", customers[1]),
    )
    .await;
    assert!(c["customer"]["notes"].is_null(), "{}", c["customer"]);
    let (_, c) = get(
        &http,
        &server.url,
        &phone.token,
        &format!("/v1/customers/{}", customers[2]),
    )
    .await;
    assert!(c["visits"].as_array().unwrap().is_empty());

    // Logged, once per distinct message: a retried request counts attempts, adds no rows.
    let (status, again) = post_sync(&http, &server.url, &phone.token, &req, false).await;
    assert_eq!(status, 200);
    assert_eq!(again["rejected"].as_array().unwrap().len(), 2);
    let log = admin(&data, &["rejections"]);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log.iter()
            .all(|r| r["attempts"] == 2 && r["user"] == "A-0001"),
        "{log:?}"
    );
    assert!(server.log_text().contains("sync message refused"));

    // The phone still converges on everything else.
    phone.sync(&http, &server.url).await;
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn a_revoked_device_is_told_to_wipe_and_bad_tokens_are_unauthorized() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    let issued = admin(&data, &["device", "issue", "--user", "A-0001"]);
    let token = issued["token"].as_str().unwrap().to_string();
    let server = Server::start(&data);
    let http = http();
    let mut phone = Phone::new("A-0001", Role::Agent, token.clone());
    phone.sync(&http, &server.url).await;

    for bad in ["", "not-a-token", &format!("{token}x")] {
        let (status, body) =
            post_sync(&http, &server.url, bad, &phone.request(vec![]), false).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{bad:?}"
        );
    }
    let resp = http
        .get(format!("{}/v1/team/members", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    admin(
        &data,
        &[
            "device",
            "revoke",
            "--device",
            issued["device"].as_str().unwrap(),
        ],
    );
    let (status, body) = post_sync(&http, &server.url, &token, &phone.request(vec![]), false).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "revoked");
    assert_eq!(body["wipe"], true);
    let (status, body) = get(&http, &server.url, &token, "/v1/team/members").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("revoked"))
    );
}

#[tokio::test]
async fn bad_requests_get_json_errors_and_the_server_keeps_serving() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    let token = token_for(&data, "A-0001");
    let server = Server::start(&data);
    let http = http();
    let mut phone = Phone::new("A-0001", Role::Agent, token.clone());
    let good = serde_json::to_string(&phone.request(vec![])).unwrap();

    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b' '; 1 << 20];
    bomb.write_all(b"{\"protocol\":1,").unwrap();
    for _ in 0..20 {
        bomb.write_all(&zeros).unwrap();
    }
    let bomb = bomb.finish().unwrap();
    let bad_b64 = good.replace("\"messages\":[]", "\"messages\":[{\"doc\":\"customer:7f0c1a43-52a0-4d33-9a8e-0a0b1c2d3e4f\",\"data\":\"!!!\"}]");
    let bad_doc = good.replace(
        "\"messages\":[]",
        "\"messages\":[{\"doc\":\"visit:1\",\"data\":\"QgA=\"}]",
    );
    // The day's document id, spelled with a one-digit month: another genesis actor than
    // `day:A-0001:2026-06-15`'s, so it is refused rather than read as that document.
    let short_day = good.replace(
        "\"messages\":[]",
        "\"messages\":[{\"doc\":\"day:A-0001:2026-6-15\",\"data\":\"QgAAAAA=\"}]",
    );
    let bad_msg = good.replace("\"messages\":[]", "\"messages\":[{\"doc\":\"customer:7f0c1a43-52a0-4d33-9a8e-0a0b1c2d3e4f\",\"data\":\"AAAA\"}]");
    let v2 = good.replace("\"protocol\":1", "\"protocol\":2");
    let not_hex = good.replace(&phone.store.actor_hex(), "zz");
    let oversized = vec![b' '; 17 << 20];
    // 200,000 nested arrays (400 KB): a parser without a depth limit overflows its stack.
    let deep = good.replace(
        "\"messages\":[]",
        &format!(
            "\"messages\":{}{}",
            "[".repeat(200_000),
            "]".repeat(200_000)
        ),
    );
    type Case<'a> = (&'a str, Vec<u8>, &'a str, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "bad json",
            b"{".to_vec(),
            "application/json",
            None,
            400,
            "malformed",
        ),
        (
            "bad base64",
            bad_b64.into(),
            "application/json",
            None,
            400,
            "malformed",
        ),
        (
            "bad doc id",
            bad_doc.into(),
            "application/json",
            None,
            400,
            "malformed",
        ),
        (
            "day id not YYYY-MM-DD",
            short_day.into(),
            "application/json",
            None,
            400,
            "malformed",
        ),
        (
            "bad actor",
            not_hex.into(),
            "application/json",
            None,
            400,
            "malformed",
        ),
        (
            "deeply nested",
            deep.into(),
            "application/json",
            None,
            400,
            "malformed",
        ),
        (
            "protocol 2",
            v2.into(),
            "application/json",
            None,
            400,
            "unsupported_protocol",
        ),
        (
            "text/plain",
            good.clone().into(),
            "text/plain",
            None,
            415,
            "unsupported_media_type",
        ),
        (
            "brotli",
            good.clone().into(),
            "application/json",
            Some("br"),
            415,
            "unsupported_media_type",
        ),
        (
            "oversized",
            oversized,
            "application/json",
            None,
            413,
            "too_large",
        ),
        (
            "gzip bomb",
            bomb,
            "application/json",
            Some("gzip"),
            413,
            "too_large",
        ),
        (
            "bad gzip",
            b"not gzip".to_vec(),
            "application/json",
            Some("gzip"),
            400,
            "malformed",
        ),
    ];
    for (name, body, ctype, encoding, status, code) in cases {
        let mut b = http
            .post(format!("{}/v1/sync", server.url))
            .bearer_auth(&token)
            .header("content-type", ctype)
            .body(body);
        if let Some(e) = encoding {
            b = b.header("content-encoding", e);
        }
        let resp = b.send().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(resp.status().as_u16(), status, "{name}");
        let v: Value = resp.json().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v["error"]["code"], code, "{name}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
    // A message that is not an Automerge sync message is refused alone, as corrupt.
    let (status, v) = {
        let resp = http
            .post(format!("{}/v1/sync", server.url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(bad_msg)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rejected"][0]["code"], "corrupt");

    // Still serving: health, a gzip sync with a gzip answer, and the device's actor is bound.
    assert_eq!(
        reqwest::get(format!("{}/health", server.url))
            .await
            .unwrap()
            .status(),
        200
    );
    phone.gzip = true;
    phone.sync(&http, &server.url).await;
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let resp = raw
        .post(format!("{}/v1/sync", server.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("accept-encoding", "gzip")
        .body(good.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let other = Phone::new("A-0001", Role::Agent, token.clone());
    let (status, v) = post_sync(&http, &server.url, &token, &other.request(vec![]), false).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("actor_mismatch"))
    );
}

#[tokio::test]
async fn a_reassigned_customer_leaves_the_old_device_and_reaches_the_new_one() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut old = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    let mut new = Phone::new("A-0002", Role::Agent, token_for(&data, "A-0002"));
    old.sync(&http, &server.url).await;
    new.sync(&http, &server.url).await;
    let moved = cid(&customers[0]);
    assert!(old.store.customer(moved).is_ok());
    assert!(new.store.customer(moved).is_err());

    // While the server runs: the agent left, their customer becomes A-0002's orphan.
    let c = admin(
        &data,
        &[
            "assign",
            "--customer",
            &customers[0],
            "--agent",
            "A-0002",
            "--orphan",
        ],
    );
    assert_eq!(c["agent"], "A-0002");

    let rounds = old.sync(&http, &server.url).await;
    let removed: Vec<DocId> = rounds.iter().flat_map(|r| r.removed.clone()).collect();
    assert_eq!(removed, vec![DocId::Customer(moved)]);
    assert!(
        old.store.customer(moved).is_err(),
        "the old device dropped it"
    );
    assert_eq!(old.store.customers().unwrap().len(), 3);
    new.sync(&http, &server.url).await;
    assert_eq!(
        new.store.customer(moved).unwrap().agent.unwrap().as_str(),
        "A-0002"
    );
    assert!(new
        .store
        .policies_of(moved)
        .unwrap()
        .iter()
        .all(|p| p.status == PolicyStatus::Orphan));
    let (status, _) = get(
        &http,
        &server.url,
        &old.token,
        &format!("/v1/customers/{moved}"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(
        &http,
        &server.url,
        &new.token,
        &format!("/v1/customers/{moved}"),
    )
    .await;
    assert_eq!(status, 200);
    // A second sync of the old device has nothing more to remove.
    let rounds = old.sync(&http, &server.url).await;
    assert!(
        rounds
            .iter()
            .all(|r| r.removed.is_empty() && r.rejected.is_empty()),
        "{rounds:?}"
    );
}

#[tokio::test]
async fn sigterm_stops_the_server_gracefully() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir.path().join("data"));
    assert_eq!(
        reqwest::get(format!("{}/health", server.url))
            .await
            .unwrap()
            .status(),
        200
    );
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let resp = reqwest::get(format!("{}/v2/sync", server.url))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    let _ = SyncResponse::default();
}

/// `?date=`, `?from=` and `?to=` are exactly `YYYY-MM-DD` (docs/api.md): `2026-6-1` or
/// `+2026-06-01` is `400 invalid`, not read as another spelling of a day.
#[tokio::test]
async fn query_dates_are_exactly_yyyy_mm_dd() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    let token = token_for(&data, "S-01");
    let server = Server::start(&data);
    let http = http();
    for path in [
        "/v1/team/today?date=2026-06-15",
        "/v1/views/week?date=2026-06-01",
        "/v1/exports/visits.csv?from=2026-06-01&to=2026-06-30",
    ] {
        let resp = http
            .get(format!("{}{path}", server.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    for path in [
        "/v1/team/today?date=2026-6-15",
        "/v1/team/today?date=%2B2026-06-15",
        "/v1/views/week?date=2026-6-1",
        "/v1/agents/A-0001/visits?date=2026-06-1",
        "/v1/exports/visits.csv?from=2026-6-01",
        "/v1/exports/contacts.csv?to=2026-06-1",
        "/v1/team/today?date=1899-12-31",
    ] {
        let (status, v) = get(&http, &server.url, &token, path).await;
        assert_eq!(status, 400, "{path}: {v}");
        assert_eq!(v["error"]["code"], "invalid", "{path}: {v}");
    }
}

#[tokio::test]
async fn a_big_first_sync_is_capped_per_response_and_finishes_with_more() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    admin(&data, &["team", "create", "big"]);
    admin(
        &data,
        &[
            "user", "add", "--team", "big", "--user", "A-0009", "--role", "agent",
        ],
    );
    let mut csv = String::from("customer_name,phone,policy_number,premium,due_date,agent\n");
    for i in 0..420 {
        csv.push_str(&format!(
            "Customer {i},1390000{i:04},P-{i},100.00,2026-07-01,A-0009\n"
        ));
    }
    let file = dir.path().join("big.csv");
    std::fs::write(&file, csv).unwrap();
    admin(
        &data,
        &["import", "--team", "big", "--csv", file.to_str().unwrap()],
    );
    // The count cap is under test, not the time budget: on a loaded machine the 3 s budget
    // answers part of a round `retry_later` and adds a round (seen: 6 rounds at load 7 on 2
    // cores), so it is set out of reach here.
    let server = Server::start_with(&data, &["--sync-budget-ms", "600000"]);
    let mut phone = Phone::new("A-0009", Role::Agent, token_for(&data, "A-0009"));
    let rounds = phone.sync(&http(), &server.url).await;
    assert!(rounds[0].more, "the first response is capped");
    assert_eq!(rounds[0].messages.len(), 400);
    assert!(rounds.len() <= 5, "{} rounds", rounds.len());
    assert_eq!(phone.store.customers().unwrap().len(), 420);
    // Converged: the next run is one empty round trip.
    assert_eq!(phone.sync(&http(), &server.url).await.len(), 1);
}

/// Enrolment (issue 13): the admin prints a `doorstep://enrol` link instead of a 43-character
/// token to type; the phone joins with it and syncs. After a reinstall over the old home, a
/// new link re-binds it and the work recorded in between (not yet synced) goes up.
#[tokio::test]
async fn a_phone_enrols_with_a_link_and_re_enrols_without_losing_unsynced_work() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    let server = Server::start(&data);
    let ok = |args: &[&str]| {
        let (code, v) = agent_run(&dir.path().join("phone"), args);
        assert_eq!(code, 0, "{args:?}: {v}");
        v
    };
    let issued = admin(
        &data,
        &[
            "device",
            "issue",
            "--user",
            "A-0001",
            "--link",
            "--server",
            &server.url,
        ],
    );
    let link = issued["link"].as_str().unwrap().to_string();
    assert!(link.starts_with("doorstep://enrol?server="), "{issued}");
    ok(&["init", "--user", "A-0001"]);
    assert_eq!(ok(&["enrol", &link])["server"], server.url.as_str());
    ok(&["sync"]);
    assert_eq!(ok(&["status"])["pending_documents"], 0);

    // Offline work, then the app is reinstalled over its old home: the admin revokes the old
    // install and issues a new link.
    ok(&["log", "Visited three customers; Li promised to pay Friday."]);
    let pending = ok(&["status"])["pending_documents"].as_u64().unwrap();
    assert!(pending > 0);
    admin(
        &data,
        &[
            "device",
            "revoke",
            "--device",
            issued["device"].as_str().unwrap(),
        ],
    );
    let again = admin(
        &data,
        &[
            "device",
            "issue",
            "--user",
            "A-0001",
            "--link",
            "--server",
            &server.url,
        ],
    );
    ok(&["enrol", again["link"].as_str().unwrap()]);
    assert_eq!(ok(&["status"])["pending_documents"], pending);
    ok(&["sync"]);
    assert_eq!(ok(&["status"])["pending_documents"], 0);

    // A live device's actor is not for the taking: a third link, the second device not
    // revoked, is refused (and the phone's work is still there).
    let third = admin(
        &data,
        &[
            "device",
            "issue",
            "--user",
            "A-0001",
            "--link",
            "--server",
            &server.url,
        ],
    );
    ok(&["log", "One more line."]);
    ok(&["enrol", third["link"].as_str().unwrap()]);
    let (code, v) = agent_run(&dir.path().join("phone"), &["sync"]);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (1, Some("refused")),
        "{v}"
    );
    assert!(ok(&["status"])["pending_documents"].as_u64().unwrap() > 0);

    // A link that is not one is a one-line error naming the link, not the token.
    let (code, v) = agent_run(&dir.path().join("phone"), &["enrol", "https://example.com"]);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (2, Some("invalid")),
        "{v}"
    );
    // --link needs the server's address.
    let (code, _) = admin_run(&data, &["device", "issue", "--user", "A-0001", "--link"]);
    assert_eq!(code, 2);
}
