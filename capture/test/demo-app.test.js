// The demo mail app honours the reference webmail contract: its routes, the
// accessible names a person reads, and the data-* ids that tool arguments are
// made of. Each test also checks that the action reached the mailbox.

const { test } = require("node:test");
const assert = require("node:assert/strict");
const { useDemo } = require("./support.js");

const env = useDemo();

const GMAIL_MESSAGE_ID = /^[0-9a-f]{16}$/;
const LABEL_ID = /^(INBOX|STARRED|IMPORTANT|UNREAD|TRASH|SPAM|Label_\d+)$/;

// The message rows of a list: its header row names the columns and holds no
// cells.
function messageRows(page) {
  return page.getByRole("row").filter({ has: page.getByRole("gridcell") });
}

async function dataOf(locator, name) {
  return locator.evaluateAll((els, attribute) => els.map((el) => el.getAttribute(attribute)), name);
}

test("#inbox lists messages whose rows and Select checkboxes carry Gmail-style message ids", async () => {
  const { context, page } = await env.open("#inbox");
  // The header row names the columns for a screen reader (and for the
  // capture script's view marks); the message rows are the others.
  const rows = messageRows(page);
  await rows.first().waitFor();
  assert.deepEqual(await page.getByRole("columnheader").allTextContents(), ["Select", "From", "Labels", "Subject", "Snippet", "Date"]);
  const ids = await dataOf(rows, "data-message-id");
  assert.equal(ids.length, 12);
  for (const id of ids) assert.match(id, GMAIL_MESSAGE_ID);
  assert.deepEqual(await dataOf(page.getByRole("checkbox", { name: "Select", exact: true }), "data-message-id"), ids);
  await context.close();
});

test("#inbox/<id> opens the message; its toolbar has Delete, Label as and Back to Inbox", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("row").filter({ hasText: "Quarterly report draft" }).click();
  await page.waitForFunction(() => location.hash === "#inbox/18c2f0a1b2d94d12");
  assert.equal(await page.getByRole("article").getAttribute("data-message-id"), "18c2f0a1b2d94d12");
  for (const name of ["Delete", "Label as", "Back to Inbox"]) {
    await page.getByRole("button", { name, exact: true }).waitFor();
  }
  assert.equal(env.demo.mailbox.get("18c2f0a1b2d94d12").labelIds.includes("UNREAD"), false);
  await page.getByRole("button", { name: "Back to Inbox" }).click();
  await page.waitForFunction(() => location.hash === "#inbox");
  await context.close();
});

test("an attachment chip is named 'Download attachment <file>' and carries both ids", async () => {
  const { context, page } = await env.open("#inbox/18c2f0a1b2cf8acf");
  const chip = page.getByRole("link", { name: "Download attachment lake.jpg" });
  assert.equal(await chip.getAttribute("data-message-id"), "18c2f0a1b2cf8acf");
  const attachmentId = await chip.getAttribute("data-attachment-id");
  assert.ok(env.demo.mailbox.attachment("18c2f0a1b2cf8acf", attachmentId));
  const download = page.waitForEvent("download");
  await chip.click();
  assert.equal((await download).suggestedFilename(), "lake.jpg");
  await context.close();
});

test("Label as lists labels by name with their ids; Apply adds ticked and removes unticked ones", async () => {
  const { context, page } = await env.open("#inbox/18c2f0a1b2d3721d");
  await page.getByRole("button", { name: "Label as" }).click();
  const menu = page.getByRole("group", { name: "Label as" });
  const ids = await dataOf(menu.getByRole("checkbox"), "data-label-id");
  for (const id of ids) assert.match(id, LABEL_ID);
  assert.ok(ids.includes("STARRED") && ids.includes("Label_1"));
  assert.equal(await menu.getByRole("checkbox", { name: "Work" }).isChecked(), true);
  await menu.getByRole("checkbox", { name: "Starred" }).check();
  await menu.getByRole("checkbox", { name: "Work" }).uncheck();
  await menu.getByRole("button", { name: "Apply" }).click();
  await page.getByRole("status").filter({ hasText: "Labels changed." }).waitFor();
  const labels = env.demo.mailbox.get("18c2f0a1b2d3721d").labelIds;
  assert.ok(labels.includes("STARRED"));
  assert.ok(!labels.includes("Label_1"));
  await context.close();
});

