// Tracker: a small issue tracker (repositories, issues, labels, comments)
// used to show `tracepipe learn` an application that is not mail. Its static
// page and a JSON API over an in-memory store, on Node's built-in http module.
//
//   node capture/tracker-app/server.js      # PORT=8767 by default
//
// `startServer({port})` resolves to {url, store, close}; the recorder and the
// tests use it in-process.

"use strict";

const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");
const { Store } = require("./store.js");

const STATIC_FILES = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/tracker.js": ["tracker.js", "text/javascript; charset=utf-8"],
  "/tracker.css": ["tracker.css", "text/css; charset=utf-8"],
};

const MAX_BODY_BYTES = 32 * 1024;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function sendJson(res, status, value) {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": body.length, "Cache-Control": "no-store" });
  res.end(body);
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, "request body too large");
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (error) {
    throw new HttpError(400, "request body is not JSON");
  }
}

function found(value, what) {
  if (!value) throw new HttpError(404, `no such ${what}`);
  if (value.error) throw new HttpError(400, value.error);
  return value;
}

const REPO = "/api/repos/([\\w.-]+)/([\\w.-]+)";

// [method, pattern, handler(store, params, body, url) → [status, json]]
const ROUTES = [
  ["GET", /^\/api\/repos$/, (s) => [200, s.repos()]],
  ["GET", new RegExp(`^${REPO}/issues$`), (s, [o, r], _, url) => [200, found(s.list(o, r, url.searchParams.get("state") || "open"), "repository")]],
  ["POST", new RegExp(`^${REPO}/issues$`), (s, [o, r], body) => [201, found(s.create(o, r, body), "repository")]],
  ["GET", new RegExp(`^${REPO}/issues/(\\d+)$`), (s, [o, r, n]) => [200, found(s.issue(o, r, Number(n)), "issue")]],
  ["PATCH", new RegExp(`^${REPO}/issues/(\\d+)$`), (s, [o, r, n], body) => [200, found(s.update(o, r, Number(n), body), "issue")]],
  ["POST", new RegExp(`^${REPO}/issues/(\\d+)/comments$`), (s, [o, r, n], body) => [201, found(s.comment(o, r, Number(n), body), "issue")]],
  ["GET", /^\/api\/search\/issues$/, (s, _, __, url) => [200, s.search(url.searchParams.get("q") || "")]],
];

function serveStatic(res, file, type) {
  const body = fs.readFileSync(path.join(__dirname, file));
  res.writeHead(200, { "Content-Type": type, "Content-Length": body.length, "Cache-Control": "no-cache" });
  res.end(body);
}

async function handle(store, req, res) {
  const url = new URL(req.url, "http://tracker.invalid");
  const staticFile = req.method === "GET" && STATIC_FILES[url.pathname];
  if (staticFile) return serveStatic(res, ...staticFile);
  if (url.pathname === "/favicon.ico") {
    res.writeHead(204);
    return res.end();
  }
  let pathMatched = false;
  for (const [method, pattern, handler] of ROUTES) {
    const match = pattern.exec(url.pathname);
    if (!match) continue;
    pathMatched = true;
    if (method !== req.method) continue;
    const body = method === "GET" ? {} : await readJson(req);
    return sendJson(res, ...handler(store, match.slice(1), body, url));
  }
  throw new HttpError(pathMatched ? 405 : 404, pathMatched ? "method not allowed" : "not found");
}

// Starts the server; resolves once it listens. `port: 0` picks a free port.
function startServer({ port = 8767, host = "127.0.0.1" } = {}) {
  const store = new Store();
  const server = http.createServer((req, res) => {
    handle(store, req, res).catch((error) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (!res.headersSent) sendJson(res, status, { error: error.message });
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address();
      resolve({
        url: `http://${host}:${address.port}/`,
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
  const port = process.env.PORT === undefined ? 8767 : Number(process.env.PORT);
  startServer({ port }).then(
    (app) => {
      console.log(`Tracker at ${app.url}#issues`);
      const stop = () => app.close().then(() => process.exit(0));
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    },
    (error) => {
      console.error(`cannot start Tracker on port ${port}: ${error.message}`);
      process.exit(1);
    }
  );
}
