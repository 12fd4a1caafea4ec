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

/// Architecture Invariant: only `store/postgres/` talks to PostgreSQL (`error.rs` names its
/// errors), and the PostgreSQL store knows no HTTP and no sync rules.
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
}
