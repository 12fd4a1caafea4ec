//! What an operator relies on, against a real `doorstep serve`: `/ready` follows the
//! database, `/metrics` counts real syncs and refusals under route templates, every request
//! has an id that its log lines carry (text and JSON logs), and SIGTERM lets a sync in flight
//! finish and commit while new connections are refused.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::ActorId;
use client_core::model::{NewVisit, Outcome, Role};
use client_core::protocol::DocMessage;
use client_core::{CustomerId, DocId};
use serde_json::{json, Value};
use support::*;
use tempfile::TempDir;

fn cid(s: &str) -> CustomerId {
    s.parse().unwrap()
}

fn new_visit(phone: &Phone, notes: &str) -> NewVisit {
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
        start: now - chrono::Duration::minutes(90),
        end: now - chrono::Duration::minutes(60),
        location: None,
        notes: notes.into(),
    }
}

async fn status_and_json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The value of the metric line `series` (name and labels exactly as exposed).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn ready_follows_the_database_and_health_does_not() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let http = http();
    let (status, body) = status_and_json(
        http.get(format!("{}/ready", server.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body), (200, json!({"status": "ready"})));

    // The server's own tables go away under it (a restore of the wrong file, a botched
    // migration by hand): the database no longer answers the server's query.
    let db = rusqlite::Connection::open(data.join("server.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute_batch("ALTER TABLE change_log RENAME TO change_log_away")
        .unwrap();
    let (status, body) = status_and_json(
        http.get(format!("{}/ready", server.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    assert!(
        !body.to_string().contains("change_log"),
        "the cause is logged, not told: {body}"
    );
    let (status, _) = status_and_json(
        http.get(format!("{}/health", server.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "alive, though not ready");
    assert!(server.log_text().contains("not ready"));

    db.execute_batch("ALTER TABLE change_log_away RENAME TO change_log")
        .unwrap();
    let (status, _) = status_and_json(
        http.get(format!("{}/ready", server.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "ready again once the table is back");
}

#[tokio::test]
async fn metrics_count_syncs_and_refusals_under_route_templates() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut phone = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    let rounds = phone.sync(&http, &server.url).await;

    // A refused message: a change under an actor that is not the device's.
    let doc = DocId::Customer(cid(&customers[1]));
    let since = phone.store.heads(&doc).unwrap();
    let mut d = phone.automerge(&doc).with_actor(ActorId::random());
    let card = client_core::documents::obj(&d, &automerge::ROOT, "card").unwrap();
    d.put(&card, "notes", "written by someone else").unwrap();
    d.commit();
    let req = phone.request(vec![DocMessage {
        doc: doc.clone(),
        data: changes_message(&mut d, &since),
    }]);
    let (status, body) = post_sync(&http, &server.url, &phone.token, &req, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(response(&body).rejected[0].code, "forged_actor");

    // A read by id, an unknown token, a wrong password, a path nobody serves.
    let path = format!("/v1/customers/{}", customers[0]);
    assert_eq!(get(&http, &server.url, &phone.token, &path).await.0, 200);
    assert_eq!(get(&http, &server.url, "not-a-token", &path).await.0, 401);
    let login = http
        .post(format!("{}/v1/session", server.url))
        .json(&json!({"user": "S-01", "password": "guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 401);
    let hostile = format!("/v1/customers/{}/../x{}", customers[0], "y".repeat(40));
    assert_eq!(get(&http, &server.url, &phone.token, &hostile).await.0, 404);

    let resp = http
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = resp.text().await.unwrap();
    let syncs = (rounds.len() + 1) as f64;
    assert_eq!(
        metric(&text, "doorstep_sync_rounds_total"),
        Some(syncs),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            r#"doorstep_http_requests_total{method="POST",route="/v1/sync",status="200"}"#
        ),
        Some(syncs),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            r#"doorstep_sync_refusals_total{code="forged_actor"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "doorstep_sync_documents_received_count"),
        Some(syncs),
        "{text}"
    );
    assert!(
        metric(&text, "doorstep_sync_documents_sent_sum").unwrap() >= 4.0,
        "the agent's four customers went down at least: {text}"
    );
    assert_eq!(
        metric(
            &text,
            r#"doorstep_http_requests_total{method="GET",route="/v1/customers/{id}",status="200"}"#
        ),
        Some(1.0),
        "the route is the template: {text}"
    );
    assert_eq!(
        metric(&text, r#"doorstep_http_errors_total{code="unauthorized"}"#),
        Some(2.0),
        "the unknown token and the wrong password: {text}"
    );
    assert_eq!(
        metric(
            &text,
            r#"doorstep_login_refusals_total{code="unauthorized"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"doorstep_http_request_duration_seconds_count{method="POST",route="/v1/sync"}"#
        ) == Some(syncs),
        "{text}"
    );
    assert!(
        metric(&text, "doorstep_open_connections").unwrap() >= 1.0,
        "this client's connection: {text}"
    );
    // The synced documents are in the store's cache, and the gauge reads its estimate.
    assert!(
        metric(&text, "doorstep_document_cache_bytes").is_some_and(|b| b > 0.0),
        "{text}"
    );
    // The syncs' writes waited for fsyncs of the WAL, their own or another's (a write still
    // waiting is counted in `writes` only).
    let writes = metric(&text, "doorstep_store_writes_total").unwrap();
    let fsyncs = metric(&text, "doorstep_store_wal_fsyncs_total").unwrap();
    let covered = metric(&text, "doorstep_store_writes_covered_total").unwrap();
    assert!(writes >= 1.0 && fsyncs >= 1.0, "{text}");
    assert!(fsyncs + covered <= writes, "{text}");
    // No raw path, id or token became a label.
    for raw in [&customers[0][..], "yyyy", &phone.token[..], "not-a-token"] {
        assert!(!text.contains(raw), "{raw} leaked into {text}");
    }
}

#[tokio::test]
async fn a_metrics_token_closes_the_metrics_to_others() {
    let dir = TempDir::new().unwrap();
    let server = Server::start_with(&dir.path().join("data"), &["--metrics-token", "sesame-7"]);
    let http = http();
    let (status, body) = status_and_json(
        http.get(format!("{}/metrics", server.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let resp = http
        .get(format!("{}/metrics", server.url))
        .bearer_auth("sesame-7")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("doorstep_http_requests_total"));
}

#[tokio::test]
async fn every_request_has_an_id_that_its_log_lines_carry() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let token = token_for(&data, "A-0001");
    let mut phone = Phone::new("A-0001", Role::Agent, token.clone());
    phone.sync(&http, &server.url).await;

    // A plain id from the client is kept and echoed; the sync's own log line carries it.
    let req = phone.request(vec![]);
    let resp = http
        .post(format!("{}/v1/sync", server.url))
        .bearer_auth(&token)
        .header("x-request-id", "phone-42.round_1")
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "phone-42.round_1");
    // A hostile one is replaced by a fresh id.
    for hostile in ["a b\tc", &"x".repeat(65), "id;rm"] {
        let resp = http
            .get(format!("{}/health", server.url))
            .header("x-request-id", hostile)
            .send()
            .await
            .unwrap();
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_ne!(id, hostile);
        assert_eq!(id.len(), 32, "{id}");
    }
    // Two requests without one get two ids.
    let ids: Vec<String> = futures_ids(&http, &server.url).await;
    assert_ne!(ids[0], ids[1]);

    let log = server.log_text();
    let sync_line = log
        .lines()
        .find(|l| l.contains("phone-42.round_1") && l.contains(" sync "))
        .unwrap_or_else(|| panic!("the sync's line carries the id: {log}"));
    assert!(sync_line.contains("route=/v1/sync"), "{sync_line}");
    assert!(
        log.lines().any(|l| l.contains("phone-42.round_1")
            && l.contains("answered")
            && l.contains("status=200")),
        "{log}"
    );
    assert!(!log.contains(&token), "tokens are never logged");
    assert!(!log.contains("id;rm"), "a refused id is not logged");
}

async fn futures_ids(http: &reqwest::Client, url: &str) -> Vec<String> {
    let mut ids = vec![];
    for _ in 0..2 {
        let resp = http.get(format!("{url}/health")).send().await.unwrap();
        ids.push(resp.headers()["x-request-id"].to_str().unwrap().to_string());
    }
    ids
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_with_the_request_span() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    let token = token_for(&data, "A-0001");
    let server = Server::start_with(&data, &["--log-format", "json"]);
    let http = http();
    let (status, _) = get(&http, &server.url, &token, "/v1/team/members").await;
    assert_eq!(status, 200);
    let resp = http
        .get(format!("{}/health", server.url))
        .header("x-request-id", "probe-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let log = server.log_text();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let answered = lines
        .iter()
        .find(|l| l["span"]["id"] == "probe-1")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(answered["span"]["route"], "/health");
    assert_eq!(answered["fields"]["message"], "answered");
    assert_eq!(answered["fields"]["status"], 200);
    assert!(lines
        .iter()
        .any(|l| l["span"]["route"] == "/v1/team/members" && l["fields"]["status"] == 200));
    assert!(!log.contains(&token), "tokens are never logged");
}

/// Reads an HTTP/1.1 answer until the server closes: (status, body).
fn read_answer(stream: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn sigterm_lets_an_upload_in_flight_finish_and_commit_and_refuses_newcomers() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let addr = server.addr();
    let http = http();
    let mut phone = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    phone.sync(&http, &server.url).await;

    // A visit recorded offline, sent as one large request (padded with JSON whitespace to
    // 4 MiB) whose body arrives in two halves with SIGTERM between them.
    let doc = DocId::Customer(cid(&customers[0]));
    let since = phone.store.heads(&doc).unwrap();
    let visit = phone
        .store
        .record_visit(
            cid(&customers[0]),
            new_visit(&phone, "signed after the stop"),
        )
        .unwrap();
    let mut d = phone.automerge(&doc);
    let message = DocMessage {
        doc,
        data: changes_message(&mut d, &since),
    };
    let mut body = serde_json::to_vec(&phone.request(vec![message])).unwrap();
    body.resize(4 << 20, b' ');
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        phone.token,
        body.len()
    );
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let half = body.len() / 2;
    stream.write_all(&body[..half]).unwrap();
    stream.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopped = std::thread::spawn(move || server.terminate());
    // The signal is handled within milliseconds: the listener is closed, newcomers refused.
    let mut refused = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match TcpStream::connect(&addr) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => {}
        }
    }
    assert!(refused, "new connections are refused once SIGTERM arrived");

    stream.write_all(&body[half..]).unwrap();
    stream.flush().unwrap();
    let (status, answer) = read_answer(&mut stream);
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert!(
        answer.get("rejected").is_none() || answer["rejected"] == json!([]),
        "{answer}"
    );
    let exit = stopped.join().unwrap();
    assert!(
        exit.success(),
        "exit 0 after the request finished: {exit:?}"
    );
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    let signal = log.find("signal received").expect("the signal is logged");
    let answered = log
        .rfind("route=/v1/sync}: doorstep::access: answered status=200")
        .unwrap_or_else(|| panic!("{log}"));
    assert!(signal < answered, "answered after the signal: {log}");

    // A restarted server has the visit.
    let server = Server::start(&data);
    customer_with_visit(&http, &server.url, &phone.token, &customers[0], visit.id).await;
}

#[tokio::test]
async fn the_shutdown_grace_bounds_how_long_a_stuck_request_holds_the_exit() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    let token = token_for(&data, "A-0001");
    let server = Server::start_with(&data, &["--shutdown-grace", "1"]);
    // A body that never finishes arriving (the body timeout is 120 s).
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let exit = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(exit.success(), "{exit:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "stopped after {took:?}"
    );
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_every_acknowledged_sync() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut phone = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    phone.sync(&http, &server.url).await;
    let visit = phone
        .store
        .record_visit(cid(&customers[1]), new_visit(&phone, "before the backup"))
        .unwrap();
    phone.sync(&http, &server.url).await;

    // deploy/backup.sh while the server runs (and a phone keeps syncing).
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/backup.sh");
    let backups = dir.path().join("backups");
    let backup = {
        let (data, backups) = (data.clone(), backups.clone());
        std::thread::spawn(move || {
            std::process::Command::new("bash")
                .arg(&script)
                .arg(&data)
                .arg(&backups)
                .output()
                .unwrap()
        })
    };
    phone.sync(&http, &server.url).await;
    let out = backup.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let taken = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(taken.join("server.db").is_file());
    assert!(server.terminate().success());

    // Restore into a fresh directory, as docs/deploy.md says: the backup's files, nothing else.
    let restored = dir.path().join("restored");
    std::fs::create_dir_all(restored.join("desks")).unwrap();
    std::fs::copy(taken.join("server.db"), restored.join("server.db")).unwrap();
    let server = Server::start(&restored);
    // The device's token is in the backup too (the read is authorised).
    customer_with_visit(&http, &server.url, &phone.token, &customers[1], visit.id).await;
    // The phone carries on against the restored server.
    let rounds = phone.sync(&http, &server.url).await;
    assert!(rounds.iter().all(|r| r.rejected.is_empty()), "{rounds:?}");
}

/// Failed logins from `client` with a made-up `X-Forwarded-For` each: the attempt at which the
/// throttle answered 429, if it did within 30.
async fn guesses_until_locked(client: &reqwest::Client, url: &str) -> Option<usize> {
    for i in 0..30 {
        let resp = client
            .post(format!("{url}/v1/session"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"user": format!("nobody-{i}"), "password": "guess"}))
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            401 => continue,
            429 => return Some(i),
            s => panic!("{s}"),
        }
    }
    None
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_the_trusted_proxy() {
    let dir = TempDir::new().unwrap();
    let server = Server::start_with(&dir.path().join("data"), &["--trusted-proxy", "127.0.0.9"]);
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    // The proxy's connections: each forwarded address is a client of its own, none locked.
    assert_eq!(
        guesses_until_locked(&from("127.0.0.9"), &server.url).await,
        None
    );
    // A client reaching the server directly: its headers are ignored, its own address locked.
    assert_eq!(
        guesses_until_locked(&from("127.0.0.1"), &server.url).await,
        Some(20)
    );
}

/// Reads a customer through the API as the phone's member and asserts the answer is 200 and
/// lists `visit` among the customer's visits.
async fn customer_with_visit(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    customer: &str,
    visit: client_core::VisitId,
) {
    let (status, c) = get(http, url, token, &format!("/v1/customers/{customer}")).await;
    assert_eq!(status, 200, "{c}");
    assert!(
        c["visits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["id"] == visit.to_string()),
        "{c}"
    );
}
