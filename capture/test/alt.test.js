// Postbox (capture/alt-app) honours the reference webmail contract: routes,
// the accessible names a person reads, and the data-* ids tool arguments are
// made of. Each test also checks the store, so the action really happened.
// The last tests check capture/alt-capture.js against the capture contract
// and its view marks against docs/recording.md.

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { startServer } = require("../alt-app/server.js");
const { launchBrowser, newCapturingPage } = require("../recorder/session.js");

const ALT_CAPTURE = path.join(__dirname, "..", "alt-capture.js");
const GMAIL_MESSAGE_ID = /^[0-9a-f]{16}$/;
const LABEL_ID = /^(INBOX|STARRED|IMPORTANT|UNREAD|TRASH|SPAM|Label_\d+)$/;

// Subjects and ids of the seeded store.
const RETRO = "19a7c3e5d2d22f48"; // "Sprint retro notes", labelled Projects (Label_3)
const LYON = "19a7c3e5d2d5f531"; // "Your train to Lyon", two attachments

const env = {};
before(async () => {
  env.app = await startServer({ port: 0 });
  env.browser = await launchBrowser();
});
after(async () => {
  if (env.browser) await env.browser.close();
  if (env.app) await env.app.close();
});

// Interaction marks in __marks; sensitive and view marks, which follow the
// screen rather than each interaction, apart; every mark's type in __order.
function observeMarks() {
  window.__marks = [];
  window.__sensitive = [];
  window.__views = [];
  window.__order = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (!e.name.startsWith("tracepipe:")) continue;
      const type = e.name.slice(10);
      if (type !== "sensitive") window.__order.push(type);
      if (type === "sensitive") window.__sensitive.push(e.detail);
      else if (type === "view") window.__views.push(e.detail);
      else window.__marks.push({ type, ...e.detail });
    }
  }).observe({ type: "mark" });
}

async function open(hash = "#inbox") {
  env.app.store.reset();
  const { context, page } = await newCapturingPage(env.browser, { captureScript: ALT_CAPTURE });
  await context.addInitScript(observeMarks);
  await page.goto(`${env.app.url}${hash}`);
  await page.waitForLoadState("load");
  return { context, page };
}

async function marks(page) {
  await page.waitForTimeout(50);
  return page.evaluate(() => window.__marks);
}

async function sensitive(page) {
  await page.waitForTimeout(50);
  return page.evaluate(() => window.__sensitive);
}

// The view marks so far, once the last action's view had time to be written.
async function views(page) {
  await page.waitForTimeout(2100);
  return page.evaluate(() => window.__views);
}

const notice = (page, text) => page.getByRole("alert").filter({ hasText: text }).waitFor();
const route = (page, hash) => page.waitForFunction((h) => location.hash === h, hash);
const attr = (locator, name) => locator.evaluateAll((els, n) => els.map((el) => el.getAttribute(n)), name);

test("#inbox: rows and their Select checkboxes carry Gmail-shaped data-message-id; a row opens #inbox/<id>", async () => {
  const { context, page } = await open();
  const rows = page.locator("li[data-message-id]");
  await rows.first().waitFor();
  const ids = await attr(rows, "data-message-id");
  assert.equal(ids.length, 12);
  for (const id of ids) assert.match(id, GMAIL_MESSAGE_ID);
  assert.deepEqual(await attr(page.getByRole("checkbox", { name: "Select", exact: true }), "data-message-id"), ids);
  // Other values than the demo app's (18c2f0a1b2…).
  assert.ok(ids.every((id) => id.startsWith("19a7c3e5")));
  await page.getByRole("link").filter({ hasText: "Sprint retro notes" }).click();
  await route(page, `#inbox/${RETRO}`);
  await page.getByRole("heading", { name: "Sprint retro notes" }).waitFor();
  assert.equal(await page.locator(".pb-msg").getAttribute("data-message-id"), RETRO);
  for (const name of ["Delete", "Label as", "Back to Inbox"]) await page.getByRole("button", { name, exact: true }).waitFor();
  assert.ok(!env.app.store.message(RETRO).labelIds.includes("UNREAD"));
  await page.getByRole("button", { name: "Back to Inbox" }).click();
  await route(page, "#inbox");
  await context.close();
});

