#!/usr/bin/env node
// How long the session review page of a big recording takes to open: from
// the navigation to the timeline drawn and the first screenshot shown, in
// headless Chromium (/usr/bin/chromium, driven by capture/node_modules'
// playwright-core).
//
// Writes a Chrome trace of --events tracepipe marks (clicks, changes, keys)
// and requests, with a screenshot (the JPEGs of a recorded fixture, in turn)
// every --shot-every events and the fixture's marks and requests (five mail
// actions) every --block-every: about 100 MB for 100 k events. Starts a fresh
// `tracepipe serve` with limits.max_events raised to take it, registers a
// user, uploads the file through the API with the page's session cookie
// (screenshots_safe: the synthetic trace has no sensitive-field marks), waits
// for its Example, then opens /sessions/{id} --runs times and prints each
// open time (the first, which finds the stored session not decoded yet, and
// the median of the later ones) and when the whole screenshot strip was there.
//
//   node scripts/measure-review-open.js                 # the debug binary of $CARGO_TARGET_DIR or target/
//   TRACEPIPE_BIN=target/release/tracepipe node scripts/measure-review-open.js --runs 7
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

const ROOT = path.resolve(__dirname, '..');
const CAPTURE = path.join(ROOT, 'capture');
const { chromium } = require(path.join(CAPTURE, 'node_modules', 'playwright-core'));
const { freePort, startServe } = require(path.join(CAPTURE, 'test', 'extension-support.js'));

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 && process.argv[at + 1] ? Number(process.argv[at + 1]) : fallback;
}
const EVENTS = option('events', 100_000);
const SHOT_EVERY = option('shot-every', 30);
const RUNS = option('runs', 5);
const BLOCK_EVERY = option('block-every', 5000);
const PID = 25141;
const BROWSER_PID = 25056;
const FRAME = '50DB5996AB9B6E508043ECD9CFD4B626';
const URL_BASE = 'http://127.0.0.1:8765/';

// Read by the ingest of a Chrome trace (ingest/src/chrome/), screenshots aside.
const KEPT = new Set(['ResourceSendRequest', 'ResourceReceiveResponse', 'ResourceFinish', 'EventTiming', 'EventDispatch',
  'SoftNavigationHeuristics::SameDocumentNavigationCommitted', 'FrameCommittedInBrowser']);

// The recorded fixture: its screenshots' JPEGs, which the big trace reuses in
// turn, and its marks and requests (five mail actions), which it repeats.
function fixture() {
  const trace = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(ROOT, 'tests', 'fixtures', 'recordings', 'multi_action_session.trace.json.gz'))));
  const shots = trace.traceEvents.filter((e) => e.name === 'Screenshot').map((e) => e.args.snapshot);
  const block = trace.traceEvents.filter((e) => e.ts > 0 && (KEPT.has(e.name) || (e.name || '').startsWith('tracepipe:')));
  const start = Math.min(...block.map((e) => e.ts));
  const span = Math.max(...block.map((e) => e.ts)) - start;
  return { shots, block, start, span };
}

