// The peer of tests/benches/peer.rs: the Node automerge-repo sync server, set up as the
// reference sync server is (a Repo with a WebSocket server adapter and a filesystem storage
// adapter, sharing every document with every peer).
//
// Usage: node server.mjs STORAGE_DIR
// Prints one line, `listening WS_PORT CONTROL_PORT`, once both listen on 127.0.0.1.
//
// The control port is the benchmark's side channel, never used by the clients' sync:
//   POST /expect   body {"docId": "heads,joined", ...}: the documents and heads to wait for
//   GET  /wait     answers once this server holds every expected document at (at least) the
//                  expected heads and has flushed them to storage: {"heads_ms", "flushed_ms"},
//                  both measured from the last /start; 409 if a newer /expect replaced the
//                  expectation meanwhile
//   POST /start    marks the start of the timed phase (the clients call it just before they
//                  connect)
//   GET  /stats    {"documents": n}
import http from "node:http";
import { WebSocketServer } from "ws";
import { Repo } from "@automerge/automerge-repo";
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs";
import { logUnhandledRejections } from "./rejections.mjs";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node server.mjs STORAGE_DIR");
  process.exit(2);
}

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dir),
  sharePolicy: async () => true,
});

let expected = new Map(); // docId -> Set of expected head hashes
let generation = 0; // bumped by each /expect: a /wait for an older expectation gives up
let start = performance.now();

// Whether the server's copy of `docId` contains every expected head.
function holds(docId, heads) {
  const handle = repo.handles[docId];
  if (!handle || !handle.isReady()) return false;
  // Each document has one writer here, so the server's heads equal the writer's once it
  // holds every change.
  const have = new Set(handle.heads());
  return [...heads].every((h) => have.has(h));
}

async function waitConverged() {
  const mine = generation;
  let pending = [...expected.entries()];
  while (pending.length > 0) {
    if (generation !== mine) return null;
    pending = pending.filter(([id, heads]) => !holds(id, heads));
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 5));
  }
  const headsMs = performance.now() - start;
  await repo.flush([...expected.keys()]);
  const flushedMs = performance.now() - start;
  return { heads_ms: headsMs, flushed_ms: flushedMs };
}

function body(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

const control = http.createServer(async (req, res) => {
  const reply = (status, value) => {
    const text = JSON.stringify(value);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  };
  try {
    if (req.method === "POST" && req.url === "/expect") {
      const map = JSON.parse(await body(req));
      expected = new Map(Object.entries(map).map(([id, h]) => [id, new Set(h.split(","))]));
      generation++;
      reply(200, { expected: expected.size });
    } else if (req.method === "POST" && req.url === "/start") {
      start = performance.now();
      reply(200, {});
    } else if (req.method === "GET" && req.url === "/wait") {
      const done = await waitConverged();
      if (done) reply(200, done);
      else reply(409, { error: { code: "superseded", message: "a newer /expect replaced this one" } });
    } else if (req.method === "GET" && req.url === "/stats") {
      reply(200, { documents: Object.keys(repo.handles).length });
    } else {
      reply(404, { error: { code: "not_found", message: req.url } });
    }
  } catch (e) {
    reply(500, { error: { code: "internal", message: String(e) } });
  }
});

await new Promise((r) => wss.on("listening", r));
await new Promise((r) => control.listen(0, "127.0.0.1", r));
console.log(`listening ${wss.address().port} ${control.address().port}`);

logUnhandledRejections();

const stop = async () => {
  await repo.shutdown().catch(() => {});
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
