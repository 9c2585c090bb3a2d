// Drives Debian's Chromium through playwright-core to record one scenario as
// a Chrome trace, with the capture script injected into every page. Shared by
// the recorder CLI and the tests.

const fs = require("node:fs");
const path = require("node:path");
const zlib = require("node:zlib");
const { chromium } = require("playwright-core");

const CAPTURE_SCRIPT = path.join(__dirname, "..", "capture.js");
const SCENARIO_DIR = path.join(__dirname, "..", "scenarios");

const CHROMIUM = process.env.TRACEPIPE_CHROMIUM || "/usr/bin/chromium";

// Background services, QUIC and sync would add requests and processes that a
// recording does not need; the rest keeps Chromium working as root in a
// container without a GPU.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// The capture contract's categories: everything Tracepipe reads, nothing more.
const TRACE_CATEGORIES = [
  "devtools.timeline",
  "disabled-by-default-devtools.timeline",
  "blink.user_timing",
  "loading",
  "navigation",
  "latencyInfo",
  "disabled-by-default-devtools.screenshot",
];

// The DevTools Performance panel's own set (devtools-frontend's
// TimelineController, with Screenshots and JavaScript sampling on, plus the
// rundown categories of its "enhanced traces"): no `navigation`, no
// `latencyInfo`, and far more events than Tracepipe needs.
const DEVTOOLS_PANEL_CATEGORIES = [
  "-*",
  "blink.console",
  "blink.user_timing",
  "devtools.timeline",
  "disabled-by-default-devtools.timeline",
  "disabled-by-default-devtools.timeline.frame",
  "disabled-by-default-devtools.timeline.stack",
  "disabled-by-default-v8.compile",
  "disabled-by-default-v8.cpu_profiler",
  "loading",
  "disabled-by-default-lighthouse",
  "v8.execute",
  "v8",
  "disabled-by-default-devtools.target-rundown",
  "disabled-by-default-devtools.v8-source-rundown",
  "disabled-by-default-devtools.screenshot",
];

// How a recording is saved. `json`: what CDP tracing returns, as an object
// (the default, and the committed fixtures); `devtools`: the Performance
// panel's category set saved as the panel saves it (`metadata` first, then
// `traceEvents`); `array`: chrome://tracing's bare JSON event array, without
// its closing `]` as Chrome leaves it when tracing is aborted; `proto`:
// Perfetto's protobuf, streamed over CDP (`streamFormat: "proto"`).
const FORMATS = {
  json: { extension: "trace.json.gz", categories: TRACE_CATEGORIES },
  devtools: { extension: "devtools.json.gz", categories: DEVTOOLS_PANEL_CATEGORIES },
  array: { extension: "array.json.gz", categories: TRACE_CATEGORIES },
  proto: { extension: "pftrace.gz", categories: TRACE_CATEGORIES },
};

// Small, so that the JPEG frames the screenshot category adds stay small.
const VIEWPORT = { width: 1024, height: 700 };

