//! Checks the **Architecture Invariant** lines of `docs/ARCHITECTURE.md` that are about the
//! shape of the code rather than its behaviour: which crate may depend on what, which module
//! may not read the clock, that every module says why it exists. Behavioural invariants are
//! checked where the behaviour is (the index rebuild test, the crash test).

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn dependencies(manifest: &Path) -> Vec<String> {
    let text = fs::read_to_string(manifest).unwrap();
    let mut deps = vec![];
    let mut in_deps = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_deps = l == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = l.split_once(['=', '.']) {
                if !name.trim().is_empty() && !name.trim().starts_with('#') {
                    deps.push(name.trim().to_string());
                }
            }
        }
    }
    deps
}

/// Architecture Invariant: client-core does not know HTTP, sockets or an async runtime.
#[test]
fn client_core_does_not_know_http() {
    let deps = dependencies(&root().join("client-core/Cargo.toml"));
    assert!(deps.contains(&"automerge".to_string()), "parsed: {deps:?}");
    for banned in ["axum", "hyper", "reqwest", "tower", "tower-http", "http"] {
        assert!(
            !deps.contains(&banned.to_string()),
            "client-core depends on {banned}"
        );
    }
    let mut files = vec![];
    rust_files(&root().join("client-core/src"), &mut files);
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        for banned in ["std::net", "TcpStream", "reqwest", "axum"] {
            assert!(!text.contains(banned), "{} mentions {banned}", f.display());
        }
    }
}

/// Architecture Invariant: the playbook computations are pure functions of their inputs and
/// the date passed in: the playbook module never reads the clock and never touches SQLite.
#[test]
fn playbook_reads_no_clock_and_no_database() {
    let mut files = vec![];
    rust_files(&root().join("client-core/src/playbook"), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        for banned in ["::now(", "rusqlite", "SystemTime", "Instant::"] {
            assert!(!text.contains(banned), "{} uses {banned}", f.display());
        }
    }
}

/// Architecture Invariant: every module opens with a `//!` paragraph saying why it exists,
/// and no module is a grab-bag named `utils` or `helpers`.
#[test]
fn every_module_says_why_it_exists() {
    let mut files = vec![];
    for dir in [
        "client-core/src",
        "client-sync/src",
        "server/src",
        "tests/tests",
        "client-core/tests",
        "client-sync/tests",
        "ffi/src",
        "ffi/bindgen/src",
    ] {
        let d = root().join(dir);
        if d.exists() {
            rust_files(&d, &mut files);
        }
    }
    assert!(files.len() > 10);
    for f in files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        assert!(
            !["utils", "util", "helpers", "misc", "common"].contains(&name.as_str()),
            "{} is a grab-bag module",
            f.display()
        );
        let text = fs::read_to_string(&f).unwrap();
        assert!(
            text.trim_start().starts_with("//!"),
            "{} does not open with a //! paragraph",
            f.display()
        );
    }
}

/// Architecture Invariant: on the device, only client-sync's `transport` module knows HTTP,
/// and client-sync reaches the home only through client-core's public API (no SQL, no
/// Automerge document code of its own).
#[test]
fn only_the_device_transport_knows_http() {
    let deps = dependencies(&root().join("client-sync/Cargo.toml"));
    assert!(deps.contains(&"reqwest".to_string()), "parsed: {deps:?}");
    for banned in ["rusqlite", "axum", "hyper", "tower"] {
        assert!(
            !deps.contains(&banned.to_string()),
            "client-sync depends on {banned}"
        );
    }
    let mut files = vec![];
    rust_files(&root().join("client-sync/src"), &mut files);
    assert!(files.len() >= 5);
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy();
        if name != "transport.rs" {
            assert!(!text.contains("reqwest"), "{} knows HTTP", f.display());
        }
        for banned in ["rusqlite", "AutoCommit", "SELECT ", "std::net"] {
            assert!(!text.contains(banned), "{} uses {banned}", f.display());
        }
    }
}

/// Architecture Invariant: the code map in ARCHITECTURE.md names every top-level folder, and
/// every folder it names exists.
#[test]
fn the_code_map_matches_the_folders() {
    let doc = fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    for e in fs::read_dir(root()).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if !e.path().is_dir() || name.starts_with('.') || name == "target" {
            continue;
        }
        assert!(
            doc.contains(&format!("`{name}/`")),
            "ARCHITECTURE.md does not map {name}/"
        );
    }
    for line in doc.lines().filter(|l| l.starts_with("### `")) {
        let folder = line.trim_start_matches("### `").split('`').next().unwrap();
        assert!(
            root().join(folder).exists(),
            "ARCHITECTURE.md maps {folder}, which is gone"
        );
    }
}

/// Architecture Invariant: ffi holds no business logic and no storage: it depends only on
/// client-core, client-sync and uniffi's helpers, never names SQL, rusqlite, Automerge or
/// HTTP, and has no module besides its wrappers.
#[test]
fn ffi_only_wraps() {
    let deps = dependencies(&root().join("ffi/Cargo.toml"));
    assert!(deps.contains(&"uniffi".to_string()), "parsed: {deps:?}");
    let allowed = [
        "doorstep-client-core",
        "doorstep-client-sync",
        "uniffi",
        "thiserror",
        "chrono",
        "serde",
        "serde_json",
    ];
    for d in &deps {
        assert!(allowed.contains(&d.as_str()), "ffi depends on {d}");
    }
    let mut files = vec![];
    rust_files(&root().join("ffi/src"), &mut files);
    let mut modules: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().to_string())
        .collect();
    modules.sort();
    assert_eq!(
        modules,
        ["error", "home", "lib", "progress", "records", "scalars", "sync"],
        "a new module in ffi: wrappers only (business logic belongs in client-core)"
    );
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        for banned in [
            "rusqlite",
            "automerge",
            "AutoCommit",
            "SELECT ",
            "INSERT ",
            "reqwest",
            "std::net",
        ] {
            assert!(!text.contains(banned), "{} uses {banned}", f.display());
        }
    }
}
