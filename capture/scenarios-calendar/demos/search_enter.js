// Search My calendar for lunch, pressing Enter in the What field.
const a = require("../lib/agenda.js");

module.exports = async function searchEnter(page, h) {
  await h.pause(400);
  await a.fillSearch(page, h, { query: "lunch", calendar: "My calendar", from: "2026-12-08T00:00", to: "2026-12-10T23:59" });
  await page.keyboard.press("Enter");
  await page.getByText("1 found").waitFor();
  await h.pause(400);
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
