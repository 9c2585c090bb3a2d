// Fills the compose fields by pasting (text inserted without key presses)
// and keeps the message as a draft.
module.exports = async function pastedText(page, { pause, toast }) {
  await pause(500);
  await page.getByRole("button", { name: "Compose" }).click();
  const dialog = page.getByRole("dialog", { name: "New Message" });
  await dialog.getByRole("textbox", { name: "To recipients" }).click();
  await page.keyboard.insertText("alice@example.com, bob@example.com");
  await pause(400);
  await dialog.getByRole("textbox", { name: "Subject" }).click();
  await page.keyboard.insertText("Q3 report: final numbers");
  await pause(400);
  await dialog.getByRole("textbox", { name: "Message Body" }).click();
  await page.keyboard.insertText("Revenue 4.2M, costs 3.1M, margin 26%.");
  await pause(500);
  await dialog.getByRole("button", { name: "Save & close" }).click();
  await toast("Draft saved.");
};
