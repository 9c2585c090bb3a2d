// Steps the scenarios share, written as a person would do them in the demo
// mail app: find things by their accessible names, type at a human pace.

// Opens the message whose row shows `subject` and waits for it to load.
async function openMessage(page, { pause }, subject) {
  await page.getByRole("row").filter({ hasText: subject }).click();
  await page.getByRole("article").getByRole("heading", { name: subject }).waitFor();
  await pause(700);
}

// Opens the compose dialog and fills the fields given, in the order a person
// fills them; Cc and Bcc are revealed first when needed.
async function fillCompose(page, helpers, { to, cc, bcc, subject, body }) {
  const { pause, type } = helpers;
  await page.getByRole("button", { name: "Compose" }).click();
  const dialog = page.getByRole("dialog", { name: "New Message" });
  await dialog.waitFor();
  await pause(400);
  if (to !== undefined) await type(dialog.getByRole("textbox", { name: "To recipients" }), to);
  if (cc !== undefined) {
    await pause(200);
    await dialog.getByRole("button", { name: "Cc", exact: true }).click();
    await type(dialog.getByRole("textbox", { name: "Cc recipients" }), cc);
  }
  if (bcc !== undefined) {
    await pause(200);
    await dialog.getByRole("button", { name: "Bcc", exact: true }).click();
    await type(dialog.getByRole("textbox", { name: "Bcc recipients" }), bcc);
  }
  if (subject !== undefined) {
    await pause(250);
    await type(dialog.getByRole("textbox", { name: "Subject" }), subject);
  }
  if (body !== undefined) {
    await pause(250);
    await type(dialog.getByRole("textbox", { name: "Message Body" }), body);
  }
  await pause(400);
  return dialog;
}

// Opens the "Label as" menu, toggles the named entries and applies.
async function applyLabels(page, { pause }, { tick = [], untick = [] }) {
  await page.getByRole("button", { name: "Label as" }).click();
  const menu = page.getByRole("group", { name: "Label as" });
  await menu.waitFor();
  await pause(400);
  for (const name of tick) {
    await menu.getByRole("checkbox", { name, exact: true }).check();
    await pause(250);
  }
  for (const name of untick) {
    await menu.getByRole("checkbox", { name, exact: true }).uncheck();
    await pause(250);
  }
  await menu.getByRole("button", { name: "Apply" }).click();
}

// Ticks the "Select" checkbox of each row, top to bottom as given.
async function selectRows(page, { pause }, subjects) {
  for (const subject of subjects) {
    await page.getByRole("row").filter({ hasText: subject }).getByRole("checkbox", { name: "Select" }).check();
    await pause(300);
  }
}

module.exports = { openMessage, fillCompose, applyLabels, selectRows };
