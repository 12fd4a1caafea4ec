//! `doorstep agent` driven as a real process, the way tests and demos use a "phone": every
//! command with `--json`, the standards it prints, and clear errors (exit status 2 and a JSON
//! error body) for bad input, with nothing written.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

struct Phone<'a> {
    home: &'a Path,
}

impl Phone<'_> {
    fn run(&self, args: &[&str]) -> (i32, Value) {
        let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .arg("agent")
            .arg("--home")
            .arg(self.home)
            .arg("--json")
            .args(args)
            .output()
            .expect("doorstep runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    }

    fn ok(&self, args: &[&str]) -> Value {
        let (code, v) = self.run(args);
        assert_eq!(code, 0, "{args:?} failed: {v}");
        v
    }

    fn fails(&self, args: &[&str]) -> Value {
        let (code, v) = self.run(args);
        assert_eq!(code, 2, "{args:?} should fail with status 2: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        v["error"].clone()
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

#[test]
fn an_agents_day_on_the_command_line() {
    let dir = TempDir::new().unwrap();
    let phone = Phone { home: dir.path() };
    phone.ok(&["init", "--user", "agent-7"]);
    assert_eq!(phone.ok(&["whoami"])["playbook"], "insurance");

    let wang = id(&phone.ok(&[
        "customer",
        "add",
        "--name",
        "Wang Fang",
        "--phone",
        "13800001111",
        "--postcode",
        "200001",
        "--grade",
        "B",
        "--status",
        "closed",
        "--birthday",
        "1980-06-09",
    ]));
    let li = id(&phone.ok(&[
        "customer",
        "add",
        "--name",
        "Li Lei",
        "--postcode",
        "200002",
    ]));
    let policy = id(&phone.ok(&[
        "policy",
        "add",
        "--customer",
        &wang,
        "--number",
        "P-1",
        "--premium",
        "3600.50",
        "--due",
        "2026-06-15",
    ]));
    // Tuesday 9 June 2026: two effective visits and one that is not (no outcome).
    let v1 = phone.ok(&[
        "visit",
        "--customer",
        &wang,
        "--kind",
        "collection",
        "--purpose",
        "premium_collected",
        "--outcome",
        "paid",
        "--amount",
        "3600.50",
        "--policy",
        &policy,
        "--start",
        "2026-06-09T09:30:00+08:00",
        "--end",
        "2026-06-09T10:00:00+08:00",
    ]);
    assert_eq!(v1["effective"], true);
    assert_eq!(v1["visit"]["number"], 1);
    phone.ok(&[
        "visit",
        "--customer",
        &li,
        "--kind",
        "sales",
        "--purpose",
        "needs_discovery",
        "--outcome",
        "appointment",
        "--start",
        "2026-06-09T11:00:00+08:00",
        "--end",
        "2026-06-09T11:40:00+08:00",
    ]);
    let v3 = phone.ok(&[
        "visit",
        "--customer",
        &li,
        "--kind",
        "sales",
        "--purpose",
        "needs_discovery",
        "--start",
        "2026-06-09T15:00:00+08:00",
        "--end",
        "2026-06-09T15:10:00+08:00",
    ]);
    assert_eq!(v3["effective"], false);
    assert_eq!(v3["visit"]["number"], 2);
    phone.ok(&[
        "call",
        "--customer",
        &li,
        "--purpose",
        "appointment",
        "--at",
        "2026-06-09T08:00:00+08:00",
    ]);
    let birthday = |r: &Value| {
        r.as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "birthday")
    };
    let before = phone.ok(&["reminders", "--date", "2026-06-09"]);
    assert!(birthday(&before), "Wang's birthday is reminded: {before}");
    phone.ok(&[
        "sms",
        "--customer",
        &wang,
        "--purpose",
        "birthday",
        "--at",
        "2026-06-09T08:05:00+08:00",
        "--notes",
        "Happy birthday!",
    ]);

    let today = phone.ok(&["today", "--date", "2026-06-09"]);
    assert_eq!(today["effective_visits"]["actual"], 2);
    assert_eq!(today["effective_visits"]["target"], 3);
    assert_eq!(today["met_311"], false);
    assert_eq!(today["calls"]["actual"], 1);
    assert_eq!(today["work_log"], false);

    phone.ok(&[
        "log",
        "--date",
        "2026-06-09",
        "Wang paid at the door; Li wants a proposal.",
    ]);
    let report = phone.ok(&[
        "report",
        "--date",
        "2026-06-09",
        "--summary",
        "Two good visits",
        "--problem",
        "Li's bank account is frozen",
    ]);
    assert_eq!(report["problems"].as_array().unwrap().len(), 1);
    let today = phone.ok(&["today", "--date", "2026-06-09"]);
    assert_eq!(today["work_log"], true);
    assert_eq!(today["evening_report"], true);
    assert_eq!(today["met_311"], false, "still only 2 effective visits");

    // The paid visit marked the policy paid; the card shows the whole history.
    let shown = phone.ok(&["customer", "show", &wang]);
    assert_eq!(shown["policies"][0]["paid_on"], "2026-06-09");
    assert_eq!(shown["policies"][0]["premium_cents"], 360_050);
    assert_eq!(shown["visits"].as_array().unwrap().len(), 1);
    assert_eq!(shown["contacts"].as_array().unwrap().len(), 1);

    assert_eq!(
        phone
            .ok(&["visits", "--date", "2026-06-09"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(phone.ok(&["customer", "list"]).as_array().unwrap().len(), 2);
    // The birthday SMS greeted Wang: the reminder is done.
    let after = phone.ok(&["reminders", "--date", "2026-06-09"]);
    assert!(!birthday(&after), "greeted already: {after}");
    phone.ok(&["week", "--date", "2026-06-09"]);
    phone.ok(&["month", "--date", "2026-06-09"]);
    phone.ok(&["lists", "--date", "2026-06-09"]);
    let rebuilt = phone.ok(&["rebuild-index"]);
    assert_eq!(rebuilt["documents"], 3);
    assert_eq!(
        phone
            .ok(&["visits", "--date", "2026-06-09"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn bad_input_gets_a_clear_error_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let phone = Phone { home: dir.path() };
    // Not initialised yet.
    let (code, v) = phone.run(&["today"]);
    assert_eq!(code, 1);
    assert_eq!(v["error"]["code"], "not_initialised");
    phone.ok(&["init", "--user", "agent-7"]);
    let c = id(&phone.ok(&["customer", "add", "--name", "Wang"]));

    let e = phone.fails(&[
        "visit",
        "--customer",
        "7f1c3c2e-0000-4000-8000-000000000000",
        "--kind",
        "sales",
    ]);
    assert_eq!(e["code"], "not_found");
    let e = phone.fails(&[
        "visit",
        "--customer",
        &c,
        "--kind",
        "sales",
        "--start",
        "2026-06-09T10:00:00+08:00",
        "--end",
        "2026-06-09T09:00:00+08:00",
    ]);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("ends before it starts"),
        "{e}"
    );
    phone.fails(&[
        "visit",
        "--customer",
        &c,
        "--kind",
        "sales",
        "--start",
        "2026-02-30T10:00",
    ]);
    phone.fails(&["visit", "--customer", &c, "--kind", "juggling"]);
    phone.fails(&["visit", "--customer", "not-a-uuid", "--kind", "sales"]);
    phone.fails(&["customer", "add", "--name", "X", "--grade", "Z"]);
    phone.fails(&["customer", "add", "--name", "X", "--birthday", "1980-13-01"]);
    // The record layout's limits (client-core's `layout`), named by field path.
    let long = "x".repeat(201);
    for (args, path) in [
        (
            vec!["customer", "add", "--name", long.as_str()],
            "card.name",
        ),
        (
            vec!["customer", "add", "--name", "X", "--birthday", "1850-01-01"],
            "card.birthday",
        ),
    ] {
        let e = phone.fails(&args);
        assert_eq!(e["code"], "invalid", "{e}");
        assert!(e["message"].as_str().unwrap().contains(path), "{e}");
    }
    phone.fails(&[
        "policy",
        "add",
        "--customer",
        &c,
        "--number",
        "P",
        "--due",
        "2026-06-15",
        "--premium",
        "12,50",
    ]);
    phone.fails(&[
        "answer",
        "--problem",
        "7f1c3c2e-0000-4000-8000-000000000000",
        "ok",
    ]);

    // A playbook file with an unknown field is refused and the old playbook stays.
    let bad = dir.path().join("bad.toml");
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/playbooks/insurance.toml"),
    )
    .unwrap();
    std::fs::write(&bad, format!("colour = \"red\"\n{good}")).unwrap();
    let e = phone.fails(&["playbook", "--set", bad.to_str().unwrap()]);
    assert!(e["message"].as_str().unwrap().contains("colour"), "{e}");
    assert_eq!(phone.ok(&["whoami"])["playbook"], "insurance");

    // Nothing of the refused commands was written.
    let shown = phone.ok(&["customer", "show", &c]);
    assert_eq!(shown["visits"].as_array().unwrap().len(), 0);
    assert_eq!(shown["policies"].as_array().unwrap().len(), 0);
    assert_eq!(phone.ok(&["customer", "list"]).as_array().unwrap().len(), 1);
}

#[test]
fn another_playbook_changes_what_is_counted_without_code_changes() {
    let dir = TempDir::new().unwrap();
    let phone = Phone { home: dir.path() };
    phone.ok(&["init", "--user", "desk-1"]);
    let car = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/playbooks/car-insurance.toml");
    let set = phone.ok(&["playbook", "--set", car.to_str().unwrap()]);
    assert_eq!(set["name"], "car-insurance");
    // Grades are now the desk's, not A–D.
    phone.fails(&["customer", "add", "--name", "Zhou", "--grade", "A"]);
    let first_grade = set["grades"][0]["code"].as_str().unwrap().to_string();
    phone.ok(&["customer", "add", "--name", "Zhou", "--grade", &first_grade]);
    assert_eq!(phone.ok(&["whoami"])["playbook"], "car-insurance");
}

/// `doorstep agent … | head -1`: a reader that goes away before the output is written ends
/// the command quietly (status 0, no panic), as it does for other command-line tools.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let dir = TempDir::new().unwrap();
    let home = dir.path().join("home");
    Phone { home: &home }.ok(&["init", "--user", "agent-7"]);
    for args in [&["--json", "whoami"][..], &["whoami"], &["today"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .arg("agent")
            .arg("--home")
            .arg(&home)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
    }
}

/// Runs `doorstep agent --home HOME ARGS` without `--json`: (status, stdout, stderr).
fn run_plain(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .arg("agent")
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("doorstep runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 13, item 8: `--premium -100`, an unknown flag and a broken playbook file print the
/// one-line error the README promises (or a JSON error under `--json`), not clap's usage.
#[test]
fn a_negative_premium_an_unknown_flag_and_a_broken_playbook_are_one_line_errors() {
    let dir = TempDir::new().unwrap();
    let phone = Phone { home: dir.path() };
    phone.ok(&["init", "--user", "agent-7"]);
    let wang = id(&phone.ok(&["customer", "add", "--name", "Wang Fang"]));
    let policy = [
        "policy",
        "add",
        "--customer",
        &wang,
        "--number",
        "P-1",
        "--premium",
        "-100",
        "--due",
        "2026-06-15",
    ];
    let e = phone.fails(&policy);
    assert_eq!(e["code"], "invalid", "{e}");
    assert!(e["message"].as_str().unwrap().contains("premium"), "{e}");
    let e = phone.fails(&["whoami", "--colour", "red"]);
    assert_eq!(e["code"], "usage", "{e}");
    assert!(e["message"].as_str().unwrap().contains("--colour"), "{e}");

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "name = \"x\"\ntitle = \"y\"\ncolour = \"red\"\n").unwrap();
    let e = phone.fails(&["playbook", "--set", broken.to_str().unwrap()]);
    assert_eq!(e["code"], "playbook", "{e}");
    assert!(e["message"].as_str().unwrap().contains("line 3"), "{e}");

    // Without --json: exactly one line on stderr, nothing on stdout, status 2.
    for args in [
        &policy[..],
        &["whoami", "--colour", "red"][..],
        &["playbook", "--set", broken.to_str().unwrap()][..],
    ] {
        let (code, stdout, stderr) = run_plain(dir.path(), args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}:\n{stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
    // Nothing was written: the playbook in force is still the built-in one, and no policy.
    assert_eq!(phone.ok(&["whoami"])["playbook"], "insurance");
}
