// Renames the Receipts label to Invoices on the label settings page.
module.exports = async function updateLabel(page, { pause, route, toast }) {
  await pause(600);
  await page.getByRole("navigation").getByRole("link", { name: "Labels" }).click();
  await route("#settings/labels");
  const row = page.getByRole("row").filter({ hasText: "Receipts" });
  await row.waitFor();
  await pause(800);
  await row.getByRole("button", { name: "Edit" }).click();
  const dialog = page.getByRole("dialog", { name: "Edit label" });
  const name = dialog.getByRole("textbox", { name: "Label name:" });
  await name.waitFor();
  await pause(300);
  await page.keyboard.press("Control+a");
  await page.keyboard.type("Invoices", { delay: 35 });
  await pause(300);
  await dialog.getByRole("button", { name: "Save" }).click();
  await toast('Label renamed to "Invoices".');
};
