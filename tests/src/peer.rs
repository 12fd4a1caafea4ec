//! The Node automerge-repo sync server and its JS clients (`bench/peer/`) as processes: the
//! peer that `benches/peer.rs` measures `doorstep serve` against, and that
//! `tests/peer_harness.rs` checks end to end on a tiny workload. Kept here, beside `server.rs`,
//! so that the benchmark and its test drive the Node side the same way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `bench/peer/` in this repository.
pub fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .join("bench/peer")
}

/// Runs `npm ci` in `bench/peer/` if its packages are missing.
pub fn ensure_node_modules() {
    let dir = peer_dir();
    if dir.join("node_modules/@automerge/automerge-repo").exists() {
        return;
    }
    let ok = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "npm ci in {} failed", dir.display());
}

/// `bench/peer/server.mjs` on loopback, killed when dropped.
pub struct NodeServer {
    child: Child,
    /// The automerge-repo WebSocket port.
    pub ws_port: u16,
    /// The benchmark's side channel (see server.mjs).
    pub control_port: u16,
}

impl NodeServer {
    /// Starts the server with its storage in `storage`, pinned to `core` with `taskset` if
    /// given; returns once it listens.
    pub fn start(storage: &Path, core: Option<&str>) -> NodeServer {
        let script = peer_dir().join("server.mjs");
        let mut cmd = match core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.args(["-c", core, "node"]);
                c
            }
            None => Command::new("node"),
        };
        let mut child = cmd
            .arg(script)
            .arg(storage)
            .stdout(Stdio::piped())
            .spawn()
            .expect("node server.mjs starts");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        out.read_line(&mut line)
            .expect("server.mjs prints its ports");
        // The rest of its output is read and dropped: automerge-repo logs to stdout under
        // load (`error waiting for … to be in one of states`), and a pipe nobody reads ends
        // the process on EPIPE (it did, mid-upload at D50).
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let ports: Vec<u16> = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("server.mjs did not start: {line:?}"))
            .split(' ')
            .map(|p| p.parse().expect("a port"))
            .collect();
        NodeServer {
            child,
            ws_port: ports[0],
            control_port: ports[1],
        }
    }

    /// The process id (for /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the server process ended, if it has (it crashes on some loads).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// `http://127.0.0.1:PORT` of the side channel.
    pub fn control_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.control_port)
    }

    /// One request to the side channel: `GET` or `POST` (with a JSON body) `route`; the JSON
    /// answer, or None if it did not come within `timeout`.
    pub fn control(
        &self,
        method: &str,
        route: &str,
        body: Option<&Value>,
        timeout: std::time::Duration,
    ) -> Option<Value> {
        let mut s = TcpStream::connect(("127.0.0.1", self.control_port)).expect("connect");
        s.set_read_timeout(Some(timeout)).expect("a timeout");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            s,
            "{method} {route} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut out = String::new();
        match s.read_to_string(&mut out) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(e) => panic!("{route}: {e}"),
        }
        let (_, json) = out.split_once("\r\n\r\n").expect("an HTTP answer");
        Some(serde_json::from_str(json).unwrap_or_else(|e| panic!("{route}: {e}: {out}")))
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The size of a peer workload: devices, customers per device, visits per device on the day
/// offline.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// D devices.
    pub devices: usize,
    /// C customer documents per device.
    pub customers: usize,
    /// V visits per device, on V distinct customers, on the day offline.
    pub visits: usize,
}

/// Runs one phase (`upload` or `day`) of `bench/peer/clients.mjs` against the WebSocket URL
/// `ws` (a proxy's, to count bytes) and the server's side channel; `root` holds the devices'
/// storage across phases. Returns the JSON line it printed; panics if the phase fails.
pub fn run_clients(phase: &str, ws: &str, control: &str, root: &Path, w: Workload) -> Value {
    try_run_clients(phase, ws, control, root, w, &mut || None).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`run_clients`], but a failure is an `Err` saying what happened (the benchmark draws
/// such a run as missing): the clients exited with an error, or `give_up`, asked every 200 ms
/// while they run, gave a reason to stop (the server died, the phase took too long): the
/// clients are then killed.
pub fn try_run_clients(
    phase: &str,
    ws: &str,
    control: &str,
    root: &Path,
    w: Workload,
    give_up: &mut dyn FnMut() -> Option<String>,
) -> Result<Value, String> {
    let mut child = Command::new("node")
        .arg(peer_dir().join("clients.mjs"))
        .arg(phase)
        .arg(ws)
        .arg(control)
        .arg(root)
        .args([w.devices, w.customers, w.visits].map(|n| n.to_string()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("node clients.mjs does not start: {e}"))?;
    let mut pipe = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = pipe.read_to_string(&mut out);
        out
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if let Some(why) = give_up() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "clients.mjs {phase}: {why} after {} s; clients killed",
                start.elapsed().as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = reader.join().unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = stdout.lines().rev().take(5).collect();
        return Err(format!("clients.mjs {phase} failed ({status}): {tail:?}"));
    }
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).map_err(|e| format!("clients.mjs {phase}: {e}: {stdout}"))
}
