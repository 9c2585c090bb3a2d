// Create an event in My calendar with a place, clicking Save.
const a = require("../lib/agenda.js");

module.exports = async function newEventSave(page, h) {
  await h.pause(400);
  await a.newEvent(page, h);
  await a.fillEvent(page, h, { title: "Call with the bank", calendar: "My calendar", start: "2026-12-10T09:00", end: "2026-12-10T09:30", location: "Phone" });
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await h.toast("Saved “Call with the bank”.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
