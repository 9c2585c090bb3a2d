// Start a new event, fill it in, then Cancel: nothing is saved.
const a = require("../lib/agenda.js");

module.exports = async function abandonedNewEvent(page, h) {
  await h.pause(400);
  await a.newEvent(page, h);
  await a.fillEvent(page, h, { title: "Haircut", calendar: "My calendar", start: "2026-12-09T17:00", end: "2026-12-09T17:45" });
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("heading", { name: "This week" }).waitFor();
  await h.pause(500);
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
