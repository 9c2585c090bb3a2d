// Shared set-up for the tests: the demo app on a free port, Debian's Chromium
// with the capture script injected, and a way to read the marks it makes.

const { before, after } = require("node:test");
const { startServer } = require("../demo-app/server.js");
const { launchBrowser, newCapturingPage } = require("../recorder/session.js");

// Collects every tracepipe mark as the page makes it. The capture script
// clears its marks from the timeline right away, but an observer registered
// first still receives each entry.
function observeMarks() {
  window.__tracepipeTestMarks = [];
  window.__tracepipeTestSensitive = [];
  window.__tracepipeTestViews = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.name === "tracepipe:sensitive") {
        window.__tracepipeTestSensitive.push(entry.detail);
      } else if (entry.name === "tracepipe:view") {
        window.__tracepipeTestViews.push(entry.detail);
      } else if (entry.name.startsWith("tracepipe:")) {
        window.__tracepipeTestMarks.push({ type: entry.name.slice("tracepipe:".length), ...entry.detail });
      }
    }
  }).observe({ type: "mark" });
}

// Starts the demo app and one browser for the calling test file.
function useDemo() {
  const env = {};
  before(async () => {
    env.demo = await startServer({ port: 0 });
    env.browser = await launchBrowser();
  });
  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.demo) await env.demo.close();
  });

  // A fresh context on a fresh mailbox, opened at `hash`.
  env.open = async (hash = "#inbox") => {
    env.demo.mailbox.reset();
    const { context, page } = await newCapturingPage(env.browser);
    await context.addInitScript(observeMarks);
    await page.goto(`${env.demo.url}${hash}`);
    await page.waitForLoadState("load");
    return { context, page };
  };

  // A fresh context showing `html`, served at a made-up address, so that a
  // plain page gets the same injected capture script as the demo app.
  env.HTML_URL = "http://capture.test/";
  env.openHtml = async (html) => {
    const { context, page } = await env.open();
    await page.route(env.HTML_URL, (route) => route.fulfill({ contentType: "text/html; charset=utf-8", body: html }));
    await page.goto(env.HTML_URL);
    return { context, page };
  };

  // The interaction marks made so far, oldest first; each is {type, target,
  // value, …}.
  env.marks = async (page) => {
    // Performance observers deliver on a later task.
    await page.waitForTimeout(50);
    return page.evaluate(() => window.__tracepipeTestMarks);
  };

  // The `tracepipe:sensitive` marks made so far, oldest first (kept apart:
  // they come on every change of the screen, not per interaction).
  env.sensitive = async (page) => {
    await page.waitForTimeout(50);
    return page.evaluate(() => window.__tracepipeTestSensitive);
  };

  // The `tracepipe:view` marks made so far, oldest first (kept apart: one
  // follows an action once the page has settled, after the action's own
  // marks).
  env.views = async (page) => {
    await page.waitForTimeout(50);
    return page.evaluate(() => window.__tracepipeTestViews);
  };
  return env;
}

module.exports = { useDemo };
