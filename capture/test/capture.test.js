// The capture script's behaviour in real Chromium: which marks it makes, what
// their targets say, and what it keeps out of them.

const { test } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const { useDemo } = require("./support.js");
const { CAPTURE_SCRIPT } = require("../recorder/session.js");

const env = useDemo();

function ofType(marks, type) {
  return marks.filter((m) => m.type === type);
}

test("a click on an icon inside a button is recorded on the button, with url", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("button", { name: "Compose" }).locator("svg").click();
  const [click] = await env.marks(page);
  assert.equal(click.type, "click");
  assert.equal(click.target.tag, "button");
  assert.equal(click.target.role, "button");
  assert.equal(click.target.label, "Compose");
  assert.equal(click.url, `${env.demo.url}#inbox`);
  assert.equal(await page.locator(click.target.selector).count(), 1);
  await context.close();
});

test("a click inside a message row is recorded on the row with its data-message-id", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("row").filter({ hasText: "Lunch on Thursday?" }).getByText("Bob Chen").click();
  const [click] = ofType(await env.marks(page), "click");
  assert.equal(click.target.role, "row");
  assert.deepEqual(click.target.data, { "data-message-id": "18c2f0a1b2d7596b" });
  assert.match(click.target.text, /^Bob Chen Lunch on Thursday\?/);
  assert.ok(click.target.text.length <= 80);
  await context.close();
});

test("a text field's committed value is a change mark; plain letters make no keydown marks", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("button", { name: "Compose" }).click();
  await page.getByRole("textbox", { name: "To recipients" }).click();
  await page.keyboard.type("ann@example.com", { delay: 5 });
  await page.keyboard.press("Tab");
  const marks = await env.marks(page);
  assert.deepEqual(marks.map((m) => m.type), ["click", "click", "keydown", "change"]);
  const [, , tab, change] = marks;
  assert.equal(tab.key, "Tab");
  assert.deepEqual(tab.modifiers, []);
  assert.equal(change.value, "ann@example.com");
  assert.equal(change.target.label, "To recipients");
  assert.equal(change.target.role, "textbox");
  await context.close();
});

test("Ctrl+Enter in the contenteditable body commits its value before the keydown", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("button", { name: "Compose" }).click();
  await page.getByRole("textbox", { name: "To recipients" }).fill("ann@example.com");
  await page.getByRole("textbox", { name: "Message Body" }).click();
  await page.keyboard.type("line one\nline two", { delay: 5 });
  await page.keyboard.press("Control+Enter");
  const marks = await env.marks(page);
  await page.getByRole("status").filter({ hasText: "Message sent." }).waitFor();
  // Sending hides the dialog; its focusout must not commit the body again.
  const last = marks.slice(-2);
  assert.deepEqual(last.map((m) => m.type), ["change", "keydown"]);
  assert.equal((await env.marks(page)).length, marks.length);
  assert.equal(last[0].value, "line one\nline two");
  assert.equal(last[0].target.label, "Message Body");
  assert.equal(last[1].key, "Enter");
  assert.deepEqual(last[1].modifiers, ["ctrl"]);
  await context.close();
});

test("a contenteditable region commits its value on focusout", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("button", { name: "Compose" }).click();
  await page.getByRole("textbox", { name: "Message Body" }).click();
  await page.keyboard.type("hello", { delay: 5 });
  await page.getByRole("textbox", { name: "Subject" }).click();
  const changes = ofType(await env.marks(page), "change");
  assert.equal(changes.length, 1);
  assert.equal(changes[0].value, "hello");
  assert.equal(changes[0].target.tag, "div");
  await context.close();
});

test("Enter in a search field records change, keydown and submit, but not the synthetic click", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("textbox", { name: "Search mail" }).click();
  await page.keyboard.type("from:alice report", { delay: 5 });
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => location.hash.startsWith("#search/"));
  const marks = await env.marks(page);
  assert.deepEqual(marks.map((m) => m.type), ["click", "change", "keydown", "submit"]);
  assert.equal(marks[1].value, "from:alice report");
  assert.equal(marks[3].target.tag, "form");
  assert.equal(marks[3].target.role, "search");
  await context.close();
});

