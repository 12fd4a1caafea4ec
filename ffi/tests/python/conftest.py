"""Fixtures of the Python tests of Doorstep's uniffi bindings.

The tests drive the real library through the bindings that `uniffi-bindgen` generated from it
(scripts/test builds both and puts the .so beside the generated module), and a real
`doorstep serve` on a loopback port with a real data directory, set up with `doorstep admin`.
Nothing is mocked, and nothing is skipped: a missing build is an error.
"""

import json
import os
import pathlib
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BINDINGS = pathlib.Path(os.environ.get("DOORSTEP_PY_BINDINGS", TARGET / "uniffi" / "python"))
DOORSTEP = pathlib.Path(os.environ.get("DOORSTEP_BIN", TARGET / "debug" / "doorstep"))

if not (BINDINGS / "doorstep_ffi.py").exists():
    raise RuntimeError(f"no generated bindings in {BINDINGS}: run scripts/test (or see docs/mobile.md)")
if not DOORSTEP.exists():
    raise RuntimeError(f"no doorstep binary at {DOORSTEP}: cargo build -p doorstep-server --bin doorstep")
sys.path.insert(0, str(BINDINGS))


class Server:
    """A running `doorstep serve` with a team: supervisor S-01 and agents A-0001, A-0002."""

    def __init__(self, data: pathlib.Path):
        self.data = data
        self.admin("team", "create", "north")
        self.admin("user", "add", "--team", "north", "--user", "S-01", "--role", "supervisor",
                   "--name", "Wang Jun")
        for agent in ("A-0001", "A-0002"):
            self.admin("user", "add", "--team", "north", "--user", agent, "--role", "agent",
                       "--reports-to", "S-01")
        self.manager_token = self.issue("S-01")
        self.log = open(data / "serve.log", "wb")
        self.proc = subprocess.Popen(
            [str(DOORSTEP), "serve", "--data", str(data), "--addr", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=self.log,
        )
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        found = {}

        def read():
            for raw in self.proc.stdout:
                line = raw.decode().strip()
                if line.startswith("listening on "):
                    found["url"] = line.removeprefix("listening on ")
                    return

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(30)
        if "url" not in found:
            self.stop()
            raise RuntimeError(f"doorstep serve did not start; log: {(self.data / 'serve.log').read_text()}")
        return found["url"]

    def admin(self, *args: str):
        out = subprocess.run(
            [str(DOORSTEP), "admin", "--data", str(self.data), "--json", *args],
            check=True, capture_output=True, timeout=60,
        )
        return json.loads(out.stdout) if out.stdout.strip() else None

    def issue(self, user: str) -> str:
        """A fresh device token for `user` (one per phone)."""
        return self.admin("device", "issue", "--user", user)["token"]

    def get(self, path: str, token: str):
        """GET on the JSON API: (status, body)."""
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("server-data"))
    yield s
    s.stop()
