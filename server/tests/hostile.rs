//! Hostile sync messages against a real `doorstep serve` on loopback (issue 10 §2): a bloom
//! filter with an absurd probe count or 0 bits per entry is refused `corrupt` at once while
//! the rest of its batch applies, and so are messages that make Automerge itself panic (found
//! by the fuzz); a request with many copies of one document's message is
//! refused before any work; a request that spends the server's time budget gets the rest of
//! its messages answered `retry_later`; the corpus replays over HTTP without a `5xx`. Every
//! figure these tests print goes into docs/security.md.

mod support;

use client_core::wire::encode_uleb as leb;
use std::time::{Duration, Instant};

use client_core::model::{CustomerPatch, Role};
use client_core::protocol::{DocMessage, RETRY_LATER};
use client_core::{CustomerId, DocId};
use support::*;
use tempfile::TempDir;

fn cid(s: &str) -> CustomerId {
    s.parse().unwrap()
}

/// `0x42`, no heads, no need, one have without last-sync hashes and with a bloom filter of one
/// entry, `bits` bits per entry and `probes` probes, no changes.
fn bloom_message(bits: u64, probes: u64) -> Vec<u8> {
    let mut bloom = vec![1];
    bloom.extend(leb(bits));
    bloom.extend(leb(probes));
    bloom.extend(vec![0; bits.div_ceil(8) as usize]);
    let mut m = vec![0x42, 0, 0, 1, 0];
    m.extend(leb(bloom.len() as u64));
    m.extend(bloom);
    m.push(0);
    m
}

/// A phone for A-0001 that has synced its four customers, and a note it wrote on the first.
async fn agent_with_a_note(
    data: &std::path::Path,
    server: &Server,
    customers: &[String],
) -> (Phone, DocMessage) {
    let http = http();
    let mut phone = Phone::new("A-0001", Role::Agent, token_for(data, "A-0001"));
    phone.sync(&http, &server.url).await;
    let doc = DocId::Customer(cid(&customers[0]));
    let since = phone.store.heads(&doc).unwrap();
    phone
        .store
        .edit_customer(
            cid(&customers[0]),
            CustomerPatch {
                notes: Some(Some("Prefers visits after 18:00".into())),
                ..Default::default()
            },
        )
        .unwrap();
    let mut d = phone.automerge(&doc);
    let data = changes_message(&mut d, &since);
    (phone, DocMessage { doc, data })
}

#[tokio::test]
async fn absurd_bloom_filters_are_refused_corrupt_at_once_while_the_rest_of_the_batch_applies() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let (mut phone, honest) = agent_with_a_note(&data, &server, &customers).await;

    // The 15-byte message (2^28 probes), 2^32-1 probes (16 GiB in Automerge), and
    // 0 bits per entry (a division by zero in Automerge: a panic, then a 500 for the batch).
    let probes_2p28 = bloom_message(1, 1 << 28);
    assert_eq!(probes_2p28.len(), 15);
    let hostile = [
        (1, probes_2p28),
        (2, bloom_message(10, u64::from(u32::MAX))),
        (3, bloom_message(0, 7)),
    ];
    let mut messages = vec![];
    for (i, m) in &hostile {
        messages.push(DocMessage {
            doc: DocId::Customer(cid(&customers[*i])),
            data: m.clone(),
        });
    }
    messages.insert(1, honest.clone());
    let req = phone.request(messages);
    let started = Instant::now();
    let (status, body) = post_sync(&http, &server.url, &phone.token, &req, false).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    let resp = response(&body);
    let mut refused: Vec<(DocId, String)> = resp
        .rejected
        .iter()
        .map(|r| (r.doc.clone(), r.code.clone()))
        .collect();
    refused.sort();
    let mut want: Vec<(DocId, String)> = hostile
        .iter()
        .map(|(i, _)| (DocId::Customer(cid(&customers[*i])), "corrupt".to_string()))
        .collect();
    want.sort();
    assert_eq!(refused, want, "{body}");
    assert!(
        resp.rejected
            .iter()
            .all(|r| r.message.contains("bloom filter")),
        "{body}"
    );
    // The honest message is answered (its changes acknowledged) and stored.
    assert!(resp.messages.iter().any(|m| m.doc == honest.doc), "{body}");
    let (status, detail) = get(
        &http,
        &server.url,
        &phone.token,
        &format!("/v1/customers/{}", customers[0]),
    )
    .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["customer"]["notes"], "Prefers visits after 18:00");
    eprintln!("a batch with the 2^28-probe, 2^32-probe and 0-bit filters answered in {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // Nothing is poisoned: the server goes on serving this device and others.
    phone.sync(&http, &server.url).await;
    let mut other = Phone::new("A-0002", Role::Agent, token_for(&data, "A-0002"));
    other.sync(&http, &server.url).await;
    assert_eq!(other.store.customers().unwrap().len(), 4);
}

