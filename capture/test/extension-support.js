// Shared by the extension tests: a `tracepipe serve` on a loopback port with a
// temporary data directory, and Debian's Chromium with the extension loaded.

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const net = require("node:net");
const assert = require("node:assert/strict");
const { execFileSync, spawn } = require("node:child_process");
const { chromium } = require("playwright-core");

const ROOT = path.join(__dirname, "..", "..");
const CHROMIUM = process.env.TRACEPIPE_CHROMIUM || "/usr/bin/chromium";
// Fixed by the manifest's `key`, so a policy can name it before loading.
const EXTENSION_ID = "iipcifchdpmnfbikiagomceijlpdjinf";
// Screenshots the tests save for a person to look at, outside the repository.
const ARTIFACTS = path.join(process.env.TRACEPIPE_CACHE || path.join(os.homedir(), ".cache", "tracepipe"), "test-artifacts", "extension");

function tracepipeBinary() {
  const candidates = [
    process.env.TRACEPIPE_BIN,
    process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, "debug", "tracepipe"),
    path.join(ROOT, "target", "debug", "tracepipe"),
  ].filter(Boolean);
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (!found) throw new Error(`no tracepipe binary (looked at ${candidates.join(", ")}): run \`cargo build --bin tracepipe\` or set TRACEPIPE_BIN`);
  return found;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Starts `tracepipe serve` on `port` with `dataDir`; resolves once it listens,
// with the administrator key when this is the data directory's first start.
function startServe({ port, dataDir }) {
  const child = spawn(tracepipeBinary(), ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir, "--catalog", path.join(ROOT, "catalog")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  child.stderr.on("data", (chunk) => (err += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tracepipe serve did not start in 60 s:\n${err}`)), 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`tracepipe serve exited (${code}):\n${err}`));
    });
    child.stdout.on("data", () => {
      if (!out.includes("listening on ")) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      const key = (out.match(/tp_live_[A-Za-z0-9_-]+/) || [])[0];
      const stop = () =>
        new Promise((done) => {
          if (child.exitCode !== null) return done();
          child.once("exit", () => done());
          child.kill("SIGTERM");
        });
      resolve({ url: `http://127.0.0.1:${port}`, key, stop, log: () => err });
    });
  });
}

// The API as a test reads it.
async function apiGet(url, key, route) {
  const response = await fetch(`${url}/v1${route}`, { headers: { "X-API-Key": key } });
  if (!response.ok) throw new Error(`GET ${route}: ${response.status} ${await response.text()}`);
  return route.endsWith("/messages") ? response.text() : response.json();
}

// Downloads the extension zip from a running server and unzips it; `dir` is
// the folder to load unpacked.
async function downloadExtension(serverUrl) {
  const response = await fetch(`${serverUrl}/downloads/tracepipe-capture-extension.zip`);
  if (!response.ok) throw new Error(`the extension zip: ${response.status}`);
  assert.equal(response.headers.get("content-type"), "application/zip");
  const where = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-extension-zip-"));
  const zip = path.join(where, "extension.zip");
  fs.writeFileSync(zip, Buffer.from(await response.arrayBuffer()));
  execFileSync("unzip", ["-q", zip, "-d", where]);
  return { dir: path.join(where, "tracepipe-capture-extension"), remove: () => fs.rmSync(where, { recursive: true, force: true }) };
}

// Chromium with the unpacked extension at `extensionDir`, headless (the new
// headless mode runs extensions), a fresh profile each time.
async function launchWithExtension(extensionDir) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup-browser.sh`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-extension-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1024, height: 700 },
    locale: "en-GB",
    timezoneId: "UTC",
    ignoreDefaultArgs: ["--disable-extensions"],
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
      `--disable-extensions-except=${extensionDir}`,
      `--load-extension=${extensionDir}`,
    ],
  });
  const worker = context.serviceWorkers().find((w) => w.url().includes(EXTENSION_ID)) ?? (await context.waitForEvent("serviceworker", { timeout: 20_000 }));
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, worker, close };
}

async function openPopup(context) {
  const popup = await context.newPage();
  await popup.goto(`chrome-extension://${EXTENSION_ID}/popup.html`);
  return popup;
}

// The tool calls of an Example's conversation, as {name, arguments}.
function toolCalls(messagesJsonl) {
  return messagesJsonl
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line))
    .filter((message) => message.role === "assistant")
    .flatMap((message) => message.tool_calls ?? [])
    .map(({ function: call }) => ({ name: call.name, arguments: typeof call.arguments === "string" ? JSON.parse(call.arguments) : call.arguments }));
}

// Waits for the session's automatic Example to finish and returns its tool calls.
async function exampleToolCalls(serve, sessionId) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const { items } = await apiGet(serve.url, serve.key, `/examples?session_id=${sessionId}`);
    const example = items[0];
    if (example?.status === "COMPLETED") return toolCalls(await apiGet(serve.url, serve.key, `/examples/${example.id}/messages`));
    if (example?.status === "FAILED") throw new Error(`the Example failed: ${JSON.stringify(example.error)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`no completed Example for session ${sessionId} within 60 s`);
}

module.exports = { ARTIFACTS, EXTENSION_ID, downloadExtension, ROOT, apiGet, exampleToolCalls, freePort, launchWithExtension, openPopup, startServe, tracepipeBinary };