test("selected rows are labelled and deleted together from the list toolbar", async () => {
  const { context, page } = await env.open("#inbox");
  for (const subject of ["Lunch on Thursday?", "Old build logs"]) {
    await page.getByRole("row").filter({ hasText: subject }).getByRole("checkbox", { name: "Select" }).check();
  }
  await page.getByRole("button", { name: "Label as" }).click();
  await page.getByRole("group", { name: "Label as" }).getByRole("checkbox", { name: "Travel" }).check();
  await page.getByRole("button", { name: "Apply" }).click();
  await page.getByRole("status").filter({ hasText: "Labels changed on 2 conversations." }).waitFor();
  for (const id of ["18c2f0a1b2d7596b", "18c2f0a1b2c3d4e5"]) assert.ok(env.demo.mailbox.get(id).labelIds.includes("Label_3"));

  for (const subject of ["Lunch on Thursday?", "Old build logs"]) {
    await page.getByRole("row").filter({ hasText: subject }).getByRole("checkbox", { name: "Select" }).check();
  }
  await page.getByRole("toolbar").getByRole("button", { name: "Delete" }).click();
  await page.getByRole("status").filter({ hasText: "2 conversations moved to Trash." }).waitFor();
  for (const id of ["18c2f0a1b2d7596b", "18c2f0a1b2c3d4e5"]) assert.ok(env.demo.mailbox.get(id).labelIds.includes("TRASH"));
  await context.close();
});

test("Compose opens 'New Message' with the contract's fields; Ctrl+Enter sends", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("button", { name: "Compose" }).click();
  const dialog = page.getByRole("dialog", { name: "New Message" });
  await dialog.getByRole("textbox", { name: "To recipients" }).fill("a@example.com, b@example.com");
  assert.equal(await dialog.getByRole("textbox", { name: "Cc recipients" }).count(), 0);
  await dialog.getByRole("button", { name: "Cc", exact: true }).click();
  await dialog.getByRole("textbox", { name: "Cc recipients" }).fill("c@example.com");
  await dialog.getByRole("button", { name: "Bcc", exact: true }).click();
  await dialog.getByRole("textbox", { name: "Bcc recipients" }).fill("d@example.com");
  await dialog.getByRole("textbox", { name: "Subject" }).fill("Hello");
  const body = dialog.getByRole("textbox", { name: "Message Body" });
  assert.equal(await body.getAttribute("contenteditable"), "true");
  await body.click();
  await page.keyboard.type("Hi\nthere");
  const send = dialog.getByRole("button", { name: /^Send/ });
  assert.match(await send.getAttribute("aria-label"), /^Send \u202a\(Ctrl-Enter\)\u202c$/);
  await dialog.getByRole("button", { name: "Save & close" }).waitFor();
  await dialog.getByRole("button", { name: "Discard draft" }).waitFor();
  await page.keyboard.press("Control+Enter");
  await page.getByRole("status").filter({ hasText: "Message sent." }).waitFor();
  const sent = env.demo.mailbox.list({ labelId: "SENT" });
  assert.equal(sent.length, 1);
  assert.deepEqual([sent[0].to, sent[0].cc, sent[0].bcc, sent[0].subject, sent[0].body], [["a@example.com", "b@example.com"], ["c@example.com"], ["d@example.com"], "Hello", "Hi\nthere"]);
  await context.close();
});

