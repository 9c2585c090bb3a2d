// Open the flight, change its title in the form, then Cancel: only the event was read.
const a = require("../lib/agenda.js");

module.exports = async function abandonedEdit(page, h) {
  await h.pause(400);
  await a.openEvent(page, h, "Flight to Lisbon");
  await a.editEvent(page, h);
  await a.fillEvent(page, h, { title: "Flight to Porto" });
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("heading", { name: "Flight to Lisbon" }).waitFor();
  await h.pause(500);
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
