// Starts a message and keeps it as a draft with "Save & close".
const { fillCompose } = require("./lib/mail.js");

module.exports = async function draftSaveClose(page, helpers) {
  await helpers.pause(500);
  const dialog = await fillCompose(page, helpers, {
    to: "carol@example.org",
    subject: "Review notes",
    body: "Notes to follow.",
  });
  await dialog.getByRole("button", { name: "Save & close" }).click();
  await helpers.toast("Draft saved.");
};
