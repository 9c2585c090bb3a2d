// The scenarios' sidecars follow the expected-tool-call conventions other
// code depends on, and the committed recordings match the scenarios: one
// trace and one identical sidecar each, with marks in them, secrets not, and
// all of it within the fixture budget.

const { test } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const zlib = require("node:zlib");
const { SCENARIO_DIR, scenarioNames } = require("../recorder/session.js");

const FIXTURES = path.join(__dirname, "..", "..", "tests", "fixtures", "recordings");
const FIXTURE_BUDGET_BYTES = 20 * 1024 * 1024;

const MESSAGE_ID = /^[0-9a-f]{16}$/;
const LABEL_ID = /^(INBOX|STARRED|IMPORTANT|UNREAD|TRASH|SPAM|Label_\d+)$/;

const isString = (v) => typeof v === "string";
const isAddressList = (v) => Array.isArray(v) && v.length > 0 && v.every((a) => isString(a) && a.includes("@"));
const isIdList = (pattern) => (v) => Array.isArray(v) && v.length > 0 && v.every((id) => pattern.test(id));
const isLabelList = isIdList(LABEL_ID);

// Tool name → [required arguments, optional arguments], each with a check.
const TOOLS = {
  send_email: [{ to: isAddressList, subject: isString, body: isString }, { cc: isAddressList, bcc: isAddressList }],
  draft_email: [{ to: isAddressList, subject: isString, body: isString }, { cc: isAddressList, bcc: isAddressList }],
  read_email: [{ messageId: (v) => MESSAGE_ID.test(v) }, {}],
  search_emails: [{ query: (v) => isString(v) && v.length > 0 }, {}],
  delete_email: [{ messageId: (v) => MESSAGE_ID.test(v) }, {}],
  modify_email: [{ messageId: (v) => MESSAGE_ID.test(v) }, { addLabelIds: isLabelList, removeLabelIds: isLabelList }],
  batch_modify_emails: [{ messageIds: isIdList(MESSAGE_ID) }, { addLabelIds: isLabelList, removeLabelIds: isLabelList }],
  batch_delete_emails: [{ messageIds: isIdList(MESSAGE_ID) }, {}],
  download_attachment: [{ messageId: (v) => MESSAGE_ID.test(v), attachmentId: (v) => isString(v) && v.length > 0 }, {}],
  list_email_labels: [{}, {}],
  create_label: [{ name: (v) => isString(v) && v.length > 0 }, {}],
  update_label: [{ id: (v) => LABEL_ID.test(v), name: (v) => isString(v) && v.length > 0 }, {}],
  delete_label: [{ id: (v) => LABEL_ID.test(v) }, {}],
  create_filter: [
    {
      criteria: (v) => v && Object.keys(v).length > 0 && Object.entries(v).every(([k, x]) => ["from", "to", "subject", "query", "negatedQuery"].includes(k) && isString(x)),
      action: (v) => v && Object.keys(v).length > 0 && Object.entries(v).every(([k, x]) => ["addLabelIds", "removeLabelIds"].includes(k) && isLabelList(x)),
    },
    {},
  ],
  delete_filter: [{ filterId: (v) => isString(v) && v.length > 0 }, {}],
};

function readSidecar(dir, name) {
  return JSON.parse(fs.readFileSync(path.join(dir, `${name}.expected.json`), "utf8"));
}

test("every scenario has a sidecar of well-formed Gmail MCP tool calls", () => {
  const names = scenarioNames();
  assert.ok(names.length >= 20, `${names.length} scenarios`);
  for (const name of names) {
    const sidecar = readSidecar(SCENARIO_DIR, name);
    assert.deepEqual(Object.keys(sidecar).sort(), ["description", "scenario", "suite", "tool_calls"], name);
    assert.equal(sidecar.scenario, name);
    assert.equal(sidecar.suite, "gmail");
    assert.ok(sidecar.description.length > 10, name);
    for (const call of sidecar.tool_calls) {
      const where = `${name}: ${call.name}`;
      assert.deepEqual(Object.keys(call).sort(), ["arguments", "name"], where);
      assert.ok(TOOLS[call.name], `${where}: unknown tool`);
      const [required, optional] = TOOLS[call.name];
      for (const [key, check] of Object.entries(required)) {
        assert.ok(key in call.arguments, `${where}: ${key} missing`);
        assert.ok(check(call.arguments[key]), `${where}: bad ${key}`);
      }
      for (const [key, value] of Object.entries(call.arguments)) {
        const check = required[key] || optional[key];
        assert.ok(check, `${where}: unexpected argument ${key}`);
        assert.ok(check(value), `${where}: bad ${key}`);
      }
    }
  }
});

test("every action the contract names is covered by some scenario", () => {
  const used = new Set(scenarioNames().flatMap((name) => readSidecar(SCENARIO_DIR, name).tool_calls.map((c) => c.name)));
  assert.deepEqual([...used].sort(), Object.keys(TOOLS).sort());
  const empty = scenarioNames().filter((name) => readSidecar(SCENARIO_DIR, name).tool_calls.length === 0);
  assert.ok(empty.includes("compose_discard") && empty.includes("account_secrets"));
});

test("the committed recordings are the scenarios': a trace and the same sidecar each, within budget", () => {
  const files = fs.readdirSync(FIXTURES).sort();
  const expected = scenarioNames().flatMap((name) => [`${name}.expected.json`, `${name}.trace.json.gz`]).sort();
  assert.deepEqual(files, expected);
  for (const name of scenarioNames()) assert.deepEqual(readSidecar(FIXTURES, name), readSidecar(SCENARIO_DIR, name), name);
  const total = files.reduce((sum, file) => sum + fs.statSync(path.join(FIXTURES, file)).size, 0);
  assert.ok(total < FIXTURE_BUDGET_BYTES, `${(total / 1048576).toFixed(1)} MiB of fixtures`);
});

test("every committed recording holds tracepipe marks and screenshots; secrets are in none", () => {
  const secrets = ["hunter2", "4111 1111", "4111111111111111", '"737"'];
  for (const name of scenarioNames()) {
    const text = zlib.gunzipSync(fs.readFileSync(path.join(FIXTURES, `${name}.trace.json.gz`))).toString("utf8");
    assert.ok(text.startsWith('{"traceEvents":['), name);
    assert.ok(text.includes('"name":"tracepipe:'), `${name}: no marks`);
    assert.ok(text.includes('"name":"Screenshot"'), `${name}: no screenshots`);
    for (const secret of secrets) assert.ok(!text.includes(secret), `${name}: ${secret} leaked`);
  }
});
