//! The server's layering rules, checked on the source: the HTTP handlers never see SQL or the
//! document store (only the store's traits), the rules (`access`, `verify`, `history`,
//! `import`) know no storage and no HTTP, import matching and the managers' desk work through
//! the store's traits and know no SQL, Today is computed only by `views`, the store's traits
//! stay narrow, and every store implementation runs the conformance suite, so a PostgreSQL
//! store or another transport reuses them unchanged.

use std::fs;
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Architecture Invariant: handlers never see SQL — only the store's traits.
#[test]
fn handlers_never_see_sql_or_the_document_store() {
    let http = files(&src().join("http"));
    assert!(http.len() >= 5);
    for f in http {
        let text = fs::read_to_string(&f).unwrap();
        for banned in [
            "rusqlite",
            "SELECT ",
            "INSERT ",
            "SqliteStore",
            "client_core::Store",
            "sqlite::",
        ] {
            assert!(!text.contains(banned), "{} mentions {banned}", f.display());
        }
    }
}

/// Architecture Invariant: the rules are plain functions: no storage, no HTTP.
#[test]
fn the_rules_know_no_storage_and_no_http() {
    for name in [
        "access.rs",
        "verify.rs",
        "history.rs",
        "import.rs",
        "accounts.rs",
    ] {
        let text = fs::read_to_string(src().join(name)).unwrap();
        for banned in ["rusqlite", "axum", "tokio", "crate::store", "crate::http"] {
            assert!(!text.contains(banned), "{name} mentions {banned}");
        }
    }
}

/// Architecture Invariant: import matching and the manager's desk know no SQL and no HTTP:
/// they reach storage only through the store's traits.
#[test]
fn import_matching_and_the_desk_know_no_sql() {
    for name in ["matching.rs", "desk.rs"] {
        let text = fs::read_to_string(src().join(name)).unwrap();
        assert!(
            text.contains("use crate::store::{"),
            "{name} works through the traits"
        );
        for banned in [
            "rusqlite",
            "SELECT ",
            "INSERT ",
            "SqliteStore",
            "sqlite::",
            "axum",
            "crate::http",
        ] {
            assert!(!text.contains(banned), "{name} mentions {banned}");
        }
    }
}

/// Architecture Invariant: Today is computed once, in `views` (with client-core's playbook):
/// no store computes it.
#[test]
fn today_is_computed_only_by_the_views() {
    for f in files(&src().join("store")) {
        let text = fs::read_to_string(&f).unwrap();
        for banned in ["TodayStatus", "Prepared::new", "playbook::today", ".today("] {
            assert!(!text.contains(banned), "{} mentions {banned}", f.display());
        }
    }
    let views = fs::read_to_string(src().join("views.rs")).unwrap();
    assert!(views.contains("pub fn team_today("));
}

/// The store's traits, each in its own module.
const TRAITS: [(&str, &str); 6] = [
    ("accounts.rs", "Accounts"),
    ("sessions.rs", "Sessions"),
    ("documents.rs", "Documents"),
    ("projection.rs", "Projection"),
    ("imports.rs", "Imports"),
    ("logs.rs", "Logs"),
];

/// Architecture Invariant: the store's traits are narrow (at most 14 methods each, every
/// method documented) and `ServerStore` only gathers them.
#[test]
fn store_traits_are_narrow_and_server_store_only_gathers_them() {
    let store = src().join("store");
    for (file, name) in TRAITS {
        let text = fs::read_to_string(store.join(file)).unwrap();
        assert!(text.starts_with("//!"), "{file} says why it exists");
        let start = text
            .find(&format!("pub trait {name}: Send + Sync {{"))
            .unwrap_or_else(|| panic!("{file} defines {name}"));
        let body = &text[start..];
        let body = &body[..body.find("\n}").unwrap()];
        let lines: Vec<&str> = body.lines().collect();
        let methods: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with("    fn "))
            .collect();
        assert!(
            (1..=14).contains(&methods.len()),
            "{name} has {} methods",
            methods.len()
        );
        for i in methods {
            assert!(
                lines[..i]
                    .iter()
                    .rev()
                    .find(|l| !l.trim_start().starts_with("#["))
                    .is_some_and(|l| l.trim_start().starts_with("///")),
                "{name}::{} is documented",
                lines[i].trim()
            );
        }
    }
    let m = fs::read_to_string(store.join("mod.rs")).unwrap();
    let decl = m
        .lines()
        .find(|l| l.starts_with("pub trait ServerStore"))
        .unwrap();
    assert!(
        decl.ends_with("{}"),
        "ServerStore declares no method: {decl}"
    );
    for (_, name) in TRAITS {
        assert!(decl.contains(name), "ServerStore gathers {name}");
    }
}

