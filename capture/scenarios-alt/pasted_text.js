// Pastes recipients, subject and body (text inserted without key presses)
// and keeps the message as a draft.
const { notice } = require("./lib/postbox.js");

module.exports = async function pastedText(page, { pause }) {
  await pause(400);
  await page.getByRole("button", { name: "Compose" }).click();
  const dialog = page.getByRole("dialog", { name: "New Message" });
  await dialog.getByRole("textbox", { name: "To recipients" }).click();
  await page.keyboard.insertText("kenji@example.jp, grace@example.org");
  await pause(300);
  await dialog.getByRole("textbox", { name: "Subject" }).click();
  await page.keyboard.insertText("Workshop: room booked");
  await pause(300);
  await dialog.getByRole("textbox", { name: "Message Body" }).click();
  await page.keyboard.insertText("Room 4.12, 14:00-16:00.\nProjector included.");
  await pause(400);
  await dialog.getByRole("button", { name: "Save & close" }).click();
  await notice(page, "Saved to Drafts.");
};

// Typing repaints on every key: no screenshot frames, to keep the fixtures small.
module.exports.screenshotEvery = 0;
