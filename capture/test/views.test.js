// capture.js's `tracepipe:view` marks in real Chromium (docs/recording.md):
// what a listed row, an open item and a plain table give, and what a view
// never holds.

const { test } = require("node:test");
const assert = require("node:assert/strict");
const { useDemo } = require("./support.js");

const env = useDemo();

const QUARTERLY = "18c2f0a1b2d94d12";

// The views so far, once the last action's view had time to be written (the
// script waits for the page to settle, at most 2 s).
async function settledViews(page) {
  await page.waitForTimeout(2100);
  return env.views(page);
}

test("a search's view lists its rows with their cells under the column names; an opened message is `open` with its headers", async () => {
  const { context, page } = await env.open("#inbox");
  await page.getByRole("row").filter({ hasText: "Quarterly report draft" }).waitFor();
  const box = page.getByRole("textbox", { name: "Search mail" });
  await box.fill("from:alice report");
  await box.press("Enter");
  await page.waitForFunction(() => location.hash.startsWith("#search/"));
  await page.getByRole("row").filter({ hasText: "Quarterly report draft" }).waitFor();
  await page.waitForTimeout(400);
  await page.getByRole("row").filter({ hasText: "Quarterly report draft" }).click();
  await page.getByRole("heading", { name: "Quarterly report draft" }).waitFor();
  const views = await settledViews(page);

  const results = views.find((v) => v.url.includes("#search/"));
  const rows = results.items.filter((i) => i.role === "row");
  assert.deepEqual(rows.map((r) => r.data), [{ "data-message-id": QUARTERLY }]);
  assert.deepEqual(rows[0].fields, {
    date: "2026-01-06T09:18:00.000Z",
    from: "Alice Martin",
    labels: "Work",
    subject: "Quarterly report draft",
    snippet: rows[0].fields.snippet,
  });
  assert.match(rows[0].fields.snippet, /^— Hi,/);
  assert.equal(results.open, null);
  assert.equal(results.truncated, false);

  const opened = views.at(-1);
  assert.ok(opened.url.endsWith(`#inbox/${QUARTERLY}`), opened.url);
  assert.deepEqual(opened.open.data, { "data-message-id": QUARTERLY, "data-thread-id": QUARTERLY });
  assert.equal(opened.open.fields.heading, "Quarterly report draft");
  assert.equal(opened.open.fields.from, "Alice Martin <alice@example.com>");
  assert.equal(opened.open.fields.to, "me@tracepipe.test");
  assert.equal(opened.open.fields.date, "2026-01-06T09:18:00.000Z");
  assert.match(opened.open.fields["message body"], /^Hi,/);
  // The sidebar's labels and the attachment chip are items of their own.
  assert.ok(opened.items.some((i) => i.data["data-attachment-id"] && i.data["data-message-id"] === QUARTERLY));
  await context.close();
});

test("a table's column headers name its rows' cells; a header beside data cells heads a row; no headers, only the date", async () => {
  const { context, page } = await env.openHtml(`<!doctype html><html lang="en"><body>
        <table>
          <thead><tr><th>Name</th><th>Count</th></tr></thead>
          <tbody>
            <tr data-id="a"><td>Alpha</td><td>3</td></tr>
            <tr data-id="b"><th scope="row">Beta</th><td>4</td></tr>
          </tbody>
        </table>
        <table><tr data-id="c"><td>Gamma</td><td><time datetime="2026-02-01">Feb 1</time></td></tr></table>
        <button id="go">Go</button>
      </body></html>`);
  await page.locator("#go").click();
  const [view] = (await settledViews(page)).filter((v) => v.url === env.HTML_URL);
  const byId = Object.fromEntries(view.items.map((i) => [i.data["data-id"], i]));
  assert.deepEqual(byId.a.fields, { name: "Alpha", count: "3" });
  assert.deepEqual(byId.b.fields, { name: "Beta", count: "4" });
  assert.deepEqual(byId.c.fields, { date: "2026-02-01" });
  await context.close();
});

test("a view never holds a typed value, a secret or anything marked sensitive, even in a named column", async () => {
  const { context, page } = await env.openHtml(`<!doctype html><html lang="en"><body>
        <table>
          <tr><th>Name</th><th>Secret</th><th>Note</th></tr>
          <tr data-id="r1"><td>Row one</td><td data-tracepipe-sensitive>kept-back</td>
            <td><input aria-label="Note" id="note"></td></tr>
        </table>
        <input type="password" id="pw" aria-label="Password">
        <input autocomplete="cc-number" id="cc" aria-label="Card number">
        <button id="go">Go</button>
      </body></html>`);
  await page.locator("#note").fill("typed-note");
  await page.locator("#pw").fill("hunter2");
  await page.locator("#cc").fill("4111111111111111");
  await page.locator("#go").click();
  const views = (await settledViews(page)).filter((v) => v.url === env.HTML_URL);
  assert.ok(views.length > 0);
  const row = views.at(-1).items.find((i) => i.data["data-id"] === "r1");
  assert.deepEqual(row.fields, { name: "Row one" });
  const text = JSON.stringify(views);
  for (const secret of ["typed-note", "hunter2", "4111", "kept-back"]) {
    assert.ok(!text.includes(secret), `a view holds ${secret}`);
  }
  await context.close();
});

test("a full page of fifty named rows with their cells fits one view, complete", async () => {
  const rows = Array.from({ length: 50 }, (_, i) =>
    `<tr data-message-id="m${i}"><td>Sender number ${i}</td><td>A subject line of some length, number ${i}</td>` +
      `<td>— and the first words of the message, as a list shows them ${i}</td><td><time datetime="2026-01-0${(i % 9) + 1}">Jan ${(i % 9) + 1}</time></td></tr>`
  ).join("");
  const { context, page } = await env.openHtml(`<!doctype html><html lang="en"><body style="margin:0;font-size:4px;line-height:1">
        <table><tr><th>From</th><th>Subject</th><th>Snippet</th><th>Date</th></tr>${rows}</table>
        <button id="go">Go</button></body></html>`);
  await page.locator("#go").click();
  const [view] = (await settledViews(page)).filter((v) => v.url === env.HTML_URL);
  assert.equal(view.truncated, false);
  const listed = view.items.filter((i) => i.data["data-message-id"]);
  assert.equal(listed.length, 50);
  assert.deepEqual(listed[49].fields, {
    date: "2026-01-05",
    from: "Sender number 49",
    subject: "A subject line of some length, number 49",
    snippet: "— and the first words of the message, as a list shows them 49",
  });
  await context.close();
});
