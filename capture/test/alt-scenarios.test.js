// The Postbox scenarios (capture/scenarios-alt) and their committed
// recordings (tests/fixtures/recordings-alt): one sidecar per scenario in the
// same conventions as capture/scenarios, one trace and an identical sidecar
// per scenario, marks made by alt-capture.js (contract fields only), some
// screenshots, all within the 8 MiB budget.

const { test } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const zlib = require("node:zlib");
const { scenarioNames } = require("../recorder/session.js");

const SCENARIOS = path.join(__dirname, "..", "scenarios-alt");
const FIXTURES = path.join(__dirname, "..", "..", "tests", "fixtures", "recordings-alt");
const BUDGET_BYTES = 8 * 1024 * 1024;

const MESSAGE_ID = /^[0-9a-f]{16}$/;
const LABEL_ID = /^(INBOX|STARRED|IMPORTANT|UNREAD|TRASH|SPAM|Label_\d+)$/;
const TARGET_FIELDS = new Set(["tag", "role", "label", "id", "name", "type", "text", "href", "selector", "data"]);

// Tool → the arguments it may take; ids must look like Gmail's.
const TOOLS = {
  send_email: ["to", "cc", "bcc", "subject", "body"],
  draft_email: ["to", "cc", "bcc", "subject", "body"],
  read_email: ["messageId"],
  search_emails: ["query"],
  delete_email: ["messageId"],
  modify_email: ["messageId", "addLabelIds", "removeLabelIds"],
  batch_modify_emails: ["messageIds", "addLabelIds", "removeLabelIds"],
  batch_delete_emails: ["messageIds"],
  download_attachment: ["messageId", "attachmentId"],
  list_email_labels: [],
  create_label: ["name"],
  update_label: ["id", "name"],
  delete_label: ["id"],
  create_filter: ["criteria", "action"],
  delete_filter: ["filterId"],
};

const names = () => scenarioNames(SCENARIOS);
const sidecar = (dir, name) => JSON.parse(fs.readFileSync(path.join(dir, `${name}.expected.json`), "utf8"));

test("every alt scenario has a sidecar of Gmail MCP tool calls with Gmail-shaped ids", () => {
  assert.ok(names().length >= 20);
  for (const name of names()) {
    const s = sidecar(SCENARIOS, name);
    assert.deepEqual(Object.keys(s).sort(), ["description", "scenario", "suite", "tool_calls"], name);
    assert.equal(s.scenario, name);
    assert.equal(s.suite, "gmail");
    for (const { name: tool, arguments: args } of s.tool_calls) {
      const where = `${name}: ${tool}`;
      assert.ok(TOOLS[tool], `${where}: unknown tool`);
      for (const key of Object.keys(args)) assert.ok(TOOLS[tool].includes(key), `${where}: unexpected ${key}`);
      for (const key of ["messageId"]) if (key in args) assert.match(args[key], MESSAGE_ID, where);
      for (const id of args.messageIds || []) assert.match(id, MESSAGE_ID, where);
      for (const id of [...(args.addLabelIds || []), ...(args.removeLabelIds || [])]) assert.match(id, LABEL_ID, where);
      if (tool.endsWith("_label") && "id" in args) assert.match(args.id, LABEL_ID, where);
      for (const key of ["to", "cc", "bcc"]) if (key in args) assert.ok(args[key].every((a) => a.includes("@")), where);
    }
  }
  const used = new Set(names().flatMap((name) => sidecar(SCENARIOS, name).tool_calls.map((c) => c.name)));
  assert.deepEqual([...used].sort(), Object.keys(TOOLS).sort());
});

test("the committed alt recordings are the scenarios': one trace and the same sidecar each, under 8 MiB", () => {
  const files = fs.readdirSync(FIXTURES).sort();
  assert.deepEqual(files, names().flatMap((name) => [`${name}.expected.json`, `${name}.trace.json.gz`]).sort());
  for (const name of names()) assert.deepEqual(sidecar(FIXTURES, name), sidecar(SCENARIOS, name), name);
  const total = files.reduce((sum, file) => sum + fs.statSync(path.join(FIXTURES, file)).size, 0);
  assert.ok(total < BUDGET_BYTES, `${(total / 1048576).toFixed(1)} MiB of fixtures`);
});

test("the alt recordings hold alt-capture marks with the contract's target fields only, and some screenshots", () => {
  let withScreenshots = 0;
  for (const name of names()) {
    const { traceEvents } = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(FIXTURES, `${name}.trace.json.gz`))).toString("utf8"));
    const marks = traceEvents.filter((e) => e.cat === "blink.user_timing" && e.name.startsWith("tracepipe:"));
    assert.ok(marks.length > 0, `${name}: no marks`);
    for (const mark of marks) {
      const detail = JSON.parse(mark.args.data.detail);
      assert.ok(detail.url.includes("#"), name);
      for (const key of Object.keys(detail.target || {})) assert.ok(TARGET_FIELDS.has(key), `${name}: target.${key}`);
      if (mark.name === "tracepipe:change" && detail.target.type === "checkbox") assert.equal(detail.value, "on", name);
    }
    if (traceEvents.some((e) => e.name === "Screenshot")) withScreenshots += 1;
  }
  assert.ok(withScreenshots >= 5, `${withScreenshots} recordings with screenshots`);
});