test("attachment chips are named 'Download attachment <file>' and carry both ids; Delete trashes the open message", async () => {
  const { context, page } = await open(`#inbox/${LYON}`);
  const chip = page.getByRole("button", { name: "Download attachment seat-map.png" });
  assert.equal(await chip.getAttribute("data-message-id"), LYON);
  const attachmentId = await chip.getAttribute("data-attachment-id");
  assert.ok(env.app.store.file(LYON, attachmentId));
  const download = page.waitForEvent("download");
  await chip.click();
  assert.equal((await download).suggestedFilename(), "seat-map.png");
  await page.getByRole("button", { name: "Delete", exact: true }).click();
  await notice(page, "Message moved to Trash.");
  await route(page, "#inbox");
  assert.ok(env.app.store.message(LYON).labelIds.includes("TRASH"));
  await context.close();
});

test("Label as: menuitemcheckbox entries with data-label-id and aria-checked; clicks toggle; Apply adds and removes", async () => {
  const { context, page } = await open(`#inbox/${RETRO}`);
  await page.getByRole("button", { name: "Label as" }).click();
  const menu = page.getByRole("menu", { name: "Label as" });
  const items = menu.getByRole("menuitemcheckbox");
  for (const id of await attr(items, "data-label-id")) assert.match(id, LABEL_ID);
  const projects = menu.getByRole("menuitemcheckbox", { name: "Projects", exact: true });
  const travel = menu.getByRole("menuitemcheckbox", { name: "Travel", exact: true });
  assert.equal(await projects.getAttribute("data-label-id"), "Label_3");
  assert.equal(await projects.getAttribute("aria-checked"), "true");
  assert.equal(await travel.getAttribute("aria-checked"), "false");
  // No native checkbox anywhere in the menu.
  assert.equal(await menu.locator("input").count(), 0);
  await travel.click();
  await projects.click();
  assert.equal(await travel.getAttribute("aria-checked"), "true");
  assert.equal(await projects.getAttribute("aria-checked"), "false");
  await menu.getByRole("menuitem", { name: "Apply" }).click();
  await notice(page, "Labels updated.");
  const labels = env.app.store.message(RETRO).labelIds;
  assert.ok(labels.includes("Label_8") && !labels.includes("Label_3"));
  await context.close();
});

test("selected rows are labelled and deleted together from the list toolbar", async () => {
  const { context, page } = await open();
  const pick = (subject) => page.getByRole("listitem").filter({ hasText: subject }).getByRole("checkbox", { name: "Select" }).click();
  await page.locator("li[data-message-id]").first().waitFor();
  await pick("Coffee tomorrow?");
  await pick("Invoice INV-5521");
  await page.getByRole("button", { name: "Label as" }).click();
  const receipts = page.getByRole("menuitemcheckbox", { name: "Receipts", exact: true });
  assert.equal(await receipts.getAttribute("aria-checked"), "mixed");
  await receipts.click();
  await page.getByRole("menuitem", { name: "Apply" }).click();
  await notice(page, "Labels updated for 2 messages.");
  for (const id of ["19a7c3e5d2d9bb1a", "19a7c3e5d2ce695f"]) assert.ok(env.app.store.message(id).labelIds.includes("Label_5"));
  await pick("Coffee tomorrow?");
  await pick("Nightly build failed");
  await page.getByRole("toolbar", { name: "List actions" }).getByRole("button", { name: "Delete" }).click();
  await notice(page, "2 messages moved to Trash.");
  for (const id of ["19a7c3e5d2d9bb1a", "19a7c3e5d2b7c5e9"]) assert.ok(env.app.store.message(id).labelIds.includes("TRASH"));
  await context.close();
});

