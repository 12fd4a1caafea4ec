//! What the server's end-to-end tests share: a real `doorstep serve` process on a loopback
//! port, `doorstep admin` run as a process, and a "phone" that is a plain `client_core::Store`
//! syncing over real HTTP (reqwest) with the protocol's round loop.

#![allow(dead_code)]

pub mod pg;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use automerge::sync::{BloomFilter, ChunkList, Have, Message, MessageVersion};
use automerge::{AutoCommit, ChangeHash};
use client_core::model::Role;
use client_core::protocol::{DocMessage, SyncRequest, SyncResponse, PROTOCOL_VERSION};
use client_core::{DocId, Durability, Identity, Options, Store};
use serde_json::Value;
use tempfile::TempDir;

/// A running `doorstep serve` on 127.0.0.1:<free port>, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The data directory.
    pub data: PathBuf,
    /// Where the server's log (stderr) goes.
    pub log: PathBuf,
    /// A server on PostgreSQL: the directory holding its log and desks.
    _dir: Option<TempDir>,
}

impl Server {
    /// Starts a server on `data`, returning once it printed its URL (it is then bound).
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// Starts a server on `data` with more `doorstep serve` flags.
    pub fn start_with(data: &Path, flags: &[&str]) -> Server {
        Server::spawn(
            Command::new(env!("CARGO_BIN_EXE_doorstep")),
            data,
            flags,
            &[],
        )
    }

    /// [`Server::start`] with extra environment variables (`DOORSTEP_SYNC_BUDGET_MS`…).
    pub fn start_with_env(data: &Path, env: &[(&str, &str)]) -> Server {
        Server::spawn(Command::new(env!("CARGO_BIN_EXE_doorstep")), data, &[], env)
    }

    /// Starts a server whose file descriptor limit (soft and hard) is `nofile`.
    pub fn start_with_fd_limit(data: &Path, nofile: u32, flags: &[&str]) -> Server {
        let mut sh = Command::new("sh");
        sh.args([
            "-c",
            &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_doorstep"),
        ]);
        Server::spawn(sh, data, flags, &[])
    }

    /// Starts a server on the PostgreSQL database at `url` (`support::pg::TestDb::url()`),
    /// with more `doorstep serve` flags; its log and desks are in a directory of its own.
    pub fn start_pg(url: &str, flags: &[&str]) -> Server {
        let dir = TempDir::new().unwrap();
        let desks = dir.path().join("desks");
        let log = dir.path().join("server.log");
        let mut args: Vec<std::ffi::OsString> = vec!["--database-url".into(), url.into()];
        args.push("--desk-dir".into());
        args.push(desks.clone().into());
        let mut server = Server::spawn_on(
            Command::new(env!("CARGO_BIN_EXE_doorstep")),
            &args,
            &log,
            &desks,
            flags,
            &[],
        );
        server._dir = Some(dir);
        server
    }

    fn spawn(command: Command, data: &Path, flags: &[&str], env: &[(&str, &str)]) -> Server {
        let log = data.with_extension("log");
        Server::spawn_on(
            command,
            &["--data".into(), data.into()],
            &log,
            data,
            flags,
            env,
        )
    }

