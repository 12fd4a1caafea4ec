// The managers' dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core), against a real `doorstep serve` on a loopback port with a fresh data
// directory, an agent's phone being the real `doorstep agent` command line.
//
//  1. A supervisor logs in through the page, opens Today, and sees an agent's visit appear
//     within 2 s of the agent's `doorstep agent sync`, without a reload.
//  2. A supervisor of team B opens team A's customer by URL and is refused.
//
// Run from scripts/test after the cargo build: `npm test` in this folder. DOORSTEP_BIN names
// the binary (default: target/debug/doorstep of the workspace).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const BIN = process.env.DOORSTEP_BIN || join(root, "target/debug/doorstep");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PASSWORD = "browser test secret";

const work = mkdtempSync(join(tmpdir(), "doorstep-browser-"));
const data = join(work, "data");
const home = join(work, "phone");
let server, url, browser, northCustomer;

function doorstep(...args) {
  return execFileSync(BIN, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
const admin = (...args) => JSON.parse(doorstep("admin", "--data", data, "--json", ...args));
const agent = (...args) => JSON.parse(doorstep("agent", "--home", home, "--json", ...args));

function startServer() {
  return new Promise((ok, fail) => {
    const child = spawn(BIN, ["serve", "--addr", "127.0.0.1:0", "--data", data], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" },
    });
    child.on("error", fail);
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => {
      const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line.trim());
      if (!m) return fail(new Error(`unexpected first line: ${line}`));
      ok({ child, url: m[1] });
    });
  });
}

before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is built`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed`);
  // Team north: supervisor S-01 and agent A-0001 with the sample policies; team south:
  // supervisor S-02 and agent B-0001.
  admin("team", "create", "north");
  admin("user", "add", "--team", "north", "--user", "S-01", "--role", "supervisor", "--name", "Wang Jun");
  admin("user", "add", "--team", "north", "--user", "A-0001", "--role", "agent", "--reports-to", "S-01", "--name", "Li Na");
  admin("user", "add", "--team", "north", "--user", "A-0002", "--role", "agent", "--reports-to", "S-01");
  const imported = admin("import", "--team", "north", "--csv", join(root, "docs/sample-policies.csv"));
  northCustomer = imported.customers[0];
  admin("team", "create", "south");
  admin("user", "add", "--team", "south", "--user", "S-02", "--role", "supervisor");
  admin("user", "add", "--team", "south", "--user", "B-0001", "--role", "agent");
  const southCsv = join(work, "south.csv");
  writeFileSync(southCsv, "customer_name,phone,postcode,policy_number,product,premium,due_date,agent\n" +
    "Ma Li,13000130000,100001,S-1,Term Life 30,1200.00,2026-07-01,B-0001\n");
  admin("import", "--team", "south", "--csv", southCsv);
  admin("user", "password", "--user", "S-01", "--password", PASSWORD);
  admin("user", "password", "--user", "S-02", "--password", PASSWORD);
  const token = admin("device", "issue", "--user", "A-0001").token;

  ({ child: server, url } = await startServer());

  // The agent's phone: a home logged in to the server, with its customers synced down.
  agent("init", "--user", "A-0001");
  doorstep("agent", "--home", home, "login", "--server", url, "--token", token);
  agent("sync");

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
});

async function logIn(page, user) {
  await page.goto(url);
  await page.fill("#login-user", user);
  await page.fill("#login-password", PASSWORD);
  await page.click("#login-submit");
  await page.waitForSelector("#app:not([hidden])");
}

test("a supervisor sees an agent's visit appear on Today within 2 s of the agent's sync", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // The server's Content-Security-Policy must refuse nothing the page does.
  const refused = [];
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) refused.push(m.text()); });
  await logIn(page, "S-01");
  await page.click('#nav a[data-view="today"]');
  const cell = page.locator('#today-table tr[data-agent="A-0001"] td.effective');
  await cell.waitFor();
  assert.match(await cell.innerText(), /^0 \/ 3/);
  // The live stream is open; mark the page to prove it is not reloaded.
  await page.waitForSelector("#live.on");
  await page.evaluate(() => { window.__notReloaded = true; });

  agent("visit", "--customer", northCustomer, "--kind", "collection", "--purpose", "premium_collected",
    "--outcome", "paid", "--amount", "6800");
  agent("sync");
  const synced = Date.now();
  await page.waitForFunction(
    () => /^1 \/ 3/.test(document.querySelector('#today-table tr[data-agent="A-0001"] td.effective')?.innerText || ""),
    null,
    { timeout: 2000 },
  );
  const took = Date.now() - synced;
  console.log(`visit shown ${took} ms after the agent's sync returned`);
  assert.ok(took <= 2000, `${took} ms`);
  assert.equal(await page.evaluate(() => window.__notReloaded), true, "no reload");
  const fresh = await page.locator('#today-table tr[data-agent="A-0001"] td.fresh').innerText();
  assert.match(fresh, /synced/);
  const other = await page.locator('#today-table tr[data-agent="A-0002"] td.fresh').innerText();
  assert.match(other, /never synced/);
  // The screenshot is kept for people to look at (DOORSTEP_SCREENSHOTS=dir).
  if (process.env.DOORSTEP_SCREENSHOTS) {
    await page.screenshot({ path: join(process.env.DOORSTEP_SCREENSHOTS, "today.png"), fullPage: true });
  }

  // Every other view renders from its JSON without an error.
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  for (const view of ["week", "month", "pipeline", "problems", "spot-check", "playbook"]) {
    await page.click(`#nav a[data-view="${view}"]`);
    await page.waitForFunction((v) => document.querySelector(`#nav a.active`)?.dataset.view === v
      && document.querySelector("#view h2, #view-error"), view);
    assert.equal(await page.locator("#view-error").count(), 0, `${view}: ${await page.locator("#view").innerText()}`);
    if (process.env.DOORSTEP_SCREENSHOTS) {
      await page.screenshot({ path: join(process.env.DOORSTEP_SCREENSHOTS, `${view}.png`), fullPage: true });
    }
  }
  assert.deepEqual(errors, []);

  // The agent's day shows the visit; the customer page shows its history.
  await page.click('#nav a[data-view="today"]');
  await page.click('#today-table tr[data-agent="A-0001"] td a');
  await page.waitForSelector("#timeline li.visit");
  await page.goto(`${url}/#/customer/${northCustomer}`);
  await page.waitForSelector("#history tbody tr");
  assert.ok((await page.locator("#customer-name").innerText()).length > 0);
  if (process.env.DOORSTEP_SCREENSHOTS) {
    await page.screenshot({ path: join(process.env.DOORSTEP_SCREENSHOTS, "customer.png"), fullPage: true });
  }
  assert.deepEqual(refused, [], "the CSP refused part of the page");
  await context.close();
});

test("a supervisor of team B cannot open team A's customer by URL", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await logIn(page, "S-02");
  await page.goto(`${url}/#/customer/${northCustomer}`);
  await page.waitForSelector("#not-found");
  assert.equal(await page.locator("#customer-name").count(), 0);
  const body = await page.locator("#view").innerText();
  assert.doesNotMatch(body, /Li Wei/);
  // The API behind the page refuses it the same way.
  const res = await page.request.get(`${url}/v1/customers/${northCustomer}`);
  assert.equal(res.status(), 404);
  // And team B's own Today lists only team B's agent.
  await page.goto(`${url}/#/today`);
  await page.waitForSelector('#today-table tr[data-agent="B-0001"]');
  assert.equal(await page.locator('#today-table tr[data-agent="A-0001"]').count(), 0);
  await context.close();
});
