// Deletes the filter that keeps the Weekly Digest out of the inbox.
const { notice, waitRoute } = require("./lib/postbox.js");

module.exports = async function deleteFilter(page, { pause }) {
  await pause(400);
  await page.getByRole("link", { name: "Filters and blocked addresses" }).click();
  await waitRoute(page, "#settings/filters");
  const item = page.getByRole("listitem").filter({ hasText: "digest@news.example" });
  await item.waitFor();
  await pause(600);
  await item.getByRole("button", { name: "Delete" }).click();
  await notice(page, "Filter deleted.");
};

// Every screenshot frame is kept.
module.exports.screenshotEvery = 1;
