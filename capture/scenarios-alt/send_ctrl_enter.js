// Sends from the message body with Ctrl+Enter.
const { compose, notice } = require("./lib/postbox.js");

module.exports = async function sendCtrlEnter(page, helpers) {
  await helpers.pause(400);
  await compose(page, helpers, { to: "tomas@example.es", subject: "Coffee", body: "See you at 9!" });
  await page.keyboard.press("Control+Enter");
  await notice(page, "Your message has been sent.");
};

// Typing repaints on every key: no screenshot frames, to keep the fixtures small.
module.exports.screenshotEvery = 0;
