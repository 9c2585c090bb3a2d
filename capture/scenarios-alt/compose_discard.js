// Starts a message and throws it away with "Discard draft".
const { compose } = require("./lib/postbox.js");

module.exports = async function composeDiscard(page, helpers) {
  await helpers.pause(400);
  const dialog = await compose(page, helpers, { to: "mira@family.example", subject: "Sunday" });
  await dialog.getByRole("button", { name: "Discard draft" }).click();
  await dialog.waitFor({ state: "hidden" });
  await helpers.pause(500);
};

// Typing repaints on every key: no screenshot frames, to keep the fixtures small.
module.exports.screenshotEvery = 0;