/// Messages the fuzz found (`hostile_fuzz.rs`, edits inside real change chunks with their
/// checksums recomputed): they pass the wire check and make Automerge itself panic (a column
/// read across a slab boundary, an `unwrap` on a truncated number, a slice out of range).
#[tokio::test]
async fn messages_that_make_automerge_panic_are_refused_corrupt_and_the_batch_applies() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let (mut phone, honest) = agent_with_a_note(&data, &server, &customers).await;
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/sync");
    let mut messages = vec![honest.clone()];
    for (i, name) in ["slab", "unwrap", "range"].iter().enumerate() {
        let bytes =
            std::fs::read(corpus.join(format!("hostile-automerge-panic-{name}.bin"))).unwrap();
        client_core::wire::check_sync_message(&honest.doc, &bytes).unwrap();
        messages.push(DocMessage {
            doc: DocId::Customer(cid(&customers[i + 1])),
            data: bytes,
        });
    }
    let (status, body) = post_sync(
        &http,
        &server.url,
        &phone.token,
        &phone.request(messages),
        false,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let resp = response(&body);
    assert_eq!(resp.rejected.len(), 3, "{body}");
    for r in &resp.rejected {
        assert_eq!(r.code, "corrupt", "{body}");
        assert!(r.message.contains("Automerge failed"), "{body}");
    }
    assert!(resp.messages.iter().any(|m| m.doc == honest.doc), "{body}");
    let (_, detail) = get(
        &http,
        &server.url,
        &phone.token,
        &format!("/v1/customers/{}", customers[0]),
    )
    .await;
    assert_eq!(detail["customer"]["notes"], "Prefers visits after 18:00");
    // Nothing poisoned: the phone syncs on.
    phone.sync(&http, &server.url).await;
}

#[tokio::test]
async fn copies_of_one_documents_message_in_one_request_are_refused_before_any_work() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let (phone, honest) = agent_with_a_note(&data, &server, &customers).await;

    let req = phone.request(vec![honest.clone(); 5_000]);
    let started = Instant::now();
    let (status, body) = post_sync(&http, &server.url, &phone.token, &req, true).await;
    let took = started.elapsed();
    eprintln!("5,000 copies of one document's message refused in {took:?}");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "malformed", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&honest.doc.to_string()), "{message}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Nothing of it was applied; the same message once is.
    let (_, detail) = get(
        &http,
        &server.url,
        &phone.token,
        &format!("/v1/customers/{}", customers[0]),
    )
    .await;
    assert_ne!(detail["customer"]["notes"], "Prefers visits after 18:00");
    let (status, body) = post_sync(
        &http,
        &server.url,
        &phone.token,
        &phone.request(vec![honest]),
        false,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(response(&body).rejected.is_empty(), "{body}");
}

#[tokio::test]
async fn a_spent_time_budget_answers_the_rest_retry_later_and_the_next_rounds_take_it() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    // No time at all: each request gets exactly one message received.
    let server = Server::start_with_env(&data, &[("DOORSTEP_SYNC_BUDGET_MS", "0")]);
    let http = http();
    let mut phone = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    phone.sync(&http, &server.url).await;
    let mut messages = vec![];
    for (i, c) in customers[..3].iter().enumerate() {
        let doc = DocId::Customer(cid(c));
        let since = phone.store.heads(&doc).unwrap();
        phone
            .store
            .edit_customer(
                cid(c),
                CustomerPatch {
                    notes: Some(Some(format!("note {i}"))),
                    ..Default::default()
                },
            )
            .unwrap();
        let mut d = phone.automerge(&doc);
        messages.push(DocMessage {
            data: changes_message(&mut d, &since),
            doc,
        });
    }
    let (status, body) = post_sync(
        &http,
        &server.url,
        &phone.token,
        &phone.request(messages),
        false,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let resp = response(&body);
    assert!(resp.more, "{body}");
    let later: Vec<String> = resp
        .rejected
        .iter()
        .map(|r| {
            assert_eq!(r.code, RETRY_LATER, "{body}");
            r.doc.to_string()
        })
        .collect();
    assert_eq!(
        later,
        vec![
            format!("customer:{}", customers[1]),
            format!("customer:{}", customers[2])
        ]
    );
    // Not a refusal: nothing is logged.
    let log = admin(&data, &["rejections"]);
    assert_eq!(log.as_array().map(Vec::len), Some(0), "{log}");

    // The protocol's round loop takes the rest, one per request, and loses nothing.
    phone.sync(&http, &server.url).await;
    // Pushes stop at the budget too: a new phone gets one document per request, and `more`.
    let fresh = Phone::new("A-0002", Role::Agent, token_for(&data, "A-0002"));
    let (status, body) = post_sync(
        &http,
        &server.url,
        &fresh.token,
        &fresh.request(vec![]),
        false,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let resp = response(&body);
    assert_eq!((resp.messages.len(), resp.more), (1, true), "{body}");
    for (i, c) in customers[..3].iter().enumerate() {
        let (_, detail) = get(
            &http,
            &server.url,
            &phone.token,
            &format!("/v1/customers/{c}"),
        )
        .await;
        assert_eq!(detail["customer"]["notes"], format!("note {i}"), "{detail}");
    }
}

#[tokio::test]
async fn the_corpus_replays_over_http_without_a_server_error() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let mut phone = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    phone.sync(&http, &server.url).await;
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/sync");
    let mut files: Vec<_> = std::fs::read_dir(corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    let docs = [
        DocId::Customer(cid(&customers[0])),
        "day:A-0001:2026-06-15".parse().unwrap(),
    ];
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for doc in &docs {
            let req = phone.request(vec![DocMessage {
                doc: doc.clone(),
                data: bytes.clone(),
            }]);
            let (status, body) = post_sync(&http, &server.url, &phone.token, &req, false).await;
            assert_eq!(status, 200, "{} on {doc}: {body}", f.display());
        }
    }
    // The honest phone still converges.
    phone.sync(&http, &server.url).await;
    assert_eq!(phone.store.customers().unwrap().len(), 4);
}
