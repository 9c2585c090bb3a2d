// Rename Gym to Gym with Alex, pressing Enter in the title.
const a = require("../lib/agenda.js");

module.exports = async function editTitleEnter(page, h) {
  await h.pause(400);
  await a.openEvent(page, h, "Gym");
  await a.editEvent(page, h);
  await a.fillEvent(page, h, { title: "Gym with Alex" });
  await page.keyboard.press("Enter");
  await h.toast("Changes saved.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
