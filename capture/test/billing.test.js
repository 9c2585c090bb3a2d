// Billing in the browser, against a real `tracepipe serve` whose Stripe is
// stripe-mock (scripts/services/stripe-mock.sh) behind a small recording
// proxy: a new visitor registers, starts saving a card on the payment page
// (up to Stripe Checkout's redirect, which the browser is not let through
// to), Stripe's signed webhook puts the card on file, a key is created and a
// recording uploaded with it, the month is closed with `tracepipe billing
// close`, and the invoice shows on the invoices page and in GET /v1/invoices.
// Screenshots of both pages go to the test artifacts.
//
// Skipped, saying why, when TRACEPIPE_TEST_STRIPE_URL is not set and CI is
// not set.

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");
const { execFile, execFileSync } = require("node:child_process");
const { promisify } = require("node:util");
const { AxeBuilder } = require("@axe-core/playwright");
const { launchBrowser } = require("../recorder/session.js");
const { ROOT, freePort, startServe } = require("./extension-support.js");

const ARTIFACTS = path.join(process.env.TRACEPIPE_CACHE || path.join(os.homedir(), ".cache", "tracepipe"), "test-artifacts", "billing");
const execFileAsync = promisify(execFile);
const STRIPE = process.env.TRACEPIPE_TEST_STRIPE_URL;
const WEBHOOK_SECRET = "whsec_tracepipe_browser_test";
// stripe-mock takes `sk_test_` and letters and digits.
const STRIPE_KEY = "sk_test_TracepipeBrowserTests";
if (!STRIPE && process.env.CI) throw new Error("CI is set but TRACEPIPE_TEST_STRIPE_URL is not");

function tracepipeBinary() {
  const candidates = [
    process.env.TRACEPIPE_BIN,
    process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, "debug", "tracepipe"),
    path.join(ROOT, "target", "debug", "tracepipe"),
  ].filter(Boolean);
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (!found) throw new Error(`no tracepipe binary (looked at ${candidates.join(", ")})`);
  return found;
}

// Forwards to stripe-mock and notes each call: method, path, form fields.
function startStripeProxy(upstream) {
  const calls = [];
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", async () => {
      const body = Buffer.concat(chunks);
      calls.push({ method: request.method, path: request.url.split("?")[0], form: Object.fromEntries(new URLSearchParams(body.toString())) });
      const headers = {};
      for (const name of ["authorization", "content-type", "idempotency-key"]) {
        if (request.headers[name]) headers[name] = request.headers[name];
      }
      const answer = await fetch(`${upstream.replace(/\/$/, "")}${request.url}`, {
        method: request.method,
        headers,
        body: request.method === "GET" ? undefined : body,
      });
      response.writeHead(answer.status, { "content-type": "application/json" });
      response.end(Buffer.from(await answer.arrayBuffer()));
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, calls, close: () => new Promise((done) => server.close(done)) });
    });
  });
}

// No serious or critical axe violation on the page, then its full-page
// screenshot in the test artifacts.
async function checkPage(page, name) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `axe on ${name}`,
  );
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

// Presses Tab until `locator` has the focus (at most 60 times): the page is
// used with the keyboard alone.
async function tabTo(page, locator, what) {
  const handle = await locator.elementHandle();
  for (let i = 0; i < 60; i += 1) {
    await page.keyboard.press("Tab");
    if (await handle.evaluate((el) => el === document.activeElement)) return;
  }
  assert.fail(`Tab never reached ${what}`);
}

// The Stripe-Signature header Stripe would send.
function sign(payload, timestamp) {
  const v1 = crypto.createHmac("sha256", WEBHOOK_SECRET).update(`${timestamp}.${payload}`).digest("hex");
  return `t=${timestamp},v1=${v1}`;
}

// The month before the current one (UTC), as YYYY-MM, and its first instant.
function previousMonth() {
  const now = new Date();
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  const text = `${start.getUTCFullYear()}-${String(start.getUTCMonth() + 1).padStart(2, "0")}`;
  return { text, start: start.toISOString() };
}

