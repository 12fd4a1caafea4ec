//! The server's memory settings (`--doc-cache-mb`, `--sync-concurrency`) bound work, never
//! data: with a document cache too small to hold a request's documents and one sync request
//! admitted at a time, many devices syncing at once still lose nothing. The bound itself is
//! tested on client-core's store (`client-core/tests/doc_cache.rs`); the peak memory they
//! buy is measured by the peer benchmark (docs/benchmarks.md).

mod support;

use std::process::{Command, Stdio};

use client_core::model::{NewCustomer, Role};
use support::{http, north_team, token_for, Phone, Server};
use tempfile::TempDir;

const DEVICES_PER_AGENT: usize = 8;
const CUSTOMERS_PER_DEVICE: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_devices_at_once_through_one_admission_and_a_tiny_cache_lose_nothing() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    // 1 MiB of cache: about twenty documents, fewer than one round's.
    let server = Server::start_with(&data, &["--sync-concurrency", "1", "--doc-cache-mb", "1"]);
    let http = http();

    let mut phones = vec![];
    for agent in ["A-0001", "A-0002"] {
        for d in 0..DEVICES_PER_AGENT {
            let mut p = Phone::new(agent, Role::Agent, token_for(&data, agent));
            for j in 0..CUSTOMERS_PER_DEVICE {
                p.store
                    .add_customer(NewCustomer {
                        name: format!("{agent} device {d} customer {j}"),
                        phones: vec![format!("139{d:02}{j:06}")],
                        ..Default::default()
                    })
                    .unwrap();
            }
            phones.push(p);
        }
    }
    let tasks: Vec<_> = phones
        .into_iter()
        .map(|mut p| {
            let (http, url) = (http.clone(), server.url.clone());
            tokio::spawn(async move {
                p.sync(&http, &url).await;
                p
            })
        })
        .collect();
    let mut phones = vec![];
    for t in tasks {
        phones.push(t.await.unwrap());
    }
    for p in &mut phones {
        assert!(p.store.out_of_sync("server").unwrap().is_empty());
    }

    // A new device of each agent receives everything the agent's devices wrote, plus the
    // four imported customers each.
    for agent in ["A-0001", "A-0002"] {
        let mut fresh = Phone::new(agent, Role::Agent, token_for(&data, agent));
        fresh.sync(&http, &server.url).await;
        let names: Vec<String> = fresh
            .store
            .customers()
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            names.len(),
            4 + DEVICES_PER_AGENT * CUSTOMERS_PER_DEVICE,
            "{agent}: {names:?}"
        );
        for d in 0..DEVICES_PER_AGENT {
            for j in 0..CUSTOMERS_PER_DEVICE {
                let name = format!("{agent} device {d} customer {j}");
                assert!(names.contains(&name), "{name} is missing");
            }
        }
    }
}

#[test]
fn no_sync_admitted_is_refused_at_start() {
    let dir = TempDir::new().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--sync-concurrency",
            "0",
            "--data",
        ])
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sync-concurrency"), "{err}");
}
