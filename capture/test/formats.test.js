// The recorder's other ways of saving a trace (`--format`), each from a real
// recording: the Performance panel's shape, chrome://tracing's unterminated
// array, and Perfetto protobuf over CDP. Whether Tracepipe reads them alike is
// ingest/tests/twin_recordings.rs's question; this one checks that each file
// is what it claims to be.

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const zlib = require("node:zlib");
const { startServer } = require("../demo-app/server.js");
const { recordScenario, DEVTOOLS_PANEL_CATEGORIES } = require("../recorder/session.js");

let demo;

before(async () => {
  demo = await startServer({ port: 0 });
});

after(async () => {
  if (demo) await demo.close();
});

function record(format) {
  return recordScenario("search_operator", demo, { format, keepScreenshot: () => false }).then((gz) => zlib.gunzipSync(gz));
}

test("devtools: metadata first, then traceEvents, with the panel's categories", async () => {
  const text = (await record("devtools")).toString("utf8");
  assert.ok(text.startsWith('{"metadata": {'), text.slice(0, 40));
  const trace = JSON.parse(text);
  assert.equal(trace.metadata.source, "DevTools");
  assert.ok(!Number.isNaN(Date.parse(trace.metadata.startTime)));
  const categories = new Set(trace.traceEvents.flatMap((e) => (e.cat || "").split(",")));
  assert.ok(categories.has("v8.execute") || categories.has("v8"), "the panel records JavaScript");
  assert.ok(!DEVTOOLS_PANEL_CATEGORIES.includes("navigation"));
  assert.ok(trace.traceEvents.some((e) => e.name === "tracepipe:click"));
});

test("array: a bare event array without its closing bracket", async () => {
  const text = (await record("array")).toString("utf8");
  assert.ok(text.startsWith("[{"), text.slice(0, 10));
  assert.ok(text.trimEnd().endsWith(","), text.slice(-10));
  const events = JSON.parse(`${text.trimEnd().slice(0, -1)}]`);
  assert.ok(events.some((e) => e.name === "tracepipe:click"));
});

test("proto: Perfetto TracePackets that carry the capture marks", async () => {
  const bytes = await record("proto");
  // Trace.packet is field 1, length-delimited: every packet starts with 0x0a.
  assert.equal(bytes[0], 0x0a);
  assert.ok(bytes.includes(Buffer.from("tracepipe:click")), "the marks are in the packets");
  assert.ok(!bytes.subarray(0, 64).toString("latin1").includes("traceEvents"));
});
