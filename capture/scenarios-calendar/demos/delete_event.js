// Delete the dentist appointment.
const a = require("../lib/agenda.js");

module.exports = async function deleteEvent(page, h) {
  await h.pause(400);
  await a.openEvent(page, h, "Dentist");
  await page.getByRole("button", { name: "Delete" }).click();
  await h.toast("Deleted “Dentist”.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
