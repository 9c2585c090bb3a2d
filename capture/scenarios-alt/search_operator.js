// Searches with from: and a word, running the query with the Search button.
const { waitRoute } = require("./lib/postbox.js");

module.exports = async function searchOperator(page, { pause, type }) {
  await pause(400);
  await type(page.getByRole("searchbox", { name: "Search mail" }), "from:priya budget");
  await pause(300);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await waitRoute(page, "#search/from%3Apriya+budget");
  await page.getByRole("link").filter({ hasText: "Budget sign-off for Q4" }).waitFor();
  await pause(600);
};

// One screenshot frame in 5 is kept, to keep the fixtures small.
module.exports.screenshotEvery = 5;