/// Architecture Invariant: every store implementation runs the conformance suite
/// (`store::conformance`, through `store_conformance!` in a test file).
#[test]
fn every_store_runs_the_conformance_suite() {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let suites: Vec<String> = files(&tests_dir)
        .iter()
        .map(|f| fs::read_to_string(f).unwrap())
        .filter(|t| t.contains("store_conformance!("))
        .collect();
    let mut stores = vec![];
    for f in files(&src()) {
        let text = fs::read_to_string(&f).unwrap();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("impl Accounts for ") {
                stores.push(rest.trim_end_matches(" {").to_string());
            }
        }
    }
    assert!(stores.contains(&"SqliteStore".to_string()), "{stores:?}");
    for s in stores {
        assert!(
            suites.iter().any(|t| t.contains(&format!("{s}::"))),
            "{s} runs the conformance suite"
        );
    }
}

/// Architecture Invariant: only `store/postgres/` talks to PostgreSQL (`error.rs` names its
/// errors), and the PostgreSQL store knows no HTTP and no sync rules (its sync runs the driver
/// shared with SQLite, `store/sync.rs`).
#[test]
fn only_the_postgres_store_knows_postgresql() {
    let pg = src().join("store").join("postgres");
    let mut inside = 0;
    for f in files(&src()) {
        let text = fs::read_to_string(&f).unwrap();
        if f.starts_with(&pg) {
            inside += 1;
            for banned in [
                "axum",
                "crate::http",
                "crate::verify",
                "crate::access",
                "rusqlite",
            ] {
                assert!(!text.contains(banned), "{} mentions {banned}", f.display());
            }
        } else if !f.ends_with("error.rs") {
            // Naming the store (`store::postgres::PgDatabase`) is fine; the client is not.
            let text = text.replace("store::postgres::", "");
            for banned in ["postgres::", "r2d2", "refinery"] {
                assert!(!text.contains(banned), "{} mentions {banned}", f.display());
            }
        }
    }
    assert!(inside >= 3);
    // Its sync runs the shared driver; it has no plan of its own to drive.
    let sync = fs::read_to_string(pg.join("sync.rs")).unwrap();
    assert!(
        sync.contains("plan_and_run("),
        "postgres/sync.rs runs the shared driver"
    );
    for own in [
        "Plan::new(",
        "plan.admit(",
        "check_holder",
        "reachable_users",
    ] {
        assert!(!sync.contains(own), "postgres/sync.rs calls {own}");
    }
}
/// Architecture Invariant: the sync plan is decided without storage or HTTP: the apply side
/// (`store/sync.rs`) runs it, and its rules are unit-tested without SQLite or a server.
#[test]
fn the_sync_plan_is_decided_without_storage_or_http() {
    let text = fs::read_to_string(src().join("sync_plan.rs")).unwrap();
    for banned in [
        "rusqlite",
        "axum",
        "tokio",
        "crate::store",
        "crate::http",
        "client_core::Store",
        "SqliteStore",
        "Connection",
    ] {
        assert!(!text.contains(banned), "sync_plan.rs mentions {banned}");
    }
    assert!(
        text.contains("#[cfg(test)]"),
        "sync_plan.rs keeps its rules' unit tests"
    );
    // The apply side decides nothing of its own: it asks the plan.
    let apply = fs::read_to_string(src().join("store/sync.rs")).unwrap();
    for step in [
        "plan.admit(",
        "plan.received(",
        "plan.answered(",
        "plan.may_push(",
    ] {
        assert!(apply.contains(step), "store/sync.rs does not call {step}");
    }
}
