// Search the Team calendar this week for reviews, clicking Search.
const a = require("../lib/agenda.js");

module.exports = async function searchClick(page, h) {
  await h.pause(400);
  await a.fillSearch(page, h, { query: "review", calendar: "Team", from: "2026-12-07T00:00", to: "2026-12-13T23:59" });
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByText("1 found").waitFor();
  await h.pause(400);
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
