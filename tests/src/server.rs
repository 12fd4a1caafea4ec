//! The real `doorstep` binary as a process: `doorstep serve` on a loopback port (started,
//! killed with SIGKILL, stopped with SIGTERM, restarted on the same port) and `doorstep admin`
//! on its storage: a data directory (the embedded SQLite store) or a PostgreSQL database
//! ([`Storage`]; several servers may share one database).
//!
//! The binary belongs to another package (`doorstep-server`), so Cargo does not hand its path
//! to this crate (`CARGO_BIN_EXE_*` exists only for a package's own binaries). [`doorstep`]
//! asks Cargo to build it — into the same target directory and profile as the running test,
//! once per process — and returns its path. Under `cargo test --workspace` the binary is
//! already built and the call is a quick no-op; run alone (`cargo test -p doorstep-tests`),
//! it builds what is missing. `DOORSTEP_BIN` overrides the path.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `doorstep` binary of this workspace, built if needed (see the module's comment).
pub fn doorstep() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("DOORSTEP_BIN") {
            return PathBuf::from(p);
        }
        // target/<profile>/deps/<test>-<hash> (tests) or target/<profile>/<bench>-<hash>.
        let exe = std::env::current_exe().expect("the test knows its own path");
        let mut dir = exe.parent().expect("a directory").to_path_buf();
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir.pop();
        }
        let profile_dir = dir
            .file_name()
            .expect("a profile directory")
            .to_string_lossy()
            .to_string();
        let target = dir.parent().expect("a target directory").to_path_buf();
        let profile = match profile_dir.as_str() {
            "debug" => "dev".to_string(),
            other => other.to_string(),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "doorstep-server",
                "--bin",
                "doorstep",
            ])
            .arg("--profile")
            .arg(&profile)
            .arg("--target-dir")
            .arg(&target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the doorstep binary failed");
        let bin = dir.join(format!("doorstep{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
}

/// Where a server keeps its record.
#[derive(Clone, Debug)]
pub enum Storage {
    /// A data directory: the embedded SQLite store (`--data DIR`).
    Dir(PathBuf),
    /// A PostgreSQL database (`--database-url URL`), which several servers may share.
    Postgres(String),
}

impl Storage {
    /// The command-line arguments that name it, for `serve` and `admin`.
    pub fn args(&self) -> Vec<OsString> {
        match self {
            Storage::Dir(d) => vec!["--data".into(), d.into()],
            Storage::Postgres(url) => vec!["--database-url".into(), url.into()],
        }
    }
}

/// What names a server's storage: a data directory (a path) or a [`Storage`].
pub trait AsStorage {
    /// The storage.
    fn storage(&self) -> Storage;
}

impl AsStorage for Path {
    fn storage(&self) -> Storage {
        Storage::Dir(self.to_path_buf())
    }
}

impl AsStorage for PathBuf {
    fn storage(&self) -> Storage {
        Storage::Dir(self.clone())
    }
}

impl AsStorage for Storage {
    fn storage(&self) -> Storage {
        self.clone()
    }
}

/// Runs `doorstep admin --data DATA --json ARGS` (or `--database-url URL`): (exit status,
/// JSON printed).
pub fn admin_run(data: &(impl AsStorage + ?Sized), args: &[&str]) -> (i32, Value) {
    let out = Command::new(doorstep())
        .arg("admin")
        .args(data.storage().args())
        .arg("--json")
        .args(args)
        .output()
        .expect("doorstep admin runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "admin {args:?}: not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// Runs an admin command that must succeed.
pub fn admin(data: &(impl AsStorage + ?Sized), args: &[&str]) -> Value {
    let (code, v) = admin_run(data, args);
    assert_eq!(code, 0, "admin {args:?} failed: {v}");
    v
}

/// Creates team `team` with the members given as (user, role), agents reporting to the first
/// manager listed.
pub fn create_team(data: &(impl AsStorage + ?Sized), team: &str, members: &[(&str, &str)]) {
    admin(data, &["team", "create", team]);
    let boss = members
        .iter()
        .find(|(_, role)| *role != "agent")
        .map(|(u, _)| *u);
    for (user, role) in members {
        let mut args = vec![
            "user", "add", "--team", team, "--user", user, "--role", role,
        ];
        if let (Some(b), "agent") = (boss, *role) {
            args.extend(["--reports-to", b]);
        }
        admin(data, &args);
    }
}

/// Issues a device for `user`; returns its token.
pub fn issue_token(data: &(impl AsStorage + ?Sized), user: &str) -> String {
    admin(data, &["device", "issue", "--user", user])["token"]
        .as_str()
        .expect("a token")
        .to_string()
}

/// A running `doorstep serve`, killed when dropped.
pub struct ServerProcess {
    child: Option<Child>,
    /// The data directory (on PostgreSQL: the directory of the log).
    pub data: PathBuf,
    /// Where it keeps its record.
    pub storage: Storage,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its log (stderr), appended across restarts.
    pub log: PathBuf,
    /// Extra `RUST_LOG` filter (`warn` by default: the sync benchmark must not log every request).
    rust_log: String,
}

fn spawn(
    storage: &Storage,
    addr: &str,
    log: &Path,
    rust_log: &str,
) -> std::io::Result<(Child, SocketAddr)> {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut command = Command::new(doorstep());
    command.args(["serve", "--addr", addr]).args(storage.args());
    if let Storage::Postgres(_) = storage {
        // Each instance its own desks (one instance per desk directory), beside its log.
        command.arg("--desk-dir").arg(log.with_extension("desks"));
    }
    let mut child = command
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    match line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
    {
        Some(a) => Ok((child, a)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(std::io::Error::other(format!(
                "the server did not start: {line:?}"
            )))
        }
    }
}

impl ServerProcess {
    /// Starts a server on a free loopback port; returns once it listens.
    pub fn start(data: &Path) -> ServerProcess {
        ServerProcess::start_with_log_level(data, "warn")
    }

    /// Like [`ServerProcess::start`] with a `RUST_LOG` filter of the caller's choice.
    pub fn start_with_log_level(data: &Path, rust_log: &str) -> ServerProcess {
        ServerProcess::start_on(Storage::Dir(data.to_path_buf()), data, rust_log)
    }

    /// Starts a server on `storage` (several may share one PostgreSQL database), its log
    /// beside `data` (`DATA.log`).
    pub fn start_on(storage: Storage, data: &Path, rust_log: &str) -> ServerProcess {
        let log = data.with_extension("log");
        let (child, addr) =
            spawn(&storage, "127.0.0.1:0", &log, rust_log).expect("doorstep serve starts");
        ServerProcess {
            child: Some(child),
            data: data.to_path_buf(),
            storage,
            addr,
            log,
            rust_log: rust_log.to_string(),
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the process with SIGKILL (no graceful anything) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("reaped");
        }
    }

    /// Stops the process with SIGTERM (graceful: in-flight requests finish); returns whether it
    /// exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "kill -TERM failed");
        c.wait().expect("reaped").success()
    }

    /// Starts the server again on the same address (after [`ServerProcess::kill`] or
    /// [`ServerProcess::terminate`]), retrying while the port is still being released.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server still runs");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match spawn(
                &self.storage,
                &self.addr.to_string(),
                &self.log,
                &self.rust_log,
            ) {
                Ok((child, addr)) => {
                    assert_eq!(addr, self.addr);
                    self.child = Some(child);
                    return;
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restart: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("the server does not restart on {}: {e}", self.addr),
            }
        }
    }

    /// The process id while it runs (the peer benchmark pins it to a core and reads its
    /// memory and CPU time from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
