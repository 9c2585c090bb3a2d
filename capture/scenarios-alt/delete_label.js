// Removes the Personal label from the label settings, confirming with Delete.
const { notice, waitRoute } = require("./lib/postbox.js");

module.exports = async function deleteLabel(page, { pause }) {
  await pause(400);
  await page.getByRole("link", { name: "Manage labels" }).click();
  await waitRoute(page, "#settings/labels");
  const row = page.getByRole("row").filter({ hasText: "Personal" });
  await pause(600);
  await row.getByRole("button", { name: "Remove label" }).click();
  const confirm = page.getByRole("alertdialog");
  await confirm.waitFor();
  await pause(400);
  await confirm.getByRole("button", { name: "Delete" }).click();
  await notice(page, 'Removed "Personal".');
};

// Every screenshot frame is kept.
module.exports.screenshotEvery = 1;
