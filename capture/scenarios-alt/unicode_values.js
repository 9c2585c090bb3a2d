// Searches for Søren with Enter, then writes to him in Danish and Japanese.
const { compose, notice, waitRoute } = require("./lib/postbox.js");

module.exports = async function unicodeValues(page, helpers) {
  const { pause, type } = helpers;
  await pause(400);
  await type(page.getByRole("searchbox", { name: "Search mail" }), "Søren");
  await page.keyboard.press("Enter");
  await waitRoute(page, "#search/S%C3%B8ren");
  await pause(500);
  const dialog = await compose(page, helpers, { to: "soren@example.dk", subject: "Smørrebrød — 大阪", body: "Tak, Søren! 大阪で会いましょう。" });
  await dialog.getByRole("button", { name: /^Send/ }).click();
  await notice(page, "Your message has been sent.");
};

// Typing repaints on every key: no screenshot frames, to keep the fixtures small.
module.exports.screenshotEvery = 0;
