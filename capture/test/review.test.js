// Reviewing a recording in the console of a real `tracepipe serve`, in
// Debian's Chromium: the review queue lists the low-confidence actions
// first and links to each; on the session review page a reviewer corrects
// one argument (the API's refusal of a wrong one shown beside the field),
// confirms another action, adds a missed one over a time range, and
// completes the review. Then the re-synthesised Example's messages, the
// downloaded label file and `tracepipe eval` on that file beside the
// recording all carry the correction and the added call. axe-core checks
// each state of the pages; screenshots go to the test artifacts.

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { AxeBuilder } = require("@axe-core/playwright");
const { launchBrowser } = require("../recorder/session.js");
const { ROOT, freePort, startServe, tracepipeBinary } = require("./extension-support.js");

const ARTIFACTS = path.join(process.env.TRACEPIPE_CACHE || path.join(os.homedir(), ".cache", "tracepipe"), "test-artifacts", "review");
const RECORDINGS = path.join(ROOT, "tests", "fixtures", "recordings");
const RECORDING = path.join(RECORDINGS, "delete_message.trace.json.gz");
// Its one action is classified less surely (0.85) than delete_message's
// (0.95): no fixture falls below the low-confidence threshold (0.6), so the
// queue's order shows in the confidences.
const LESS_SURE = path.join(RECORDINGS, "list_labels.trace.json.gz");
// read_email's id, as the reviewer corrects it.
const CORRECTED_ID = "18c2f0a1b2ffffff";
const PERSON = { name: "Grace Hopper", email: `grace.${Date.now()}@example.test`, password: "a compiler for every machine" };

