// Creates a label from the sidebar's "Create new label", confirming with Enter.
module.exports = async function createLabel(page, { pause, type, toast }) {
  await pause(600);
  await page.getByRole("button", { name: "Create new label" }).click();
  const dialog = page.getByRole("dialog", { name: "New label" });
  await dialog.waitFor();
  await pause(300);
  await type(dialog.getByRole("textbox", { name: "Please enter a new label name:" }), "Clients");
  await pause(300);
  await page.keyboard.press("Enter");
  await toast('Label "Clients" created.');
};
