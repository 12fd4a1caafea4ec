//! What the cross-crate end-to-end tests and the sync benchmark share: the real `doorstep`
//! binary run as a process (`server`), phones that are real client-core homes syncing through
//! client-sync over loopback HTTP (`phone`), and a TCP proxy between them that counts the
//! bytes on the wire and cuts connections on demand (`proxy`), and the Node automerge-repo sync
//! server with its JS clients that the peer benchmark compares against (`peer`), and a
//! PostgreSQL database of its own for a test on the PostgreSQL store (`pg`).
//!
//! It lives in the library of the `tests` crate (not in a `tests/` module) so that the
//! integration tests in `tests/tests/` and the benchmark in `tests/benches/` use the same code.

pub mod peer;
pub mod pg;
pub mod phone;
pub mod proxy;
pub mod server;
