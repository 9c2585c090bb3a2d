#!/usr/bin/env node
// Records scenarios from capture/scenarios/ as gzipped Chrome traces.
//
//   node capture/recorder/record.js [--out DIR] [scenario…]
//
// Writes DIR/<scenario>.trace.json.gz and copies the scenario's sidecar
// DIR/<scenario>.expected.json beside it. DIR defaults to out/recordings at
// the repository root; pass --out tests/fixtures/recordings to refresh the
// committed fixtures. With no scenario named, records them all. The demo app
// listens on --port (8765 by default; 0 picks a free one).

const fs = require("node:fs");
const path = require("node:path");
const { startServer } = require("../demo-app/server.js");
const { SCENARIO_DIR, recordScenario, scenarioNames } = require("./session.js");

const REPO = path.resolve(__dirname, "..", "..");

function usage(message) {
  if (message) console.error(message);
  console.error("usage: node capture/recorder/record.js [--out DIR] [--port N] [scenario…]");
  console.error(`scenarios: ${scenarioNames().join(" ")}`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { out: path.join(REPO, "out", "recordings"), port: 8765, names: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--out" || arg === "--port") {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      options[arg.slice(2)] = argv[i + 1];
      i += 1;
    } else if (arg === "-h" || arg === "--help") {
      usage();
    } else if (arg.startsWith("-")) {
      usage(`unknown option ${arg}`);
    } else {
      options.names.push(arg);
    }
  }
  const known = scenarioNames();
  const unknown = options.names.filter((name) => !known.includes(name));
  if (unknown.length) usage(`unknown scenario: ${unknown.join(", ")}`);
  if (!options.names.length) options.names = known;
  options.out = path.resolve(options.out);
  options.port = Number(options.port);
  return options;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  fs.mkdirSync(options.out, { recursive: true });
  const demo = await startServer({ port: options.port });
  let failed = 0;
  try {
    for (const name of options.names) {
      const started = Date.now();
      try {
        const trace = await recordScenario(name, demo);
        fs.writeFileSync(path.join(options.out, `${name}.trace.json.gz`), trace);
        fs.copyFileSync(path.join(SCENARIO_DIR, `${name}.expected.json`), path.join(options.out, `${name}.expected.json`));
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
