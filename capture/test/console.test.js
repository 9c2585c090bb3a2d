// The console pages of a real `tracepipe serve`, in Debian's Chromium: a new
// customer uploads several recorded fixtures through the upload page (each
// with its progress bar, then a link to its session), browses the dashboard,
// the sessions and Examples lists and the usage charts, and reviews a session:
// the number of actions its sidecar expects, the screenshot strip, the
// evidence highlighted when an action is selected, and all of it with the
// keyboard alone. axe-core checks every page for serious or critical
// violations; each page is screenshotted to the test artifacts.

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { AxeBuilder } = require("@axe-core/playwright");
const { launchBrowser } = require("../recorder/session.js");
const { ROOT, freePort, startServe } = require("./extension-support.js");

const ARTIFACTS = path.join(process.env.TRACEPIPE_CACHE || path.join(os.homedir(), ".cache", "tracepipe"), "test-artifacts", "console");
const RECORDINGS = path.join(ROOT, "tests", "fixtures", "recordings");
// The one reviewed in detail first: several actions, screenshots.
const REVIEWED = "multi_action_session";
// account_secrets types an app password and a card number: neither may show.
const UPLOADED = [REVIEWED, "create_label", "send_simple", "account_secrets"];
const SECRETS = ["hunter2-Secret!", "4111 1111 1111 1111", "4111111111111111"];
const PERSON = { name: "Ada Lovelace", email: `ada.${Date.now()}@example.test`, password: "the analytical engine 1843" };

