// Sends to two people with one in Cc and one in Bcc, revealing both fields.
const { fillCompose } = require("./lib/mail.js");

module.exports = async function sendCcBcc(page, helpers) {
  await helpers.pause(500);
  const dialog = await fillCompose(page, helpers, {
    to: "bob@example.com, carol@example.org",
    cc: "dan@example.com",
    bcc: "erin@example.net",
    subject: "Offsite plan",
    body: "Draft agenda attached.",
  });
  await dialog.getByRole("button", { name: "Send" }).click();
  await helpers.toast("Message sent.");
};
