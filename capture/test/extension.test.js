// The capture extension end to end: Debian's Chromium with the extension
// loaded, configured through its own popup page, records scenarios on the demo
// app while Playwright only drives the page like a person; the extension (not
// Playwright) traces, gzips and uploads to a real `tracepipe serve`, whose
// Examples must carry the scenarios' expected tool calls. Then the same with
// the server down when the recording stops: kept, retried, uploaded once.
// Last, a fleet's configuration through Chrome enterprise policy. One file,
// so that the policy (which names the extension's fixed id) never applies to
// the browser of the other tests: files may run in parallel, tests in a file
// do not.

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");
const { startServer } = require("../demo-app/server.js");
const { SCENARIO_DIR, loadScenario, scenarioHelpers } = require("../recorder/session.js");
// The client name the extension sends, from its manifest's version.
const CLIENT = `extension/${require("../extension/manifest.json").version}`;
// The server's count of uploads from this client.
const UPLOADS_METRIC = new RegExp(`tracepipe_serve_uploads_total\\{client="${CLIENT.replace(/[.]/g, "\\.")}"\\} (\\d+)`);
const { ARTIFACTS, EXTENSION_ID, ROOT, apiGet, downloadExtension, exampleToolCalls, freePort, launchWithExtension, openPopup, startServe } = require("./extension-support.js");

// Opens the popup's Settings section, as a person would, unless it is open.
async function openSettings(popup) {
  if ((await popup.locator("#settings-box").getAttribute("open")) === null) await popup.getByText("Settings", { exact: true }).click();
}

