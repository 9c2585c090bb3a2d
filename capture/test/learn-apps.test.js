// The two applications that are not mail (capture/tracker-app over the
// GitHub MCP server's tools, capture/calendar-app over Google Calendar's),
// their scenario sets and their committed recordings: demonstrations and test
// sessions kept apart, every sidecar's tool a tool of the imported server
// with only its parameters, one recording and an identical sidecar per
// scenario with the capture script's marks in it, the test sessions covering
// what issue #16 asks, each app's recordings within an 8 MiB budget; and each
// app's API doing what its page asks of it.

const { test } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const zlib = require("node:zlib");
const { scenarioNames } = require("../recorder/session.js");

const REPO = path.join(__dirname, "..", "..");
const BUDGET_BYTES = 8 * 1024 * 1024;

const APPS = [
  { suite: "tracker", server: "github", app: "tracker-app" },
  { suite: "calendar", server: "google_calendar", app: "calendar-app" },
];

// What the test sessions of each app must include (issue #16).
const REQUIRED_TESTS = ["multi_action_session", "typing_corrections", "keyboard_submits", "browse_only"];

const sidecar = (dir, name) => JSON.parse(fs.readFileSync(path.join(dir, `${name}.expected.json`), "utf8"));

for (const { suite, server, app } of APPS) {
  const scenarios = (set) => path.join(__dirname, "..", `scenarios-${suite}`, set);
  const fixtures = (set) => path.join(REPO, "tests", "fixtures", `recordings-${suite}`, set);
  const tools = new Map(
    JSON.parse(fs.readFileSync(path.join(REPO, "catalog", "mcp-servers", `${server}.json`), "utf8")).tools.map((t) => [t.name, t])
  );

  test(`${suite}: demonstrations and test sessions are apart and cover what issue #16 asks`, () => {
    const demos = scenarioNames(scenarios("demos"));
    const tests = scenarioNames(scenarios("tests"));
    assert.ok(demos.length >= 8, `${demos.length} demonstrations`);
    assert.ok(tests.length >= 6, `${tests.length} test sessions`);
    for (const name of tests) assert.ok(!demos.includes(name), `${name} is in both sets`);
    for (const name of REQUIRED_TESTS) assert.ok(tests.includes(name), `no ${name} test session`);
    assert.ok(tests.some((n) => n.startsWith("abandoned_")), "no abandoned form");
    assert.equal(sidecar(scenarios("tests"), "browse_only").tool_calls.length, 0, "browse_only makes no call");
    assert.ok(sidecar(scenarios("tests"), "multi_action_session").tool_calls.length >= 4);
  });

  test(`${suite}: every sidecar calls tools of ${server} with their parameters only`, () => {
    for (const set of ["demos", "tests"]) {
      for (const name of scenarioNames(scenarios(set))) {
        const s = sidecar(scenarios(set), name);
        assert.deepEqual(Object.keys(s).sort(), ["description", "scenario", "suite", "tool_calls"], name);
        assert.equal(s.scenario, name);
        assert.equal(s.suite, suite);
        for (const { name: tool, arguments: args } of s.tool_calls) {
          const t = tools.get(tool);
          assert.ok(t, `${name}: ${server} has no tool ${tool}`);
          const params = Object.keys(t.input_schema.properties || {});
          for (const key of Object.keys(args)) assert.ok(params.includes(key), `${name}: ${tool} takes no ${key}`);
          for (const key of t.input_schema.required || []) assert.ok(key in args, `${name}: ${tool} needs ${key}`);
        }
      }
    }
  });

  test(`${suite}: one recording with the capture script's marks and the same sidecar per scenario, within budget`, () => {
    let bytes = 0;
    for (const set of ["demos", "tests"]) {
      const names = scenarioNames(scenarios(set));
      const files = fs.readdirSync(fixtures(set)).sort();
      assert.deepEqual(files, names.flatMap((n) => [`${n}.expected.json`, `${n}.trace.json.gz`]).sort(), set);
      for (const name of names) {
        assert.deepEqual(sidecar(fixtures(set), name), sidecar(scenarios(set), name), `${set}/${name}: sidecar differs`);
        const gz = fs.readFileSync(path.join(fixtures(set), `${name}.trace.json.gz`));
        bytes += gz.length;
        const events = JSON.parse(zlib.gunzipSync(gz).toString("utf8")).traceEvents;
        const marks = events.filter((e) => e.cat === "blink.user_timing" && String(e.name).startsWith("tracepipe:"));
        assert.ok(marks.some((e) => e.name === "tracepipe:click"), `${set}/${name}: no click mark`);
        assert.ok(!events.some((e) => e.name === "Screenshot"), `${set}/${name}: screenshots kept`);
      }
    }
    assert.ok(bytes <= BUDGET_BYTES, `${(bytes / 1048576).toFixed(1)} MiB of recordings`);
  });
}

async function withServer(app, run) {
  const { startServer } = require(path.join("..", app, "server.js"));
  const server = await startServer({ port: 0 });
  const call = async (method, url, body) => {
    const res = await fetch(new URL(url, server.url), {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: await res.json() };
  };
  try {
    await run(call);
  } finally {
    await server.close();
  }
}

test("tracker: issues are created, commented, closed and found", () =>
  withServer("tracker-app", async (call) => {
    const created = await call("POST", "/api/repos/acme/widgets/issues", { title: "New crash", body: "x", labels: ["bug", "nope"] });
    assert.equal(created.status, 201);
    assert.deepEqual(created.json.labels, ["bug"]);
    const n = created.json.number;
    assert.equal((await call("POST", `/api/repos/acme/widgets/issues/${n}/comments`, { body: "seen" })).status, 201);
    assert.equal((await call("PATCH", `/api/repos/acme/widgets/issues/${n}`, { state: "closed" })).json.state, "closed");
    assert.equal((await call("PATCH", `/api/repos/acme/widgets/issues/${n}`, { state: "gone" })).status, 400);
    const found = (await call("GET", "/api/search/issues?q=is%3Aclosed+crash")).json;
    assert.deepEqual(found.map((i) => i.number), [n]);
    assert.equal((await call("GET", "/api/repos/acme/nothing/issues")).status, 404);
  }));

test("calendar: events are created, changed, answered, found and deleted", () =>
  withServer("calendar-app", async (call) => {
    const created = await call("POST", "/api/events", { calendarId: "primary", summary: "Haircut", start: "2026-12-09T17:00", end: "2026-12-09T17:45" });
    assert.equal(created.status, 201);
    const id = created.json.id;
    assert.match(id, /^[a-v0-9]{5,}$/, "a base32hex id as Google Calendar's");
    assert.equal((await call("PATCH", `/api/events/${id}`, { location: "Salon" })).json.location, "Salon");
    assert.equal((await call("POST", "/api/events/k7dq2m0b1a/response", { response: "tentative" })).json.response, "tentative");
    assert.equal((await call("POST", "/api/events/k7dq2m0b1a/response", { response: "perhaps" })).status, 400);
    const found = (await call("GET", "/api/search?calendarId=primary&query=salon&timeMin=2026-12-09T00:00&timeMax=2026-12-09T23:59")).json;
    assert.deepEqual(found.map((e) => e.id), [id]);
    assert.equal((await call("DELETE", `/api/events/${id}`)).status, 200);
    assert.equal((await call("GET", `/api/events/${id}`)).status, 404);
    assert.equal((await call("POST", "/api/events", { calendarId: "nobody", summary: "x", start: "a", end: "b" })).status, 404);
  }));
