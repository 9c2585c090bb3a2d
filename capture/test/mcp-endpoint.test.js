// Tracepipe's own MCP endpoint (/v1/mcp, docs/mcp-endpoint.md) through the
// official MCP TypeScript SDK client, as an agent would use it: against a
// real `tracepipe serve`, and against the distributed deployment (gateway,
// processor, sink on the services of scripts/services/env.sh) when
// TRACEPIPE_KAFKA_BOOTSTRAP is set. Each run lists the tools, uploads a
// committed recording inline, waits for its Example and downloads the
// conversation, which must be byte for byte what
// GET /v1/examples/{id}/messages answers.

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawn } = require("node:child_process");
const { setTimeout: sleep } = require("node:timers/promises");
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { ROOT, freePort, startServe, tracepipeBinary } = require("./extension-support.js");

const FIXTURE = path.join(ROOT, "tests", "fixtures", "recordings", "list_labels.trace.json.gz");
const TOOLS = ["list_suites", "upload_session", "get_session", "list_examples", "get_example", "get_example_messages", "get_usage"];

async function connect(url, key) {
  const client = new Client({ name: "tracepipe-mcp-endpoint-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/v1/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  return client;
}

// A successful tool call's structured answer.
async function call(client, name, args) {
  const result = await client.callTool({ name, arguments: args });
  assert.notEqual(result.isError, true, `${name}: ${JSON.stringify(result.content)}`);
  return result;
}

// What an agent does with a deployment at `url`, as the user of `key`.
async function exercise(url, key) {
  const client = await connect(url, key);
  try {
    assert.equal(client.getServerVersion().name, "tracepipe");
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), TOOLS);
    for (const tool of tools) {
      assert.equal(tool.inputSchema.type, "object", tool.name);
      assert.equal(tool.outputSchema.type, "object", tool.name);
      assert.ok(tool.description.length > 20, tool.name);
    }

    const { structuredContent: catalog } = await call(client, "list_suites", {});
    const gmail = catalog.suites.find((s) => s.name === "gmail");
    assert.ok(gmail && gmail.actions.length > 0, "gmail with its actions");

    // The SDK checks each structured answer against the tool's outputSchema.
    const upload = await call(client, "upload_session", {
      suite_id: "gmail",
      description: "uploaded through the MCP endpoint",
      file_name: path.basename(FIXTURE),
      content_base64: fs.readFileSync(FIXTURE).toString("base64"),
    });
    const session = upload.structuredContent;
    assert.equal(session.suite_id, gmail.id);
    assert.equal(session.size_bytes, fs.statSync(FIXTURE).size);
    assert.equal(session.source_name, path.basename(FIXTURE));
    assert.deepEqual((await call(client, "get_session", { session_id: session.id })).structuredContent, session);

    let example;
    for (;;) {
      const { structuredContent: page } = await call(client, "list_examples", { session_id: session.id });
      example = page.items[0];
      if (example && (example.status === "COMPLETED" || example.status === "FAILED")) break;
      await sleep(250);
    }
    assert.equal(example.status, "COMPLETED", JSON.stringify(example.error));
    assert.deepEqual((await call(client, "get_example", { example_id: example.id })).structuredContent, example);

    const messages = await call(client, "get_example_messages", { example_id: example.id });
    const rest = await fetch(`${url}/v1/examples/${example.id}/messages`, { headers: { "X-API-Key": key } });
    assert.equal(rest.status, 200);
    const restBytes = Buffer.from(await rest.arrayBuffer());
    assert.ok(restBytes.length > 0);
    assert.ok(Buffer.from(messages.content[0].text, "utf8").equals(restBytes), "the text content is messages.jsonl");
    assert.ok(Buffer.from(messages.structuredContent.messages, "utf8").equals(restBytes), "so is the structured answer's");
    assert.equal(messages.structuredContent.media_type, "application/jsonl");
    const calls = restBytes
      .toString("utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line))
      .flatMap((m) => m.tool_calls || [])
      .map((c) => c.function.name);
    assert.ok(calls.includes("list_email_labels"), calls.join(", "));

    const { structuredContent: usage } = await call(client, "get_usage", { suite_id: "gmail" });
    assert.ok(usage.sessions_uploaded >= 1 && usage.examples_generated >= 1, JSON.stringify(usage));

    // A failure is a tool error carrying the API's error body.
    const missing = await client.callTool({ name: "get_example", arguments: { example_id: "00000000-0000-4000-8000-000000000000" } });
    assert.equal(missing.isError, true);
    assert.equal(JSON.parse(missing.content[0].text).error.code, "not_found");
    const early = await client.callTool({ name: "get_example_messages", arguments: { example_id: session.id } });
    assert.equal(JSON.parse(early.content[0].text).error.code, "not_found");

    // GET /v1/mcp without asking for an event stream: the MCP servers, as
    // GET /v1/mcp-servers lists them.
    const listing = await fetch(`${url}/v1/mcp`, { headers: { Authorization: `Bearer ${key}`, Accept: "application/json" } });
    assert.equal(listing.status, 200);
    const servers = await fetch(`${url}/v1/mcp-servers`, { headers: { "X-API-Key": key } });
    assert.deepEqual(await listing.json(), await servers.json());
  } finally {
    await client.close();
  }
}

describe("the MCP endpoint of tracepipe serve", () => {
  const env = {};

  before(async () => {
    env.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-mcp-endpoint-serve-"));
    env.serve = await startServe({ port: await freePort(), dataDir: env.dataDir });
  });

  after(async () => {
    if (env.serve) await env.serve.stop();
    if (env.dataDir) fs.rmSync(env.dataDir, { recursive: true, force: true });
  });

  test("an agent lists the tools, uploads a recording and downloads its Example's messages", async () => {
    await exercise(env.serve.url, env.serve.key);
  });

  test("a request without a valid key is refused before any tool runs", async () => {
    await assert.rejects(connect(env.serve.url, "tp_live_not-a-key-of-anyone"), (e) => e.code === 401 && /"code":"unauthorized"/.test(e.message));
  });
});

// The distributed deployment's services, with names of their own (topics,
// consumer groups, schema, bucket prefix) as tests/common/mod.rs gives them.
function startDistributed() {
  const name = `mcp${process.pid}_${Date.now()}`;
  const logs = fs.mkdtempSync(path.join(os.tmpdir(), "tracepipe-mcp-endpoint-distributed-"));
  const children = [];
  const start = (service) => {
    const out = fs.openSync(path.join(logs, `${service}.out`), "a");
    const err = fs.openSync(path.join(logs, `${service}.err`), "a");
    const child = spawn(tracepipeBinary(), [service], {
      cwd: ROOT,
      stdio: ["ignore", out, err],
      env: {
        ...process.env,
        TRACEPIPE_TOPICS_SESSIONS: `${name}.sessions`,
        TRACEPIPE_TOPICS_EXAMPLES: `${name}.examples`,
        TRACEPIPE_TOPICS_DEAD_LETTER: `${name}.dead-letter`,
        TRACEPIPE_TOPICS_STATUS: `${name}.status`,
        TRACEPIPE_TOPICS_CATALOG: `${name}.catalog`,
        TRACEPIPE_S3_PREFIX: name,
        TRACEPIPE_DATABASE_SCHEMA: name,
        TRACEPIPE_LISTEN: "127.0.0.1:0",
        TRACEPIPE_METRICS_LISTEN: "127.0.0.1:0",
        TRACEPIPE_KAFKA_GROUP: `${name}-${service}`,
      },
    });
    children.push(child);
  };
  const stop = async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      ),
    );
    fs.rmSync(logs, { recursive: true, force: true });
  };
  // The gateway prints its URL and, at the first start of its schema, the
  // administrator's key.
  const gateway = async () => {
    for (;;) {
      const out = fs.readFileSync(path.join(logs, "gateway.out"), "utf8");
      const url = (out.match(/tracepipe gateway: listening on (\S+)/) || [])[1];
      const key = (out.match(/tp_live_[A-Za-z0-9_-]+/) || [])[0];
      if (url && key) return { url: url.replace(/\/v1$/, ""), key };
      if (children[0].exitCode !== null) throw new Error(`the gateway exited:\n${fs.readFileSync(path.join(logs, "gateway.err"), "utf8")}`);
      await sleep(200);
    }
  };
  // Every service's stderr, for a failure's message.
  const errors = () =>
    ["gateway", "processor", "sink"].map((service) => `--- ${service}\n${fs.readFileSync(path.join(logs, `${service}.err`), "utf8")}`).join("\n");
  start("gateway");
  start("processor");
  start("sink");
  return { gateway, stop, errors };
}

const distributedSkip = process.env.TRACEPIPE_KAFKA_BOOTSTRAP
  ? false
  : process.env.CI
    ? false
    : "TRACEPIPE_KAFKA_BOOTSTRAP is not set (eval \"$(scripts/services/env.sh)\" with the services started)";

describe("the MCP endpoint of the distributed gateway", { skip: distributedSkip }, () => {
  const env = {};

  before(async () => {
    assert.ok(process.env.TRACEPIPE_KAFKA_BOOTSTRAP, "CI is set but TRACEPIPE_KAFKA_BOOTSTRAP is not");
    env.deployment = startDistributed();
    env.gateway = await env.deployment.gateway();
  });

  after(async () => {
    if (env.deployment) await env.deployment.stop();
  });

  test("an agent lists the tools, uploads a recording and downloads its Example's messages", async () => {
    try {
      await exercise(env.gateway.url, env.gateway.key);
    } catch (error) {
      error.message += `\n${env.deployment.errors()}`;
      throw error;
    }
  });
});
