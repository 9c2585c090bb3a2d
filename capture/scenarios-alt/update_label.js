// Renames Receipts to Invoices in the label settings: "Edit" opens a dialog
// with the old name selected; the new name is typed over it and Enter saves.
const { notice, waitRoute } = require("./lib/postbox.js");

module.exports = async function updateLabel(page, { pause }) {
  await pause(400);
  await page.getByRole("link", { name: "Manage labels" }).click();
  await waitRoute(page, "#settings/labels");
  const row = page.getByRole("row").filter({ hasText: "Receipts" });
  await pause(600);
  await row.getByRole("button", { name: "Edit" }).click();
  const dialog = page.getByRole("dialog", { name: "Edit label" });
  await dialog.waitFor();
  await pause(300);
  await page.keyboard.type("Invoices", { delay: 35 });
  await pause(200);
  await page.keyboard.press("Enter");
  await notice(page, 'Renamed "Receipts" to "Invoices".');
};

// One screenshot frame in 3 is kept, to keep the fixtures small.
module.exports.screenshotEvery = 3;
