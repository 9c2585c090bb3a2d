// Opens the label settings to look at the list of labels.
module.exports = async function listLabels(page, { pause, route }) {
  await pause(700);
  await page.getByRole("navigation").getByRole("link", { name: "Labels" }).click();
  await route("#settings/labels");
  await page.getByRole("button", { name: "Edit" }).first().waitFor();
  await pause(1200);
};