test("Save & close keeps a draft in #drafts; Discard draft keeps nothing", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("button", { name: "Compose" }).click();
  await page.getByRole("textbox", { name: "Subject" }).fill("Later");
  await page.getByRole("button", { name: "Save & close" }).click();
  await page.getByRole("status").filter({ hasText: "Draft saved." }).waitFor();
  await page.getByRole("button", { name: "Compose" }).click();
  await page.getByRole("textbox", { name: "Subject" }).fill("Never");
  await page.getByRole("button", { name: "Discard draft" }).click();
  await page.getByRole("link", { name: "Drafts" }).click();
  await page.waitForFunction(() => location.hash === "#drafts");
  await page.getByRole("row").filter({ hasText: "Later" }).waitFor();
  assert.equal(await messageRows(page).count(), 1);
  await context.close();
});

test("search runs on Enter and writes the query into #search/ with spaces as +", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("textbox", { name: "Search mail" }).fill("from:alice has:attachment");
  await page.getByRole("textbox", { name: "Search mail" }).press("Enter");
  await page.waitForFunction(() => location.hash === "#search/from%3Aalice+has%3Aattachment");
  await page.getByRole("row").first().waitFor();
  assert.deepEqual(await dataOf(messageRows(page), "data-message-id"), ["18c2f0a1b2d94d12"]);
  await page.goto(`${env.demo.url}#search/l%C3%A9+OR+sign%C3%A9`);
  assert.equal(await page.getByRole("textbox", { name: "Search mail" }).inputValue(), "lé OR signé");
  await context.close();
});

test("#label/<name>, #sent and #drafts show those folders", async () => {
  const { context, page } = await env.open("#label/Travel");
  await page.getByRole("heading", { name: "Travel" }).waitFor();
  assert.deepEqual(await dataOf(messageRows(page), "data-message-id"), ["18c2f0a1b2d565c4"]);
  env.demo.mailbox.addLabel("Big Clients");
  await page.goto(`${env.demo.url}#label/Big+Clients`);
  await page.getByRole("heading", { name: "Big Clients" }).waitFor();
  for (const [hash, heading] of [["#sent", "Sent"], ["#drafts", "Drafts"]]) {
    await page.goto(`${env.demo.url}${hash}`);
    await page.getByRole("heading", { name: heading, exact: true }).waitFor();
  }
  await context.close();
});

test("Create new label opens 'New label' with its field and Create", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("button", { name: "Create new label" }).click();
  const dialog = page.getByRole("dialog", { name: "New label" });
  await dialog.getByRole("textbox", { name: "Please enter a new label name:" }).fill("Clients");
  await dialog.getByRole("button", { name: "Create" }).click();
  await page.getByRole("navigation").getByRole("link", { name: "Clients" }).waitFor();
  assert.equal(env.demo.mailbox.labels.find((l) => l.name === "Clients").id, "Label_5");
  await context.close();
});

test("#settings/labels rows carry label ids; Edit renames and Remove label deletes", async () => {
  const { context, page } = await env.open("#settings/labels");
  await page.getByRole("button", { name: "Edit" }).first().waitFor();
  const rowIds = await dataOf(page.getByRole("row").filter({ has: page.getByRole("cell") }), "data-label-id");
  assert.equal(rowIds.length, 12);
  for (const id of rowIds) assert.match(id, /^[A-Z]+$|^Label_\d+$/);
  assert.deepEqual(await dataOf(page.getByRole("button", { name: "Edit" }), "data-label-id"), ["Label_1", "Label_2", "Label_3", "Label_4"]);
  assert.deepEqual(await dataOf(page.getByRole("button", { name: "Remove label" }), "data-label-id"), ["Label_1", "Label_2", "Label_3", "Label_4"]);

  await page.getByRole("row").filter({ hasText: "Receipts" }).getByRole("button", { name: "Edit" }).click();
  const edit = page.getByRole("dialog", { name: "Edit label" });
  await edit.getByRole("textbox", { name: "Label name:" }).fill("Invoices");
  await edit.getByRole("button", { name: "Save" }).click();
  await page.getByRole("row").filter({ hasText: "Invoices" }).waitFor();
  assert.equal(env.demo.mailbox.label("Label_2").name, "Invoices");

  await page.getByRole("row").filter({ hasText: "Family" }).getByRole("button", { name: "Remove label" }).click();
  await page.getByRole("alertdialog", { name: "Remove label" }).getByRole("button", { name: "Delete" }).click();
  await page.getByRole("status").filter({ hasText: 'Label "Family" removed.' }).waitFor();
  assert.equal(env.demo.mailbox.label("Label_4"), null);
  await context.close();
});

