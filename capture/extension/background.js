// The service worker: records a tab with chrome.debugger (Tracing with the
// capture contract's categories, streamed back, gzipped), keeps each recording
// in IndexedDB until the server has it, and uploads with retries.
//
// The popup shows `status` (chrome.storage.session) and the queue, and sends
// the messages handled in `handlers` below.

import { CLIENT, loadSettings, siteAllowed } from "./settings.js";
import { allRecordings, deleteRecording, getRecording, putRecording } from "./queue.js";

// docs/recording.md: exactly what Tracepipe reads, screenshots included.
const TRACE_CATEGORIES = [
  "devtools.timeline",
  "disabled-by-default-devtools.timeline",
  "blink.user_timing",
  "loading",
  "navigation",
  "latencyInfo",
  "disabled-by-default-devtools.screenshot",
];
const MAX_RECORDING_SECONDS = 30 * 60;
// Chrome's trace buffer: recording stops by itself when it is nearly full, so
// neither the browser nor this worker ever holds more than this.
const TRACE_BUFFER_KB = 256 * 1024;
const BUFFER_FULL = 0.97;
const READ_CHUNK_BYTES = 1 << 20;
const RETRY_FIRST_MS = 5_000;
const RETRY_MAX_MS = 15 * 60_000;
const RETRY_ALARM = "tracepipe-retry";
const STOP_ALARM = "tracepipe-stop";
const HISTORY_LENGTH = 20;
// Answers worth retrying as they are: the server or the network may recover,
// and a key may be renewed. Any other refusal needs a person.
const RETRYABLE_STATUS = new Set([401, 403, 408, 429, 500, 502, 503, 504]);

// The recording in progress: {tabId, origin, startedAt, suiteId, suiteName,
// description, pageUrl, percentFull, stopping}.
let recording = null;
let uploading = null;
let retryTimer = null;
let keepAliveTimer = null;

async function setStatus(changes) {
  const { status = {} } = await chrome.storage.session.get("status");
  await chrome.storage.session.set({ status: { ...status, ...changes, updatedAt: Date.now() } });
}

// A worker with nothing to do is stopped after 30 s; a Chrome API call
// resets that clock while a recording or an upload is under way.
function keepAlive(on) {
  if (on && !keepAliveTimer) keepAliveTimer = setInterval(() => chrome.runtime.getPlatformInfo(), 20_000);
  if (!on && keepAliveTimer) {
    clearInterval(keepAliveTimer);
    keepAliveTimer = null;
  }
}

async function showBadge() {
  if (recording) {
    await chrome.action.setBadgeBackgroundColor({ color: "#c5221f" });
    await chrome.action.setBadgeText({ text: "REC" });
    return;
  }
  const pending = (await allRecordings()).length;
  await chrome.action.setBadgeBackgroundColor({ color: "#5f6368" });
  await chrome.action.setBadgeText({ text: pending ? String(pending) : "" });
}

function send(tabId, method, params = {}) {
  return chrome.debugger.sendCommand({ tabId }, method, params);
}

// Resolves with the params of the next `method` event from the tab.
function nextEvent(tabId, method) {
  return new Promise((resolve) => {
    const listener = (source, name, params) => {
      if (source.tabId === tabId && name === method) {
        chrome.debugger.onEvent.removeListener(listener);
        resolve(params);
      }
    };
    chrome.debugger.onEvent.addListener(listener);
  });
}

async function startRecording({ tabId, suiteId, suiteName, description }) {
  if (recording) throw new Error("a recording is already in progress");
  const settings = await loadSettings();
  const tab = await chrome.tabs.get(tabId);
  if (!siteAllowed(settings, tab.url)) throw new Error(`recording ${new URL(tab.url).origin} is not allowed here`);
  if (!suiteId) throw new Error("choose a suite first");
  await chrome.debugger.attach({ tabId }, "1.3");
  try {
    await send(tabId, "Tracing.start", {
      transferMode: "ReturnAsStream",
      streamFormat: "json",
      streamCompression: "none",
      bufferUsageReportingInterval: 1000,
      traceConfig: { recordMode: "recordUntilFull", traceBufferSizeInKb: TRACE_BUFFER_KB, includedCategories: TRACE_CATEGORIES },
    });
  } catch (error) {
    await chrome.debugger.detach({ tabId }).catch(() => {});
    throw error;
  }
  recording = { tabId, origin: new URL(tab.url).origin, startedAt: Date.now(), suiteId, suiteName, description, pageUrl: tab.url, percentFull: 0 };
  keepAlive(true);
  chrome.alarms.create(STOP_ALARM, { when: recording.startedAt + MAX_RECORDING_SECONDS * 1000 });
  await setStatus({ phase: "recording", recording: publicRecording(), message: `Recording ${recording.origin}` });
  await showBadge();
}

function publicRecording() {
  const { tabId, origin, startedAt, suiteName, percentFull } = recording;
  return { tabId, origin, startedAt, suiteName, percentFull, bufferKb: TRACE_BUFFER_KB, maxSeconds: MAX_RECORDING_SECONDS };
}

