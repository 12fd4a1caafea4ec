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
