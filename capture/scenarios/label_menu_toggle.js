// Opens a message, adds the Important label through the "Labels" menu, then
// takes the Work label off through it again. Its entries are
// menuitemcheckboxes: a click flips aria-checked and no `change` fires, so
// only the state the click left says which way each click went.
const { openMessage } = require("./lib/mail.js");

async function toggleLabels(page, { pause }, names) {
  await page.getByRole("button", { name: "Labels", exact: true }).click();
  const menu = page.getByRole("menu", { name: "Labels" });
  await menu.waitFor();
  await pause(400);
  for (const name of names) {
    await menu.getByRole("menuitemcheckbox", { name, exact: true }).click();
    await pause(250);
  }
  await menu.getByRole("menuitem", { name: "Apply" }).click();
}

module.exports = async function labelMenuToggle(page, helpers) {
  await helpers.pause(600);
  await openMessage(page, helpers, "Design review notes");
  await toggleLabels(page, helpers, ["Important"]);
  await helpers.toast("Labels changed.");
  await helpers.pause(800);
  await toggleLabels(page, helpers, ["Work"]);
  await helpers.toast("Labels changed.");
};