// Ends tracing, reads the trace back gzipped and queues it. `why` says why
// the recording stopped if the person did not press Stop.
async function stopRecording(why) {
  if (!recording || recording.stopping) return;
  const current = recording;
  current.stopping = true;
  chrome.alarms.clear(STOP_ALARM);
  await setStatus({ phase: "saving", message: why ? `Stopped: ${why}. Saving…` : "Saving…" });
  try {
    const complete = nextEvent(current.tabId, "Tracing.tracingComplete");
    await send(current.tabId, "Tracing.end");
    const { stream } = await complete;
    const blob = await readGzipped(current.tabId, stream);
    const entry = {
      id: crypto.randomUUID(),
      suiteId: current.suiteId,
      suiteName: current.suiteName,
      description: current.description,
      pageUrl: current.pageUrl,
      blob,
      size: blob.size,
      createdAt: Date.now(),
      state: "waiting",
      attempts: 0,
      nextAttemptAt: 0,
      lastError: null,
    };
    const settings = await loadSettings();
    if (!settings.auto_upload) entry.state = "held";
    await putRecording(entry);
    await setStatus({ phase: "idle", recording: null, message: `Recorded ${(blob.size / 1024).toFixed(0)} KiB${why ? ` (${why})` : ""}` });
  } catch (error) {
    await setStatus({ phase: "idle", recording: null, message: `The recording could not be saved: ${error.message}` });
  } finally {
    await chrome.debugger.detach({ tabId: current.tabId }).catch(() => {});
    recording = null;
    keepAlive(false);
    await showBadge();
  }
  uploadDue();
}

// IO.read in chunks into a gzip stream: the uncompressed trace is never whole in memory.
async function readGzipped(tabId, handle) {
  const gzip = new CompressionStream("gzip");
  const writer = gzip.writable.getWriter();
  const compressed = new Response(gzip.readable).blob();
  const encoder = new TextEncoder();
  let read = 0;
  for (;;) {
    const chunk = await send(tabId, "IO.read", { handle, size: READ_CHUNK_BYTES });
    const bytes = chunk.base64Encoded ? Uint8Array.from(atob(chunk.data), (c) => c.charCodeAt(0)) : encoder.encode(chunk.data);
    read += bytes.length;
    await writer.write(bytes);
    if (chunk.eof) break;
    if (read % (8 * READ_CHUNK_BYTES) < READ_CHUNK_BYTES) await setStatus({ message: `Saving… ${(read / 1048576).toFixed(0)} MiB read` });
  }
  await writer.close();
  await send(tabId, "IO.close", { handle });
  return compressed;
}

chrome.debugger.onEvent.addListener((source, method, params) => {
  if (!recording || source.tabId !== recording.tabId || method !== "Tracing.bufferUsage") return;
  recording.percentFull = params.percentFull ?? 0;
  setStatus({ recording: publicRecording() });
  if (recording.percentFull >= BUFFER_FULL) stopRecording("the size limit was reached");
});

// The tab closed or the person dismissed Chrome's "being debugged" bar: Chrome
// has already discarded the unfinished trace with the debugging session.
chrome.debugger.onDetach.addListener(async (source, reason) => {
  if (!recording || source.tabId !== recording.tabId || recording.stopping) return;
  recording = null;
  keepAlive(false);
  chrome.alarms.clear(STOP_ALARM);
  const what = reason === "target_closed" ? "the tab was closed" : "debugging was cancelled";
  await setStatus({ phase: "idle", recording: null, message: `Recording ended: ${what} before Stop; Chrome keeps nothing of an unfinished trace.` });
  await showBadge();
});

// Leaving the recorded site ends the recording, keeping what was recorded.
chrome.tabs.onUpdated.addListener(async (tabId, change) => {
  if (!recording || tabId !== recording.tabId || !change.url) return;
  const settings = await loadSettings();
  let origin = null;
  try {
    origin = new URL(change.url).origin;
  } catch {
    // An unparseable URL is another site.
  }
  if (origin !== recording.origin || !siteAllowed(settings, change.url)) stopRecording("the tab left the recorded site");
});

function backoff(attempts) {
  const base = Math.min(RETRY_FIRST_MS * 2 ** Math.max(0, attempts - 1), RETRY_MAX_MS);
  return base * (0.8 + Math.random() * 0.4);
}

// The offscreen document that runs uploads (offscreen.js says why).
async function ensureUploader() {
  const url = chrome.runtime.getURL("offscreen.html");
  const existing = await chrome.runtime.getContexts({ contextTypes: ["OFFSCREEN_DOCUMENT"], documentUrls: [url] });
  if (existing.length > 0) return;
  await chrome.offscreen.createDocument({ url, reasons: ["BLOBS"], justification: "upload recordings with progress" });
}

