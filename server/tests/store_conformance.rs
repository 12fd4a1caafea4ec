//! The store conformance suite (`doorstep_server::store::conformance`: every store trait's
//! promises) run against the embedded SQLite store, on real SQLite files in a fresh directory
//! per test. A new store implementation runs the same suite with one line of its own.

doorstep_server::store_conformance!(|dir: &std::path::Path| {
    doorstep_server::store::SqliteStore::open(&dir.join("server")).unwrap()
});
