// The API documentation pages of a real `tracepipe serve`, in Debian's
// Chromium: GET /v1/docs (Swagger UI) and GET /v1/redoc (ReDoc) render the
// server's OpenAPI document from files the binary serves itself. Every request
// the pages make is watched: one to any other host fails the test (it is
// blocked, and would show as a console error too), as does any console error
// (a Content-Security-Policy violation is one). Full-page screenshots go to the
// test artifacts for a person to look at.

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { launchBrowser } = require("../recorder/session.js");
const { freePort, startServe } = require("./extension-support.js");

const ARTIFACTS = path.join(process.env.TRACEPIPE_CACHE || path.join(os.homedir(), ".cache", "tracepipe"), "test-artifacts", "api-docs");

describe("the API documentation pages", () => {
  const env = {};

  before(async () => {
    env.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-api-docs-serve-"));
    env.serve = await startServe({ port: await freePort(), dataDir: env.dataDir });
    env.browser = await launchBrowser();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.serve) await env.serve.stop();
    if (env.dataDir) fs.rmSync(env.dataDir, { recursive: true, force: true });
  });

  // Opens `route` without an API key in a fresh context that lets requests
  // through to the server only. Returns the page, the paths it requested,
  // the URLs it tried elsewhere and its console errors.
  async function open(route) {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1, locale: "en-GB", timezoneId: "UTC" });
    const server = new URL(env.serve.url);
    const requested = [];
    const elsewhere = [];
    await context.route("**/*", (intercepted) => {
      const url = new URL(intercepted.request().url());
      if (url.host !== server.host) {
        elsewhere.push(url.href);
        return intercepted.abort("blockedbyclient");
      }
      requested.push(url.pathname);
      return intercepted.continue();
    });
    const page = await context.newPage();
    const errors = [];
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    page.on("pageerror", (error) => errors.push(error.message));
    const response = await page.goto(`${env.serve.url}${route}`);
    assert.equal(response.status(), 200, `${route} without an API key`);
    assert.match(response.headers()["content-type"], /^text\/html/);
    assert.match(response.headers()["content-security-policy"], /^default-src 'none'; script-src 'self';/);
    return { context, page, requested, elsewhere, errors };
  }

  // What every page must have done by the time it has rendered.
  async function check(opened, screenshot) {
    const { page, requested, elsewhere, errors } = opened;
    // Lets late requests (fonts, images, workers) start before looking.
    await page.waitForLoadState("networkidle");
    await page.screenshot({ path: path.join(ARTIFACTS, `${screenshot}.png`), fullPage: true });
    // The full page of a long reference is tens of thousands of pixels tall.
    await page.screenshot({ path: path.join(ARTIFACTS, `${screenshot}-first-screen.png`) });
    assert.deepEqual(elsewhere, [], "requests to other hosts");
    assert.deepEqual(errors, [], "console errors");
    assert.ok(requested.includes("/v1/openapi.json"), `the document was loaded: ${requested}`);
    assert.ok(
      requested.every((p) => p === "/v1/openapi.json" || p.startsWith("/v1/docs") || p === "/v1/redoc"),
      `only the pages, their assets and the document: ${requested}`,
    );
    // The bundles travel gzipped.
    const bundles = await page.evaluate(() =>
      performance
        .getEntriesByType("resource")
        .filter((entry) => /\/v1\/docs\/assets\/[^/]+-[0-9.]+\/.*\.(js|css)$/.test(entry.name))
        .map(({ name, encodedBodySize, decodedBodySize }) => ({ name, encodedBodySize, decodedBodySize })),
    );
    assert.ok(bundles.length > 0, "the page loaded its bundles");
    for (const bundle of bundles) assert.ok(bundle.encodedBodySize < bundle.decodedBodySize / 2, JSON.stringify(bundle));
    assert.equal(await page.locator("html").getAttribute("lang"), "en");
    assert.match(await page.title(), /^Tracepipe API/);
  }

  test("Swagger UI at /v1/docs lists the operations and runs one with an API key", async () => {
    const opened = await open("/v1/docs");
    const { page } = opened;
    await page.getByRole("heading", { name: /^Tracepipe API/ }).waitFor();
    const listSessions = page.locator("#operations-sessions-list_sessions");
    await listSessions.getByText("/sessions", { exact: true }).waitFor();
    assert.ok(await page.getByText("The caller's sessions, newest first").isVisible());
    await check(opened, "swagger-ui");

    // "Try it out" sends the request to this server, relative to the page,
    // with the key given under "Authorize".
    await page.getByRole("button", { name: "Authorize" }).first().click();
    const dialog = page.locator(".modal-ux");
    await dialog.locator("input").fill(env.serve.key);
    await dialog.getByRole("button", { name: "Apply credentials" }).click();
    await dialog.getByRole("button", { name: "Close" }).first().click();
    await listSessions.locator(".opblock-summary-control").click();
    await listSessions.getByRole("button", { name: "Try it out" }).click();
    const answered = page.waitForResponse((r) => new URL(r.url()).pathname === "/v1/sessions");
    await listSessions.getByRole("button", { name: "Execute" }).click();
    const response = await answered;
    assert.equal(response.status(), 200);
    assert.equal(response.request().headers()["x-api-key"], env.serve.key);
    await listSessions.locator(".live-responses-table .response-col_status").filter({ hasText: "200" }).waitFor();
    // The curl line repeats the API key.
    await listSessions.screenshot({ path: path.join(ARTIFACTS, "swagger-ui-try-it-out.png"), mask: [listSessions.locator(".curl-command")] });
    assert.deepEqual(opened.elsewhere, [], "requests to other hosts");
    assert.deepEqual(opened.errors, [], "console errors");
    await opened.context.close();
  });

  test("ReDoc at /v1/redoc renders the reference", async () => {
    const opened = await open("/v1/redoc");
    const { page } = opened;
    await page.getByRole("heading", { name: /^Tracepipe API/ }).waitFor();
    await page.getByRole("heading", { name: "The caller's sessions, newest first" }).waitFor();
    // The search box works: its index is built in a worker the policy allows.
    await page.getByRole("textbox", { name: /search/i }).fill("sessions");
    await page.locator('[role="search"] li, [data-role="search:result"]').first().waitFor();
    await page.getByRole("textbox", { name: /search/i }).fill("");
    await check(opened, "redoc");
    await opened.context.close();
  });
});