describe("billing pages", { skip: STRIPE ? false : "TRACEPIPE_TEST_STRIPE_URL is not set (scripts/services/all.sh start stripe-mock)" }, () => {
  const env = {};

  before(async () => {
    env.stripe = await startStripeProxy(STRIPE);
    env.billing = {
      TRACEPIPE_BILLING_STRIPE_SECRET_KEY: STRIPE_KEY,
      TRACEPIPE_BILLING_STRIPE_API_BASE: env.stripe.url,
      TRACEPIPE_BILLING_WEBHOOK_SECRET: WEBHOOK_SECRET,
      TRACEPIPE_BILLING_SCHEDULED_CLOSE: "false",
      // One small recording stored for a month costs cents at this price.
      TRACEPIPE_PRICING_USD_PER_GB_HOUR: "50",
    };
    // startServe's child inherits this process's environment.
    Object.assign(process.env, env.billing);
    env.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-billing-serve-"));
    env.serve = await startServe({ port: await freePort(), dataDir: env.dataDir });
    env.browser = await launchBrowser();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.serve) await env.serve.stop();
    if (env.stripe) await env.stripe.close();
    if (env.dataDir) fs.rmSync(env.dataDir, { recursive: true, force: true });
  });

  test("a card is saved through Stripe, the month is closed, and the invoice is listed", async () => {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1, locale: "en-GB", timezoneId: "UTC" });
    const server = new URL(env.serve.url);
    // Nothing but this server is requested by the pages themselves.
    const elsewhere = [];
    // The server's answers to the payment forms, which redirect to Stripe:
    // kept, and replaced by a page of ours, since there is no Stripe to reach.
    const toStripe = [];
    await context.route("**/*", async (intercepted) => {
      const url = new URL(intercepted.request().url());
      if (url.host !== server.host) {
        elsewhere.push(url.href);
        return intercepted.abort("blockedbyclient");
      }
      if (intercepted.request().method() === "POST" && url.pathname.startsWith("/billing/")) {
        const answer = await intercepted.fetch({ maxRedirects: 0 });
        toStripe.push({ status: answer.status(), location: answer.headers()["location"] });
        return intercepted.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><html lang=en><title>Stripe</title><p>Stripe</p></html>" });
      }
      return intercepted.continue();
    });
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });

    // Register (signs in).
    await page.goto(`${env.serve.url}/register`);
    await page.getByLabel("Your name").fill("Grace");
    await page.getByLabel("Email").fill("grace@example.test");
    await page.getByLabel("Password").fill("a long enough password");
    await Promise.all([page.waitForURL(/\/keys$/), page.getByRole("button", { name: "Create account" }).click()]);

    // The payment page: no card yet; "Add a card" goes to Stripe Checkout.
    await page.getByRole("link", { name: "Payment method" }).click();
    await page.waitForURL(/\/billing$/);
    assert.equal(await page.getByTestId("card-status").textContent(), "No card on file");
    await checkPage(page, "payment-method-none");
    await tabTo(page, page.getByRole("button", { name: "Add a card" }), "Add a card");
    await Promise.all([page.waitForURL(/\/billing\/setup$/), page.keyboard.press("Enter")]);
    assert.equal(toStripe.length, 1);
    assert.equal(toStripe[0].status, 303);
    assert.match(toStripe[0].location, /^https:\/\/checkout\.stripe\.com\//);
    const posted = env.stripe.calls.filter((c) => c.method === "POST").map((c) => c.path);
    assert.deepEqual(posted, ["/v1/customers", "/v1/checkout/sessions"]);
    // Stripe's customer has the account's email, for its receipts.
    assert.equal(env.stripe.calls.find((c) => c.path === "/v1/customers").form.email, "grace@example.test");
    const checkout = env.stripe.calls.find((c) => c.path === "/v1/checkout/sessions");
    assert.equal(checkout.form.mode, "setup");
    assert.equal(checkout.form.success_url, `${env.serve.url}/billing?setup=done`);
    const customer = checkout.form.customer;

    // Back from Checkout: waiting for Stripe's word.
    await page.goto(`${env.serve.url}/billing?setup=done`);
    assert.equal(await page.getByTestId("card-status").textContent(), "Waiting for Stripe to confirm the card");

    // Stripe's signed webhook: the card is on file.
    const payload = JSON.stringify({
      id: "evt_browser_card",
      object: "event",
      type: "payment_method.attached",
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      data: { object: { id: "pm_browser", object: "payment_method", customer, card: { brand: "visa", last4: "4242" } } },
    });
    const delivered = await fetch(`${env.serve.url}/v1/billing/webhooks`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Stripe-Signature": sign(payload, Math.floor(Date.now() / 1000)) },
      body: payload,
    });
    assert.equal(delivered.status, 200, await delivered.text());
    await page.reload();
    assert.equal(await page.getByTestId("card-status").textContent(), "visa ending in 4242");
    assert.ok(await page.getByRole("button", { name: "Change card" }).isVisible());
    await checkPage(page, "payment-method-on-file");

    // A key from the keys page, and a recording uploaded with it.
    await page.goto(`${env.serve.url}/keys`);
    await page.getByRole("button", { name: "Create key" }).click();
    const key = (await page.getByTestId("new-key").textContent()).trim();
    const suites = await (await fetch(`${env.serve.url}/v1/suites`, { headers: { "X-API-Key": key } })).json();
    const gmail = suites.items.find((s) => s.name === "gmail");
    const form = new FormData();
    form.append("suite_id", gmail.id);
    const fixture = fs.readFileSync(path.join(ROOT, "tests", "fixtures", "recordings", "list_labels.trace.json.gz"));
    form.append("input_events", new Blob([fixture]), "list_labels.trace.json.gz");
    const uploaded = await fetch(`${env.serve.url}/v1/sessions`, { method: "POST", headers: { "X-API-Key": key }, body: form });
    const uploadAnswer = await uploaded.text();
    assert.equal(uploaded.status, 201, uploadAnswer);
    const session = JSON.parse(uploadAnswer);

    // As if it had been stored all of last month, which is then closed.
    const month = previousMonth();
    execFileSync("sqlite3", [path.join(env.dataDir, "tracepipe.db"), `.timeout 10000`, `UPDATE sessions SET created_at = '${month.start.replace(/\.\d+Z$/, ".000Z")}' WHERE id = '${session.id}';`]);
    // Not execFileSync: the Stripe proxy answers from this process's event loop.
    const { stdout: summary } = await execFileAsync(tracepipeBinary(), ["billing", "close", "--period", month.text, "--data-dir", env.dataDir], {
      env: { ...process.env, ...env.billing },
      encoding: "utf8",
    });
    assert.match(summary, /1 billed through Stripe/);
    const invoicePosts = env.stripe.calls.filter((c) => c.method === "POST" && c.path.startsWith("/v1/invoice"));
    assert.ok(invoicePosts.some((c) => c.path === "/v1/invoices" && c.form.customer === customer), "the invoice is the customer's");
    assert.ok(invoicePosts.some((c) => c.path === "/v1/invoiceitems"));

    // The invoices page and the API agree.
    await tabTo(page, page.getByRole("link", { name: "Invoices" }), "the Invoices link");
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/invoices$/);
    const row = page.getByTestId(`invoice-${month.text}`);
    await row.waitFor();
    const api = await (await fetch(`${env.serve.url}/v1/invoices`, { headers: { "X-API-Key": key } })).json();
    assert.equal(api.items.length, 1);
    const invoice = api.items[0];
    assert.equal(invoice.period, month.text);
    assert.ok(invoice.total_cents > 0);
    assert.equal(invoice.lines[0].key, "storage:gb-hours");
    const dollars = `$${Math.floor(invoice.total_cents / 100)}.${String(invoice.total_cents % 100).padStart(2, "0")}`;
    assert.equal((await row.getByTestId("invoice-total").textContent()).trim(), dollars);
    assert.match(await row.getByTestId("invoice-status").textContent(), /^(Open|Paid)$/);
    await checkPage(page, "invoices");
    assert.deepEqual(elsewhere, [], "requests to other hosts");
    assert.deepEqual(errors, [], "console errors");
    await context.close();
  });
});