test("a real click on a submit button is recorded", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("textbox", { name: "Search mail" }).fill("lunch");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  const marks = await env.marks(page);
  // The field's change comes first: pressing the button takes focus from it.
  assert.deepEqual(marks.map((m) => m.type), ["change", "click", "submit"]);
  assert.equal(marks[1].target.label, "Search");
  await context.close();
});

test("checkbox changes carry the checked state; a label click is recorded once, on its control", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("row").filter({ hasText: "Lunch on Thursday?" }).getByRole("checkbox", { name: "Select" }).check();
  await page.getByRole("button", { name: "Label as" }).click();
  await page.getByRole("group", { name: "Label as" }).getByText("Travel").click();
  const marks = await env.marks(page);
  assert.deepEqual(marks.map((m) => m.type), ["click", "change", "click", "click", "change"]);
  assert.equal(marks[0].target.label, "Select");
  assert.equal(marks[0].target.checked, true);
  assert.deepEqual(marks[0].target.data, { "data-message-id": "18c2f0a1b2d7596b" });
  assert.equal(marks[1].value, true);
  assert.equal(marks[3].target.tag, "input");
  assert.equal(marks[3].target.label, "Travel");
  assert.deepEqual(marks[3].target.data, { "data-label-id": "Label_3" });
  assert.equal(marks[4].value, true);
  await context.close();
});

test("passwords and card fields are masked and their values appear in no mark", async () => {
  const { context, page } = await env.open("#settings/account");
  const secrets = { "App password": "hunter2-Secret!", "Card number": "4111 1111 1111 1111", "Security code": "737" };
  for (const [label, secret] of Object.entries(secrets)) {
    await page.getByLabel(label).click();
    await page.keyboard.type(secret, { delay: 5 });
    await page.keyboard.press("Alt+x");
  }
  await page.getByLabel("Display name").click();
  await page.keyboard.type("Sam", { delay: 5 });
  await page.keyboard.press("Enter");
  const marks = await env.marks(page);
  const json = JSON.stringify(marks);
  for (const secret of Object.values(secrets)) assert.ok(!json.includes(secret), `${secret} leaked`);
  assert.ok(!json.includes("1111"));

  const changes = ofType(marks, "change");
  const masked = changes.filter((m) => m.masked);
  assert.deepEqual([...new Set(masked.map((m) => m.target.label))], Object.keys(secrets));
  for (const mark of masked) assert.equal(mark.value, null);
  assert.equal(masked.find((m) => m.target.label === "App password").target.autocomplete, "current-password");
  assert.equal(masked.find((m) => m.target.label === "Card number").target.autocomplete, "cc-number");
  // Alt+x in a secret field would type a character on some keyboards.
  for (const key of ofType(marks, "keydown").filter((m) => m.masked)) assert.equal(key.key, null);
  assert.equal(changes.find((m) => m.target.label === "Display name").value, "Sam");
  await context.close();
});

test("sensitive marks locate each secret field while it shows a value, and follow it when it moves or empties", async () => {
  const { context, page } = await env.open("#settings/account");
  const box = async (label) => {
    const b = await page.getByLabel(label).boundingBox();
    return { x: Math.floor(b.x), y: Math.floor(b.y), width: Math.ceil(b.x + b.width) - Math.floor(b.x), height: Math.ceil(b.y + b.height) - Math.floor(b.y) };
  };
  const nothingShown = async () => (await env.sensitive(page)).every((m) => m.fields.length === 0);
  await page.getByLabel("Display name").fill("Sam");
  assert.ok(await nothingShown(), "a non-secret value is not sensitive");
  await page.getByLabel("App password").click();
  assert.ok(await nothingShown(), "an empty secret field shows nothing");
  await page.keyboard.type("hunter2", { delay: 5 });
  await page.getByLabel("Card number").click();
  await page.keyboard.type("4111", { delay: 5 });
  let last = (await env.sensitive(page)).at(-1);
  assert.deepEqual(last.viewport, { width: 1024, height: 700 });
  assert.equal(last.dpr, 1);
  assert.ok(last.url.includes("#settings/account"));
  assert.deepEqual(last.fields, [await box("App password"), await box("Card number")]);
  assert.ok(!JSON.stringify(await env.sensitive(page)).includes("hunter2"));

  // A layout change moves the fields: the next frame's mark has them where they are now.
  await page.evaluate(() => document.querySelector("main").insertAdjacentHTML("afterbegin", '<div style="height:37px"></div>'));
  await page.waitForTimeout(100);
  last = (await env.sensitive(page)).at(-1);
  assert.deepEqual(last.fields, [await box("App password"), await box("Card number")]);

  // Emptied by the page, a field is no longer reported.
  await page.evaluate(() => { document.getElementById("app-password").value = ""; });
  await page.waitForTimeout(100);
  assert.deepEqual((await env.sensitive(page)).at(-1).fields, [await box("Card number")]);
  // Leaving the form (a route change removes it) leaves nothing to hide.
  await page.evaluate(() => { location.hash = "#inbox"; });
  await page.getByRole("row").first().waitFor();
  await page.waitForTimeout(100);
  assert.deepEqual((await env.sensitive(page)).at(-1).fields, []);
  await context.close();
});

