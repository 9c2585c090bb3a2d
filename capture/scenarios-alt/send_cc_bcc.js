// Two recipients, Cc and Bcc revealed by their buttons, sent with Send.
const { compose, notice } = require("./lib/postbox.js");

module.exports = async function sendCcBcc(page, helpers) {
  await helpers.pause(400);
  const dialog = await compose(page, helpers, {
    to: "grace@example.org, tomas@example.es",
    cc: "priya@northwind.example",
    bcc: "hr@northwind.example",
    subject: "Retro follow-up",
    body: "Action items below.",
  });
  await dialog.getByRole("button", { name: /^Send/ }).click();
  await notice(page, "Your message has been sent.");
};

// Typing repaints on every key: no screenshot frames, to keep the fixtures small.
module.exports.screenshotEvery = 0;
