//! The HTTP edge under abuse, against a real `doorstep serve` process on loopback: slow and
//! silent connections, the connection cap, idle keep-alives, dripping bodies, password
//! guessing (backoff, timing, memory), and the one JSON error body for every rejection.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{admin, north_team, token_for, Server};
use tempfile::TempDir;

const PASSWORD: &str = "correct horse battery";

/// Whether the server closed `s` within `within` (EOF or a reset), reading and discarding
/// whatever it sent first.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Reads one response's head and `Content-Length` body from `s`; returns (status, body).
fn read_response(s: &mut TcpStream, within: Duration) -> Option<(u16, String)> {
    s.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let status = head.split_whitespace().nth(1)?.parse().ok()?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while got.len() < end + 4 + len {
                let n = s.read(&mut buf).ok()?;
                if n == 0 {
                    return None;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let body = String::from_utf8_lossy(&got[end + 4..end + 4 + len]).to_string();
            return Some((status, body));
        }
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
}

fn health_request() -> &'static [u8] {
    b"GET /health HTTP/1.1\r\nHost: doorstep\r\n\r\n"
}

/// A team whose supervisor S-01 has a password.
fn team_with_password(dir: &TempDir) -> std::path::PathBuf {
    let data = dir.path().join("data");
    north_team(&data);
    admin(
        &data,
        &["user", "password", "--user", "S-01", "--password", PASSWORD],
    );
    data
}

async fn login(http: &reqwest::Client, url: &str, user: &str, password: &str) -> reqwest::Response {
    http.post(format!("{url}/v1/session"))
        .json(&json!({ "user": user, "password": password }))
        .send()
        .await
        .unwrap()
}

/// Slowloris: connections that send their headers a byte at a time, slower than the header
/// timeout, are closed once it passes; `/health` answers at once while they are open.
#[test]
fn headers_sent_byte_by_byte_are_cut_off_and_health_keeps_answering() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, &["--header-timeout", "2"]);
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..60)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr()).unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    // Drip one header byte per connection every 200 ms, past the timeout, and ask /health
    // meanwhile (well before the slow ones time out: it is not waiting for them).
    let mut answered = 0;
    for round in 0..14 {
        for s in &mut slow {
            let _ = s.write_all(b"X");
        }
        if round == 1 {
            let t = Instant::now();
            let mut h = TcpStream::connect(server.addr()).unwrap();
            h.write_all(health_request()).unwrap();
            let (status, _) = read_response(&mut h, Duration::from_secs(5)).expect("health");
            assert_eq!(status, 200);
            assert!(
                t.elapsed() < Duration::from_millis(1200),
                "{:?}",
                t.elapsed()
            );
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(answered, 1);
    for (i, s) in slow.iter_mut().enumerate() {
        assert!(
            closed_within(s, Duration::from_secs(2)),
            "slow connection {i} still open {:?} after it started",
            started.elapsed()
        );
    }
}

/// Past the connection cap a newcomer is not refused: it waits until a connection ends (here
/// the silent ones, at the header timeout), then is answered.
#[test]
fn past_the_connection_cap_a_newcomer_waits_for_a_free_place() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, &["--max-connections", "4", "--header-timeout", "2"]);
    // Make sure the server is up and idle before filling it.
    let mut first = TcpStream::connect(server.addr()).unwrap();
    first.write_all(health_request()).unwrap();
    assert_eq!(
        read_response(&mut first, Duration::from_secs(5)).unwrap().0,
        200
    );
    drop(first);
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    let silent: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(server.addr()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut newcomer = TcpStream::connect(server.addr()).unwrap();
    newcomer.write_all(health_request()).unwrap();
    let (status, _) = read_response(&mut newcomer, Duration::from_secs(6)).expect("answered");
    assert_eq!(status, 200);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(1800),
        "answered after {waited:?}: the cap of 4 did not hold"
    );
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    drop(silent);
}