test("sensitive marks come at least every two seconds while nothing changes", async () => {
  const { context, page } = await env.open("#inbox");
  const before = (await env.sensitive(page)).length;
  await page.waitForTimeout(4500);
  assert.ok((await env.sensitive(page)).length - before >= 2);
  await context.close();
});

test("every autocomplete token for credentials and cards is masked", async () => {
  const tokens = ["current-password", "new-password", "one-time-code", "cc-number", "cc-csc", "cc-exp", "cc-exp-month", "cc-name", "section-pay billing cc-number"];
  const fields = tokens.map((token, i) => `<input id="f${i}" autocomplete="${token}">`).join("");
  const { context, page } = await env.openHtml(`<!doctype html><body>${fields}<input id="plain" autocomplete="email"></body>`);
  for (let i = 0; i < tokens.length; i += 1) {
    await page.locator(`#f${i}`).fill(`secret-${i}`);
    await page.locator(`#f${i}`).dispatchEvent("change");
  }
  await page.locator("#plain").fill("me@example.com");
  await page.locator("#plain").dispatchEvent("change");
  const changes = ofType(await env.marks(page), "change");
  assert.equal(changes.length, tokens.length + 1);
  assert.deepEqual(changes.slice(0, -1).map((m) => [m.target.autocomplete, m.value, m.masked]), tokens.map((t) => [t, null, true]));
  assert.equal(changes.at(-1).value, "me@example.com");
  assert.equal(changes.at(-1).masked, undefined);
  await context.close();
});

test("accessible names follow aria-label, aria-labelledby, label, placeholder, title, text", async () => {
  const { context, page } = await env.openHtml(`<!doctype html><body>
    <button id="a" aria-label="Archive">x</button>
    <span id="cap">Due date</span><input id="b" aria-labelledby="cap">
    <label for="c">First name</label><input id="c" name="first">
    <label><input id="d" type="checkbox"> Keep me signed in</label>
    <input id="e" placeholder="Find a contact">
    <div id="f" title="More options" role="button" tabindex="0">⋮</div>
    <a id="g" href="#help"><span>Help centre</span></a>
    <button id="h" data-row-id="7" data-kind="x">${"Very long text ".repeat(10)}</button>
  </body>`);
  for (const id of ["a", "b", "c", "e", "f", "h"]) await page.locator(`#${id}`).click();
  await page.getByText("Keep me signed in").click();
  await page.getByText("Help centre").click();
  const clicks = ofType(await env.marks(page), "click").map((m) => m.target);
  const byId = Object.fromEntries(clicks.map((t) => [t.id, t]));
  assert.equal(byId.a.label, "Archive");
  assert.equal(byId.b.label, "Due date");
  assert.equal(byId.c.label, "First name");
  assert.equal(byId.c.name, "first");
  assert.equal(byId.d.label, "Keep me signed in");
  assert.equal(byId.d.role, "checkbox");
  assert.equal(byId.e.label, "Find a contact");
  assert.equal(byId.f.label, "More options");
  assert.equal(byId.g.label, "Help centre");
  assert.equal(byId.g.role, "link");
  assert.equal(byId.g.href, "http://capture.test/#help");
  assert.equal(byId.h.label.length, 80);
  assert.equal(byId.h.text.length, 80);
  assert.deepEqual(byId.h.data, { "data-row-id": "7", "data-kind": "x" });
  for (const target of clicks) assert.equal(await page.locator(target.selector).count(), 1, target.selector);
  // The click on the label's text reaches its checkbox once, as one mark.
  assert.equal(clicks.filter((t) => t.id === "d").length, 1);
  await context.close();
});

