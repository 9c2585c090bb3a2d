// The demo mail app's server: its static single page and a small JSON API
// over an in-memory mailbox, on Node's built-in http module.
//
//   node capture/demo-app/server.js          # PORT=8765 by default
//
// Used in-process by the recorder and the tests through `startServer`.

const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");
const { Mailbox } = require("./mailbox.js");

const STATIC_FILES = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/app.css": ["app.css", "text/css; charset=utf-8"],
};

const MAX_BODY_BYTES = 64 * 1024;

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

function orFail(result, status = 400) {
  if (result && result.error) throw new HttpError(status, result.error);
  return result;
}

function found(value, what) {
  if (!value) throw new HttpError(404, `no such ${what}`);
  return value;
}

function contentDisposition(filename) {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

// [method, path pattern, handler(mailbox, params, body, url) → [status, json]
// or a function writing the response itself]
const ROUTES = [
  ["GET", /^\/api\/messages$/, (box, _, __, url) => [200, box.list({ labelId: url.searchParams.get("labelId"), query: url.searchParams.get("q") })]],
  ["GET", /^\/api\/messages\/([0-9a-f]{16})$/, (box, [id]) => [200, found(box.read(id), "message")]],
  ["POST", /^\/api\/messages\/send$/, (box, _, body) => [200, box.send(body)]],
  ["POST", /^\/api\/drafts$/, (box, _, body) => [200, box.draft(body)]],
  ["POST", /^\/api\/messages\/([0-9a-f]{16})\/modify$/, (box, [id], body) => [200, orFail(box.modify([found(box.get(id), "message").id], body))]],
  ["POST", /^\/api\/messages\/([0-9a-f]{16})\/trash$/, (box, [id]) => [200, orFail(box.trash([found(box.get(id), "message").id]))]],
  ["POST", /^\/api\/messages\/batchModify$/, (box, _, body) => [200, orFail(box.modify(body.ids || [], body))]],
  ["POST", /^\/api\/messages\/batchTrash$/, (box, _, body) => [200, orFail(box.trash(body.ids || []))]],
  [
    "GET",
    /^\/api\/messages\/([0-9a-f]{16})\/attachments\/([\w-]+)$/,
    (box, [id, attachmentId]) => (res) => {
      const attachment = found(box.attachment(id, attachmentId), "attachment");
      res.writeHead(200, {
        "Content-Type": attachment.mimeType,
        "Content-Length": attachment.content.length,
        "Content-Disposition": contentDisposition(attachment.filename),
      });
      res.end(attachment.content);
    },
  ],
  ["GET", /^\/api\/labels$/, (box) => [200, box.listLabels()]],
  ["POST", /^\/api\/labels$/, (box, _, body) => [201, orFail(box.addLabel(body.name))]],
  ["PATCH", /^\/api\/labels\/(Label_\d+)$/, (box, [id], body) => [200, orFail(box.renameLabel(id, body.name))]],
  ["DELETE", /^\/api\/labels\/(Label_\d+)$/, (box, [id]) => [200, orFail(box.removeLabel(id), 404)]],
  ["GET", /^\/api\/filters$/, (box) => [200, box.filters]],
  ["POST", /^\/api\/filters$/, (box, _, body) => [201, box.addFilter(body.criteria || {}, body.action || {})]],
  ["DELETE", /^\/api\/filters\/([\w-]+)$/, (box, [id]) => [200, orFail(box.removeFilter(id), 404)]],
  // The account form exists so that recordings can show secrets being typed;
  // the demo keeps none of them.
  ["POST", /^\/api\/settings\/account$/, () => [200, { saved: true }]],
];

function serveStatic(res, file, type) {
  const body = fs.readFileSync(path.join(__dirname, file));
  res.writeHead(200, { "Content-Type": type, "Content-Length": body.length, "Cache-Control": "no-cache" });
  res.end(body);
}

async function handle(mailbox, req, res) {
  const url = new URL(req.url, "http://demo.invalid");
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
    const body = method === "GET" || method === "DELETE" ? {} : await readJson(req);
    const result = handler(mailbox, match.slice(1), body, url);
    if (typeof result === "function") return result(res);
    return sendJson(res, ...result);
  }
  throw new HttpError(pathMatched ? 405 : 404, pathMatched ? "method not allowed" : "not found");
}

// Starts the server; resolves once it listens. `port: 0` picks a free port.
function startServer({ port = 8765, host = "127.0.0.1" } = {}) {
  const mailbox = new Mailbox();
  const server = http.createServer((req, res) => {
    handle(mailbox, req, res).catch((error) => {
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
        mailbox,
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
  const port = process.env.PORT === undefined ? 8765 : Number(process.env.PORT);
  startServer({ port }).then(
    (demo) => {
      console.log(`demo mail app at ${demo.url}#inbox`);
      const stop = () => demo.close().then(() => process.exit(0));
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    },
    (error) => {
      console.error(`cannot start the demo mail app on port ${port}: ${error.message}`);
      process.exit(1);
    }
  );
}