/// At a 256 file descriptor limit, 300 silent connections used to leave the server no
/// descriptor to accept `/health` with (for a minute). The cap now fits under the limit: the
/// silent ones wait their header timeout out and `/health` is answered soon after.
#[test]
fn silent_connections_past_the_fd_limit_only_delay_health() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_fd_limit(&data, 256, &["--header-timeout", "2"]);
    let t0 = Instant::now();
    let silent: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(server.addr()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut health = TcpStream::connect(server.addr()).unwrap();
    health.write_all(health_request()).unwrap();
    let answer = read_response(&mut health, Duration::from_secs(10));
    assert_eq!(
        answer.as_ref().map(|a| a.0),
        Some(200),
        "after {:?}",
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert!(
        server
            .log_text()
            .contains("the file descriptor limit lowers the connection cap"),
        "{}",
        server.log_text()
    );
    drop(silent);
}

/// A kept-alive connection with nothing to do is closed after the idle timeout.
#[test]
fn an_idle_keep_alive_is_closed_after_the_idle_timeout() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, &["--idle-timeout", "1", "--header-timeout", "30"]);
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(health_request()).unwrap();
    assert_eq!(
        read_response(&mut s, Duration::from_secs(5)).unwrap().0,
        200
    );
    let t = Instant::now();
    // Still open a moment later: keep-alive works.
    s.write_all(health_request()).unwrap();
    assert_eq!(
        read_response(&mut s, Duration::from_secs(5)).unwrap().0,
        200
    );
    assert!(closed_within(&mut s, Duration::from_secs(4)), "still open");
    let after = t.elapsed();
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}"
    );
}

