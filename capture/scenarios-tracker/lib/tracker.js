// Steps the Tracker scenarios share, as a person does them: things found by
// their accessible names, text typed at a human pace.

// Switches the sidebar to `full` ("acme/website") and waits for its list.
async function switchRepo(page, { pause }, full) {
  await page.getByRole("navigation", { name: "Repositories" }).getByRole("button", { name: full }).click();
  await page.getByRole("heading", { name: full, exact: true }).waitFor();
  await pause(500);
}

// Opens issue `number` from the list or the search results shown.
async function openIssue(page, { pause }, number, title) {
  await page.getByRole("link", { name: `Issue ${number}: ${title}` }).click();
  await page.getByRole("heading", { name: title }).waitFor();
  await pause(600);
}

// Types a comment into the open issue; `submit` is "click" (the Comment
// button) or "ctrl-enter".
async function comment(page, { pause, type, toast }, text, submit = "click") {
  await type(page.getByRole("textbox", { name: "Add a comment" }), text);
  await pause(300);
  if (submit === "click") await page.getByRole("button", { name: "Comment", exact: true }).click();
  else await page.keyboard.press("Control+Enter");
  await toast("Comment added.");
  await pause(400);
}

// Searches from the header box with Enter and waits for the results.
async function search(page, { pause, type }, q) {
  await type(page.getByRole("searchbox", { name: "Search all issues" }), q);
  await pause(250);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: /results for/ }).waitFor();
  await pause(600);
}

// Fills the new-issue form (opened with "New issue") without submitting it.
async function fillNewIssue(page, { pause, type }, { title, body, labels = [] }) {
  await page.getByRole("button", { name: "New issue" }).click();
  await page.getByRole("form", { name: "New issue" }).waitFor();
  await pause(400);
  if (title !== undefined) await type(page.getByRole("textbox", { name: "Title" }), title);
  if (body !== undefined) {
    await pause(200);
    await type(page.getByRole("textbox", { name: "Description" }), body);
  }
  for (const label of labels) {
    await pause(200);
    await page.getByRole("checkbox", { name: label }).click();
  }
  await pause(300);
}

// Clicks one of the list's Open / Closed tabs and waits for the list.
async function tab(page, { pause }, name) {
  await page.getByRole("button", { name, exact: true }).click();
  await page.locator(`button.tab[aria-pressed="true"]`, { hasText: name }).waitFor();
  await pause(500);
}

module.exports = { switchRepo, openIssue, comment, search, fillNewIssue, tab };
