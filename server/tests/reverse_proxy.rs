//! deploy/nginx/doorstep.conf, tested: the real nginx on loopback, terminating TLS with a
//! certificate made here, in front of a real `doorstep serve --trusted-proxy 127.0.0.1`. Through it a
//! phone syncs, the dashboard's events arrive live (not held in nginx's buffers), a body of
//! exactly the server's limit passes and a larger one gets the server's JSON 413, and the
//! login throttle counts the address nginx saw — not the proxy's, not one a client made up.
//!
//! Needs `nginx` and `openssl` on the PATH (scripts/test installs them).

mod support;

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use client_core::model::Role;
use serde_json::{json, Value};
use support::*;
use tempfile::TempDir;

/// The server's limit on a request body (`doorstep_server::http::MAX_BODY_BYTES`).
const LIMIT: usize = doorstep_server::http::MAX_BODY_BYTES;

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The nginx binary: on the PATH, or where Debian puts it.
fn nginx_bin() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
        .expect("nginx is installed (scripts/test installs it)")
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/test installs nginx and openssl)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority and a certificate for 127.0.0.1 signed by it: (CA, cert, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args(["req", "-x509"])
        .args(ec)
        .args(["-days", "2", "-subj", "/CN=doorstep test CA", "-keyout"])
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    run(Command::new("openssl")
        .arg("req")
        .args(ec)
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(p("leaf.key"))
        .arg("-out")
        .arg(p("leaf.csr")));
    std::fs::write(
        p("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-in"])
        .arg(p("leaf.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(p("leaf.ext"))
        .arg("-out")
        .arg(p("leaf.pem")));
    (p("ca.pem"), p("leaf.pem"), p("leaf.key"))
}

/// nginx running deploy/nginx/doorstep.conf in front of `upstream`; stopped when dropped.
struct Nginx {
    child: Child,
    /// `https://127.0.0.1:PORT`.
    url: String,
    /// The CA that signed its certificate.
    ca: PathBuf,
    dir: PathBuf,
}

impl Nginx {
    /// deploy/nginx/doorstep.conf in front of `upstream`.
    fn start(dir: &Path, upstream: &str) -> Nginx {
        Nginx::start_site(
            dir,
            "doorstep.conf",
            &[("server 127.0.0.1:8080;", format!("server {upstream};"))],
        )
    }

    /// deploy/nginx/`file` with its upstream addresses rewritten by `upstreams` (from, to),
    /// its ports and certificate files by the test's.
    fn start_site(dir: &Path, file: &str, upstreams: &[(&str, String)]) -> Nginx {
        std::fs::create_dir_all(dir).unwrap();
        let (ca, cert, key) = certificates(dir);
        let (https, plain) = (free_port(), free_port());
        let site = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../deploy/nginx")
                .join(file),
        )
        .unwrap();
        // Only what differs on a test machine: addresses and files.
        let mut rewritten = site.clone();
        for (from, to) in upstreams.iter().map(|(f, t)| (*f, t.clone())).chain([
            ("listen 443 ssl;", format!("listen 127.0.0.1:{https} ssl;")),
            ("listen 80;", format!("listen 127.0.0.1:{plain};")),
            (
                "/etc/ssl/doorstep/fullchain.pem",
                cert.display().to_string(),
            ),
            ("/etc/ssl/doorstep/privkey.pem", key.display().to_string()),
        ]) {
            assert!(
                rewritten.contains(from),
                "the example no longer has {from:?}"
            );
            rewritten = rewritten.replace(from, &to);
        }
        std::fs::write(dir.join("site.conf"), rewritten).unwrap();
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let d = dir.display();
        let main = format!(
            "{user}daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             include {d}/site.conf;\n}}\n",
            user = if root { "user root;\n" } else { "" },
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        let conf = dir.join("nginx.conf");
        run(Command::new(nginx_bin())
            .arg("-t")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf));
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", https)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx {
            child,
            url: format!("https://127.0.0.1:{https}"),
            ca,
            dir: dir.to_path_buf(),
        }
    }

    /// A client that trusts the test CA, its connections from `from` (any loopback address).
    fn client(&self, from: Option<IpAddr>) -> reqwest::Client {
        let pem = std::fs::read(&self.ca).unwrap();
        let mut b = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .https_only(true);
        if let Some(addr) = from {
            b = b.local_address(addr);
        }
        b.build().unwrap()
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers (SIGKILL would leave them running).
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sync request with no messages, padded with JSON whitespace to exactly `len` bytes.
fn padded_sync(phone: &Phone, len: usize) -> Vec<u8> {
    let mut body = serde_json::to_vec(&phone.request(vec![])).unwrap();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

async fn post_body(http: &reqwest::Client, url: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = http
        .post(format!("{url}/v1/sync"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    assert!(
        ctype.starts_with("application/json"),
        "{status} {ctype}: {text}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

#[tokio::test]
async fn the_example_nginx_configuration_serves_phones_dashboards_and_the_throttle() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    // nginx reaches the server from 127.0.0.1: only its forwarded headers count.
    let server = Server::start_with(&data, &["--trusted-proxy", "127.0.0.1"]);
    let nginx = Nginx::start(&dir.path().join("nginx"), &server.addr());
    let http = nginx.client(None);

    // A phone syncs through the proxy: its customers come down, its visit goes up.
    let mut phone = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    let rounds = phone.sync(&http, &nginx.url).await;
    assert!(!rounds.is_empty());
    assert_eq!(phone.store.customers().unwrap().len(), 4);
    let (status, _) = get(
        &http,
        &nginx.url,
        &phone.token,
        &format!("/v1/customers/{}", customers[0]),
    )
    .await;
    assert_eq!(status, 200);

    // The request id nginx made is the one doorstep logged and echoed.
    let resp = http
        .get(format!("{}/health", nginx.url))
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 32, "{id}");
    assert!(server.log_text().contains(&id));

    // /metrics is not served through the public name.
    let resp = http
        .get(format!("{}/metrics", nginx.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // The dashboard's events arrive live through the proxy.
    let boss = token_for(&data, "S-01");
    let opening = http
        .get(format!("{}/v1/events", nginx.url))
        .bearer_auth(&boss)
        .send();
    let mut events = tokio::time::timeout(Duration::from_secs(5), opening)
        .await
        .expect("the event stream's head arrives at once")
        .unwrap();
    assert_eq!(events.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(5), events.chunk())
        .await
        .expect("the ready event arrives at once, not when a buffer fills")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: ready"));
    phone
        .store
        .edit_customer(
            customers[0].parse().unwrap(),
            client_core::model::CustomerPatch {
                notes: Some(Some("Call after six".into())),
                ..Default::default()
            },
        )
        .unwrap();
    let synced = Instant::now();
    phone.sync(&http, &nginx.url).await;
    let change = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let chunk = events.chunk().await.unwrap().unwrap();
            if String::from_utf8_lossy(&chunk).contains("event: change") {
                return Instant::now();
            }
        }
    })
    .await
    .expect("the change event arrives while the stream stays open");
    assert!(change - synced < Duration::from_secs(3));
    drop(events);

    // Bodies: exactly the server's limit passes to the server; one byte more is the server's
    // JSON 413 (nginx lets it through); far more is nginx's 413, in the same JSON shape.
    let (status, body) =
        post_body(&http, &nginx.url, &phone.token, padded_sync(&phone, LIMIT)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["protocol"], 1);
    let (status, body) = post_body(
        &http,
        &nginx.url,
        &phone.token,
        padded_sync(&phone, LIMIT + 1),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("too_large"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&LIMIT.to_string()),
        "the server's own answer: {body}"
    );
    let (status, body) = post_body(
        &http,
        &nginx.url,
        &phone.token,
        padded_sync(&phone, 65 << 20),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("too_large"))
    );

    // The login throttle counts the client nginx saw. A guesser on 127.0.0.2 making up
    // X-Forwarded-For addresses is locked out after the address's free failures …
    let guesser = nginx.client(Some("127.0.0.2".parse().unwrap()));
    let mut locked = None;
    for i in 0..40 {
        let resp = guesser
            .post(format!("{}/v1/session", nginx.url))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"user": format!("nobody-{i}"), "password": "guess"}))
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            401 => continue,
            429 => {
                locked = Some(i);
                break;
            }
            s => panic!("{s}: {}", resp.text().await.unwrap()),
        }
    }
    let locked = locked.expect("the guesser's own address is throttled");
    assert!(
        (20..=22).contains(&locked),
        "locked after {locked} failures"
    );
    // … while a colleague behind the same proxy, on 127.0.0.3, is heard.
    let colleague = nginx.client(Some("127.0.0.3".parse().unwrap()));
    let resp = colleague
        .post(format!("{}/v1/session", nginx.url))
        .json(&json!({"user": "someone", "password": "typo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "another client is not locked out with the guesser"
    );

    // The server stopped (a restart, say): nginx answers 503 busy in the server's JSON shape.
    assert!(server.terminate().success());
    let resp = http
        .get(format!("{}/ready", nginx.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy", "{body}");
    assert!(
        !nginx.error_log().contains("[emerg]"),
        "{}",
        nginx.error_log()
    );
}

// ---- deploy/nginx/doorstep-cluster.conf: three instances on one PostgreSQL database ----

const PASSWORD: &str = "correct horse battery staple";

/// Runs `f` on a runtime of its own: the test's PostgreSQL database is made and dropped with
/// the synchronous client, which must not run inside a runtime.
fn on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The sum of the samples of `series` (the text before the value, labels included) in an
/// instance's `/metrics`, read on the instance's own address as Prometheus does.
async fn metric(server: &Server, series: &str) -> f64 {
    let text = http()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|rest| rest.trim().parse::<f64>().ok())
        .sum()
}

/// The same series on each instance.
async fn per_instance(servers: &[&Server], series: &str) -> Vec<f64> {
    let mut out = vec![];
    for s in servers {
        out.push(metric(s, series).await);
    }
    out
}

/// Sends `signal` to an instance's process.
fn signal(server: &Server, signal: libc::c_int) {
    // SAFETY: kill only sends a signal to our own child.
    assert_eq!(
        unsafe { libc::kill(server.pid() as libc::pid_t, signal) },
        0
    );
}

/// What a dashboard's event stream brought within `limit`: `Some(true)` a `change` event,
/// `Some(false)` nothing, `None` the stream ended.
async fn change_within(events: &mut reqwest::Response, limit: Duration) -> Option<bool> {
    let waited = tokio::time::timeout(limit, async {
        loop {
            match events.chunk().await {
                Ok(Some(chunk)) if String::from_utf8_lossy(&chunk).contains("event: change") => {
                    return Some(true)
                }
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return None,
            }
        }
    })
    .await;
    waited.unwrap_or(Some(false))
}

/// Drops whatever a stream has pending; `false` if it ended.
async fn drain(events: &mut reqwest::Response) -> bool {
    loop {
        match tokio::time::timeout(Duration::from_millis(500), events.chunk()).await {
            Err(_) => return true,
            Ok(Ok(Some(_))) => continue,
            Ok(_) => return false,
        }
    }
}

/// Failed logins for `user` from `guesser` through nginx until it is refused (429) having
/// failed at least `failures` times: the failures heard before the first refusal.
async fn guess_until_locked(
    guesser: &reqwest::Client,
    url: &str,
    user: impl Fn(u32) -> String,
    failures: u32,
) -> u32 {
    let (mut heard, mut before_first) = (0, None);
    for _ in 0..200 {
        let resp = guesser
            .post(format!("{url}/v1/session"))
            .header("x-forwarded-for", format!("198.51.100.{}", heard % 250))
            .json(&json!({"user": user(heard), "password": "guess"}))
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            401 => heard += 1,
            429 => {
                before_first.get_or_insert(heard);
                if heard >= failures {
                    return before_first.unwrap();
                }
                // Locked for a second or two: wait it out to fail again.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            s => panic!("{s}: {}", resp.text().await.unwrap()),
        }
    }
    panic!("never locked out ({heard} failures)");
}

/// Runs `doorstep admin` on the test database to make team `north` (supervisor S-01 with a
/// password, agents A-0001 and A-0002, the sample policies); returns the customers.
fn north_team_pg(url: &str) -> Vec<String> {
    admin_pg(url, &["team", "create", "north"]);
    for (user, role) in [
        ("S-01", "supervisor"),
        ("A-0001", "agent"),
        ("A-0002", "agent"),
    ] {
        admin_pg(
            url,
            &[
                "user", "add", "--team", "north", "--user", user, "--role", role,
            ],
        );
    }
    admin_pg(
        url,
        &["user", "password", "--user", "S-01", "--password", PASSWORD],
    );
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/sample-policies.csv");
    admin_pg(url, &["import", "--team", "north", "--csv", csv])["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

fn device_pg(url: &str, user: &str) -> String {
    admin_pg(url, &["device", "issue", "--user", user])["token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn note(phone: &mut Phone, customer: &str, text: &str) {
    phone
        .store
        .edit_customer(
            customer.parse().unwrap(),
            client_core::model::CustomerPatch {
                notes: Some(Some(text.into())),
                ..Default::default()
            },
        )
        .unwrap();
}

fn notes_of(phone: &Phone, customer: &str) -> Option<String> {
    phone
        .store
        .customer(customer.parse().unwrap())
        .unwrap()
        .notes
}

#[test]
fn the_cluster_configuration_spreads_fails_over_and_shares_events_and_lockouts() {
    let db = support::pg::TestDb::new();
    let dir = TempDir::new().unwrap();
    on(cluster_at(db.url(), dir.path()));
}

async fn cluster_at(db: String, dir: &Path) {
    let customers = north_team_pg(&db);
    let trusted = ["--trusted-proxy", "127.0.0.1"];
    let servers = [
        Server::start_pg(&db, &trusted),
        Server::start_pg(&db, &trusted),
        Server::start_pg(&db, &trusted),
    ];
    let all: Vec<&Server> = servers.iter().collect();
    let upstreams: Vec<(&str, String)> = ["10.0.0.11:8080", "10.0.0.12:8080", "10.0.0.13:8080"]
        .into_iter()
        .zip(&servers)
        .map(|(from, s)| (from, s.addr()))
        .collect();
    let nginx = Nginx::start_site(&dir.join("nginx"), "doorstep-cluster.conf", &upstreams);
    let web = nginx.client(None);
    let url = nginx.url.clone();

    // Phones sync through nginx only and converge; their requests went to several instances.
    let mut a1 = Phone::new("A-0001", Role::Agent, device_pg(&db, "A-0001"));
    let mut a2 = Phone::new("A-0002", Role::Agent, device_pg(&db, "A-0002"));
    let mut boss = Phone::new("S-01", Role::Supervisor, device_pg(&db, "S-01"));
    for p in [&mut a1, &mut a2, &mut boss] {
        p.sync(&web, &url).await;
    }
    assert_eq!(a1.store.customers().unwrap().len(), 4);
    assert_eq!(a2.store.customers().unwrap().len(), 4);
    assert_eq!(boss.store.customers().unwrap().len(), customers.len());
    note(&mut a1, &customers[0], "Call after six");
    note(&mut a2, &customers[4], "Dog in the yard");
    a1.sync(&web, &url).await;
    a2.sync(&web, &url).await;
    boss.sync(&web, &url).await;
    assert_eq!(
        notes_of(&boss, &customers[0]).as_deref(),
        Some("Call after six")
    );
    assert_eq!(
        notes_of(&boss, &customers[4]).as_deref(),
        Some("Dog in the yard")
    );
    let rounds = per_instance(&all, "doorstep_sync_rounds_total").await;
    eprintln!("sync requests per instance: {rounds:?}");
    assert!(
        rounds.iter().filter(|n| **n > 0.0).count() >= 2,
        "the syncs all went to one instance: {rounds:?}"
    );

    // Three dashboards open their live events through nginx: one on each instance. A phone's
    // sync, whichever instance serves it, reaches all three.
    let boss_token = device_pg(&db, "S-01");
    let mut streams = vec![];
    for _ in 0..3 {
        let mut events = web
            .get(format!("{url}/v1/events"))
            .bearer_auth(&boss_token)
            .send()
            .await
            .unwrap();
        assert_eq!(events.status(), 200);
        let first = tokio::time::timeout(Duration::from_secs(5), events.chunk())
            .await
            .expect("the ready event arrives at once")
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&first).contains("event: ready"));
        streams.push(events);
    }
    let opened = per_instance(
        &all,
        "doorstep_http_requests_total{method=\"GET\",route=\"/v1/events\",status=\"200\"}",
    )
    .await;
    assert_eq!(opened, [1.0, 1.0, 1.0], "one stream on each instance");
    note(&mut a1, &customers[1], "Moved to the blue house");
    a1.sync(&web, &url).await;
    for events in &mut streams {
        assert_eq!(
            change_within(events, Duration::from_secs(5)).await,
            Some(true),
            "every dashboard hears the change"
        );
    }

    // The login lockout holds across instances: five free failures for an account in all,
    // not five per instance, then the right password too is refused.
    let guesser = nginx.client(Some("127.0.0.4".parse().unwrap()));
    let refused = per_instance(&all, "doorstep_login_refusals_total{code=\"unauthorized\"}").await;
    let free = guess_until_locked(&guesser, &url, |_| "S-01".into(), 7).await;
    assert!(
        (5..=6).contains(&free),
        "locked after {free} failures (5 free in all)"
    );
    let refused: Vec<f64> =
        per_instance(&all, "doorstep_login_refusals_total{code=\"unauthorized\"}")
            .await
            .iter()
            .zip(&refused)
            .map(|(after, before)| after - before)
            .collect();
    assert!(
        refused.iter().filter(|n| **n > 0.0).count() >= 2,
        "the guesses all went to one instance: {refused:?}"
    );
    let resp = web
        .post(format!("{url}/v1/session"))
        .json(&json!({"user": "S-01", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429, "the right password during the lockout");

    // Per address, the address nginx saw: a guesser on 127.0.0.2 making up X-Forwarded-For
    // addresses and account names is locked out after the address's free failures …
    let guesser = nginx.client(Some("127.0.0.2".parse().unwrap()));
    let free = guess_until_locked(&guesser, &url, |i| format!("nobody-{i}"), 22).await;
    assert!(
        (20..=21).contains(&free),
        "locked after {free} failures (20 free in all)"
    );
    // … on every instance, also when it goes to one directly: there its X-Forwarded-For is
    // not believed (it is not nginx), its own address is the locked one.
    for s in &servers {
        let resp = reqwest::Client::builder()
            .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
            .build()
            .unwrap()
            .post(format!("{}/v1/session", s.url))
            .header("x-forwarded-for", "203.0.113.77")
            .json(&json!({"user": "someone-else", "password": "guess"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 429, "{}", s.url);
    }
    // A colleague behind the same nginx, on 127.0.0.3, is heard.
    let resp = nginx
        .client(Some("127.0.0.3".parse().unwrap()))
        .post(format!("{url}/v1/session"))
        .json(&json!({"user": "someone", "password": "typo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // One instance hangs (SIGSTOP) with sync requests sent to it, then is SIGKILLed: nginx
    // sends those requests to another instance (`non_idempotent` for /v1/sync) and every
    // sync through it succeeds.
    let dead = &servers[2];
    signal(dead, libc::SIGSTOP);
    note(&mut a1, &customers[2], "Pays on the first");
    note(&mut a2, &customers[5], "Ask for the daughter");
    let kill = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        signal(dead, libc::SIGKILL);
    };
    let started = Instant::now();
    tokio::join!(
        a1.sync(&web, &url),
        a2.sync(&web, &url),
        boss.sync(&web, &url),
        kill
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "a request waited on the stopped instance"
    );
    let log = nginx.error_log();
    assert!(
        log.contains("while reading response header from upstream"),
        "a request sent to the killed instance was passed on: {log}"
    );
    // With the instance gone, syncs keep working, and the phones converge.
    for _ in 0..3 {
        note(
            &mut a1,
            &customers[3],
            &format!("Visit {:?}", Instant::now()),
        );
        a1.sync(&web, &url).await;
        a2.sync(&web, &url).await;
    }
    boss.sync(&web, &url).await;
    for (c, text) in [(2, "Pays on the first"), (5, "Ask for the daughter")] {
        assert_eq!(notes_of(&boss, &customers[c]).as_deref(), Some(text));
    }
    assert_eq!(notes_of(&boss, &customers[3]), notes_of(&a1, &customers[3]));
    // The dashboard on the killed instance lost its stream (a browser's EventSource opens
    // another); the two others still hear changes.
    let mut alive = vec![];
    for events in &mut streams {
        alive.push(drain(events).await);
    }
    note(&mut a2, &customers[6], "New number");
    a2.sync(&web, &url).await;
    let mut heard = 0;
    for (events, alive) in streams.iter_mut().zip(&alive) {
        if *alive && change_within(events, Duration::from_secs(5)).await == Some(true) {
            heard += 1;
        }
    }
    assert_eq!(heard, 2, "alive: {alive:?}");
    // A new stream through nginx lands on a live instance.
    let resp = web
        .get(format!("{url}/v1/events"))
        .bearer_auth(&boss_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        !nginx.error_log().contains("[emerg]"),
        "{}",
        nginx.error_log()
    );
}
