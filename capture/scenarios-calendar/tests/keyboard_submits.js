// Create an event by pressing Enter in its title, then search with Enter.
const a = require("../lib/agenda.js");

module.exports = async function keyboardSubmits(page, h) {
  await h.pause(400);
  await a.newEvent(page, h);
  await a.fillEvent(page, h, { calendar: "My calendar", start: "2026-12-13T10:00", end: "2026-12-13T12:00" });
  await h.type(page.getByRole("textbox", { name: "Title" }), "Brunch with Ana");
  await h.pause(200);
  await page.keyboard.press("Enter");
  await h.toast("Saved “Brunch with Ana”.");
  await a.fillSearch(page, h, { query: "flight", calendar: "My calendar", from: "2026-12-11T00:00", to: "2026-12-13T23:59" });
  await page.keyboard.press("Enter");
  await page.getByText("1 found").waitFor();
  await h.pause(400);
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
