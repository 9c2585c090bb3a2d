// Move the quarterly planning to Room 7, clicking Save changes.
const a = require("../lib/agenda.js");

module.exports = async function editLocation(page, h) {
  await h.pause(400);
  await a.openEvent(page, h, "Quarterly planning");
  await a.editEvent(page, h);
  await a.fillEvent(page, h, { location: "Room 7" });
  await page.getByRole("button", { name: "Save changes" }).click();
  await h.toast("Changes saved.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