test("#settings/filters creates a filter in two steps and deletes one by its id", async () => {
  const { context, page } = await env.open("#settings/filters");
  const deletes = page.getByRole("button", { name: "Delete" });
  await deletes.first().waitFor();
  const filterIds = await dataOf(deletes, "data-filter-id");
  assert.deepEqual(filterIds, env.demo.mailbox.filters.map((f) => f.id));

  await page.getByRole("button", { name: "Create a new filter" }).click();
  const fields = { From: "a@example.com", To: "me@tracepipe.test", Subject: "report", "Has the words": "q3", "Doesn't have": "draft" };
  for (const [name, value] of Object.entries(fields)) await page.getByRole("textbox", { name, exact: true }).fill(value);
  await page.getByRole("button", { name: "Create filter" }).click();
  for (const name of ["Skip the Inbox (Archive it)", "Mark as read", "Star it", "Apply the label:", "Delete it"]) {
    await page.getByRole("checkbox", { name }).check();
  }
  await page.getByRole("button", { name: "Choose label" }).click();
  const options = page.getByRole("listbox", { name: "Labels" }).getByRole("option");
  for (const id of await dataOf(options, "data-label-id")) assert.match(id, LABEL_ID);
  await options.filter({ hasText: "Travel" }).click();
  await page.getByRole("button", { name: "Create filter" }).click();
  await page.getByRole("status").filter({ hasText: "Your filter was created." }).waitFor();
  const created = env.demo.mailbox.filters.at(-1);
  assert.deepEqual(created.criteria, { from: "a@example.com", to: "me@tracepipe.test", subject: "report", query: "q3", negatedQuery: "draft" });
  assert.deepEqual(created.action, { addLabelIds: ["STARRED", "Label_3", "TRASH"], removeLabelIds: ["INBOX", "UNREAD"] });

  await page.locator(`button[data-filter-id="${filterIds[0]}"]`).click();
  await page.getByRole("status").filter({ hasText: "Filter deleted." }).waitFor();
  assert.ok(!env.demo.mailbox.filters.some((f) => f.id === filterIds[0]));
  await context.close();
});

test("#settings/account has a password and a payment card field for privacy tests", async () => {
  const { context, page } = await env.open("#settings/account");
  assert.equal(await page.getByLabel("App password").getAttribute("type"), "password");
  assert.equal(await page.getByLabel("App password").getAttribute("autocomplete"), "current-password");
  assert.equal(await page.getByLabel("Card number").getAttribute("autocomplete"), "cc-number");
  await context.close();
});

test("the server answers unknown paths and bad bodies with JSON errors", async () => {
  const base = env.demo.url;
  const missing = await fetch(`${base}api/nothing`);
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { error: "not found" });
  const wrongMethod = await fetch(`${base}api/labels`, { method: "PUT" });
  assert.equal(wrongMethod.status, 405);
  const badJson = await fetch(`${base}api/labels`, { method: "POST", body: "{" });
  assert.equal(badJson.status, 400);
  const tooBig = await fetch(`${base}api/labels`, { method: "POST", body: "x".repeat(100 * 1024) });
  assert.equal(tooBig.status, 413);
});
