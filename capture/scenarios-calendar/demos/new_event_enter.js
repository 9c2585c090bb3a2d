// Create a Team event with notes, pressing Enter in the Location field to save it.
const a = require("../lib/agenda.js");

module.exports = async function newEventEnter(page, h) {
  await h.pause(400);
  await a.newEvent(page, h);
  await a.fillEvent(page, h, { title: "Sprint demo", calendar: "Team", start: "2026-12-11T13:00", end: "2026-12-11T14:00", description: "Show the new search." });
  await h.type(page.getByRole("textbox", { name: "Location" }), "Room 2");
  await h.pause(250);
  await page.keyboard.press("Enter");
  await h.toast("Saved “Sprint demo”.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
