//! `doorstep demo`, run as a newcomer runs it (smaller): a fresh server, a team, phones that
//! recorded work offline and synced, and a login that opens the team's record.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

fn demo(data: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["demo", "--addr", "127.0.0.1:0", "--exit-when-ready"])
        .args(["--agents", "2", "--customers", "24", "--days", "9"])
        .arg("--data")
        .arg(data)
        .args(extra)
        .output()
        .expect("doorstep runs")
}

fn agent(home: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .arg("agent")
        .arg("--home")
        .arg(home)
        .arg("--json")
        .args(args)
        .output()
        .expect("doorstep runs");
    assert!(out.status.success(), "{args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The number before " visits recorded" in the demo's output.
fn visits_printed(stdout: &str) -> usize {
    stdout
        .split(" visits recorded")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no visit count in {stdout}"))
}

#[test]
fn the_demo_seeds_a_team_whose_phones_synced_their_month() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("demo");
    let out = demo(&data, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("log in as:  S-01 (supervisor), password "));
    let url = stdout
        .split("dashboard:  ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("a dashboard URL");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let visits = visits_printed(&stdout);
    assert!(
        visits >= 2 * 4,
        "too few visits for two agents over 9 days: {visits}"
    );

    // Each phone holds its agent's share of the customers and nothing is left to sync.
    let mut on_phones = 0;
    for agent_id in ["A-01", "A-02"] {
        let home = data.join("phones").join(agent_id);
        let who = agent(&home, &["whoami"]);
        assert_eq!(who["user"], agent_id, "{who}");
        let customers = agent(&home, &["customer", "list"]);
        assert_eq!(customers.as_array().map(Vec::len), Some(12), "{customers}");
        let status = agent(&home, &["status"]);
        assert_eq!(status["pending_documents"], 0, "{status}");
        assert!(status["last_error"].is_null(), "{status}");
        for c in customers.as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            let shown = agent(&home, &["customer", "show", id]);
            on_phones += shown["visits"].as_array().map(Vec::len).unwrap_or(0);
        }
    }
    assert_eq!(
        on_phones, visits,
        "every visit the demo counted is on a phone"
    );

    // The server's record has them too: reopen its data directory with the admin command.
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["admin", "--json", "--data"])
        .arg(&data)
        .args(["user", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let members: Value = serde_json::from_slice(&out.stdout).unwrap();
    let roles: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(
        roles.iter().filter(|r| **r == "agent").count(),
        2,
        "{members}"
    );
    assert!(roles.contains(&"supervisor"), "{members}");
    for m in members.as_array().unwrap() {
        if m["role"] == "agent" {
            assert!(m["last_sync"].is_string(), "{m}");
        }
    }
}

#[test]
fn a_second_demo_replaces_the_first_but_no_other_directory() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("demo");
    assert!(demo(&data, &["--seed", "1"]).status.success());
    let again = demo(&data, &["--seed", "1"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // Someone's data is never wiped by a demo.
    let other = dir.path().join("precious");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "keep me").unwrap();
    let refused = demo(&other, &[]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).unwrap(),
        "keep me"
    );
}

/// The supervisor's password printed by a demo run.
fn password_printed(stdout: &str) -> String {
    stdout
        .split("(supervisor), password ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password in {stdout}"))
        .to_string()
}

/// Without a seed the supervisor's password differs on every run; with one it is the seed's.
#[test]
fn the_demo_password_is_random_unless_a_seed_is_given() {
    let dir = TempDir::new().unwrap();
    let mut passwords = vec![];
    for (i, extra) in [&[][..], &[], &["--seed", "7"], &["--seed", "7"]]
        .iter()
        .enumerate()
    {
        let data = dir.path().join(format!("demo{i}"));
        let out = demo(&data, extra);
        assert!(out.status.success(), "{out:?}");
        passwords.push(password_printed(&String::from_utf8_lossy(&out.stdout)));
    }
    assert_ne!(passwords[0], passwords[1], "random without a seed");
    assert_eq!(passwords[2], passwords[3], "the seed's with one");
    assert_ne!(passwords[2], passwords[0]);
    assert!(passwords.iter().all(|p| p.len() >= 12), "{passwords:?}");
}

/// A second demo on the directory of a running one is refused, and the running one keeps its
/// database and keeps serving.
#[test]
fn a_second_demo_is_refused_while_the_first_runs() {
    use std::io::{BufRead, BufReader, Read};
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("demo");
    /// Kills the running demo however the test ends.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut first = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["demo", "--addr", "127.0.0.1:0"])
        .args(["--agents", "1", "--customers", "4", "--days", "1"])
        .arg("--data")
        .arg(&data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    let mut lines = BufReader::new(first.0.stdout.take().unwrap()).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.trim().strip_prefix("dashboard:  ") {
            url = Some(u.trim().to_string());
        }
        if line.contains("Serving until") {
            break;
        }
    }
    let url = url.expect("the first demo serves");
    let second = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["demo", "--addr", "127.0.0.1:0", "--exit-when-ready"])
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another `doorstep demo` is running"),
        "{stderr}"
    );
    assert!(
        data.join("server.db").exists(),
        "the running demo's database was deleted"
    );
    // The first still answers, from its database.
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(
        &mut s,
        b"GET /health HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(first);
    // Once it stopped, the directory is a previous demo's again: replaced without fuss.
    assert!(demo(&data, &[]).status.success());
}
