// The peer's phones for tests/benches/peer.rs: D JS automerge-repo clients (one Repo per
// device, each with a storage directory of its own) in one Node process.
//
// Usage: node clients.mjs upload|day WS_URL CONTROL_URL ROOT D C V
//   upload: each device creates C customer documents offline (not timed: a card, then 3
//           visits as separate changes), then all connect at once; timed until the server
//           reports it holds every document at the devices' heads (its control port, see
//           server.mjs). The documents' URLs are written to ROOT/docs-<device>.json.
//   day:    each device, still offline, loads its documents from its storage (not timed),
//           adds a visit to V distinct documents, then all connect at once; timed as above.
// Prints one JSON line: {"phase", "devices", "documents", "changes", "ms", "server_heads_ms",
// "server_flushed_ms", "messages_up", "messages_down", "message_bytes_up",
// "message_bytes_down"}.
import fs from "node:fs";
import path from "node:path";
import { Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs";
import { logUnhandledRejections } from "./rejections.mjs";
import * as A from "@automerge/automerge";

const [phase, wsUrl, controlUrl, root, d, c, v] = process.argv.slice(2);

logUnhandledRejections();
const devices = Number(d);
const customers = Number(c);
const visits = Number(v);
if (!["upload", "day"].includes(phase) || !(devices > 0) || !(customers > 0) || !(visits >= 0)) {
  console.error("usage: node clients.mjs upload|day WS_URL CONTROL_URL ROOT D C V");
  process.exit(2);
}
if (visits > customers) {
  console.error(`V (${visits}) must not exceed C (${customers}): the visits go to distinct documents`);
  process.exit(2);
}

const day = new Date("2026-06-15T09:00:00Z");

function visit(device, doc, n) {
  const end = new Date(day.getTime() + (n + 1) * 3_600_000);
  return {
    id: `${device}-${doc}-${n}`,
    kind: "sales",
    purposes: ["needs_discovery"],
    outcome: { code: "appointment" },
    policies: [],
    start: new Date(end.getTime() - 1_800_000).toISOString(),
    end: end.toISOString(),
    notes: `visit ${n}, talked about the renewal and the children's plan`,
    by: `A-${String(device).padStart(4, "0")}`,
  };
}

function newRepo(device) {
  return new Repo({
    storage: new NodeFSStorageAdapter(path.join(root, `device-${device}`)),
    network: [],
    sharePolicy: async () => true,
  });
}

async function control(method, route, value) {
  const res = await fetch(controlUrl + route, {
    method,
    headers: { "content-type": "application/json" },
    body: value === undefined ? undefined : JSON.stringify(value),
  });
  if (!res.ok) throw new Error(`${route}: ${res.status} ${await res.text()}`);
  return res.json();
}

const repos = [];
const handles = []; // per device: its documents' handles
let changes = 0;
let touched = [];

for (let i = 0; i < devices; i++) {
  const repo = newRepo(i);
  repos.push(repo);
  const mine = [];
  if (phase === "upload") {
    for (let j = 0; j < customers; j++) {
      const h = repo.create();
      h.change((doc) => {
        doc.customer = {
          id: `cust-${i}-${j}`,
          name: `Customer ${j}`,
          phones: [`1380000${String(j).padStart(4, "0")}`],
          postcode: `2000${String(j % 40).padStart(2, "0")}`,
          owner: `A-${String(i).padStart(4, "0")}`,
        };
        doc.policies = {};
        doc.visits = {};
      });
      for (let n = 0; n < 3; n++) {
        h.change((doc) => {
          doc.visits[`${i}-${j}-${n}`] = visit(i, j, n);
        });
      }
      changes += A.getAllChanges(h.doc()).length;
      mine.push(h);
    }
    fs.writeFileSync(path.join(root, `docs-${i}.json`), JSON.stringify(mine.map((h) => h.url)));
  } else {
    const urls = JSON.parse(fs.readFileSync(path.join(root, `docs-${i}.json`), "utf8"));
    for (const url of urls) mine.push(await repo.find(url));
    const step = Math.max(1, Math.floor(urls.length / Math.max(visits, 1)));
    for (let n = 0; n < visits; n++) {
      const h = mine[(n * step) % mine.length];
      const before = A.getAllChanges(h.doc()).length;
      h.change((doc) => {
        doc.visits[`${i}-day-${n}`] = visit(i, n, 100 + n);
      });
      changes += A.getAllChanges(h.doc()).length - before;
    }
    touched.push(visits);
  }
  handles.push(mine);
}
await Promise.all(repos.map((r) => r.flush()));

const expected = {};
for (const mine of handles) for (const h of mine) expected[h.documentId] = h.heads().join(",");
await control("POST", "/expect", expected);

// Count the messages each device's adapter sends and receives.
const counts = { up: 0, down: 0, bytesUp: 0, bytesDown: 0 };
const size = (m) => (m.data ? m.data.byteLength : 0);

await control("POST", "/start");
const t0 = performance.now();
for (const repo of repos) {
  const adapter = new WebSocketClientAdapter(wsUrl, 1000);
  const send = adapter.send.bind(adapter);
  adapter.send = (m) => {
    counts.up++;
    counts.bytesUp += size(m);
    send(m);
  };
  adapter.on("message", (m) => {
    counts.down++;
    counts.bytesDown += size(m);
  });
  repo.networkSubsystem.addNetworkAdapter(adapter);
}
const server = await control("GET", "/wait");
const ms = performance.now() - t0;

console.log(
  JSON.stringify({
    phase,
    devices,
    documents: Object.keys(expected).length,
    documents_changed: phase === "upload" ? Object.keys(expected).length : devices * visits,
    changes,
    ms,
    server_heads_ms: server.heads_ms,
    server_flushed_ms: server.flushed_ms,
    messages_up: counts.up,
    messages_down: counts.down,
    message_bytes_up: counts.bytesUp,
    message_bytes_down: counts.bytesDown,
  }),
);
await Promise.all(repos.map((r) => r.shutdown().catch(() => {})));
process.exit(0);
