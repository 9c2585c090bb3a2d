// Writes a message and keeps it as a draft with "Save & close".
const { compose, notice } = require("./lib/postbox.js");

module.exports = async function draftSaveClose(page, helpers) {
  await helpers.pause(400);
  const dialog = await compose(page, helpers, { to: "kenji@example.jp", subject: "Slides feedback", body: "Comments by Friday." });
  await dialog.getByRole("button", { name: "Save & close" }).click();
  await notice(page, "Saved to Drafts.");
};

// Typing repaints on every key: no screenshot frames, to keep the fixtures small.
module.exports.screenshotEvery = 0;