test("Compose: 'New Message' with the contract's fields (body a textarea); Send carries the keyboard hint; Ctrl+Enter sends", async () => {
  const { context, page } = await open();
  await page.getByRole("button", { name: "Compose" }).click();
  const dialog = page.getByRole("dialog", { name: "New Message" });
  await dialog.getByRole("textbox", { name: "To recipients" }).fill("a@example.com, b@example.com");
  assert.equal(await dialog.getByRole("textbox", { name: "Cc recipients" }).isVisible(), false);
  await dialog.getByRole("button", { name: "Cc", exact: true }).click();
  await dialog.getByRole("textbox", { name: "Cc recipients" }).fill("c@example.com");
  await dialog.getByRole("button", { name: "Bcc", exact: true }).click();
  await dialog.getByRole("textbox", { name: "Bcc recipients" }).fill("d@example.com");
  await dialog.getByRole("textbox", { name: "Subject" }).fill("Hello");
  const body = dialog.getByRole("textbox", { name: "Message Body" });
  assert.equal(await body.evaluate((el) => el.localName), "textarea");
  await body.fill("Hi\nthere");
  const send = dialog.getByRole("button", { name: /^Send/ });
  assert.equal(await send.getAttribute("aria-label"), "Send \u202a(Ctrl-Enter)\u202c");
  await dialog.getByRole("button", { name: "Save & close" }).waitFor();
  await dialog.getByRole("button", { name: "Discard draft" }).waitFor();
  await body.press("Control+Enter");
  await notice(page, "Your message has been sent.");
  const sent = env.app.store.threads({ box: "SENT" });
  assert.equal(sent.length, 1);
  const m = env.app.store.message(sent[0].mid);
  assert.deepEqual([m.to, m.cc, m.bcc, m.subject, m.body], [["a@example.com", "b@example.com"], ["c@example.com"], ["d@example.com"], "Hello", "Hi\nthere"]);
  await context.close();
});

test("Save & close keeps a draft; Discard draft keeps nothing", async () => {
  const { context, page } = await open();
  await page.getByRole("button", { name: "Compose" }).click();
  await page.getByRole("textbox", { name: "Subject" }).fill("Later");
  await page.getByRole("button", { name: "Save & close" }).click();
  await notice(page, "Saved to Drafts.");
  await page.getByRole("button", { name: "Compose" }).click();
  await page.getByRole("textbox", { name: "Subject" }).fill("Never");
  await page.getByRole("button", { name: "Discard draft" }).click();
  await page.getByRole("link", { name: "Drafts" }).click();
  await route(page, "#drafts");
  await page.getByRole("listitem").filter({ hasText: "Later" }).waitFor();
  assert.deepEqual(env.app.store.threads({ box: "DRAFT" }).map((t) => t.subject), ["Later"]);
  await context.close();
});

test("search runs from the Search button and from Enter; the route is #search/<query> with spaces as +", async () => {
  const { context, page } = await open();
  const box = page.getByRole("searchbox", { name: "Search mail" });
  await box.fill("from:priya budget");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await route(page, "#search/from%3Apriya+budget");
  await page.getByRole("heading", { name: /^Results for/ }).waitFor();
  assert.equal(await page.locator("li[data-message-id]").count(), 1);
  await box.fill("Søren");
  await box.press("Enter");
  await route(page, "#search/S%C3%B8ren");
  await page.getByRole("link").filter({ hasText: "Smørrebrød" }).waitFor();
  await context.close();
});

