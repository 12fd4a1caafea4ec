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
    fn start(dir: &Path, upstream: &str) -> Nginx {
        std::fs::create_dir_all(dir).unwrap();
        let (ca, cert, key) = certificates(dir);
        let (https, plain) = (free_port(), free_port());
        let site = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx/doorstep.conf"),
        )
        .unwrap();
        // Only what differs on a test machine: addresses and files.
        let mut rewritten = site.clone();
        for (from, to) in [
            ("server 127.0.0.1:8080;", format!("server {upstream};")),
            ("listen 443 ssl;", format!("listen 127.0.0.1:{https} ssl;")),
            ("listen 80;", format!("listen 127.0.0.1:{plain};")),
            (
                "/etc/ssl/doorstep/fullchain.pem",
                cert.display().to_string(),
            ),
            ("/etc/ssl/doorstep/privkey.pem", key.display().to_string()),
        ] {
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