describe("the console, as a customer reviewing recordings", () => {
  const env = { sessions: {} };

  before(async () => {
    env.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-console-serve-"));
    env.serve = await startServe({ port: await freePort(), dataDir: env.dataDir });
    env.browser = await launchBrowser();
    env.context = await env.browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1, locale: "en-GB", timezoneId: "UTC" });
    env.page = await env.context.newPage();
    env.errors = [];
    env.page.on("console", (message) => {
      if (message.type() === "error") env.errors.push(message.text());
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
  });

  async function checkPage(name) {
    const { page } = env;
    await page.waitForLoadState("networkidle");
    assert.equal(await page.locator("html").getAttribute("lang"), "en", name);
    assert.equal(await page.locator("main#main").count(), 1, `${name} has one main`);
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

  async function go(route) {
    const response = await env.page.goto(`${env.serve.url}${route}`);
    assert.equal(response.status(), 200, route);
    return response;
  }

  // The API with the page's session cookie, as the page's scripts call it.
  async function api(route) {
    const response = await env.page.request.get(`${env.serve.url}/v1${route}`);
    assert.equal(response.status(), 200, route);
    return response.json();
  }

  async function tabTo(locator, what) {
    const handle = await locator.elementHandle();
    for (let i = 0; i < 80; i += 1) {
      await env.page.keyboard.press("Tab");
      if (await handle.evaluate((el) => el === document.activeElement)) return;
    }
    assert.fail(`Tab never reached ${what}`);
  }

  test("the dashboard, empty: cards, quick actions, no sessions yet", async () => {
    const { page } = env;
    await go("/console");
    assert.equal(await page.getByTestId("sessions-uploaded").textContent(), "0");
    assert.ok(await page.getByRole("link", { name: "Upload recordings" }).isVisible());
    assert.ok(await page.getByText("No sessions yet.").isVisible());
  });

  test("several recordings uploaded through the upload page, each with its progress bar and session link", async () => {
    const { page } = env;
    await go("/upload");
    await page.getByLabel("Suite").selectOption("gmail");
    // The fixtures were recorded without the capture script's marks.
    await page.getByLabel(/Keep the screenshots/).check();
    await page.locator("#files").setInputFiles(UPLOADED.map((name) => path.join(RECORDINGS, `${name}.trace.json.gz`)));
    assert.match(await page.locator("#chosen").textContent(), new RegExp(`${UPLOADED.length} files chosen`));
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByRole("status").filter({ hasText: `Done: ${UPLOADED.length} of ${UPLOADED.length} stored.` }).waitFor();
    const items = page.locator(".upload-item");
    assert.equal(await items.count(), UPLOADED.length);
    for (let i = 0; i < UPLOADED.length; i += 1) {
      const item = items.nth(i);
      assert.equal(await item.locator(".name").textContent(), `${UPLOADED[i]}.trace.json.gz`);
      // The bar went to the end: the XHR reported its bytes as sent.
      assert.equal(await item.locator("progress").evaluate((p) => p.value), 100);
      const link = item.getByRole("link", { name: /review session/ });
      env.sessions[UPLOADED[i]] = await link.getAttribute("data-session-id");
      assert.equal(await link.getAttribute("href"), `/sessions/${env.sessions[UPLOADED[i]]}`);
    }
    await checkPage("upload");
  });

  test("a file dropped on the drop zone is chosen", async () => {
    const { page } = env;
    const dropped = await page.evaluateHandle(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(["{}"], "dropped.jsonl", { type: "application/json" }));
      return transfer;
    });
    await page.locator("#dropzone").dispatchEvent("drop", { dataTransfer: dropped });
    assert.match(await page.locator("#chosen").textContent(), /1 file chosen: dropped\.jsonl/);
  });

  test("the uploaded sessions' Examples complete", async () => {
    for (const name of UPLOADED) {
      for (;;) {
        const list = await api(`/examples?session_id=${env.sessions[name]}`);
        const status = list.items[0] && list.items[0].status;
        assert.notEqual(status, "FAILED", `${name}: ${JSON.stringify(list.items[0])}`);
        if (status === "COMPLETED") break;
        await new Promise((done) => setTimeout(done, 200));
      }
    }
  });

  test("the dashboard counts them and lists the recent sessions", async () => {
    const { page } = env;
    await go("/console");
    assert.equal(await page.getByTestId("sessions-uploaded").textContent(), String(UPLOADED.length));
    assert.equal(await page.getByTestId("examples-generated").textContent(), String(UPLOADED.length));
    for (const name of UPLOADED) assert.ok(await page.getByRole("link", { name: `${name}.trace.json.gz` }).isVisible());
    await checkPage("dashboard");
  });

  test("the sessions and Examples lists, filtered by suite and status, with the status in words", async () => {
    const { page } = env;
    await go("/sessions?status=COMPLETED&suite=gmail");
    assert.equal(await page.locator("table.list tbody tr").count(), UPLOADED.length);
    assert.equal(await page.locator("table.list .badge.completed").first().textContent(), "✓ Completed");
    await checkPage("sessions");
    await go("/sessions?status=FAILED");
    assert.ok(await page.getByTestId("empty").isVisible());
    await go("/examples?status=COMPLETED");
    assert.equal(await page.locator("table.list tbody tr").count(), UPLOADED.length);
    await checkPage("examples");
    // The filter form, with the keyboard.
    await page.getByLabel("Status").selectOption("PENDING");
    await Promise.all([page.waitForURL(/status=PENDING/), page.getByRole("button", { name: "Filter" }).press("Enter")]);
    assert.ok(await page.getByTestId("empty").isVisible());
  });

  test("the usage page charts the last 30 days", async () => {
    const { page } = env;
    await go("/usage");
    await page.locator(".chart-canvas canvas").first().waitFor();
    assert.equal(await page.locator(".chart-canvas canvas").count(), 3);
    const today = new Date().toISOString().slice(0, 10);
    const row = page.getByTestId("daily-table").locator("tbody tr").first();
    assert.equal(await row.locator("td").first().textContent({ timeout: 1000 }).catch(() => null), today);
    assert.equal(await row.locator("td").nth(1).textContent(), String(UPLOADED.length));
    await checkPage("usage");
  });

  test("the review page: the sidecar's actions, the screenshot strip, the evidence of a selected action", async () => {
    const { page } = env;
    const expected = JSON.parse(fs.readFileSync(path.join(RECORDINGS, `${REVIEWED}.expected.json`), "utf8"));
    await go(`/sessions/${env.sessions[REVIEWED]}`);
    await page.locator('#review[data-timeline-ready="true"][data-screenshots-ready="true"]').waitFor();
    assert.equal(await page.getByTestId("action-count").textContent(), String(expected.tool_calls.length));
    const buttons = page.locator("#action-list button.action");
    assert.equal(await buttons.count(), expected.tool_calls.length);
    for (let i = 0; i < expected.tool_calls.length; i += 1) {
      assert.equal(await buttons.nth(i).locator(".tool").textContent(), expected.tool_calls[i].name);
    }
    const thumbs = page.locator("#strip .thumb");
    assert.ok((await thumbs.count()) > 0, "the strip has screenshots");
    assert.ok(await page.locator("#frame").isVisible(), "a frame is shown");

    await buttons.nth(1).click();
    assert.equal(await buttons.nth(1).getAttribute("aria-pressed"), "true");
    await page.locator("#events li.evidence").first().waitFor();
    const evidence = (await buttons.nth(1).getAttribute("data-evidence")).split(",").map(Number);
    const marked = await page.locator("#events li.evidence").evaluateAll((lis) => lis.map((li) => Number(li.dataset.index)));
    assert.deepEqual(marked, evidence, "exactly the action's evidence events are highlighted");
    assert.equal(await page.locator("#events li.evidence .mark").first().textContent(), "Evidence");
    assert.ok(await page.locator("#action-detail-1").isVisible());
    assert.match(await page.locator("#action-detail-1").textContent(), new RegExp(`Tool call 2 of ${expected.tool_calls.length}`));
    // Whether the tool's result is what the page showed (docs/tool-results.md):
    // the message opened is; the attachment downloaded is not.
    assert.match(await page.locator("#action-detail-1").textContent(), /Result\s*what the page showed after the action/);
    assert.match(await page.locator("#action-detail-2").textContent(), /Result\s*not shown in the recording/);
    assert.equal(await page.locator(".call.selected").getAttribute("data-call-id"), await buttons.nth(1).getAttribute("data-call"));
    // The time moved to the action, and the frame with it.
    const start = Number(await buttons.nth(1).getAttribute("data-start-ms"));
    assert.equal(await page.locator("#time-readout").textContent(), `${(start / 1000).toFixed(1)} s`);
    // No masked value reaches the page.
    assert.equal(await page.locator("#events").getByText("hunter2").count(), 0);
    await checkPage("review");
    // The README's picture (docs/review-page.png): the timeline and the actions.
    await page.locator("main").evaluate((main) => main.scrollIntoView());
    const top = (await page.locator("main h1").boundingBox()).y - 16;
    const box = await page.locator("#action-list").boundingBox();
    await page.screenshot({ path: path.join(ARTIFACTS, "review-top.png"), fullPage: true, clip: { x: 0, y: top, width: 1440, height: Math.round(box.y + box.height - top) } });
  });

  test("the review page with the keyboard alone: select actions, step the timeline and the strip", async () => {
    const { page } = env;
    await go(`/sessions/${env.sessions[REVIEWED]}`);
    await page.locator('#review[data-timeline-ready="true"][data-screenshots-ready="true"]').waitFor();
    const buttons = page.locator("#action-list button.action");
    await tabTo(buttons.first(), "the first action");
    await page.keyboard.press("Enter");
    assert.equal(await buttons.first().getAttribute("aria-pressed"), "true");
    await page.keyboard.press("ArrowDown");
    assert.equal(await buttons.nth(1).getAttribute("aria-pressed"), "true");
    assert.equal(await buttons.nth(1).evaluate((el) => el === document.activeElement), true);
    await page.keyboard.press("End");
    const last = (await buttons.count()) - 1;
    assert.equal(await buttons.nth(last).getAttribute("aria-pressed"), "true");
    assert.match(await page.locator("#announce").textContent(), new RegExp(`^Action ${last + 1}: `));
    await page.locator("#events li.evidence").first().waitFor();

    // The time slider: Home to the start, then steps forward.
    await page.locator("#scrub").focus();
    await page.keyboard.press("Home");
    assert.equal(await page.locator("#time-readout").textContent(), "0.0 s");
    await page.keyboard.press("PageUp");
    const stepped = await page.locator("#time-readout").textContent();
    assert.notEqual(stepped, "0.0 s");
    // The strip: the arrow keys go from screenshot to screenshot.
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    const strip = page.locator("#strip");
    if (!(await strip.evaluate((el) => el === document.activeElement))) await tabTo(strip, "the screenshot strip");
    await page.keyboard.press("Home");
    const first = await page.locator("#frame-caption").textContent();
    assert.match(first, /^Screenshot 1 of \d+/);
    await page.keyboard.press("ArrowRight");
    assert.match(await page.locator("#frame-caption").textContent(), /^Screenshot 2 of \d+/);
    assert.equal(await page.locator("#strip .thumb.current").getAttribute("data-shot"), "1");
  });

  test("the review page's downloads: the conversation and the timeline, without masked values", async () => {
    const { page } = env;
    const id = env.sessions[REVIEWED];
    const timeline = await page.request.get(`${env.serve.url}/sessions/${id}/timeline.jsonl`);
    assert.equal(timeline.status(), 200);
    const lines = (await timeline.text()).trim().split("\n").map((l) => JSON.parse(l));
    const session = await api(`/sessions/${id}`);
    assert.equal(lines.length, session.event_count);
    assert.ok(lines.filter((e) => e.masked).every((e) => e.value === undefined));
    const href = await page.getByRole("link", { name: "Download messages (JSONL)" }).getAttribute("href");
    const messages = await page.request.get(`${env.serve.url}${href}`);
    assert.equal(messages.status(), 200);
    assert.ok((await messages.text()).includes('"tool_calls"'));
  });

  test("typed secrets reach neither the review page, its timeline, nor its conversation", async () => {
    const { page } = env;
    const id = env.sessions.account_secrets;
    await go(`/sessions/${id}`);
    await page.locator('#review[data-timeline-ready="true"]').waitFor();
    // Every event, a page at a time, as the page's Later button walks them.
    while (await page.locator("#events-later").isEnabled()) {
      const range = await page.locator("#events-range").textContent();
      await page.locator("#events-later").click();
      await page.waitForFunction((before) => document.getElementById("events-range").textContent !== before, range);
      const text = await page.locator("main").textContent();
      for (const secret of SECRETS) assert.ok(!text.includes(secret), `the page shows ${secret}`);
    }
    assert.ok(await page.locator("#events").getByText("value withheld (masked)").count() > 0, "masked fields say so");
    const timeline = await (await page.request.get(`${env.serve.url}/sessions/${id}/timeline.jsonl`)).text();
    const example = (await api(`/examples?session_id=${id}`)).items[0];
    const messages = await (await page.request.get(`${env.serve.url}/v1/examples/${example.id}/messages`)).text();
    const html = await (await page.request.get(`${env.serve.url}/sessions/${id}`)).text();
    for (const secret of SECRETS) {
      for (const [what, body] of [["timeline", timeline], ["messages", messages], ["page", html]]) {
        assert.ok(!body.includes(secret), `${what} holds ${secret}`);
      }
    }
  });

  test("another user's session is not found, nor listed", async () => {
    const other = await env.browser.newContext();
    const id = env.sessions[REVIEWED];
    const visitor = await other.request.get(`${env.serve.url}/sessions/${id}`, { maxRedirects: 0 });
    assert.equal(visitor.status(), 303, "a visitor is sent to sign in");
    const page = await other.newPage();
    await page.goto(`${env.serve.url}/register`);
    await page.getByLabel("Your name").fill("Bob");
    await page.getByLabel("Email").fill(`bob.${Date.now()}@example.test`);
    await page.getByLabel("Password").fill("bob's own long password");
    await Promise.all([page.waitForURL(/\/keys$/), page.getByRole("button", { name: /Create/ }).click()]);
    for (const route of [`/sessions/${id}`, `/sessions/${id}/timeline.jsonl`]) {
      assert.equal((await page.request.get(`${env.serve.url}${route}`)).status(), 404, route);
    }
    for (const route of ["/sessions", "/examples", "/console"]) {
      const body = await (await page.request.get(`${env.serve.url}${route}`)).text();
      assert.ok(!body.includes(id) && !body.includes(`${REVIEWED}.trace`), `${route} shows nothing of Ada's`);
    }
    await other.close();
    const missing = await env.page.goto(`${env.serve.url}/sessions/00000000-0000-4000-8000-000000000000`);
    assert.equal(missing.status(), 404);
  });
});