describe("reviewing a recording: corrections, the label file, eval", () => {
  const env = {};

  before(async () => {
    env.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-review-serve-"));
    env.serve = await startServe({ port: await freePort(), dataDir: env.dataDir });
    env.browser = await launchBrowser();
    env.context = await env.browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1, locale: "en-GB", timezoneId: "UTC", acceptDownloads: true });
    env.page = await env.context.newPage();
    env.errors = [];
    env.page.on("console", (message) => {
      // A refused request (the 422 the test provokes) is logged by Chromium.
      if (message.type() === "error" && !/status of 422/.test(message.text())) env.errors.push(message.text());
    });
    env.page.on("pageerror", (error) => env.errors.push(error.message));
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await go("/register");
    await env.page.getByLabel("Your name").fill(PERSON.name);
    await env.page.getByLabel("Email").fill(PERSON.email);
    await env.page.getByLabel("Password").fill(PERSON.password);
    await Promise.all([env.page.waitForURL(/\/keys$/), env.page.getByRole("button", { name: /Create/ }).click()]);
  });

  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.serve) await env.serve.stop();
    if (env.dataDir) fs.rmSync(env.dataDir, { recursive: true, force: true });
    if (env.evalDir) fs.rmSync(env.evalDir, { recursive: true, force: true });
  });

  async function go(route) {
    const response = await env.page.goto(`${env.serve.url}${route}`);
    assert.equal(response.status(), 200, route);
    return response;
  }

  async function api(route) {
    const response = await env.page.request.get(`${env.serve.url}/v1${route}`);
    assert.equal(response.status(), 200, route);
    return response;
  }

  async function checkPage(name) {
    const { page } = env;
    await page.waitForLoadState("networkidle");
    const results = await new AxeBuilder({ page }).analyze();
    const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    assert.deepEqual(
      bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
      [],
      `axe on ${name}`,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
    assert.deepEqual(env.errors, [], `console errors on ${name}`);
  }

  const toolCalls = (jsonl) =>
    jsonl
      .split("\n")
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line))
      .flatMap((m) => m.tool_calls || [])
      .map((c) => ({ name: c.function.name, arguments: JSON.parse(c.function.arguments) }));

  test("recordings uploaded through the upload page become completed Examples", async () => {
    const { page } = env;
    await go("/upload");
    await page.getByLabel("Suite").selectOption("gmail");
    await page.getByLabel(/Keep the screenshots/).check();
    await page.locator("#files").setInputFiles([RECORDING, LESS_SURE]);
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByRole("status").filter({ hasText: "Done: 2 of 2 stored." }).waitFor();
    const sessions = [];
    for (const item of await page.locator(".upload-item").all()) {
      sessions.push(await item.getByRole("link", { name: /review session/ }).getAttribute("data-session-id"));
    }
    env.sessionId = sessions[0];
    for (const session of sessions) {
      for (;;) {
        const list = await (await api(`/examples?session_id=${session}`)).json();
        const example = list.items[0];
        assert.notEqual(example && example.status, "FAILED", JSON.stringify(example));
        if (example && example.status === "COMPLETED") {
          if (session === env.sessionId) env.exampleId = example.id;
          break;
        }
        await new Promise((done) => setTimeout(done, 200));
      }
    }
    env.review = await (await api(`/examples/${env.exampleId}/review`)).json();
    assert.ok(env.review.items.length >= 2, JSON.stringify(env.review));
    assert.equal(env.review.items[0].tool, "read_email");
  });

  test("the review queue lists the low-confidence actions first and links to each action", async () => {
    const { page } = env;
    await go("/review");
    await page.locator('#review-queue[data-ready="true"]').waitFor();
    const rows = page.locator("#queue-rows tr");
    const count = await rows.count();
    assert.equal(count, env.review.items.length + 1, "delete_message's actions and list_labels' one");
    // The least sure first: list_labels' 0.85 before delete_message's 0.95s.
    assert.equal(await rows.first().locator("td").nth(1).textContent(), "list_email_labels");
    assert.equal(await rows.first().locator(".badge").textContent(), "0.85");
    const queue = await (await api("/review-queue?limit=200")).json();
    const low = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.lowConfidence === "true"));
    assert.deepEqual(low, queue.data.map((e) => e.low_confidence), "the page keeps the API's order");
    // No low-confidence action after one that is not.
    assert.ok(low.every((flag, i) => i === 0 || !flag || low[i - 1]), `low-confidence first: ${low}`);
    const confidences = queue.data.map((e) => [e.low_confidence ? 0 : 1, e.confidence]);
    assert.ok(
      confidences.every((c, i) => i === 0 || confidences[i - 1][0] < c[0] || (confidences[i - 1][0] === c[0] && confidences[i - 1][1] <= c[1])),
      `then the least confident: ${JSON.stringify(confidences)}`,
    );
    await checkPage("review-queue");
    // The first entry's link opens its review page at that action.
    const first = queue.data[0];
    await Promise.all([page.waitForURL(/\/sessions\//), rows.first().getByRole("link").press("Enter")]);
    await page.locator('#review[data-timeline-ready="true"]').waitFor();
    assert.equal(await page.locator(`#action-${first.index}`).getAttribute("aria-pressed"), "true");
    assert.equal(await page.evaluate(() => document.activeElement.id), `action-${first.index}`);
  });

  test("on the review page: a wrong argument refused beside its field, one corrected, one confirmed, one added", async () => {
    const { page } = env;
    await go(`/sessions/${env.sessionId}?example=${env.exampleId}`);
    await page.locator('#review-work[data-ready="true"]').waitFor();
    await page.locator('#review[data-timeline-ready="true"]').waitFor();
    assert.match(await page.locator("#review-state").textContent(), /0 of \d+ actions decided, 0 added/);
    // Select read_email with the keyboard and open its change form.
    const buttons = page.locator("#action-list button.action");
    await buttons.first().focus();
    await page.keyboard.press("Enter");
    const controls = page.locator('.review-controls[data-action-index="0"]');
    assert.equal(await controls.locator(".badge.decision").textContent(), "Not reviewed");
    await controls.getByRole("button", { name: "Change tool or arguments" }).press("Enter");
    const args = controls.getByLabel("Arguments (JSON)");
    assert.equal(await page.evaluate(() => document.activeElement.tagName), "TEXTAREA", "the arguments take the focus");
    assert.equal(await controls.getByLabel("Tool").inputValue(), "read_email");
    // Not JSON: refused in the page.
    await args.fill("{messageId:");
    await controls.getByRole("button", { name: "Save change" }).press("Enter");
    const error = controls.getByRole("alert");
    assert.match(await error.textContent(), /must be a JSON object/);
    // A number where the schema wants a string: the API's 422, inline.
    await args.fill('{"messageId": 5}');
    await controls.getByRole("button", { name: "Save change" }).press("Enter");
    await error.filter({ hasText: /input schema/ }).waitFor();
    assert.match(await error.textContent(), /messageId/);
    assert.equal(await args.getAttribute("aria-invalid"), "true");
    await checkPage("review-refused-argument");
    await args.fill(JSON.stringify({ messageId: CORRECTED_ID }));
    await controls.getByRole("button", { name: "Save change" }).press("Enter");
    await controls.locator(".badge.decision", { hasText: "✎ Changed" }).waitFor();
    assert.match(await controls.locator("pre.corrected").textContent(), new RegExp(CORRECTED_ID));
    assert.equal(await buttons.first().locator(".decision").textContent(), "✎ Changed");
    // The next action, confirmed.
    await buttons.first().focus();
    await page.keyboard.press("ArrowDown");
    const second = page.locator('.review-controls[data-action-index="1"]');
    await second.getByRole("button", { name: "Confirm", exact: true }).press("Enter");
    await second.locator(".badge.decision", { hasText: "✓ Confirmed" }).waitFor();
    // A missed label listing: the range ends where the second action
    // starts (marked on the timeline), and starts between the two.
    const [a, b] = env.review.items.map((item) => item.start_ms);
    assert.ok(a < b, `two actions at two times: ${a}, ${b}`);
    await page.getByRole("button", { name: "Mark end" }).press("Enter");
    assert.equal(Number(await page.getByLabel("To (s)").inputValue()), Number((b / 1000).toFixed(3)));
    await page.getByLabel("From (s)").fill(((a + b) / 2000).toFixed(3));
    await page.locator("#add-tool").selectOption("list_email_labels");
    assert.deepEqual(JSON.parse(await page.locator("#add-arguments").inputValue()), {});
    await page.getByRole("button", { name: "Add action" }).press("Enter");
    await page.locator("#added-list li", { hasText: "list_email_labels" }).waitFor();
    assert.match(await page.locator("#review-state").textContent(), /2 of \d+ actions decided, 1 added/);
    await checkPage("review-corrected");
  });

  test("completing re-synthesises the conversation with the correction and the added call", async () => {
    const { page } = env;
    await page.getByRole("button", { name: "Complete review" }).press("Enter");
    await page.locator('#review-work[data-completed="true"]').waitFor();
    assert.match(await page.locator("#review-state").textContent(), /Review completed/);
    const shown = await page.locator("#new-chat .call .who code").allTextContents();
    assert.deepEqual(shown, ["read_email", "list_email_labels", "delete_email"]);
    assert.match(await page.locator("#new-chat").textContent(), new RegExp(CORRECTED_ID));
    assert.equal(await page.getByRole("button", { name: "Confirm", exact: true }).count(), 0, "a completed review no longer changes");
    assert.equal(await page.getByRole("heading", { name: "Conversation before the review" }).count(), 1);
    await checkPage("review-completed");
    // Opened again: the reviewed actions, the review closed.
    await go(`/sessions/${env.sessionId}?example=${env.exampleId}`);
    await page.locator('#review-work[data-ready="true"]').waitFor();
    assert.deepEqual(await page.locator("#action-list button.action .tool").allTextContents(), ["read_email", "list_email_labels", "delete_email"]);
    assert.equal(await page.locator("#add-form").isVisible(), false);
    assert.equal(await page.getByRole("button", { name: "Complete review" }).count(), 0);
    await checkPage("review-reopened");
    // (a) the Example's messages, as the API serves them.
    const calls = toolCalls(await (await api(`/examples/${env.exampleId}/messages`)).text());
    assert.deepEqual(calls.map((c) => c.name), ["read_email", "list_email_labels", "delete_email"]);
    assert.equal(calls[0].arguments.messageId, CORRECTED_ID);
    assert.deepEqual(calls[1].arguments, {});
  });

  test("the downloaded label file and `tracepipe eval` on it carry the review", async () => {
    const { page } = env;
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: /Download label file/ }).click()]);
    assert.equal(download.suggestedFilename(), "delete_message.expected.json");
    env.evalDir = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-review-eval-"));
    const labelPath = path.join(env.evalDir, download.suggestedFilename());
    await download.saveAs(labelPath);
    // (b) the label file.
    const labels = JSON.parse(fs.readFileSync(labelPath, "utf8"));
    assert.equal(labels.scenario, "delete_message");
    assert.deepEqual(labels.tool_calls.map((c) => c.name), ["read_email", "list_email_labels", "delete_email"]);
    assert.equal(labels.tool_calls[0].arguments.messageId, CORRECTED_ID);
    // (c) eval reads it beside the recording: the classifier finds what it
    // found before the review, so the correction and the added call show as
    // its mistakes.
    fs.copyFileSync(RECORDING, path.join(env.evalDir, "delete_message.trace.json.gz"));
    const out = execFileSync(tracepipeBinary(), ["eval", "--verbose", env.evalDir], { cwd: ROOT, encoding: "utf8" });
    assert.match(out, /delete_message: 3 expected, 2 emitted/);
    assert.match(out, new RegExp(CORRECTED_ID));
    assert.match(out, /missed list_email_labels \{\}/);
  });
});
