// Steps the alt scenarios share, done as a person does them in Postbox
// (capture/alt-app): controls found by their accessible names only, typing
// at a human pace, pauses of Postbox's own rhythm.

// Postbox confirms actions in a role=alert notice.
async function notice(page, text) {
  await page.getByRole("alert").filter({ hasText: text }).waitFor();
}

async function waitRoute(page, hash) {
  await page.waitForFunction((h) => location.hash === h, hash);
}

// Opens the message whose list entry shows `subject` (a link to #inbox/<id>).
async function openMessage(page, { pause }, subject) {
  await page.getByRole("link").filter({ hasText: subject }).click();
  await page.getByRole("heading", { name: subject }).waitFor();
  await pause(600);
}

async function compose(page, helpers, { to, cc, bcc, subject, body }) {
  const { pause, type } = helpers;
  await page.getByRole("button", { name: "Compose" }).click();
  const dialog = page.getByRole("dialog", { name: "New Message" });
  await dialog.waitFor();
  await pause(350);
  if (to !== undefined) await type(dialog.getByRole("textbox", { name: "To recipients" }), to);
  if (cc !== undefined) {
    await pause(250);
    await dialog.getByRole("button", { name: "Cc", exact: true }).click();
    await type(dialog.getByRole("textbox", { name: "Cc recipients" }), cc);
  }
  if (bcc !== undefined) {
    await pause(250);
    await dialog.getByRole("button", { name: "Bcc", exact: true }).click();
    await type(dialog.getByRole("textbox", { name: "Bcc recipients" }), bcc);
  }
  if (subject !== undefined) {
    await pause(200);
    await type(dialog.getByRole("textbox", { name: "Subject" }), subject);
  }
  if (body !== undefined) {
    await pause(300);
    await type(dialog.getByRole("textbox", { name: "Message Body" }), body);
  }
  await pause(350);
  return dialog;
}

// Opens "Label as" and clicks the named entries (each click toggles the
// entry's aria-checked), then "Apply".
async function labelAs(page, { pause }, names) {
  await page.getByRole("button", { name: "Label as" }).click();
  const menu = page.getByRole("menu", { name: "Label as" });
  await menu.waitFor();
  await pause(350);
  for (const name of names) {
    await menu.getByRole("menuitemcheckbox", { name, exact: true }).click();
    await pause(300);
  }
  await menu.getByRole("menuitem", { name: "Apply" }).click();
}

async function select(page, { pause }, subjects) {
  for (const subject of subjects) {
    await page.getByRole("listitem").filter({ hasText: subject }).getByRole("checkbox", { name: "Select" }).click();
    await pause(280);
  }
}

// Clicks the words of a <label> (not its box) with the mouse, as a person
// does: the browser then forwards a click to the labelled control. A
// locator's click() on a label may go to the control directly.
async function clickWords(page, label) {
  const box = await label.boundingBox();
  await page.mouse.click(box.x + box.width * 0.7, box.y + box.height / 2);
}

module.exports = { notice, waitRoute, openMessage, compose, labelAs, select, clickWords };
