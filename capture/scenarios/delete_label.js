// Removes the Family label on the label settings page, confirming with Delete.
module.exports = async function deleteLabel(page, { pause, route, toast }) {
  await pause(600);
  await page.getByRole("navigation").getByRole("link", { name: "Labels" }).click();
  await route("#settings/labels");
  const row = page.getByRole("row").filter({ hasText: "Family" });
  await row.waitFor();
  await pause(800);
  await row.getByRole("button", { name: "Remove label" }).click();
  const confirm = page.getByRole("alertdialog", { name: "Remove label" });
  await confirm.waitFor();
  await pause(500);
  await confirm.getByRole("button", { name: "Delete" }).click();
  await toast('Label "Family" removed.');
};
