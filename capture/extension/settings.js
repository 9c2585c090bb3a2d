// Where the extension's settings come from: an organisation's policy
// (chrome.storage.managed, see managed_schema.json) wins over what the person
// typed into the popup (chrome.storage.local: this device only, never synced).

export const CLIENT = `extension/${chrome.runtime.getManifest().version}`;

const KEYS = ["url", "api_key", "default_suite", "auto_upload", "allowed_sites"];
const DEFAULTS = { url: "", api_key: "", default_suite: "", auto_upload: true, allowed_sites: [] };

function known(values) {
  return Object.fromEntries(Object.entries(values ?? {}).filter(([key, value]) => KEYS.includes(key) && value !== undefined));
}

async function managedValues() {
  try {
    return known(await chrome.storage.managed.get(KEYS));
  } catch {
    // No policy is readable (e.g. the schema failed to load): nothing is managed.
    return {};
  }
}

// The effective settings, plus `managed`: the keys the policy fixes.
export async function loadSettings() {
  const [local, managed] = await Promise.all([chrome.storage.local.get(KEYS), managedValues()]);
  const settings = { ...DEFAULTS, ...known(local), ...managed };
  settings.url = String(settings.url).trim().replace(/\/+$/, "");
  settings.allowed_sites = Array.isArray(settings.allowed_sites) ? settings.allowed_sites.map(String) : [];
  settings.auto_upload = settings.auto_upload !== false;
  settings.managed = Object.keys(managed);
  return settings;
}

// Stores what the person set, except what the policy fixes.
export async function saveSettings(values) {
  const managed = await managedValues();
  const own = Object.fromEntries(Object.entries(known(values)).filter(([key]) => !(key in managed)));
  await chrome.storage.local.set(own);
}

// A URL the settings let us record: http(s), and on the allow-list if there is one.
// An entry is an origin or a URL prefix; an unparseable entry allows nothing.
export function siteAllowed(settings, url) {
  let page;
  try {
    page = new URL(url);
  } catch {
    return false;
  }
  if (page.protocol !== "http:" && page.protocol !== "https:") return false;
  if (settings.allowed_sites.length === 0) return true;
  return settings.allowed_sites.some((entry) => {
    try {
      const allowed = new URL(entry);
      return page.origin === allowed.origin && page.pathname.startsWith(allowed.pathname);
    } catch {
      return false;
    }
  });
}

// The Tracepipe API, with the key and the client's name on every request.
export async function api(settings, path, init = {}) {
  if (!settings.url || !settings.api_key) throw new Error("set the Tracepipe URL and API key first");
  const headers = { "X-API-Key": settings.api_key, "X-Tracepipe-Client": CLIENT, ...(init.headers ?? {}) };
  return fetch(`${settings.url}/v1${path}`, { ...init, headers });
}

// The suites the server knows: [{id, name, display_name}].
export async function listSuites(settings) {
  const response = await api(settings, "/suites?per_page=100");
  if (!response.ok) throw new Error(`GET /v1/suites answered ${response.status}: ${await errorText(response)}`);
  return (await response.json()).items ?? [];
}

// The suite a policy or a person chose, by id or by name.
export function findSuite(suites, wanted) {
  return suites.find((suite) => suite.id === wanted || suite.name === wanted);
}

// The API's error message ({"error": {"message"}}), else the body's start.
async function errorText(response) {
  const text = await response.text().catch(() => "");
  try {
    return JSON.parse(text).error.message;
  } catch {
    return text.slice(0, 200) || response.statusText;
  }
}
