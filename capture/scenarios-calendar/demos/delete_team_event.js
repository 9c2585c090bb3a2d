// Delete the 1:1 with Sam.
const a = require("../lib/agenda.js");

module.exports = async function deleteTeamEvent(page, h) {
  await h.pause(400);
  await a.openEvent(page, h, "1:1 with Sam");
  await page.getByRole("button", { name: "Delete" }).click();
  await h.toast("Deleted “1:1 with Sam”.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
