//! The peer benchmark's Node side (`bench/peer/`, see `benches/peer.rs`) works end to end on a
//! tiny workload: the automerge-repo server only reports convergence once it holds the
//! documents, two JS devices upload 3 documents each and then a day offline, and the proxy sees
//! their bytes. Runs `npm ci` in `bench/peer/` first if its packages are missing.

use std::time::Duration;

use doorstep_tests::peer::{ensure_node_modules, run_clients, NodeServer, Workload};
use doorstep_tests::proxy::{Direction, Proxy};
use serde_json::json;

#[test]
fn the_node_peer_converges_on_a_tiny_workload() {
    ensure_node_modules();
    let dir = tempfile::TempDir::new().unwrap();
    let server = NodeServer::start(&dir.path().join("server"), None);

    // Convergence is not reported for a document the server does not hold.
    let unknown = json!({ "4NMNnkMhL8jXrdJ9jamS58PAVdXu": "deadbeef" });
    server
        .control("POST", "/expect", Some(&unknown), Duration::from_secs(5))
        .expect("/expect answers");
    assert_eq!(
        server.control("GET", "/wait", None, Duration::from_millis(500)),
        None,
        "the server claimed to hold a document nobody sent it"
    );

    let proxy = Proxy::start(([127, 0, 0, 1], server.ws_port).into());
    let ws = proxy.url().replace("http://", "ws://");
    let root = dir.path().join("clients");
    std::fs::create_dir_all(&root).unwrap();
    let w = Workload {
        devices: 2,
        customers: 3,
        visits: 2,
    };

    let up = run_clients("upload", &ws, &server.control_url(), &root, w);
    assert_eq!(up["documents"], 6, "{up}");
    // Per document: the repo's creation, the card, 3 visits.
    assert_eq!(up["changes"], 30, "{up}");
    assert!(up["messages_up"].as_u64().unwrap() >= 6, "{up}");
    assert!(up["server_flushed_ms"].as_f64().unwrap() >= up["server_heads_ms"].as_f64().unwrap());
    let (up_bytes, down_bytes) = (proxy.bytes(Direction::Up), proxy.bytes(Direction::Down));
    assert!(up_bytes > 1000 && down_bytes > 0, "{up_bytes} {down_bytes}");
    let stats = server
        .control("GET", "/stats", None, Duration::from_secs(5))
        .unwrap();
    assert!(stats["documents"].as_u64().unwrap() >= 6, "{stats}");

    let day = run_clients("day", &ws, &server.control_url(), &root, w);
    assert_eq!(day["documents_changed"], 4, "{day}");
    assert_eq!(day["changes"], 4, "{day}");
    assert!(proxy.bytes(Direction::Up) > up_bytes);
}