function writeTrace(file) {
  const { shots, block, start, span } = fixture();
  const out = fs.openSync(file, 'w');
  const write = (event, first = false) => fs.writeSync(out, `${first ? '' : ',\n'}${JSON.stringify(event)}`);
  fs.writeSync(out, '{"traceEvents":[\n');
  const t0 = 1_000_000_000;
  write({ args: { name: 'CrRendererMain' }, cat: '__metadata', name: 'thread_name', ph: 'M', pid: PID, tid: PID, ts: 0 }, true);
  write({ args: { data: { frameTreeNodeId: 3, frames: [{ frame: FRAME, isInPrimaryMainFrame: true, isOutermostMainFrame: true, name: '', processId: PID, url: URL_BASE }], persistentIds: true } }, cat: 'disabled-by-default-devtools.timeline', name: 'TracingStartedInBrowser', ph: 'I', pid: BROWSER_PID, s: 't', tid: BROWSER_PID, ts: t0 });
  write({ args: { data: { frame: FRAME, isInPrimaryMainFrame: true, isOutermostMainFrame: true, name: '', processId: PID, url: URL_BASE } }, cat: 'disabled-by-default-devtools.timeline', name: 'FrameCommittedInBrowser', ph: 'I', pid: BROWSER_PID, s: 't', tid: BROWSER_PID, ts: t0 + 10 });
  const labels = ['Compose', 'Inbox', 'Send', 'Search mail', 'Archive', 'Labels', 'Reply', 'Settings'];
  let shot = 0;
  let blocks = 0;
  let ts = t0 + 1000;
  for (let i = 0; i < EVENTS; i += 1) {
    // Every --block-every events, the fixture's actions, shifted to now.
    if (i % BLOCK_EVERY === BLOCK_EVERY / 2) {
      blocks += 1;
      for (const event of block) {
        const copy = JSON.parse(JSON.stringify(event));
        copy.ts = ts + (event.ts - start);
        const data = copy.args && copy.args.data;
        if (data && data.requestId) data.requestId = `${data.requestId}-b${blocks}`;
        write(copy);
      }
      ts += span + 200_000;
    }
    // 200 ms apart: a 100 k-event recording spans about 5.5 hours.
    ts += 200_000;
    const label = labels[i % labels.length];
    const kind = i % 10;
    if (kind === 9) {
      write({ args: { data: { frame: FRAME, priority: 'High', requestId: `r${i}`, requestMethod: 'GET', resourceType: 'Fetch', url: `${URL_BASE}api/messages/${i}` } }, cat: 'devtools.timeline', name: 'ResourceSendRequest', ph: 'I', pid: PID, s: 't', tid: PID, ts });
    } else {
      const name = kind < 5 ? 'tracepipe:click' : kind < 8 ? 'tracepipe:change' : 'tracepipe:keydown';
      const detail = { target: { tag: kind < 5 ? 'button' : 'input', role: kind < 5 ? 'button' : 'textbox', label }, url: `${URL_BASE}#inbox` };
      if (name === 'tracepipe:change') detail.value = `text ${i}`;
      if (name === 'tracepipe:keydown') detail.key = 'Enter';
      write({ args: { data: { detail: JSON.stringify(detail), startTime: i * 200 } }, cat: 'blink.user_timing', name, ph: 'I', pid: PID, s: 't', tid: PID, ts });
    }
    if (i % SHOT_EVERY === 0) {
      write({ args: { snapshot: shots[shot % shots.length] }, cat: 'disabled-by-default-devtools.screenshot', name: 'Screenshot', ph: 'I', pid: BROWSER_PID, s: 't', tid: BROWSER_PID, ts: ts + 50_000 });
      shot += 1;
    }
  }
  fs.writeSync(out, '\n],"metadata":{}}\n');
  fs.closeSync(out);
  return { bytes: fs.statSync(file).size, screenshots: shot, blocks };
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tracepipe-review-open-'));
  const recording = path.join(work, 'big.trace.json');
  const written = writeTrace(recording);
  console.log(`recording: ${EVENTS} synthetic events, ${written.blocks} copies of a recorded five-action session, ${written.screenshots} screenshots, ${(written.bytes / 1e6).toFixed(1)} MB`);
  process.env.TRACEPIPE_LIMITS_MAX_EVENTS = String(EVENTS * 2);
  process.env.TRACEPIPE_LIMITS_MAX_ACTIONS = String(EVENTS * 2);
  const serve = await startServe({ port: await freePort(), dataDir: path.join(work, 'data') });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${serve.url}/register`);
    await page.getByLabel('Your name').fill('Measurer');
    await page.getByLabel('Email').fill(`measure.${Date.now()}@example.test`);
    await page.getByLabel('Password').fill('measuring the review page 100k');
    await Promise.all([page.waitForURL(/\/keys$/), page.getByRole('button', { name: /Create/ }).click()]);
    const csrf = await page.locator('meta[name="csrf-token"]').getAttribute('content');

    let started = Date.now();
    const upload = await page.request.post(`${serve.url}/v1/sessions`, {
      headers: { 'X-CSRF-Token': csrf },
      multipart: {
        suite_id: 'gmail',
        screenshots_safe: 'true',
        input_events: { name: 'big.trace.json', mimeType: 'application/json', buffer: fs.readFileSync(recording) },
      },
      timeout: 0,
    });
    if (upload.status() !== 201) throw new Error(`upload: ${upload.status()} ${await upload.text()}`);
    const session = await upload.json();
    console.log(`uploaded in ${((Date.now() - started) / 1000).toFixed(1)} s: session ${session.id}, ${session.event_count} events`);
    started = Date.now();
    for (;;) {
      const list = await (await page.request.get(`${serve.url}/v1/examples?session_id=${session.id}`)).json();
      const status = list.items[0] && list.items[0].status;
      if (status === 'FAILED') throw new Error(`the Example failed: ${JSON.stringify(list.items[0].error)}`);
      if (status === 'COMPLETED') break;
      await new Promise((done) => setTimeout(done, 500));
    }
    console.log(`Example completed ${((Date.now() - started) / 1000).toFixed(1)} s after the upload`);

    const times = [];
    for (let run = 0; run < RUNS; run += 1) {
      const review = await context.newPage();
      const requests = [];
      review.on('requestfinished', (request) => {
        const timing = request.timing();
        requests.push(`${new URL(request.url()).pathname.replace(session.id, '{id}')} ${Math.round(timing.startTime - 0)} +${Math.round(timing.responseEnd)} ms`);
      });
      await review.goto(`${serve.url}/sessions/${session.id}`, { waitUntil: 'commit' });
      // performance.now() counts from the navigation's start.
      const ready = await review.waitForFunction(() => {
        const root = document.getElementById('review');
        const frame = document.getElementById('frame');
        const drawn = root && root.dataset.timelineReady === 'true' && document.querySelectorAll('#events li').length > 0;
        const shown = frame && !frame.hidden && frame.complete && frame.naturalWidth > 0;
        return drawn && shown ? performance.now() : false;
      }, null, { timeout: 120_000, polling: 'raf' });
      const ms = await ready.jsonValue();
      const actions = await review.locator('#action-list button.action').count();
      times.push(ms);
      // The strip needs the whole session decoded: reported, not the figure.
      const strip = await (await review.waitForFunction(() => (document.getElementById('review').dataset.screenshotsReady === 'true'
        ? performance.now() : false), null, { timeout: 300_000 })).jsonValue();
      console.log(`run ${run + 1}: ${(ms / 1000).toFixed(2)} s to the timeline and the first screenshot (${actions} actions listed); the whole screenshot strip at ${(strip / 1000).toFixed(2)} s`);
      if (process.env.VERBOSE) console.log(`  ${requests.filter((r) => !r.includes('/static/')).slice(0, 8).join('\n  ')}`);
      await review.close();
    }
    // The first open reads the first timeline page from the head of the
    // stored session while the whole decodes; the later ones find it decoded
    // (the review routes keep the last few sessions).
    const later = times.slice(1).sort((a, b) => a - b);
    const median = later.length ? later[Math.floor(later.length / 2)] : times[0];
    console.log(`review page open time (${EVENTS} events, ${(written.bytes / 1e6).toFixed(0)} MB): first open ${(times[0] / 1000).toFixed(2)} s, later opens median ${(median / 1000).toFixed(2)} s`);
  } finally {
    await browser.close();
    await serve.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