test("Escape, Delete and modified keys are recorded with their modifiers", async () => {
  const { context, page } = await env.openHtml(`<!doctype html><body><div id="zone" tabindex="0">zone</div></body>`);
  await page.locator("#zone").focus();
  for (const key of ["Escape", "Delete", "Shift+Tab", "Control+Shift+K", "Alt+ArrowLeft", "Meta+z", "a", "Shift", "ArrowDown"]) {
    await page.keyboard.press(key);
  }
  const keys = ofType(await env.marks(page), "keydown").map((m) => [m.key, m.modifiers]);
  assert.deepEqual(keys, [
    ["Escape", []],
    ["Delete", []],
    ["Tab", ["shift"]],
    ["K", ["ctrl", "shift"]],
    ["ArrowLeft", ["alt"]],
    ["z", ["meta"]],
  ]);
  await context.close();
});

test("injecting the script again changes nothing and it adds one non-enumerable global", async () => {
  const { context, page } = await env.openHtml(`<!doctype html><body><button>Go</button></body>`);
  const source = fs.readFileSync(CAPTURE_SCRIPT, "utf8");
  await page.evaluate(source);
  await page.evaluate(source);
  await page.getByRole("button", { name: "Go" }).click();
  assert.equal(ofType(await env.marks(page), "click").length, 1);

  const bare = await env.browser.newPage();
  const plainGlobals = await bare.evaluate(() => Object.getOwnPropertyNames(window));
  await bare.close();
  const globals = await page.evaluate(() => Object.getOwnPropertyNames(window));
  const added = globals.filter((name) => !plainGlobals.includes(name) && !name.startsWith("__tracepipeTest"));
  assert.deepEqual(added, ["__tracepipeCapture"]);
  assert.equal(await page.evaluate(() => Object.keys(window).includes("__tracepipeCapture")), false);
  await context.close();
});

test("a click on a menuitemcheckbox carries the state its handlers left; the menu fires no change", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("row").filter({ hasText: "Design review notes" }).click();
  await page.getByRole("article").getByRole("heading", { name: "Design review notes" }).waitFor();
  await page.getByRole("button", { name: "Labels", exact: true }).click();
  const menu = page.getByRole("menu", { name: "Labels" });
  await menu.getByRole("menuitemcheckbox", { name: "Work", exact: true }).click();
  await menu.getByRole("menuitemcheckbox", { name: "Important", exact: true }).click();
  await menu.getByRole("menuitem", { name: "Apply" }).click();
  const marks = await env.marks(page);
  assert.deepEqual(marks.map((m) => m.type), ["click", "click", "click", "click", "click"]);
  const [row, opener, work, important, apply] = marks;
  assert.equal(row.state, undefined, "a row has no state");
  assert.deepEqual(opener.state, { "aria-expanded": "true" });
  // Work was on the message: the click unticked it, which only the state
  // after the click says (target.checked is read before the handlers ran).
  assert.equal(work.target.role, "menuitemcheckbox");
  assert.deepEqual(work.target.data, { "data-label-id": "Label_1" });
  assert.deepEqual(work.state, { "aria-checked": "false" });
  assert.equal(work.target.checked, true);
  assert.deepEqual(important.state, { "aria-checked": "true" });
  assert.equal(apply.target.label, "Apply");
  assert.equal(apply.state, undefined);
  assert.ok(work.url.endsWith("#inbox/18c2f0a1b2d3721d"));
  await context.close();
});

test("a native checkbox's click carries its checked property, and comes before its change", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("row").filter({ hasText: "Lunch on Thursday?" }).getByRole("checkbox", { name: "Select" }).check();
  await page.getByRole("row").filter({ hasText: "Lunch on Thursday?" }).getByRole("checkbox", { name: "Select" }).uncheck();
  const marks = await env.marks(page);
  assert.deepEqual(marks.map((m) => m.type), ["click", "change", "click", "change"]);
  assert.deepEqual(marks[0].state, { checked: true });
  assert.deepEqual(marks[2].state, { checked: false });
  await context.close();
});
