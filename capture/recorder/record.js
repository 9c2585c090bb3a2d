#!/usr/bin/env node
// Records scenarios from capture/scenarios/ as gzipped Chrome traces.
//
//   node capture/recorder/record.js [--out DIR] [scenario…]
//   node capture/recorder/record.js --app alt [--out DIR] [scenario…]
//
// Writes DIR/<scenario>.trace.json.gz and copies the scenario's sidecar
// DIR/<scenario>.expected.json beside it. DIR defaults to out/recordings at
// the repository root; pass --out tests/fixtures/recordings to refresh the
// committed fixtures. With no scenario named, records them all. The demo app
// listens on --port (8765 by default; 0 picks a free one).
//
// --app alt records the second reference client instead (capture/alt-app,
// port 8766, scenarios from capture/scenarios-alt, capture/alt-capture.js
// injected). --app tracker records the issue tracker (capture/tracker-app,
// port 8767, scenarios from capture/scenarios-tracker/demos; its test
// sessions are in capture/scenarios-tracker/tests); --app calendar the
// calendar (capture/calendar-app, port 8768, capture/scenarios-calendar/
// {demos,tests}). --scenarios DIR and
// --capture FILE override the app's scenario folder and capture script;
// --screenshot-every N keeps one Screenshot frame in N (0 keeps none; a
// scenario may set its own `screenshotEvery`).
// --format json|devtools|array|proto saves the recording as CDP's JSON object
// (the default, <scenario>.trace.json.gz), with the DevTools Performance
// panel's categories as the panel saves it (.devtools.json.gz), as
// chrome://tracing's bare event array left unterminated (.array.json.gz), or
// as Perfetto protobuf (.pftrace.gz); docs/recording.md describes each.

const fs = require("node:fs");
const path = require("node:path");
const { SCENARIO_DIR, CAPTURE_SCRIPT, FORMATS, recordScenario, scenarioNames } = require("./session.js");

const REPO = path.resolve(__dirname, "..", "..");

const APPS = {
  demo: {
    server: "../demo-app/server.js",
    port: 8765,
    scenarios: SCENARIO_DIR,
    capture: CAPTURE_SCRIPT,
    options: {},
  },
  alt: {
    server: "../alt-app/server.js",
    port: 8766,
    scenarios: path.join(__dirname, "..", "scenarios-alt"),
    capture: path.join(__dirname, "..", "alt-capture.js"),
    options: {
      viewport: { width: 800, height: 560 },
      settleMs: 1500,
      resetWith: (app) => () => app.store.reset(),
      ready: (page) => page.locator("li[data-message-id]").first().waitFor(),
    },
  },
  // Two applications that are not mail, for `tracepipe learn`: each has its
  // demonstrations and its test sessions in two folders (the default is the
  // demonstrations; pass --scenarios …/tests for the others).
  tracker: {
    server: "../tracker-app/server.js",
    port: 8767,
    scenarios: path.join(__dirname, "..", "scenarios-tracker", "demos"),
    capture: CAPTURE_SCRIPT,
    options: {
      startHash: "#issues",
      settleMs: 1000,
      resetWith: (app) => () => app.store.reset(),
      ready: (page) => page.locator("a[data-issue-number]").first().waitFor(),
    },
  },
  calendar: {
    server: "../calendar-app/server.js",
    port: 8768,
    scenarios: path.join(__dirname, "..", "scenarios-calendar", "demos"),
    capture: CAPTURE_SCRIPT,
    options: {
      startHash: "#agenda",
      settleMs: 1000,
      resetWith: (app) => () => app.store.reset(),
      ready: (page) => page.locator("a[data-event-id]").first().waitFor(),
    },
  },
};

function usage(message) {
  if (message) console.error(message);
  console.error(
    "usage: node capture/recorder/record.js [--app demo|alt|tracker|calendar] [--format json|devtools|array|proto] [--out DIR] [--port N] [--scenarios DIR] [--capture FILE] [--screenshot-every N] [scenario…]"
  );
  console.error(`scenarios: ${scenarioNames().join(" ")}`);
  process.exit(2);
}

const VALUED = ["--out", "--port", "--app", "--scenarios", "--capture", "--screenshot-every", "--format"];

function parseArgs(argv) {
  const options = { out: path.join(REPO, "out", "recordings"), names: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (VALUED.includes(arg)) {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      options[arg.slice(2).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = argv[i + 1];
      i += 1;
    } else if (arg === "-h" || arg === "--help") {
      usage();
    } else if (arg.startsWith("-")) {
      usage(`unknown option ${arg}`);
    } else {
      options.names.push(arg);
    }
  }
  const app = APPS[options.app || "demo"];
  if (!app) usage(`unknown app ${options.app} (${Object.keys(APPS).join(", ")})`);
  options.appConfig = app;
  options.scenarios = path.resolve(options.scenarios || app.scenarios);
  options.capture = path.resolve(options.capture || app.capture);
  options.format = options.format || "json";
  if (!FORMATS[options.format]) usage(`unknown format ${options.format} (${Object.keys(FORMATS).join(", ")})`);
  if (options.screenshotEvery !== undefined) {
    options.screenshotEvery = Number(options.screenshotEvery);
    if (!Number.isInteger(options.screenshotEvery) || options.screenshotEvery < 0) usage("--screenshot-every takes a whole number");
  }
  const known = scenarioNames(options.scenarios);
  const unknown = options.names.filter((name) => !known.includes(name));
  if (unknown.length) usage(`unknown scenario: ${unknown.join(", ")}`);
  if (!options.names.length) options.names = known;
  options.out = path.resolve(options.out);
  options.port = Number(options.port === undefined ? app.port : options.port);
  return options;
}

function everyNth(n) {
  return n === 0 ? () => false : (i) => i % n === 0;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  fs.mkdirSync(options.out, { recursive: true });
  const { startServer } = require(options.appConfig.server);
  const demo = await startServer({ port: options.port });
  const { resetWith, ...appOptions } = options.appConfig.options;
  let failed = 0;
  try {
    for (const name of options.names) {
      const started = Date.now();
      try {
        const every = options.screenshotEvery ?? require(path.join(options.scenarios, `${name}.js`)).screenshotEvery;
        const trace = await recordScenario(name, demo, {
          ...appOptions,
          scenarioDir: options.scenarios,
          captureScript: options.capture,
          reset: resetWith ? resetWith(demo) : undefined,
          keepScreenshot: every === undefined ? undefined : everyNth(every),
          format: options.format,
        });
        fs.writeFileSync(path.join(options.out, `${name}.${FORMATS[options.format].extension}`), trace);
        fs.copyFileSync(path.join(options.scenarios, `${name}.expected.json`), path.join(options.out, `${name}.expected.json`));
        console.log(`${name}: ${(trace.length / 1024).toFixed(0)} KiB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      } catch (error) {
        failed += 1;
        console.error(`${name}: FAILED: ${error.message}`);
      }
    }
  } finally {
    await demo.close();
  }
  if (failed) {
    console.error(`${failed} of ${options.names.length} scenarios failed`);
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(error.stack || error.message);
  process.exit(1);
});
