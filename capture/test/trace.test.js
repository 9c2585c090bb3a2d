// A real recording through the recorder: the trace Chromium writes holds the
// capture script's marks in the shape the capture contract promises, and the
// network, input, navigation and screenshot events Tracepipe reads.

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const zlib = require("node:zlib");
const { startServer } = require("../demo-app/server.js");
const { recordScenario } = require("../recorder/session.js");

let demo;
let events;

before(async () => {
  demo = await startServer({ port: 0 });
  const trace = JSON.parse(zlib.gunzipSync(await recordScenario("search_operator", demo)).toString("utf8"));
  events = trace.traceEvents;
});

after(async () => {
  if (demo) await demo.close();
});

function named(name) {
  return events.filter((e) => e.name === name);
}

test("tracepipe marks are blink.user_timing instants whose detail is a JSON string", () => {
  const all = events.filter((e) => e.name.startsWith("tracepipe:")).sort((a, b) => a.ts - b.ts);
  // The screen-privacy marks come on their own schedule, and a view once the
  // page has settled after an action (docs/recording.md).
  const marks = all.filter((e) => e.name !== "tracepipe:sensitive" && e.name !== "tracepipe:view");
  assert.deepEqual(marks.map((e) => e.name), ["tracepipe:click", "tracepipe:change", "tracepipe:keydown", "tracepipe:submit"]);
  const views = all.filter((e) => e.name === "tracepipe:view");
  assert.ok(views.length > 0 && views[views.length - 1].ts > marks[3].ts, "a view after the search");
  const sensitive = all.filter((e) => e.name === "tracepipe:sensitive");
  assert.ok(sensitive.length > 0 && sensitive[0].ts < marks[0].ts, "a sensitive mark from the start");
  for (const mark of all) {
    assert.equal(mark.cat, "blink.user_timing");
    assert.ok(mark.ph === "I" || mark.ph === "R", mark.ph);
    assert.equal(typeof mark.ts, "number");
    assert.equal(typeof mark.args.data.detail, "string");
  }
  const change = JSON.parse(marks[1].args.data.detail);
  assert.equal(change.value, "from:alice report");
  assert.equal(change.target.label, "Search mail");
  assert.equal(change.url, `${demo.url}#inbox`);
  assert.equal(JSON.parse(marks[2].args.data.detail).key, "Enter");
});

test("screenshots are JPEG frames from the screenshot category", () => {
  const shots = named("Screenshot");
  assert.ok(shots.length > 3, `${shots.length} screenshots`);
  for (const shot of shots) {
    assert.equal(shot.cat, "disabled-by-default-devtools.screenshot");
    assert.ok(Buffer.from(shot.args.snapshot, "base64").subarray(0, 2).equals(Buffer.from([0xff, 0xd8])));
  }
});

test("network requests are sent, answered and finished with URL, method, status and MIME type", () => {
  const sends = named("ResourceSendRequest").map((e) => e.args.data);
  const search = sends.find((d) => d.url.endsWith("/api/messages?q=from%3Aalice+report"));
  assert.ok(search, "the search request");
  assert.equal(search.requestMethod, "GET");
  const response = named("ResourceReceiveResponse").find((e) => e.args.data.requestId === search.requestId);
  assert.equal(response.args.data.statusCode, 200);
  assert.equal(response.args.data.mimeType, "application/json");
  assert.ok(named("ResourceFinish").some((e) => e.args.data.requestId === search.requestId));
});

test("input is visible as EventDispatch types and EventTiming interactions", () => {
  const types = new Set(named("EventDispatch").map((e) => e.args.data.type));
  for (const type of ["click", "keydown", "change", "submit"]) assert.ok(types.has(type), type);
  const timings = named("EventTiming").filter((e) => e.ph === "b" && e.args.data && e.args.data.interactionId);
  assert.ok(timings.length > 0);
});

test("the recording names the browser's tracing start and the page's frame", () => {
  const started = named("TracingStartedInBrowser");
  assert.equal(started.length, 1);
  const frames = started[0].args.data.frames;
  assert.ok(frames.some((f) => f.url.startsWith(demo.url) || f.url === "about:blank"));
});