/// A request body that drips in slower than the body timeout gets a JSON error and the
/// connection ends.
#[test]
fn a_dripping_body_is_cut_off_at_the_body_timeout() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, &["--body-timeout", "1"]);
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(
        b"POST /v1/session HTTP/1.1\r\nHost: doorstep\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"user\":",
    )
    .unwrap();
    let t = Instant::now();
    let mut dripper = s.try_clone().unwrap();
    let drip = std::thread::spawn(move || {
        for _ in 0..20 {
            if dripper.write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let (status, body) = read_response(&mut s, Duration::from_secs(4)).expect("an answer");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "malformed", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not arrive"),
        "{v}"
    );
    drop(s);
    drip.join().unwrap();
}

/// Five wrong passwords lock the account: the right one is refused (`429`, `Retry-After`)
/// until the lockout ends, then works.
#[tokio::test]
async fn wrong_passwords_lock_the_account_even_against_the_right_one() {
    let dir = TempDir::new().unwrap();
    let data = team_with_password(&dir);
    let server = Server::start(&data);
    let http = support::http();
    for i in 0..5 {
        let r = login(&http, &server.url, "S-01", &format!("guess {i}")).await;
        assert_eq!(r.status().as_u16(), 401, "guess {i}");
    }
    let locked = login(&http, &server.url, "S-01", PASSWORD).await;
    assert_eq!(locked.status().as_u16(), 429);
    let wait: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let body: Value = locked.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");
    // Another account is not locked by S-01's failures.
    let other = login(&http, &server.url, "A-0001", "whatever it is").await;
    assert_eq!(other.status().as_u16(), 401);
    tokio::time::sleep(Duration::from_millis(wait * 1000 + 100)).await;
    let ok = login(&http, &server.url, "S-01", PASSWORD).await;
    assert_eq!(ok.status().as_u16(), 200);
    // The success forgot the account's failures: one wrong guess is heard again.
    let again = login(&http, &server.url, "S-01", "wrong again").await;
    assert_eq!(again.status().as_u16(), 401);
}

/// Guesses sent all at once do not slip past the lockout: only the free ones (and the checks
/// already running when it began) are heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guesses_sent_at_once_are_heard_only_up_to_the_lockout() {
    let dir = TempDir::new().unwrap();
    let data = team_with_password(&dir);
    let server = Server::start(&data);
    let http = support::http();
    let guesses: Vec<_> = (0..30)
        .map(|i| {
            let (http, url) = (http.clone(), server.url.clone());
            tokio::spawn(async move {
                login(&http, &url, "S-01", &format!("guess {i}"))
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut heard = 0;
    for g in guesses {
        match g.await.unwrap() {
            401 => heard += 1,
            429 => {}
            s => panic!("{s}"),
        }
    }
    assert!(
        (5..=7).contains(&heard),
        "{heard} of 30 guesses were checked"
    );
}

/// One address guessing many accounts is locked out too, for every account.
#[tokio::test]
async fn one_address_guessing_many_accounts_is_locked_out() {
    let dir = TempDir::new().unwrap();
    let data = team_with_password(&dir);
    let server = Server::start(&data);
    let http = support::http();
    for i in 0..20 {
        let r = login(&http, &server.url, &format!("U-{i:03}"), "password1").await;
        assert_eq!(r.status().as_u16(), 401, "guess {i}");
    }
    let locked = login(&http, &server.url, "S-01", PASSWORD).await;
    assert_eq!(locked.status().as_u16(), 429);
    assert!(locked.headers().contains_key("retry-after"));
}

/// With `--trust-proxy` the throttle counts the address the proxy saw, and the cookie is
/// `Secure` when the proxy says the browser came over HTTPS; without it neither header counts.
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_and_https_count() {
    let dir = TempDir::new().unwrap();
    let data = team_with_password(&dir);
    let http = support::http();
    let with_headers = |url: &str, user: &str, password: &str, from: &str| {
        http.post(format!("{url}/v1/session"))
            .header("x-forwarded-for", format!("203.0.113.9, {from}"))
            .header("x-forwarded-proto", "https")
            .json(&json!({ "user": user, "password": password }))
            .send()
    };
    let server = Server::start_with(&data, &["--trust-proxy"]);
    let ok = with_headers(&server.url, "S-01", PASSWORD, "198.51.100.1")
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    for i in 0..20 {
        let r = with_headers(&server.url, &format!("U-{i:03}"), "x", "198.51.100.2")
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    let from_2 = with_headers(&server.url, "S-01", PASSWORD, "198.51.100.2")
        .await
        .unwrap();
    assert_eq!(
        from_2.status().as_u16(),
        429,
        "the guessing address is locked"
    );
    let from_3 = with_headers(&server.url, "S-01", PASSWORD, "198.51.100.3")
        .await
        .unwrap();
    assert_eq!(from_3.status().as_u16(), 200, "another address is not");
    drop(server);

    let plain = Server::start(&data);
    let r = with_headers(&plain.url, "S-01", PASSWORD, "198.51.100.1")
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        !cookie.contains("Secure"),
        "untrusted header believed: {cookie}"
    );
}

/// `DOORSTEP_TRUST_PROXY` takes the usual spellings of a switch: `1` turns trust on (the
/// cookie is `Secure` behind an HTTPS proxy), `0` leaves it off. Before, only `true`/`false`
/// were taken and `DOORSTEP_TRUST_PROXY=1` stopped the server at start.
#[tokio::test]
async fn the_trust_proxy_variable_takes_1_and_0() {
    let dir = TempDir::new().unwrap();
    let data = team_with_password(&dir);
    let http = support::http();
    for (value, secure) in [("1", true), ("on", true), ("0", false), ("false", false)] {
        let server = Server::start_with_env(&data, &[("DOORSTEP_TRUST_PROXY", value)]);
        let r = http
            .post(format!("{}/v1/session", server.url))
            .header("x-forwarded-proto", "https")
            .json(&json!({ "user": "S-01", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{value}");
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        assert_eq!(cookie.contains("; Secure"), secure, "{value}: {cookie}");
    }
}

/// A name that does not exist takes as long as a manager with a wrong password: both are one
/// argon2 check (before, 0.5 ms against 17.9 ms told which names exist).
#[tokio::test]
async fn an_unknown_name_takes_as_long_as_a_real_manager() {
    let dir = TempDir::new().unwrap();
    let data = team_with_password(&dir);
    let server = Server::start(&data);
    let http = support::http();
    // Warm up (connection, page cache, the unmatchable hash).
    login(&http, &server.url, "U-WARM", "x").await;
    let mut known = Duration::MAX;
    let mut unknown = Duration::MAX;
    for i in 0..4 {
        let t = Instant::now();
        let r = login(&http, &server.url, "S-01", &format!("wrong {i}")).await;
        known = known.min(t.elapsed());
        assert_eq!(r.status().as_u16(), 401);
        let t = Instant::now();
        let r = login(&http, &server.url, &format!("U-{i}"), "wrong").await;
        unknown = unknown.min(t.elapsed());
        assert_eq!(r.status().as_u16(), 401);
    }
    eprintln!("fastest login: known name {known:?}, unknown name {unknown:?}");
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    // Before: 26.9 ms against 0.7 ms (a factor of 38).
    assert!(
        (1.0 / 3.0..3.0).contains(&ratio),
        "known {known:?} vs unknown {unknown:?}"
    );
}

/// The kB of a process's peak resident memory (`VmHWM`).
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// 64 guessers at once, each from its own address (so the throttle lets every guess reach
/// the password check): the server's peak memory stays under 300 MB (docs/benchmarks.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_guessers_keep_the_server_under_300_mb() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = TempDir::new().unwrap();
    let data = team_with_password(&dir);
    let server = Server::start_with(&data, &["--trust-proxy"]);
    let before = peak_rss_kb(server.pid());
    let http = support::http();
    let t = Instant::now();
    let guessers: Vec<_> = (0..64)
        .map(|g| {
            let http = http.clone();
            let url = server.url.clone();
            tokio::spawn(async move {
                let mut statuses = vec![];
                for i in 0..3 {
                    let r = http
                        .post(format!("{url}/v1/session"))
                        .header("x-forwarded-for", format!("10.1.{g}.{i}"))
                        .json(&json!({ "user": format!("U-{g}-{i}"), "password": "guess" }))
                        .send()
                        .await
                        .unwrap();
                    statuses.push(r.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    let mut checked = 0;
    for g in guessers {
        for s in g.await.unwrap() {
            assert!(s == 401 || s == 503, "{s}");
            checked += usize::from(s == 401);
        }
    }
    let took = t.elapsed();
    let peak = peak_rss_kb(server.pid());
    eprintln!(
        "64 guessers x 3: {checked} checks in {took:?}; server peak RSS {} MB (at start {} MB)",
        peak / 1024,
        before / 1024
    );
    assert!(checked >= 64, "only {checked} guesses were checked");
    assert!(peak < 300 * 1024, "peak RSS {} MB", peak / 1024);
}

/// Every way a request is refused before a handler sees it answers the one JSON error body.
#[tokio::test]
async fn every_rejection_answers_the_json_error_body() {
    let dir = TempDir::new().unwrap();
    let data = team_with_password(&dir);
    let token = token_for(&data, "S-01");
    let server = Server::start(&data);
    // A client per case: the server closes a connection whose big body it did not read, and a
    // pooled client would send the next case on it.
    let http = || support::http();
    let url = &server.url;
    let session = format!("{url}/v1/session");
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "not JSON",
            http()
                .post(&session)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "malformed",
        ),
        (
            "a missing field (axum's 422)",
            http().post(&session).json(&json!({ "user": "S-01" })),
            400,
            "invalid",
        ),
        (
            "a wrong content type",
            http()
                .post(&session)
                .header("content-type", "text/plain")
                .body("{}"),
            415,
            "unsupported_media_type",
        ),
        (
            "a body over the limit",
            http()
                .post(&session)
                .header("content-type", "application/json")
                .body(vec![b' '; 3 << 20]),
            413,
            "too_large",
        ),
        (
            "a query that does not parse",
            http()
                .get(format!("{url}/v1/views/today?date=a&date=b"))
                .bearer_auth(&token),
            400,
            "malformed",
        ),
        (
            "a path that does not decode",
            http()
                .get(format!("{url}/v1/customers/%FF%FE"))
                .bearer_auth(&token),
            400,
            "malformed",
        ),
        (
            "a bad date (the handler's own check)",
            http()
                .get(format!("{url}/v1/views/today?date=someday"))
                .bearer_auth(&token),
            400,
            "invalid",
        ),
        (
            "a method the route does not have",
            http().patch(&session),
            405,
            "method_not_allowed",
        ),
        (
            "an unknown /v1 route",
            http().get(format!("{url}/v1/nothing/here")),
            404,
            "not_found",
        ),
    ];
    for (what, request, status, code) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{what}");
        let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ctype.starts_with("application/json"), "{what}: {ctype}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(!message.is_empty(), "{what}: {body}");
    }
}

/// The dashboard's page and assets carry the browser security headers.
#[tokio::test]
async fn the_dashboard_answers_with_security_headers() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let http = support::http();
    for path in ["/", "/app.js", "/style.css", "/login/not-a-token"] {
        let r = http
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self';"),
            "no inline script: {path}: {csp}"
        );
        assert!(
            csp.contains("style-src 'self';"),
            "no <style>: {path}: {csp}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
}

/// The OpenAPI document: unique operation ids (client generators need them), the two
/// security schemes and which operation takes which, and the error body on error answers.
#[test]
fn the_openapi_document_has_unique_ids_security_and_errors() {
    let (_, doc) = doorstep_server::http::api();
    let doc: Value = serde_json::to_value(&doc).unwrap();
    let mut ids = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}"));
            if let Some(other) = ids.insert(id.to_string(), format!("{method} {path}")) {
                panic!("operation id {id} of {method} {path} is also {other}'s");
            }
            let security = op["security"].as_array().unwrap();
            match (path.as_str(), method.as_str()) {
                // The record schema is public (protocol.md §9): no login, no 401.
                ("/v1/session", "post") | ("/v1/schema/documents.json", "get") => {
                    assert_eq!(security, &vec![json!({})], "{method} {path}");
                    if path == "/v1/schema/documents.json" {
                        assert!(op["responses"]["401"].is_null(), "{method} {path}");
                    }
                }
                ("/v1/sync", _) => assert_eq!(security, &vec![json!({ "bearer": [] })]),
                ("/v1/session", "delete") => {}
                _ => {
                    assert_eq!(
                        security,
                        &vec![json!({ "bearer": [] }), json!({ "session": [] })],
                        "{method} {path}"
                    );
                    assert!(op["responses"]["401"].is_object(), "{method} {path}");
                }
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') || status == "default" {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    assert!(ids.len() > 15);
    assert!(ids.contains_key("team_today") && ids.contains_key("today"));
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "doorstep_session");
    assert!(doc["components"]["schemas"]["Error"]["properties"]["error"].is_object());
}