function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup-browser.sh`);
  }
  // Each launch gets a fresh temporary profile that Playwright removes on close.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

// `captureScript` and `viewport` default to capture.js and VIEWPORT.
async function newCapturingPage(browser, { captureScript = CAPTURE_SCRIPT, viewport = VIEWPORT } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, acceptDownloads: true, locale: "en-GB", timezoneId: "UTC" });
  await context.addInitScript({ path: captureScript });
  const page = await context.newPage();
  return { context, page };
}

// What scenarios get besides the page: pacing that looks like a person, and
// the demo app's address.
function scenarioHelpers(page, baseUrl) {
  const pause = (ms) => page.waitForTimeout(ms);
  return {
    baseUrl,
    pause,
    // Types as a person does, a key at a time.
    async type(locator, text, { delay = 35 } = {}) {
      await locator.click();
      await page.keyboard.type(text, { delay });
    },
    // Wheel scrolling in a few steps over the element under the mouse.
    async scroll(deltaY, { steps = 4, over } = {}) {
      if (over) await over.hover();
      for (let i = 0; i < steps; i += 1) {
        await page.mouse.wheel(0, deltaY / steps);
        await pause(120);
      }
    },
    async route(hash) {
      await page.waitForFunction((expected) => location.hash === expected, hash);
    },
    // Waits for the app's confirmation ("Message sent.") so that a scenario
    // fails loudly when an action did not happen.
    async toast(text) {
      await page.getByRole("status").filter({ hasText: text }).waitFor();
    },
  };
}

function loadScenario(name, scenarioDir = SCENARIO_DIR) {
  return require(path.join(scenarioDir, `${name}.js`));
}

function scenarioNames(scenarioDir = SCENARIO_DIR) {
  return fs
    .readdirSync(scenarioDir)
    .filter((file) => file.endsWith(".js"))
    .map((file) => file.slice(0, -3))
    .sort();
}

// Rewrites a trace with its Screenshot events moved, in their order, after
// all other events; everything else is kept as Chrome wrote it, one event per
// line. Chrome's event order carries no meaning (it is not even sorted by
// time), while consecutive JPEG frames are nearly identical: side by side they
// fall into gzip's 32 KiB window and the file shrinks by more than half.
// With `keepScreenshot(index)`, only the frames it accepts are kept.
//
// `format` says how the events are laid out (see FORMATS): `devtools` puts a
// `metadata` object like the Performance panel's first; `array` writes the
// bare array without its closing bracket.
function screenshotsLast(traceBuffer, keepScreenshot = () => true, format = "json") {
  const trace = JSON.parse(traceBuffer.toString("utf8"));
  const events = Array.isArray(trace) ? trace : trace.traceEvents;
  const frames = events.filter((e) => e.name === "Screenshot").filter((_, i) => keepScreenshot(i));
  const ordered = [...events.filter((e) => e.name !== "Screenshot"), ...frames];
  const lines = ordered.map((event) => JSON.stringify(event)).join(",\n");
  if (format === "array") return Buffer.from(`[${lines},\n`, "utf8");
  if (format === "devtools") {
    const metadata = {
      source: "DevTools",
      startTime: new Date().toISOString(),
      dataOrigin: "TraceEvents",
      hostDOMInteractionsEnabled: true,
      ...(trace.metadata || {}),
    };
    return Buffer.from(`{"metadata": ${JSON.stringify(metadata)},\n"traceEvents": [\n${lines}\n]}\n`, "utf8");
  }
  const metadata = Array.isArray(trace) ? "" : `,\n"metadata":${JSON.stringify(trace.metadata || {})}`;
  return Buffer.from(`{"traceEvents":[\n${lines}]${metadata}}\n`, "utf8");
}

// Records in Perfetto's protobuf format over the browser's CDP session, as
// Playwright's startTracing cannot: `Tracing.start` with `streamFormat:
// "proto"`, then the stream read with `IO.read` until its end.
async function startProtoTracing(browser, categories) {
  const cdp = await browser.newBrowserCDPSession();
  const complete = new Promise((resolve) => cdp.once("Tracing.tracingComplete", resolve));
  await cdp.send("Tracing.start", {
    transferMode: "ReturnAsStream",
    streamFormat: "proto",
    traceConfig: { includedCategories: categories, excludedCategories: ["*"] },
  });
  return async () => {
    await cdp.send("Tracing.end");
    const { stream } = await complete;
    const chunks = [];
    for (;;) {
      const { data, base64Encoded, eof } = await cdp.send("IO.read", { handle: stream, size: 1 << 20 });
      chunks.push(Buffer.from(data, base64Encoded ? "base64" : "utf8"));
      if (eof) break;
    }
    await cdp.send("IO.close", { handle: stream });
    await cdp.detach();
    return Buffer.concat(chunks);
  };
}

// Records `name` against the running demo app and returns the gzipped trace.
// Options, for other apps (capture/alt-app): `scenarioDir`, `captureScript`,
// `viewport`, `reset()` (defaults to demo.mailbox.reset()), `ready(page)`
// (defaults to waiting for the first row), `keepScreenshot(index)` and
// `startHash`, the route the page opens on (`#inbox` by default), and
// `settleMs`, a wait between opening the page and starting the trace that
// keeps the browser's own start-up work (such as preloading its omnibox
// WebUI, thousands of events) out of the recording.
async function recordScenario(name, demo, options = {}) {
  const scenario = loadScenario(name, options.scenarioDir);
  if (options.reset) options.reset();
  else demo.mailbox.reset();
  const browser = await launchBrowser();
  try {
    const format = options.format || "json";
    const { categories } = FORMATS[format];
    const { context, page } = await newCapturingPage(browser, { captureScript: options.captureScript, viewport: options.viewport });
    if (options.settleMs) await page.waitForTimeout(options.settleMs);
    let stopProto;
    if (format === "proto") stopProto = await startProtoTracing(browser, categories);
    else await browser.startTracing(page, { screenshots: true, categories });
    await page.goto(`${demo.url}${options.startHash || "#inbox"}`);
    if (options.ready) await options.ready(page);
    else await page.getByRole("row").first().waitFor();
    await page.waitForTimeout(400);
    await scenario(page, scenarioHelpers(page, demo.url));
    // Lets the last action's requests and repaint land in the trace.
    await page.waitForTimeout(600);
    if (stopProto) {
      // Protobuf packets are not rewritten: the file is what Chrome wrote.
      const proto = await stopProto();
      await context.close();
      return zlib.gzipSync(proto, { level: 9 });
    }
    const trace = await browser.stopTracing();
    await context.close();
    return zlib.gzipSync(screenshotsLast(trace, options.keepScreenshot, format), { level: 9 });
  } finally {
    await browser.close();
  }
}

module.exports = {
  CAPTURE_SCRIPT,
  SCENARIO_DIR,
  TRACE_CATEGORIES,
  DEVTOOLS_PANEL_CATEGORIES,
  FORMATS,
  launchBrowser,
  newCapturingPage,
  loadScenario,
  scenarioHelpers,
  recordScenario,
  scenarioNames,
};
