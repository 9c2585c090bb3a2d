// Opens an old message and deletes it from the message toolbar.
const { openMessage } = require("./lib/mail.js");

module.exports = async function deleteMessage(page, helpers) {
  await helpers.pause(600);
  await openMessage(page, helpers, "Old build logs");
  await page.getByRole("button", { name: "Delete" }).click();
  await helpers.toast("Conversation moved to Trash.");
  await helpers.route("#inbox");
};
