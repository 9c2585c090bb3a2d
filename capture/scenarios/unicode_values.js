// Searches for "Zoë" and writes to her with accented and Japanese text.
const { fillCompose } = require("./lib/mail.js");

module.exports = async function unicodeValues(page, helpers) {
  const { pause, type, route, toast } = helpers;
  await pause(500);
  await type(page.getByRole("textbox", { name: "Search mail" }), "Zoë");
  await page.keyboard.press("Enter");
  await route("#search/Zo%C3%AB");
  await page.getByRole("row").first().waitFor();
  await pause(600);
  const dialog = await fillCompose(page, helpers, {
    to: "zoe@example.fr",
    subject: "Zoë — 東京",
    body: "Merci Zoë ! 東京で会いましょう。",
  });
  await dialog.getByRole("button", { name: "Send" }).click();
  await toast("Message sent.");
};
