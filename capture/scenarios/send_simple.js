// Writes a short message to one person and sends it with the Send button.
const { fillCompose } = require("./lib/mail.js");

module.exports = async function sendSimple(page, helpers) {
  await helpers.pause(600);
  const dialog = await fillCompose(page, helpers, {
    to: "alice@example.com",
    subject: "Meeting Tomorrow",
    body: "Hi Alice,\nCan we meet at 10?",
  });
  await dialog.getByRole("button", { name: "Send" }).click();
  await helpers.toast("Message sent.");
};