// One upload. The Idempotency-Key is the recording's id, made once when it
// stopped, so a retry of an upload the server did store answers with that
// same session instead of making a second one.
async function uploadOne(entry, settings) {
  if (!settings.url || !settings.api_key) return { retry: true, error: "set the Tracepipe URL and API key first" };
  await setStatus({ phase: "uploading", message: `Uploading ${(entry.size / 1024).toFixed(0)} KiB…` });
  await ensureUploader();
  const answer = await chrome.runtime.sendMessage({
    type: "offscreen-upload",
    id: entry.id,
    url: `${settings.url}/v1/sessions`,
    headers: { "X-API-Key": settings.api_key, "X-Tracepipe-Client": CLIENT, "Idempotency-Key": entry.id },
    suiteId: entry.suiteId,
    description: entry.description,
  });
  if (answer.error) return { retry: true, error: `${settings.url} could not be reached (${answer.error})` };
  if (answer.status >= 200 && answer.status < 300) return { session: JSON.parse(answer.body) };
  let reason = answer.body.slice(0, 200);
  try {
    reason = JSON.parse(answer.body).error.message;
  } catch {
    // Not the API's JSON error: keep the body's start.
  }
  const retryAfter = Number(answer.retryAfter);
  return { retry: RETRYABLE_STATUS.has(answer.status), error: `${answer.status}: ${reason}`, retryAfterMs: retryAfter > 0 ? retryAfter * 1000 : 0 };
}

async function rememberUpload(entry, session, settings) {
  const { history = [] } = await chrome.storage.local.get("history");
  const uploaded = { sessionId: session.id, link: `${settings.url}/v1/sessions/${session.id}`, suiteName: entry.suiteName, size: entry.size, uploadedAt: Date.now() };
  await chrome.storage.local.set({ history: [uploaded, ...history].slice(0, HISTORY_LENGTH) });
  return uploaded;
}

// Uploads every recording that is due (with `ids`: those, whatever their state).
async function uploadDue(ids = null) {
  if (uploading) {
    await uploading;
    if (!ids) return;
  }
  uploading = (async () => {
    keepAlive(true);
    try {
      const settings = await loadSettings();
      for (const entry of await allRecordings()) {
        const chosen = ids ? ids.includes(entry.id) : entry.state === "waiting" && entry.nextAttemptAt <= Date.now();
        if (!chosen) continue;
        const result = await uploadOne(entry, settings);
        if (result.session) {
          await deleteRecording(entry.id);
          const uploaded = await rememberUpload(entry, result.session, settings);
          await setStatus({ phase: "idle", lastUpload: uploaded, message: `Uploaded: session ${result.session.id}` });
        } else {
          entry.attempts += 1;
          entry.lastError = result.error;
          entry.state = result.retry ? "waiting" : "refused";
          entry.nextAttemptAt = Date.now() + Math.max(backoff(entry.attempts), result.retryAfterMs ?? 0);
          await putRecording(entry);
          await setStatus({ phase: "idle", message: result.retry ? `Upload failed, kept for a retry: ${result.error}` : `The server refused the recording: ${result.error}` });
        }
      }
    } finally {
      keepAlive(Boolean(recording));
      await showBadge();
      await scheduleRetry();
    }
  })();
  try {
    await uploading;
  } finally {
    uploading = null;
  }
}

// A timer while this worker lives, and an alarm that wakes it if it does not.
async function scheduleRetry() {
  clearTimeout(retryTimer);
  const due = (await allRecordings()).filter((e) => e.state === "waiting").map((e) => e.nextAttemptAt);
  if (due.length === 0) return chrome.alarms.clear(RETRY_ALARM);
  const when = Math.max(Math.min(...due), Date.now() + 1000);
  retryTimer = setTimeout(() => uploadDue(), when - Date.now());
  chrome.alarms.create(RETRY_ALARM, { when: Math.max(when, Date.now() + 30_000) });
}

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === RETRY_ALARM) uploadDue();
  if (alarm.name === STOP_ALARM) stopRecording("the time limit was reached");
});
self.addEventListener("online", () => uploadDue());
chrome.runtime.onStartup.addListener(() => uploadDue());

const handlers = {
  start: (message) => startRecording(message),
  stop: () => stopRecording(null),
  // Every waiting recording now, e.g. after the key was renewed.
  retry: async () => {
    for (const entry of await allRecordings()) {
      if (entry.state === "waiting") await putRecording({ ...entry, nextAttemptAt: 0 });
    }
    await uploadDue();
  },
  upload: ({ id }) => uploadDue([id]),
  discard: async ({ id }) => {
    if (await getRecording(id)) await deleteRecording(id);
    await showBadge();
  },
  client: () => CLIENT,
  "upload-progress": ({ fraction }) => setStatus({ message: `Uploading… ${Math.round(fraction * 100)} %` }),
};

chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  const handler = handlers[message?.type];
  if (!handler) return false;
  Promise.resolve(handler(message))
    .then((result) => reply({ ok: true, result }))
    .catch((error) => reply({ ok: false, error: error.message }));
  return true;
});

// A worker (re)started: a recording cannot have survived it, but the queue has.
setStatus({ phase: "idle", recording: null }).then(() => showBadge()).then(() => uploadDue());