    fn spawn_on(
        mut command: Command,
        store: &[std::ffi::OsString],
        log: &Path,
        data: &Path,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let log = log.to_path_buf();
        let err = std::fs::File::create(&log).unwrap();
        let mut child = command
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(store)
            .args(flags)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("doorstep serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
            "{url}"
        );
        Server {
            child,
            url,
            data: data.to_path_buf(),
            log,
            _dir: None,
        }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let status = self.child.wait().unwrap();
        let dir = self._dir.take();
        std::mem::forget(self);
        drop(dir);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `doorstep admin --data DATA --json ARGS`: (exit status, JSON output).
pub fn admin_run(data: &Path, args: &[&str]) -> (i32, Value) {
    admin_on(&["--data".into(), data.into()], args)
}

/// Runs `doorstep admin --database-url URL --json ARGS`: (exit status, JSON output).
pub fn admin_run_pg(url: &str, args: &[&str]) -> (i32, Value) {
    admin_on(&["--database-url".into(), url.into()], args)
}

/// Runs an admin command on the PostgreSQL database at `url` that must succeed.
pub fn admin_pg(url: &str, args: &[&str]) -> Value {
    let (code, v) = admin_run_pg(url, args);
    assert_eq!(code, 0, "{args:?} failed: {v}");
    v
}

fn admin_on(store: &[std::ffi::OsString], args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .arg("admin")
        .args(store)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// Runs `doorstep agent --home HOME --json ARGS`: (status, JSON).
pub fn agent_run(home: &std::path::Path, args: &[&str]) -> (i32, Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .arg("agent")
        .arg("--home")
        .arg(home)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// Runs an admin command that must succeed.
pub fn admin(data: &Path, args: &[&str]) -> Value {
    let (code, v) = admin_run(data, args);
    assert_eq!(code, 0, "{args:?} failed: {v}");
    v
}

/// Issues a device for `user` and returns its token.
pub fn token_for(data: &Path, user: &str) -> String {
    admin(data, &["device", "issue", "--user", user])["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A team `north` (agents A-0001, A-0002, supervisor S-01) with the sample policy list
/// imported; returns the customer ids in the file's order (the first four are A-0001's, the
/// next four A-0002's).
pub fn north_team(data: &Path) -> Vec<String> {
    admin(data, &["team", "create", "north"]);
    for (user, role) in [
        ("S-01", "supervisor"),
        ("A-0001", "agent"),
        ("A-0002", "agent"),
    ] {
        admin(
            data,
            &[
                "user", "add", "--team", "north", "--user", user, "--role", role,
            ],
        );
    }
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/sample-policies.csv");
    let r = admin(data, &["import", "--team", "north", "--csv", csv]);
    r["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// An HTTP client that accepts gzip responses.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// Posts a sync request as JSON (optionally gzip): (status, JSON body).
pub async fn post_sync(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    req: &SyncRequest,
    gzip: bool,
) -> (u16, Value) {
    let body = serde_json::to_vec(req).unwrap();
    let mut b = http
        .post(format!("{url}/v1/sync"))
        .bearer_auth(token)
        .header("content-type", "application/json");
    b = if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&body).unwrap();
        b.header("content-encoding", "gzip")
            .body(enc.finish().unwrap())
    } else {
        b.body(body)
    };
    let resp = b.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Parses a sync response (from text: client-core's base64 fields borrow from the input).
pub fn response(body: &Value) -> SyncResponse {
    serde_json::from_str(&body.to_string()).unwrap()
}

/// GET with a bearer token: (status, JSON body).
pub async fn get(http: &reqwest::Client, url: &str, token: &str, path: &str) -> (u16, Value) {
    let resp = http
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A phone: a client-core home that syncs with the server.
pub struct Phone {
    _dir: TempDir,
    /// The home.
    pub store: Store,
    /// The device token.
    pub token: String,
    /// The playbook hash the phone has.
    pub playbook: Option<String>,
    /// Whether requests are gzip-compressed.
    pub gzip: bool,
}

impl Phone {
    /// A new home for `user` with `role`, holding `token`.
    pub fn new(user: &str, role: Role, token: String) -> Phone {
        let dir = TempDir::new().unwrap();
        let store = Store::create(
            dir.path().join("home.db"),
            Identity {
                user: user.parse().unwrap(),
                role,
            },
            Options {
                durability: Durability::Process,
                ..Options::default()
            },
        )
        .unwrap();
        Phone {
            _dir: dir,
            store,
            token,
            playbook: None,
            gzip: false,
        }
    }

    /// A request carrying `messages` under this phone's actor.
    pub fn request(&self, messages: Vec<DocMessage>) -> SyncRequest {
        SyncRequest {
            protocol: PROTOCOL_VERSION,
            actor: self.store.actor_hex(),
            playbook: self.playbook.clone(),
            messages,
        }
    }

    /// The protocol's round loop until neither side has anything to say; returns every
    /// response. Panics on a non-200 answer or after 20 rounds.
    pub async fn sync(&mut self, http: &reqwest::Client, url: &str) -> Vec<SyncResponse> {
        let mut session = self.store.start_sync("server");
        let mut responses = vec![];
        for _ in 0..20 {
            let out = self.store.sync_outgoing(&mut session).unwrap();
            let sent = out.len();
            let req = self.request(out);
            let (status, body) = post_sync(http, url, &self.token, &req, self.gzip).await;
            assert_eq!(status, 200, "{body}");
            let resp = response(&body);
            // Documents the server had no time for this round: send them again next round,
            // from their persisted state (the protocol's `retry_later`).
            for r in &resp.rejected {
                if r.code == client_core::protocol::RETRY_LATER {
                    session.forget(&r.doc);
                }
            }
            for m in &resp.messages {
                self.store
                    .sync_receive(&mut session, m, &mut |_| Ok(()))
                    .unwrap();
            }
            if let Some(p) = &resp.playbook {
                self.playbook = Some(p.hash.clone());
            }
            if !resp.removed.is_empty() {
                for d in &resp.removed {
                    self.store.drop_document(d).unwrap();
                }
                // Forget the dropped documents' session states.
                session = self.store.start_sync("server");
            }
            // The server answers every message that tells it something; an empty answer
            // without `more` means both sides have nothing left to say.
            let done = resp.messages.is_empty() && !resp.more;
            let _ = sent;
            responses.push(resp);
            if done {
                return responses;
            }
        }
        panic!("no convergence in 20 rounds");
    }

    /// The document as an Automerge value (for tampering in tests).
    pub fn automerge(&mut self, doc: &DocId) -> AutoCommit {
        let bytes = self
            .store
            .save_document(doc)
            .unwrap()
            .expect("the phone holds it");
        AutoCommit::load(&bytes).unwrap()
    }
}

/// A standard Automerge sync message carrying every change of `doc` after `since` (what a
/// device sends once it knows the server has `since`).
pub fn changes_message(doc: &mut AutoCommit, since: &[ChangeHash]) -> Vec<u8> {
    let changes: Vec<Vec<u8>> = doc
        .get_changes(since)
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    Message {
        heads: doc.get_heads(),
        need: vec![],
        have: vec![Have {
            last_sync: since.to_vec(),
            bloom: BloomFilter::default(),
        }],
        changes: ChunkList::from(changes),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode()
}