test("labels: Create new label, and on #settings/labels Edit and Remove label carrying data-label-id", async () => {
  const { context, page } = await open();
  await page.getByRole("button", { name: "Create new label" }).click();
  const create = page.getByRole("dialog", { name: "New label" });
  await create.getByRole("textbox", { name: "Please enter a new label name:" }).fill("Suppliers");
  await create.getByRole("button", { name: "Create" }).click();
  await notice(page, 'Created label "Suppliers"');
  assert.equal(env.app.store.labelByName("Suppliers").id, "Label_14");
  await page.getByRole("link", { name: "Manage labels" }).click();
  await route(page, "#settings/labels");
  const row = page.getByRole("row").filter({ hasText: "Receipts" });
  assert.equal(await row.getAttribute("data-label-id"), "Label_5");
  assert.equal(await row.getByRole("button", { name: "Edit" }).getAttribute("data-label-id"), "Label_5");
  await row.getByRole("button", { name: "Edit" }).click();
  const edit = page.getByRole("dialog", { name: "Edit label" });
  await edit.getByRole("textbox", { name: "Label name:" }).fill("Invoices");
  await edit.getByRole("button", { name: "Save" }).click();
  await notice(page, 'Renamed "Receipts" to "Invoices"');
  assert.equal(env.app.store.label("Label_5").name, "Invoices");
  const personal = page.getByRole("row").filter({ hasText: "Personal" });
  assert.equal(await personal.getByRole("button", { name: "Remove label" }).getAttribute("data-label-id"), "Label_13");
  await personal.getByRole("button", { name: "Remove label" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
  await notice(page, 'Removed "Personal"');
  assert.equal(env.app.store.label("Label_13"), null);
  await context.close();
});

test("filters: the contract's form, a label chooser whose entries carry data-label-id, and Delete carrying data-filter-id", async () => {
  const { context, page } = await open("#settings/filters");
  const existing = page.getByRole("listitem").filter({ hasText: "digest@news.example" });
  const filterId = await existing.getAttribute("data-filter-id");
  assert.equal(await existing.getByRole("button", { name: "Delete" }).getAttribute("data-filter-id"), filterId);
  await page.getByRole("link", { name: "Create a new filter" }).click();
  for (const name of ["From", "To", "Subject", "Has the words", "Doesn't have"]) await page.getByRole("textbox", { name, exact: true }).waitFor();
  await page.getByRole("textbox", { name: "From" }).fill("a@example.com");
  await page.getByRole("textbox", { name: "Doesn't have" }).fill("spam");
  await page.getByRole("button", { name: "Create filter" }).click();
  for (const name of ["Skip the Inbox (Archive it)", "Mark as read", "Star it", "Apply the label:", "Delete it"]) {
    await page.getByRole("checkbox", { name, exact: true }).waitFor();
  }
  const chooser = page.getByRole("combobox", { name: "Choose label" });
  for (const id of (await attr(chooser.locator("option[data-label-id]"), "data-label-id"))) assert.match(id, LABEL_ID);
  await page.getByRole("checkbox", { name: "Star it" }).check();
  await chooser.selectOption({ label: "Travel" });
  await page.getByRole("button", { name: "Create filter" }).click();
  await notice(page, "Filter created.");
  const made = env.app.store.rules.at(-1);
  assert.deepEqual(made.criteria, { from: "a@example.com", negatedQuery: "spam" });
  assert.deepEqual(made.action, { addLabelIds: ["STARRED", "Label_8"] });
  await page.getByRole("listitem").filter({ hasText: "digest@news.example" }).getByRole("button", { name: "Delete" }).click();
  await notice(page, "Filter deleted.");
  assert.ok(!env.app.store.rules.some((r) => r.ruleId === filterId));
  await context.close();
});

test("alt-capture: clicks describe the element by the contract's fields only; checkbox changes carry the value attribute", async () => {
  const { context, page } = await open();
  await page.locator("li[data-message-id]").first().waitFor();
  const box = page.getByRole("listitem").filter({ hasText: "Coffee tomorrow?" }).getByRole("checkbox", { name: "Select" });
  await box.click();
  await page.getByRole("button", { name: "Compose" }).click();
  const got = await marks(page);
  const [click, change, compose] = got;
  assert.deepEqual(got.map((m) => m.type), ["click", "change", "click"]);
  assert.deepEqual(click.target.data, { "data-message-id": "19a7c3e5d2d9bb1a" });
  assert.equal(click.target.role, "checkbox");
  assert.equal(click.target.label, "Select");
  assert.equal(change.value, "on");
  assert.equal(compose.target.label, "Compose");
  const allowed = new Set(["tag", "role", "label", "id", "name", "type", "text", "href", "selector", "data"]);
  for (const m of got) {
    for (const key of Object.keys(m.target)) assert.ok(allowed.has(key), `unexpected target field ${key}`);
    assert.equal(m.url, `${env.app.url}#inbox`);
  }
  await context.close();
});

test("alt-capture: Enter and Ctrl+Enter record the field's value first; Enter's synthetic submit click is left out; label clicks are kept", async () => {
  const { context, page } = await open("#settings/filters");
  await page.getByRole("link", { name: "Create a new filter" }).click();
  await page.getByRole("textbox", { name: "From" }).fill("x@example.com");
  await page.getByRole("textbox", { name: "From" }).press("Enter");
  const words = await page.locator("label", { hasText: "Mark as read" }).boundingBox();
  await page.mouse.click(words.x + words.width * 0.7, words.y + words.height / 2);
  await page.getByRole("button", { name: "Compose" }).click();
  await page.getByRole("textbox", { name: "Message Body" }).fill("Hello");
  await page.keyboard.press("Control+Enter");
  const got = (await marks(page)).map((m) => [m.type, m.target.tag, m.target.label, m.value ?? m.key ?? null]);
  const enter = got.findIndex(([type, , , key]) => type === "keydown" && key === "Enter");
  // The browser's own change follows (this script does not de-duplicate it).
  assert.deepEqual(got.slice(enter - 1, enter + 3), [
    ["change", "input", "From", "x@example.com"],
    ["keydown", "input", "From", "Enter"],
    ["change", "input", "From", "x@example.com"],
    ["submit", "form", "Search criteria", null],
  ]);
  assert.ok(!got.some(([type, tag, label]) => type === "click" && tag === "button" && label === "Create filter"));
  // A click on a label's words, then the click the browser forwards to its box.
  const markAsRead = got.filter(([type, , label]) => type === "click" && label === "Mark as read");
  assert.deepEqual(markAsRead.map(([, tag]) => tag), ["label", "input"]);
  const send = got.findIndex(([type, tag, , key]) => type === "keydown" && tag === "textarea" && key === "Enter");
  assert.deepEqual(got.slice(send - 1, send + 1), [
    ["change", "textarea", "Message Body", "Hello"],
    ["keydown", "textarea", "Message Body", "Enter"],
  ]);
  await context.close();
});

test("alt-capture: passwords and card fields are masked at the source", async () => {
  const { context, page } = await open();
  await page.evaluate(() => {
    document.body.insertAdjacentHTML("beforeend", '<input id="pw" type="password"><input id="cc" autocomplete="cc-number">');
  });
  await page.locator("#pw").fill("hunter2");
  await page.locator("#pw").press("Enter");
  await page.locator("#cc").fill("4111111111111111");
  await page.locator("#cc").blur();
  const got = await marks(page);
  const changes = got.filter((m) => m.type === "change");
  assert.ok(changes.length >= 2);
  for (const m of changes) assert.deepEqual([m.value, m.masked], [null, true]);
  assert.ok(!JSON.stringify(got).includes("hunter2") && !JSON.stringify(got).includes("4111"));
  await context.close();
});

test("alt-capture: sensitive marks locate secret fields showing a value, and only those", async () => {
  const { context, page } = await open();
  await page.evaluate(() => {
    document.body.insertAdjacentHTML("afterbegin", '<input id="pw" type="password"><input id="cc" autocomplete="cc-number"><input id="plain">');
  });
  await page.locator("#plain").fill("not secret");
  await page.locator("#cc").fill("4111111111111111");
  const b = await page.locator("#cc").boundingBox();
  const last = (await sensitive(page)).at(-1);
  assert.deepEqual(last.fields, [
    { x: Math.floor(b.x), y: Math.floor(b.y), width: Math.ceil(b.x + b.width) - Math.floor(b.x), height: Math.ceil(b.y + b.height) - Math.floor(b.y) },
  ]);
  assert.deepEqual(last.viewport, { width: 1024, height: 700 });
  assert.ok(!JSON.stringify(await sensitive(page)).includes("4111"));
  await context.close();
});

test("alt-capture views: search results list the matching messages, an opened message is `open` with its fields", async () => {
  const { context, page } = await open();
  await page.locator("li[data-message-id]").first().waitFor();
  const box = page.getByRole("searchbox", { name: "Search mail" });
  await box.fill("train");
  await box.press("Enter");
  await route(page, "#search/train");
  await page.getByRole("heading", { name: /^Results for/ }).waitFor();
  await page.waitForTimeout(400);
  await page.getByRole("link").filter({ hasText: "Your train to Lyon" }).click();
  await page.getByRole("heading", { name: "Your train to Lyon" }).waitFor();
  const got = await views(page);
  const results = got.find((v) => v.url.endsWith("#search/train"));
  assert.deepEqual(results.items.map((i) => [i.role, i.data]), [["listitem", { "data-message-id": LYON }]]);
  assert.match(results.items[0].name, /^Rail Tickets Your train to Lyon/);
  assert.equal(results.open, null);
  assert.equal(results.truncated, false);
  const opened = got.at(-1);
  assert.ok(opened.url.endsWith(`#inbox/${LYON}`));
  assert.deepEqual(opened.open.data, { "data-message-id": LYON });
  assert.equal(opened.open.fields.heading, "Your train to Lyon");
  assert.match(opened.open.fields.text, /^Your train to Lyon\nRail Tickets <tickets@rail\.example>.*\nTravel\nBooking LY2291/);
  // The attachment chips inside it carry an id the message does not: items of their own.
  assert.deepEqual(opened.items.map((i) => [i.role, i.name]), [
    ["button", "Download attachment ticket-LY2291.pdf"],
    ["button", "Download attachment seat-map.png"],
  ]);
  // Each view follows its action and precedes the next action's marks.
  const order = await page.evaluate(() => window.__order);
  const enter = order.indexOf("submit");
  assert.deepEqual(order.slice(enter, enter + 3), ["submit", "view", "click"]);
  await context.close();
});

test("alt-capture views: #settings/labels lists each label once, as a row named by its text; a view that did not change is not written again", async () => {
  const { context, page } = await open();
  await page.getByRole("link", { name: "Manage labels" }).click();
  await route(page, "#settings/labels");
  await page.getByRole("table").first().waitFor();
  await page.waitForTimeout(600);
  await page.getByRole("heading", { name: "Settings" }).click();
  const got = await views(page);
  const labels = got.filter((v) => v.url.endsWith("#settings/labels"));
  assert.equal(labels.length, 1);
  const ids = labels[0].items.map((i) => i.data["data-label-id"]);
  assert.deepEqual(ids, ["INBOX", "STARRED", "IMPORTANT", "SENT", "DRAFT", "UNREAD", "TRASH", "SPAM", "Label_3", "Label_5", "Label_8", "Label_13"]);
  assert.ok(labels[0].items.every((i) => i.role === "row"));
  assert.equal(labels[0].items.find((i) => i.data["data-label-id"] === "Label_5").name, "Receipts");
  await context.close();
});

test("alt-capture views: never a typed value, a secret, anything marked sensitive, or a hidden or off-screen item", async () => {
  const { context, page } = await open();
  await page.locator("li[data-message-id]").first().waitFor();
  await page.evaluate(() => {
    document.getElementById("pb-view").insertAdjacentHTML(
      "afterbegin",
      '<input id="pw" type="password" data-id="pw"><input id="cc" autocomplete="cc-number" data-id="cc">' +
        '<label data-id="wrap">Note <input id="note"></label><textarea id="ta" data-id="ta" aria-label="Draft"></textarea>' +
        '<div data-tracepipe-sensitive><span data-id="inside">kept-back</span></div>' +
        '<div data-id="gone" hidden>hidden-item</div><div data-id="far" style="position:fixed;top:3000px">far-item</div>'
    );
  });
  await page.locator("#pw").fill("hunter2");
  await page.locator("#pw").press("Enter");
  await page.locator("#cc").fill("4111111111111111");
  await page.locator("#note").fill("typed-note");
  await page.locator("#ta").fill("typed-area");
  await page.locator("#note").click();
  await page.getByRole("button", { name: "Compose" }).click();
  await page.getByRole("textbox", { name: "To recipients" }).fill("typed-recipient@example.com");
  await page.getByRole("textbox", { name: "Message Body" }).fill("typed body text");
  await page.keyboard.press("Control+Enter");
  const got = await views(page);
  const last = got.at(-1);
  assert.deepEqual(last.items.slice(0, 2), [
    { name: "Note", data: { "data-id": "wrap" } },
    { role: "textbox", name: "Draft", data: { "data-id": "ta" } },
  ]);
  const text = JSON.stringify(got);
  for (const s of ["hunter2", "4111", "typed-", "kept-back", "hidden-item", "far-item", "\"pw\"", "\"cc\""]) {
    assert.ok(!text.includes(s), `a view holds ${s}`);
  }
  for (const v of got) assert.ok(Buffer.byteLength(JSON.stringify(v)) <= 32 * 1024);
  await context.close();
});
