// The popup (or the same page in a tab): settings, suite, Record / Stop, and
// the recordings still waiting for the server.

import { findSuite, listSuites, loadSettings, saveSettings, siteAllowed } from "./settings.js";
import { allRecordings, getRecording } from "./queue.js";

const $ = (id) => document.getElementById(id);
let settings = null;
let ticker = null;

async function ask(type, fields = {}) {
  const answer = await chrome.runtime.sendMessage({ type, ...fields });
  if (!answer?.ok) throw new Error(answer?.error ?? "the extension did not answer");
  return answer.result;
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;

// The key is shown by its start only, never in full.
function maskedKey(key) {
  return key ? `${key.slice(0, 12)}… (saved)` : "tp_live_…";
}

// What Record records: the active tab, or when this page is itself the active
// tab (opened as a page rather than as the popup), the web tab used last.
async function targetTab() {
  const [active] = await chrome.tabs.query({ active: true, lastFocusedWindow: true });
  if (active && /^https?:/.test(active.url ?? "")) return active;
  const tabs = await chrome.tabs.query({});
  return tabs.filter((tab) => /^https?:/.test(tab.url ?? "")).sort((a, b) => (b.lastAccessed ?? 0) - (a.lastAccessed ?? 0))[0];
}

async function showSettings() {
  settings = await loadSettings();
  const managed = new Set(settings.managed);
  $("url").value = settings.url;
  $("url").disabled = managed.has("url");
  $("api-key").value = "";
  $("api-key").placeholder = maskedKey(settings.api_key);
  $("api-key").disabled = managed.has("api_key");
  $("auto-upload").checked = settings.auto_upload;
  $("auto-upload").disabled = managed.has("auto_upload");
  $("managed-note").hidden = managed.size === 0;
  if (!settings.url || !settings.api_key) $("settings-box").open = true;
}

async function showSuites() {
  const select = $("suite");
  select.replaceChildren();
  if (!settings.url || !settings.api_key) return;
  let suites;
  try {
    suites = (await listSuites(settings)).map(({ id, name, display_name }) => ({ id, name, display_name }));
    await chrome.storage.local.set({ suites });
  } catch (error) {
    // Offline or the server is down: record anyway with the suites seen last;
    // the recording waits in the queue until the server is back.
    suites = (await chrome.storage.local.get("suites")).suites ?? [];
    say(`Could not load the suites${suites.length ? " (using the ones seen last)" : ""}: ${error.message}`, true);
  }
  const { suite_id: lastUsed } = await chrome.storage.local.get("suite_id");
  for (const suite of suites) select.add(new Option(suite.display_name || suite.name, suite.id));
  const chosen = findSuite(suites, settings.default_suite) ?? findSuite(suites, lastUsed);
  if (chosen) select.value = chosen.id;
  select.disabled = settings.managed.includes("default_suite") && Boolean(chosen);
}

async function showTarget() {
  const tab = await targetTab();
  $("target").textContent = tab ? `Tab: ${tab.title || tab.url}` : "Tab: open the web app to record first";
  $("target").dataset.tabId = tab ? String(tab.id) : "";
  $("record").disabled = !tab || !siteAllowed(settings, tab.url);
  if (tab && !siteAllowed(settings, tab.url)) $("target").textContent += " (not on the allowed sites)";
}

function showRecording(status) {
  const recording = status?.recording;
  $("record").hidden = Boolean(recording);
  $("stop").hidden = !recording;
  clearInterval(ticker);
  if (!recording) {
    $("progress").textContent = "";
    return;
  }
  const tick = () => {
    const seconds = Math.floor((Date.now() - recording.startedAt) / 1000);
    const size = (recording.percentFull * recording.bufferKb) / 1024;
    $("progress").textContent = `Recording ${recording.origin}: ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")} of ${recording.maxSeconds / 60} min, ~${size.toFixed(1)} MiB`;
  };
  tick();
  ticker = setInterval(tick, 1000);
}

async function showQueue() {
  const entries = await allRecordings();
  const items = [];
  for (const entry of entries) {
    const item = document.createElement("li");
    item.dataset.id = entry.id;
    item.dataset.state = entry.state;
    const when = new Date(entry.createdAt).toLocaleTimeString();
    const why = entry.state === "held" ? "ready to upload" : entry.state === "refused" ? `refused: ${entry.lastError}` : entry.lastError ? `will retry: ${entry.lastError}` : "uploading";
    item.append(`${when}, ${entry.suiteName ?? "suite"}, ${kib(entry.size)}: ${why} `);
    const upload = Object.assign(document.createElement("button"), { type: "button", textContent: "Upload" });
    upload.onclick = () => ask("upload", { id: entry.id }).catch((e) => say(e.message, true));
    const save = Object.assign(document.createElement("button"), { type: "button", textContent: "Save to disk" });
    save.onclick = () => saveToDisk(entry.id);
    const discard = Object.assign(document.createElement("button"), { type: "button", textContent: "Discard" });
    discard.onclick = () => confirm("Delete this recording for good?") && ask("discard", { id: entry.id }).then(showQueue);
    item.append(upload, save, discard);
    items.push(item);
  }
  // Replaced in one step after the await: updates arrive in bursts and
  // overlapping calls must not add their items to each other's.
  $("queue").replaceChildren(...items);
  $("queue-empty").hidden = entries.length > 0;
}

async function saveToDisk(id) {
  const entry = await getRecording(id);
  if (!entry) return;
  const url = URL.createObjectURL(entry.blob);
  const stamp = new Date(entry.createdAt).toISOString().replace(/[:.]/g, "-");
  try {
    await chrome.downloads.download({ url, filename: `tracepipe-${stamp}.trace.json.gz`, saveAs: true });
  } finally {
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
}

async function showStatus() {
  const { status } = await chrome.storage.session.get("status");
  showRecording(status);
  if (status?.message) say(status.message, /could not|refused|failed|ended/i.test(status.message));
  const { history = [] } = await chrome.storage.local.get("history");
  const last = status?.lastUpload ?? history[0];
  $("last-upload").hidden = !last;
  if (last) {
    $("session-link").textContent = last.sessionId;
    $("session-link").href = last.link;
  }
  await showQueue();
}

$("settings").addEventListener("submit", async (event) => {
  event.preventDefault();
  const values = { url: $("url").value.trim(), auto_upload: $("auto-upload").checked };
  if ($("api-key").value) values.api_key = $("api-key").value.trim();
  await saveSettings(values);
  await showSettings();
  say("Settings saved.");
  await showSuites();
  await showTarget();
  ask("retry").catch(() => {});
});

$("record").addEventListener("click", async () => {
  const select = $("suite");
  const tabId = Number($("target").dataset.tabId);
  try {
    await chrome.storage.local.set({ suite_id: select.value });
    await ask("start", { tabId, suiteId: select.value, suiteName: select.selectedOptions[0]?.textContent, description: $("description").value.trim() });
  } catch (error) {
    say(`Could not record: ${error.message}`, true);
  }
});

$("stop").addEventListener("click", () => ask("stop").catch((error) => say(error.message, true)));
$("retry").addEventListener("click", () => ask("retry").catch((error) => say(error.message, true)));

chrome.storage.onChanged.addListener(async (_changes, area) => {
  if (area === "managed") {
    await showSettings();
    await Promise.all([showSuites(), showTarget()]);
  }
  if (area === "session" || area === "local") showStatus();
});

(async () => {
  await showSettings();
  await Promise.all([showSuites(), showTarget(), showStatus()]);
})();
