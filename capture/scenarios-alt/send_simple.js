// Writes to one person and sends with the Send button.
const { compose, notice } = require("./lib/postbox.js");

module.exports = async function sendSimple(page, helpers) {
  await helpers.pause(500);
  const dialog = await compose(page, helpers, {
    to: "priya@northwind.example",
    subject: "Budget questions",
    body: "Hi Priya,\nTwo questions on the travel line.",
  });
  await dialog.getByRole("button", { name: /^Send/ }).click();
  await notice(page, "Your message has been sent.");
};

// Typing repaints on every key: no screenshot frames, to keep the fixtures small.
module.exports.screenshotEvery = 0;
