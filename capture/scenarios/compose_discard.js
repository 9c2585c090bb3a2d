// Starts a message, thinks better of it and throws it away with "Discard draft".
const { fillCompose } = require("./lib/mail.js");

module.exports = async function composeDiscard(page, helpers) {
  await helpers.pause(500);
  const dialog = await fillCompose(page, helpers, {
    to: "bob@example.com",
    subject: "Never mind",
  });
  await helpers.pause(600);
  await dialog.getByRole("button", { name: "Discard draft" }).click();
  await helpers.toast("Draft discarded.");
};
