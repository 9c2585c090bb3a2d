// Opens a message and deletes it from the message toolbar.
const { openMessage, notice } = require("./lib/postbox.js");

module.exports = async function deleteMessage(page, helpers) {
  await helpers.pause(400);
  await openMessage(page, helpers, "Nightly build failed");
  await page.getByRole("toolbar", { name: "Message actions" }).getByRole("button", { name: "Delete" }).click();
  await notice(page, "Message moved to Trash.");
};

// Every screenshot frame is kept.
module.exports.screenshotEvery = 1;
