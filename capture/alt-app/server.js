// Postbox server: the page, its script and style, and a small API under
// /svc/v2/ over an in-memory Store. Built-in http only.
//
//   node capture/alt-app/server.js        # PORT=8766 by default
//
// `startServer({port})` is what the recorder and the tests use; it resolves to
// {url, store, close}. Every API answer is held back a little (a different
// rhythm from the demo app's immediate answers).

"use strict";

const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");
const { Store } = require("./store.js");

const ASSETS = {
  "/": ["shell.html", "text/html; charset=utf-8"],
  "/static/postbox.js": ["postbox.js", "application/javascript; charset=utf-8"],
  "/static/postbox.css": ["postbox.css", "text/css; charset=utf-8"],
};

const LIMIT = 32 * 1024;

function reply(res, status, payload) {
  const bytes = Buffer.from(JSON.stringify({ ok: status < 400, data: payload }));
  res.writeHead(status, { "content-type": "application/json", "content-length": bytes.length, "cache-control": "no-store" });
  res.end(bytes);
}

function body(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > LIMIT) {
        reject(Object.assign(new Error("too large"), { status: 413 }));
        req.destroy();
      } else parts.push(chunk);
    });
    req.on("end", () => {
      if (!size) return resolve({});
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString("utf8")));
      } catch (e) {
        reject(Object.assign(new Error("bad json"), { status: 400 }));
      }
    });
    req.on("error", reject);
  });
}

// A pause per request that depends on the path only, so runs repeat.
function latency(pathname) {
  let h = 0;
  for (const c of pathname) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return 90 + (h % 140);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function result(value, okStatus = 200) {
  if (value && value.error) return [400, { message: value.error }];
  return [okStatus, value];
}

// [method, pattern, (store, match, json, url) → [status, payload] | (res) => void]
const API = [
  ["GET", /^\/svc\/v2\/threads$/, (s, m, j, u) => [200, { threads: s.threads({ box: u.searchParams.get("box"), label: u.searchParams.get("label"), q: u.searchParams.get("q") }) }]],
  ["GET", /^\/svc\/v2\/threads\/([0-9a-f]{16})$/, (s, m) => {
    const msg = s.open(m[1]);
    return msg ? [200, msg] : [404, { message: "no such message" }];
  }],
  ["POST", /^\/svc\/v2\/threads:mutate$/, (s, m, j) => result(s.mutate(j))],
  ["POST", /^\/svc\/v2\/outbox$/, (s, m, j) => result(s.outbox(j), 201)],
  ["GET", /^\/svc\/v2\/files\/([\w-]+)$/, (s, m, j, u) => (res) => {
    const f = s.file(u.searchParams.get("mid"), m[1]);
    if (!f) return reply(res, 404, { message: "no such file" });
    res.writeHead(200, {
      "content-type": f.mimeType,
      "content-length": f.bytes.length,
      "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(f.filename)}`,
    });
    res.end(f.bytes);
  }],
  ["GET", /^\/svc\/v2\/labels$/, (s) => [200, { labels: s.labels }]],
  ["POST", /^\/svc\/v2\/labels$/, (s, m, j) => result(s.addLabel(j.displayName), 201)],
  ["POST", /^\/svc\/v2\/labels\/(Label_\d+):rename$/, (s, m, j) => result(s.renameLabel(m[1], j.displayName))],
  ["POST", /^\/svc\/v2\/labels\/(Label_\d+):remove$/, (s, m) => result(s.removeLabel(m[1]))],
  ["GET", /^\/svc\/v2\/rules$/, (s) => [200, { rules: s.rules }]],
  ["POST", /^\/svc\/v2\/rules$/, (s, m, j) => [201, s.addRule(j.match || {}, j.then || {})]],
  ["POST", /^\/svc\/v2\/rules\/([\w-]+):remove$/, (s, m) => result(s.removeRule(m[1]))],
];

async function route(store, req, res) {
  const url = new URL(req.url, "http://postbox.invalid");
  const asset = req.method === "GET" && ASSETS[url.pathname];
  if (asset) {
    const bytes = fs.readFileSync(path.join(__dirname, asset[0]));
    res.writeHead(200, { "content-type": asset[1], "content-length": bytes.length });
    return res.end(bytes);
  }
  if (url.pathname === "/favicon.ico") {
    res.writeHead(404);
    return res.end();
  }
  const entry = API.find(([method, pattern]) => method === req.method && pattern.test(url.pathname));
  if (!entry) return reply(res, 404, { message: "no route" });
  const json = req.method === "POST" ? await body(req) : {};
  await sleep(latency(url.pathname));
  const out = entry[2](store, entry[1].exec(url.pathname), json, url);
  if (typeof out === "function") return out(res);
  return reply(res, out[0], out[1]);
}

function startServer({ port = 8766, host = "127.0.0.1" } = {}) {
  const store = new Store();
  const server = http.createServer((req, res) => {
    route(store, req, res).catch((e) => {
      if (res.headersSent) return res.destroy();
      reply(res, e.status || 500, { message: e.message });
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve({
        url: `http://${host}:${server.address().port}/`,
        store,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

module.exports = { startServer };

if (require.main === module) {
  const port = process.env.PORT ? Number(process.env.PORT) : 8766;
  startServer({ port }).then(
    (app) => {
      console.log(`Postbox at ${app.url}#inbox`);
      const stop = () => app.close().then(() => process.exit(0));
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    },
    (e) => {
      console.error(`Postbox cannot listen on ${port}: ${e.message}`);
      process.exit(1);
    }
  );
}
