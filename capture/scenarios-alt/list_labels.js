// Opens the label settings ("Manage labels"), which lists every label.
const { waitRoute } = require("./lib/postbox.js");

module.exports = async function listLabels(page, { pause }) {
  await pause(400);
  await page.getByRole("link", { name: "Manage labels" }).click();
  await waitRoute(page, "#settings/labels");
  await page.getByRole("table").first().waitFor();
  await pause(800);
};

// Every screenshot frame is kept.
module.exports.screenshotEvery = 1;
