// Sends from the keyboard: Ctrl+Enter in the message body, no click on Send.
const { fillCompose } = require("./lib/mail.js");

module.exports = async function sendCtrlEnter(page, helpers) {
  await helpers.pause(500);
  await fillCompose(page, helpers, {
    to: "bob@example.com",
    subject: "Lunch",
    body: "Thursday works!",
  });
  await page.keyboard.press("Control+Enter");
  await helpers.toast("Message sent.");
};
