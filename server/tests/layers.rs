//! The server's layering rules, checked on the source: the HTTP handlers never see SQL or the
//! document store (only the `ServerStore` trait), and the rules (`access`, `verify`,
//! `history`, `import`) know no storage and no HTTP, so a PostgreSQL store or another
//! transport reuses them unchanged.

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

/// Architecture Invariant: handlers never see SQL — only the `ServerStore` trait.
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
