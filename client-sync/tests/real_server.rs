//! The device against the real `doorstep serve` on loopback, over HTTP: an agent's phone and
//! a supervisor's converge through the server, the background `Device` syncs a local write by
//! itself, a refused token and a revoked device get the errors they should (the revoked one
//! is wiped). The server's own tests and the many-device tests live with the server and in
//! `tests/`; this one checks that client-sync speaks the server's wire contract.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use client_core::model::{CustomerPatch, NewCustomer, Role};
use client_core::{Durability, Identity, Options, Store};
use client_sync::{
    login, run_sync, stored_status, Device, DeviceConfig, HttpOptions, HttpTransport, RunOptions,
    SyncError,
};
use serde_json::Value;
use tempfile::TempDir;

/// The `doorstep` binary of this workspace, built if needed: once per process, into the same
/// target directory and profile as this test (Cargo gives `CARGO_BIN_EXE_*` only for a
/// package's own binaries). Under `cargo test --workspace` it is already built and this is a
/// quick no-op. `DOORSTEP_BIN` overrides the path.
fn doorstep() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("DOORSTEP_BIN") {
            return PathBuf::from(p);
        }
        // target/<profile>/deps/real_server-… → target/<profile>/doorstep
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let profile = match dir.file_name().unwrap().to_str().unwrap() {
            "debug" => "dev".to_string(),
            other => other.to_string(),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "doorstep-server",
                "--bin",
                "doorstep",
            ])
            .arg("--profile")
            .arg(&profile)
            .arg("--target-dir")
            .arg(dir.parent().unwrap())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building doorstep failed");
        let bin = dir.join(format!("doorstep{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
    .clone()
}

fn admin(bin: &Path, data: &Path, args: &[&str]) -> Value {
    let out = Command::new(bin)
        .arg("admin")
        .arg("--data")
        .arg(data)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A running server, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(bin: &Path, data: &Path) -> Server {
    serve_with(bin, data, &[])
}

/// [`serve`] with extra arguments (`--sync-budget-ms 0`…).
fn serve_with(bin: &Path, data: &Path, args: &[&str]) -> Server {
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    Server { child, url }
}

fn home(dir: &TempDir, user: &str, role: Role, server: &str, token: &str) -> Mutex<Store> {
    let s = Store::create(
        dir.path().join(format!("{user}.db")),
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
    login(&s, server, token).unwrap();
    Mutex::new(s)
}

#[test]
fn phones_converge_through_the_real_server() {
    let bin = doorstep();
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    admin(&bin, &data, &["team", "create", "north"]);
    for (user, role) in [("sup-1", "supervisor"), ("agent-1", "agent")] {
        let mut args = vec![
            "user", "add", "--team", "north", "--user", user, "--role", role,
        ];
        if role == "agent" {
            args.extend(["--reports-to", "sup-1"]);
        }
        admin(&bin, &data, &args);
    }
    let token = |user: &str| -> (String, String) {
        let v = admin(&bin, &data, &["device", "issue", "--user", user]);
        (
            v["token"].as_str().unwrap().to_string(),
            v["device"].as_str().unwrap().to_string(),
        )
    };
    let (agent_token, agent_device) = token("agent-1");
    let (boss_token, _) = token("sup-1");
    let server = serve(&bin, &data);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let opts = RunOptions::default();

    // The agent's requests are always gzipped, the supervisor's never; answers may be.
    let http = |t: &str| {
        let gzip_above = (t == agent_token).then_some(0);
        let options = HttpOptions {
            gzip_above,
            ..HttpOptions::default()
        };
        HttpTransport::with_options(&server.url, t, options).unwrap()
    };
    rt.block_on(http(&agent_token).health()).unwrap();

    let agent = home(&dir, "agent-1", Role::Agent, &server.url, &agent_token);
    let boss = home(&dir, "sup-1", Role::Supervisor, &server.url, &boss_token);
    let ids: Vec<_> = (0..30)
        .map(|i| {
            agent
                .lock()
                .unwrap()
                .add_customer(NewCustomer {
                    name: format!("Customer {i}"),
                    agent: Some("agent-1".parse().unwrap()),
                    ..Default::default()
                })
                .unwrap()
                .id
        })
        .collect();
    let r = rt
        .block_on(run_sync(&agent, &http(&agent_token), &opts))
        .unwrap();
    assert!(r.rejected.is_empty() && r.failed.is_empty(), "{r:?}");
    assert!(r.rounds <= 3, "{r:?}");

    // The supervisor's phone receives the team's customers, regrades one.
    rt.block_on(run_sync(&boss, &http(&boss_token), &opts))
        .unwrap();
    assert_eq!(boss.lock().unwrap().customers().unwrap().len(), 30);
    boss.lock()
        .unwrap()
        .edit_customer(
            ids[0],
            CustomerPatch {
                grade: Some(Some("A".into())),
                ..Default::default()
            },
        )
        .unwrap();
    rt.block_on(run_sync(&boss, &http(&boss_token), &opts))
        .unwrap();

    // The agent's phone syncs in the background, by itself, after a local write.
    let agent = Arc::new(agent);
    let mut cfg = DeviceConfig::default();
    cfg.scheduler.debounce = Duration::from_millis(100);
    cfg.sync_on_start = false;
    let device = Device::new(agent.clone(), http(&agent_token), cfg).unwrap();
    agent
        .lock()
        .unwrap()
        .edit_customer(
            ids[1],
            CustomerPatch {
                notes: Some(Some("dog in the garden".into())),
                ..Default::default()
            },
        )
        .unwrap();
    device.local_write();
    let deadline = Instant::now() + Duration::from_secs(20);
    while agent
        .lock()
        .unwrap()
        .customer(ids[0])
        .unwrap()
        .grade
        .as_deref()
        != Some("A")
    {
        assert!(Instant::now() < deadline, "{:?}", device.status());
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = device.sync_now_blocking().unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    drop(device);
    rt.block_on(run_sync(&boss, &http(&boss_token), &opts))
        .unwrap();
    assert_eq!(
        boss.lock()
            .unwrap()
            .customer(ids[1])
            .unwrap()
            .notes
            .as_deref(),
        Some("dog in the garden")
    );

    // A token the server does not know; then the agent's device is revoked and wiped.
    let err = rt
        .block_on(run_sync(&agent, &http("not-a-token"), &opts))
        .unwrap_err();
    assert!(matches!(err, SyncError::Unauthorized(_)), "{err}");
    assert_eq!(agent.lock().unwrap().customers().unwrap().len(), 30);
    admin(
        &bin,
        &data,
        &["device", "revoke", "--device", &agent_device],
    );
    let err = rt
        .block_on(run_sync(&agent, &http(&agent_token), &opts))
        .unwrap_err();
    assert_eq!(err, SyncError::Revoked);
    assert!(agent.lock().unwrap().customers().unwrap().is_empty());
    let st = stored_status(&agent.lock().unwrap()).unwrap();
    assert!(st.last_error.unwrap().contains("revoked"));
}

/// After a converged run the phone shows nothing pending: the server acknowledges a message
/// that brought changes even when its reply carries the same heads (see `redundant` in
/// `server/src/store/sync.rs`), so the device's sync state learns that the server has them.
/// A server with no time to spare receives one message per request and answers the rest
/// `retry_later`: the run sends them again in its next rounds and loses nothing.
#[test]
fn a_server_short_of_time_gets_the_rest_in_later_rounds() {
    let bin = doorstep();
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    admin(&bin, &data, &["team", "create", "north"]);
    for (user, role) in [("sup-1", "supervisor"), ("agent-1", "agent")] {
        admin(
            &bin,
            &data,
            &[
                "user", "add", "--team", "north", "--user", user, "--role", role,
            ],
        );
    }
    let issue = |user: &str| {
        admin(&bin, &data, &["device", "issue", "--user", user])["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (agent_token, boss_token) = (issue("agent-1"), issue("sup-1"));
    let server = serve_with(&bin, &data, &["--sync-budget-ms", "0"]);
    let agent = home(&dir, "agent-1", Role::Agent, &server.url, &agent_token);
    for i in 0..4 {
        agent
            .lock()
            .unwrap()
            .add_customer(NewCustomer {
                name: format!("Customer {i}"),
                agent: Some("agent-1".parse().unwrap()),
                ..Default::default()
            })
            .unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let opts = RunOptions {
        max_rounds: 30,
        ..RunOptions::default()
    };
    let http = HttpTransport::new(&server.url, &agent_token).unwrap();
    let r = rt.block_on(run_sync(&agent, &http, &opts)).unwrap();
    assert!(r.rejected.is_empty() && r.failed.is_empty(), "{r:?}");
    assert_eq!(r.pending_documents, 0, "{r:?}");
    assert!(r.rounds >= 4, "one document per request: {r:?}");

    let boss = home(&dir, "sup-1", Role::Supervisor, &server.url, &boss_token);
    let http = HttpTransport::new(&server.url, &boss_token).unwrap();
    rt.block_on(run_sync(&boss, &http, &opts)).unwrap();
    assert_eq!(boss.lock().unwrap().customers().unwrap().len(), 4);
}

#[test]
fn nothing_is_pending_after_a_converged_run() {
    let bin = doorstep();
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    admin(&bin, &data, &["team", "create", "north"]);
    admin(
        &bin,
        &data,
        &[
            "user", "add", "--team", "north", "--user", "agent-1", "--role", "agent",
        ],
    );
    let v = admin(&bin, &data, &["device", "issue", "--user", "agent-1"]);
    let token = v["token"].as_str().unwrap();
    let server = serve(&bin, &data);
    let agent = home(&dir, "agent-1", Role::Agent, &server.url, token);
    agent
        .lock()
        .unwrap()
        .add_customer(NewCustomer {
            name: "Ada".into(),
            ..Default::default()
        })
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = HttpTransport::new(&server.url, token).unwrap();
    let r = rt
        .block_on(run_sync(&agent, &http, &RunOptions::default()))
        .unwrap();
    assert_eq!(r.pending_documents, 0, "{r:?}");
    assert_eq!(
        stored_status(&agent.lock().unwrap())
            .unwrap()
            .pending_documents,
        0
    );

    // An edit of a synced document: pending until the next run, then acknowledged.
    let id = agent.lock().unwrap().customers().unwrap()[0].id;
    agent
        .lock()
        .unwrap()
        .edit_customer(
            id,
            CustomerPatch {
                notes: Some(Some("moved to the 3rd floor".into())),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        stored_status(&agent.lock().unwrap())
            .unwrap()
            .pending_documents,
        1
    );
    let r = rt
        .block_on(run_sync(&agent, &http, &RunOptions::default()))
        .unwrap();
    assert_eq!(r.pending_documents, 0, "{r:?}");
    // Nothing left to say: one round, one request.
    let r = rt
        .block_on(run_sync(&agent, &http, &RunOptions::default()))
        .unwrap();
    assert_eq!(
        (r.rounds, r.requests, r.pending_documents),
        (1, 1, 0),
        "{r:?}"
    );
}

/// Runs `doorstep agent --json ARGS` on a home; returns the exit status and the JSON printed.
fn agent_cli(bin: &Path, home: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(bin)
        .arg("agent")
        .arg("--home")
        .arg(home)
        .arg("--json")
        .args(args)
        .env_remove("DOORSTEP_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v, stdout)
}

#[test]
fn the_command_line_logs_in_syncs_and_shows_the_status() {
    let bin = doorstep();
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    admin(&bin, &data, &["team", "create", "north"]);
    admin(
        &bin,
        &data,
        &[
            "user", "add", "--team", "north", "--user", "agent-1", "--role", "agent",
        ],
    );
    let v = admin(&bin, &data, &["device", "issue", "--user", "agent-1"]);
    let token = v["token"].as_str().unwrap().to_string();
    let server = serve(&bin, &data);
    let home = dir.path().join("phone");
    let run = |args: &[&str]| agent_cli(&bin, &home, args);

    assert_eq!(run(&["init", "--user", "agent-1"]).0, 0);
    let (code, v, _) = run(&["sync"]);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (1, Some("not_logged_in"))
    );
    let (code, v, _) = run(&["login", "--server", "ftp://nowhere", "--token", "x"]);
    assert_eq!((code, v["error"]["code"].as_str()), (2, Some("invalid")));

    let (code, v, out) = run(&["login", "--server", &server.url, "--token", &token]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["server"].as_str(), Some(server.url.as_str()));
    assert!(!out.contains(&token), "login prints the token: {out}");
    assert_eq!(run(&["customer", "add", "--name", "Ada"]).0, 0);
    let (_, v, _) = run(&["status"]);
    assert_eq!(v["pending_documents"], 1);
    assert!(v["last_success"].is_null());

    let (code, v, _) = run(&["sync"]);
    assert_eq!(code, 0, "{v}");
    assert!(v["rounds"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["messages_sent"].as_u64().unwrap() >= 1, "{v}");
    let (code, v, out) = run(&["status"]);
    assert_eq!(code, 0);
    assert_eq!(v["server"].as_str(), Some(server.url.as_str()));
    assert!(v["last_success"].is_string(), "{v}");
    assert!(v["last_error"].is_null(), "{v}");
    assert!(!out.contains(&token), "status prints the token: {out}");

    // A wrong token: exit status 1, a JSON error, and the status remembers it.
    let (code, _, _) = run(&["login", "--server", &server.url, "--token", "wrong"]);
    assert_eq!(code, 0);
    let (code, v, _) = run(&["sync"]);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (1, Some("unauthorized"))
    );
    let (_, v, _) = run(&["status"]);
    assert!(v["last_error"].as_str().unwrap().contains("token"), "{v}");

    // The server gone: a network error, exit status 1.
    drop(server);
    let (code, v, _) = run(&["sync"]);
    assert_eq!((code, v["error"]["code"].as_str()), (1, Some("network")));
}
