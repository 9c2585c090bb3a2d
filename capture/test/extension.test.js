// The capture extension end to end: Debian's Chromium with the extension
// loaded, configured through its own popup page, records scenarios on the demo
// app while Playwright only drives the page like a person; the extension (not
// Playwright) traces, gzips and uploads to a real `tracepipe serve`, whose
// Examples must carry the scenarios' expected tool calls. Then the same with
// the server down when the recording stops: kept, retried, uploaded once.

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startServer } = require("../demo-app/server.js");
const { SCENARIO_DIR, loadScenario, scenarioHelpers } = require("../recorder/session.js");
const { ARTIFACTS, apiGet, exampleToolCalls, freePort, launchWithExtension, openPopup, startServe } = require("./extension-support.js");

const env = {};

before(async () => {
  env.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-extension-serve-"));
  env.port = await freePort();
  env.serve = await startServe({ port: env.port, dataDir: env.dataDir });
  env.key = env.serve.key;
  env.demo = await startServer({ port: 0 });
  env.browser = await launchWithExtension();
  env.page = await env.browser.context.newPage();
  await env.page.goto(`${env.demo.url}#inbox`);
  await env.page.getByRole("row").first().waitFor();
  env.popup = await openPopup(env.browser.context);
});

after(async () => {
  if (env.browser) await env.browser.close();
  if (env.demo) await env.demo.close();
  if (env.serve) await env.serve.stop();
  console.log("DATADIR", env.dataDir); if (false) fs.rmSync(env.dataDir, { recursive: true, force: true });
});

const expected = (name) => JSON.parse(fs.readFileSync(path.join(SCENARIO_DIR, `${name}.expected.json`), "utf8"));

// Record (popup) → the scenario on the demo tab → Stop (popup).
async function recordThroughPopup(name) {
  const { page, popup, demo } = env;
  demo.mailbox.reset();
  await page.goto(`${demo.url}#inbox`);
  await page.reload();
  await page.getByRole("row").first().waitFor();
  await popup.bringToFront();
  await popup.reload();
  await assert.doesNotReject(popup.getByText(/^Tab: .*Mail/).waitFor({ timeout: 5000 }), "the popup targets the demo tab");
  await popup.getByLabel("Description (optional)").fill(`extension test: ${name}`);
  await popup.getByRole("button", { name: "Record" }).click();
  await popup.getByRole("button", { name: "Stop" }).waitFor();
  await page.bringToFront();
  await page.waitForTimeout(400);
  await loadScenario(name)(page, scenarioHelpers(page, demo.url));
  // Lets the last action's requests and repaint land in the trace.
  await page.waitForTimeout(600);
  await popup.bringToFront();
  await popup.getByRole("button", { name: "Stop" }).click();
  await popup.getByRole("button", { name: "Record" }).waitFor();
}

async function lastSessionId() {
  await env.popup.locator("#last-upload:not([hidden])").waitFor({ timeout: 30_000 });
  return env.popup.locator("#session-link").textContent();
}

test("the popup configures the extension and lists the server's suites", async () => {
  const { popup, serve } = env;
  await popup.getByLabel("Tracepipe URL").fill(serve.url);
  await popup.getByLabel("API key").fill(env.key);
  await popup.getByRole("button", { name: "Save settings" }).click();
  await popup.getByRole("status").filter({ hasText: "Settings saved." }).waitFor();
  await popup.getByRole("combobox", { name: "Suite" }).locator("option").first().waitFor({ state: "attached" });
  const suites = await popup.getByRole("combobox", { name: "Suite" }).locator("option").allTextContents();
  assert.ok(suites.some((s) => /gmail/i.test(s)), `suites: ${suites}`);
  // The key is kept, but the page shows only its start.
  assert.equal(await popup.getByLabel("API key").inputValue(), "");
  const shown = await popup.locator("body").innerText();
  assert.ok(!shown.includes(env.key), "the API key is never shown in full");
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await popup.screenshot({ path: path.join(ARTIFACTS, "popup.png"), fullPage: true });
});

for (const name of ["send_simple", "create_label"]) {
  test(`the extension records ${name} and its upload gives the expected tool calls`, async () => {
    const before = await apiGet(env.serve.url, env.key, "/sessions");
    const previous = await env.popup.locator("#session-link").textContent();
    await recordThroughPopup(name);
    await env.popup.waitForFunction((old) => document.querySelector("#session-link").textContent !== old, previous, { timeout: 60_000 });
    const sessionId = await lastSessionId();
    const session = await apiGet(env.serve.url, env.key, `/sessions/${sessionId}`);
    assert.equal(session.source_format, "CHROME_TRACE");
    assert.equal(session.description, `extension test: ${name}`);
    assert.equal((await apiGet(env.serve.url, env.key, "/sessions")).total, before.total + 1);
    assert.deepEqual(await exampleToolCalls(env.serve, sessionId), expected(name).tool_calls);
    // The upload was counted under the extension's client label.
    const metrics = await (await fetch(`${env.serve.url}/metrics`)).text();
    assert.match(metrics, /tracepipe_serve_uploads_total\{client="extension\/0\.1\.0"\} [1-9]/);
  });
}

test("a recording made while the server is down is kept, retried and uploaded exactly once", async () => {
  const before = await apiGet(env.serve.url, env.key, "/sessions");
  await env.serve.stop();
  await recordThroughPopup("send_simple");
  // Kept in the queue with the reason, and counted on the badge.
  const queued = env.popup.locator("#queue li");
  await queued.first().waitFor();
  assert.equal(await queued.count(), 1);
  assert.match(await queued.first().innerText(), /will retry: .*could not be reached/);
  assert.equal(await queued.first().getAttribute("data-state"), "waiting");
  const previous = await env.popup.locator("#session-link").textContent();

  env.serve = await startServe({ port: env.port, dataDir: env.dataDir });
  // Retried on its own (backoff), without anyone pressing a button.
  await env.popup.locator("#queue-empty:not([hidden])").waitFor({ timeout: 60_000 });
  await env.popup.waitForFunction((old) => document.querySelector("#session-link").textContent !== old, previous);
  const sessionId = await lastSessionId();
  // Past another retry interval: still one new session, nothing left queued.
  await env.popup.waitForTimeout(12_000);
  const after = await apiGet(env.serve.url, env.key, "/sessions");
  assert.equal(after.total, before.total + 1);
  assert.equal(after.items[0].id, sessionId);
  assert.equal(await env.popup.locator("#queue li").count(), 0);
  assert.deepEqual(await exampleToolCalls(env.serve, sessionId), expected("send_simple").tool_calls);
});