describe("recording and uploading", () => {
  const env = {};

  before(async () => {
    env.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-extension-serve-"));
    env.port = await freePort();
    env.serve = await startServe({ port: env.port, dataDir: env.dataDir });
    env.key = env.serve.key;
    env.demo = await startServer({ port: 0 });
    // The extension as the server distributes it: the zip, unzipped.
    env.extension = await downloadExtension(env.serve.url);
    env.browser = await launchWithExtension(env.extension.dir);
    env.page = await env.browser.context.newPage();
    await env.page.goto(`${env.demo.url}#inbox`);
    await env.page.getByRole("row").first().waitFor();
    env.popup = await openPopup(env.browser.context);
  });

  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.demo) await env.demo.close();
    if (env.serve) await env.serve.stop();
    if (env.dataDir) fs.rmSync(env.dataDir, { recursive: true, force: true });
    if (env.extension) env.extension.remove();
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
    // Every status line the popup is sent, transient ones (upload progress) included.
    await popup.evaluate(() => {
      window.statusLines = [];
      chrome.storage.onChanged.addListener((changes, area) => {
        if (area === "session" && changes.status?.newValue?.message) window.statusLines.push(changes.status.newValue.message);
      });
    });
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

  test("the how-to page links the zip, which holds the repository's capture script", async () => {
    const page = await env.browser.context.newPage();
    await page.goto(`${env.serve.url}/capture`);
    const link = page.getByRole("link", { name: "Download the extension (zip)" });
    assert.equal(await link.getAttribute("href"), "/downloads/tracepipe-capture-extension.zip");
    assert.ok(await page.getByRole("heading", { name: "Install it for a team (policy)" }).isVisible());
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, "capture-howto.png"), fullPage: true });
    await page.close();
    // The symlink is resolved into the zip; the extension loaded from it (its
    // service worker runs) is what every other test here uses.
    assert.deepEqual(fs.readFileSync(path.join(env.extension.dir, "capture.js")), fs.readFileSync(path.join(ROOT, "capture", "capture.js")));
    assert.match(env.browser.worker.url(), /^chrome-extension:\/\/[a-p]{32}\/background\.js$/);
  });

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
      const lines = await env.popup.evaluate(() => window.statusLines);
      assert.ok(lines.some((line) => /^Uploading… 100 %$/.test(line)), `upload progress in ${JSON.stringify(lines)}`);
      assert.equal((await apiGet(env.serve.url, env.key, "/sessions")).total, before.total + 1);
      assert.deepEqual(await exampleToolCalls(env.serve, sessionId), expected(name).tool_calls);
      // The upload was counted under the extension's client label.
      const metrics = await (await fetch(`${env.serve.url}/metrics`)).text();
      assert.ok(Number((metrics.match(UPLOADS_METRIC) || [0, 0])[1]) > 0, `no upload counted for ${CLIENT}:\n${metrics}`);
    });
  }

  test("a recording made while the server is down is kept, retried and uploaded exactly once", async () => {
    const before = await apiGet(env.serve.url, env.key, "/sessions");
    await env.serve.stop();
    await recordThroughPopup("send_simple");
    // Kept in the queue with the reason, and counted on the badge.
    const queued = env.popup.locator("#queue li");
    await queued.filter({ hasText: /will retry: .*could not be reached/ }).waitFor();
    assert.equal(await queued.count(), 1);
    assert.equal(await queued.first().getAttribute("data-state"), "waiting");
    const previous = await env.popup.locator("#session-link").textContent();

    // A restart prints no key: the administrator's from the first start stays valid.
    env.serve = { ...(await startServe({ port: env.port, dataDir: env.dataDir })), key: env.key };
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

  test("an upload refused for its key is kept and goes up once a valid key is saved", async () => {
    const { popup } = env;
    const before = await apiGet(env.serve.url, env.key, "/sessions");
    await openSettings(popup);
    await popup.getByLabel("API key").fill("tp_live_revoked0000000000000000000000000000000");
    await popup.getByRole("button", { name: "Save settings" }).click();
    await recordThroughPopup("list_labels");
    // Listed first while the upload is tried, then with the server's refusal.
    await popup.locator("#queue li").filter({ hasText: /will retry: 401: / }).waitFor();
    assert.equal(await popup.locator("#queue li").count(), 1);
    assert.equal((await apiGet(env.serve.url, env.key, "/sessions")).total, before.total);
    const previous = await popup.locator("#session-link").textContent();
    await openSettings(popup);
    await popup.getByLabel("API key").fill(env.key);
    await popup.getByRole("button", { name: "Save settings" }).click();
    await popup.locator("#queue-empty:not([hidden])").waitFor({ timeout: 30_000 });
    await popup.waitForFunction((old) => document.querySelector("#session-link").textContent !== old, previous);
    assert.equal((await apiGet(env.serve.url, env.key, "/sessions")).total, before.total + 1);
    assert.deepEqual(await exampleToolCalls(env.serve, await lastSessionId()), expected("list_labels").tool_calls);
  });

  test("a retry after a lost answer gives the same session (Idempotency-Key)", async () => {
    const { popup } = env;
    // Between the extension and the server: forwards everything, but the
    // first upload's answer never reaches the extension; the server stored it.
    let dropped = 0;
    const proxy = http.createServer((request, response) => {
      const upstream = http.request(`${env.serve.url}${request.url}`, { method: request.method, headers: request.headers }, (answer) => {
        if (request.method === "POST" && request.url === "/v1/sessions" && dropped === 0) {
          dropped += 1;
          answer.resume();
          answer.on("end", () => request.socket.destroy());
          return;
        }
        response.writeHead(answer.statusCode, answer.headers);
        answer.pipe(response);
      });
      request.pipe(upstream);
    });
    await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const uploadsCounted = async () => Number(((await (await fetch(`${env.serve.url}/metrics`)).text()).match(UPLOADS_METRIC) || [0, 0])[1]);
      const before = await apiGet(env.serve.url, env.key, "/sessions");
      const countedBefore = await uploadsCounted();
      await openSettings(popup);
      await popup.getByLabel("Tracepipe URL").fill(`http://127.0.0.1:${proxy.address().port}`);
      await popup.getByRole("button", { name: "Save settings" }).click();
      const previous = await popup.locator("#session-link").textContent();
      await recordThroughPopup("send_simple");
      await popup.waitForFunction((old) => document.querySelector("#session-link").textContent !== old, previous, { timeout: 60_000 });
      await popup.locator("#queue-empty:not([hidden])").waitFor();
      assert.equal(dropped, 1);
      // Both requests were accepted (201, then 200 for the same key) …
      assert.equal((await uploadsCounted()) - countedBefore, 2);
      // … and made one session, the one the extension shows.
      const after = await apiGet(env.serve.url, env.key, "/sessions");
      assert.equal(after.total, before.total + 1);
      assert.equal(after.items[0].id, await lastSessionId());
    } finally {
      await openSettings(popup);
      await popup.getByLabel("Tracepipe URL").fill(env.serve.url);
      await popup.getByRole("button", { name: "Save settings" }).click();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  test("leaving the recorded site stops the recording and keeps it; closing the tab ends it cleanly", async () => {
    const { popup, page, demo } = env;
    const before = await apiGet(env.serve.url, env.key, "/sessions");
    await page.goto(`${demo.url}#inbox`);
    await page.getByRole("row").first().waitFor();
    await popup.bringToFront();
    await popup.reload();
    await popup.getByText(/^Tab: .*Mail/).waitFor();
    await popup.getByRole("button", { name: "Record" }).click();
    await popup.getByRole("button", { name: "Stop" }).waitFor();
    assert.equal(await popup.evaluate(() => chrome.action.getBadgeText({})), "REC");
    await page.bringToFront();
    await page.getByRole("row").filter({ has: page.getByRole("gridcell") }).first().click();
    // Another origin: the server's how-to page.
    await page.goto(`${env.serve.url}/capture`);
    await popup.getByRole("status").filter({ hasText: "Uploaded: session" }).waitFor({ timeout: 30_000 });
    assert.equal((await apiGet(env.serve.url, env.key, "/sessions")).total, before.total + 1);
    assert.equal(await popup.evaluate(() => chrome.action.getBadgeText({})), "");

    const doomed = await env.browser.context.newPage();
    await doomed.goto(`${demo.url}#inbox`);
    await doomed.getByRole("row").first().waitFor();
    await popup.bringToFront();
    await popup.reload();
    await popup.getByRole("button", { name: "Record" }).click();
    await popup.getByRole("button", { name: "Stop" }).waitFor();
    await doomed.close();
    await popup.getByRole("status").filter({ hasText: "Recording ended: the tab was closed" }).waitFor();
    await popup.getByRole("button", { name: "Record" }).waitFor();
    assert.equal(await popup.evaluate(() => chrome.action.getBadgeText({})), "");
  });
});

const POLICY_DIR = process.env.TRACEPIPE_CHROMIUM_POLICY_DIR || "/etc/chromium/policies/managed";
const POLICY_FILE = path.join(POLICY_DIR, "tracepipe-capture-test.json");

function canWritePolicy() {
  try {
    fs.mkdirSync(POLICY_DIR, { recursive: true });
    fs.accessSync(POLICY_DIR, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
const skip = canWritePolicy() ? false : `cannot write Chromium's policy folder ${POLICY_DIR} (run as root)`;

// A fleet's configuration through Chrome enterprise policy: with a managed
// policy file for the extension (Chromium on Linux reads
// /etc/chromium/policies/managed/*.json), the extension records and uploads
// with no one touching its settings, keeps the policy's values out of reach,
// and refuses sites outside the policy's allow-list.
describe("managed policy", () => {
  const env = {};

  before(async () => {
    if (skip) return;
    env.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-extension-policy-"));
    env.serve = await startServe({ port: await freePort(), dataDir: env.dataDir });
    env.demo = await startServer({ port: 0 });
    const policy = {
      "3rdparty": {
        extensions: {
          [EXTENSION_ID]: {
            url: env.serve.url,
            api_key: env.serve.key,
            default_suite: "gmail",
            auto_upload: true,
            allowed_sites: [env.demo.url],
          },
        },
      },
    };
    fs.writeFileSync(POLICY_FILE, JSON.stringify(policy));
    env.extension = await downloadExtension(env.serve.url);
    env.browser = await launchWithExtension(env.extension.dir);
  });

  after(async () => {
    fs.rmSync(POLICY_FILE, { force: true });
    if (env.browser) await env.browser.close();
    if (env.demo) await env.demo.close();
    if (env.serve) await env.serve.stop();
    if (env.extension) env.extension.remove();
    if (env.dataDir) fs.rmSync(env.dataDir, { recursive: true, force: true });
  });

  test("a managed policy configures the extension: it records and uploads with no manual set-up", { skip }, async () => {
    const { context } = env.browser;
    const page = await context.newPage();
    env.demo.mailbox.reset();
    await page.goto(`${env.demo.url}#inbox`);
    await page.getByRole("row").first().waitFor();
    const popup = await openPopup(context);

    // The policy's values are shown and locked; the key only by its start.
    // Policy can arrive after the page opened; the page follows it.
    await popup.waitForFunction((want) => document.getElementById("url").value === want && document.getElementById("url").disabled, env.serve.url);
    await openSettings(popup);
    assert.ok(await popup.getByLabel("API key").isDisabled());
    assert.ok(await popup.getByText("Some settings are set by your organisation.").isVisible());
    assert.ok(!(await popup.locator("body").innerText()).includes(env.serve.key));
    const suite = popup.getByRole("combobox", { name: "Suite" });
    await popup.waitForFunction(() => document.getElementById("suite").selectedOptions.length === 1);
    assert.match(await suite.locator("option:checked").textContent(), /gmail/i);
    assert.ok(await suite.isDisabled());

    await popup.getByRole("button", { name: "Record" }).click();
    await popup.getByRole("button", { name: "Stop" }).waitFor();
    await page.bringToFront();
    await page.waitForTimeout(400);
    await loadScenario("list_labels")(page, scenarioHelpers(page, env.demo.url));
    await page.waitForTimeout(600);
    await popup.bringToFront();
    await popup.getByRole("button", { name: "Stop" }).click();
    await popup.locator("#last-upload:not([hidden])").waitFor({ timeout: 60_000 });
    const sessionId = await popup.locator("#session-link").textContent();
    const { items } = await apiGet(env.serve.url, env.serve.key, "/sessions");
    assert.deepEqual(items.map((s) => s.id), [sessionId]);
    const expected = JSON.parse(fs.readFileSync(path.join(SCENARIO_DIR, "list_labels.expected.json"), "utf8"));
    assert.deepEqual(await exampleToolCalls(env.serve, sessionId), expected.tool_calls);
  });

  test("a site outside the policy's allow-list cannot be recorded", { skip }, async () => {
    const { context } = env.browser;
    // The server's own how-to page: another origin than the demo app.
    const other = await context.newPage();
    await other.goto(`${env.serve.url}/capture`);
    for (const page of context.pages()) if (page.url().startsWith(env.demo.url)) await page.close();
    const popup = await openPopup(context);
    await popup.getByText(/not on the allowed sites/).waitFor();
    assert.ok(await popup.getByRole("button", { name: "Record" }).isDisabled());
    // The worker refuses too, whoever asks.
    const answer = await popup.evaluate(async (tabId) => chrome.runtime.sendMessage({ type: "start", tabId, suiteId: "x" }), Number(await popup.locator("#target").getAttribute("data-tab-id")));
    assert.equal(answer.ok, false);
    assert.match(answer.error, /not allowed/);
  });
});
