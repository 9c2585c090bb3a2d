// Open the team dinner and answer No.
const a = require("../lib/agenda.js");

module.exports = async function declineInvitation(page, h) {
  await h.pause(400);
  await a.openEvent(page, h, "Team dinner");
  await page.getByRole("button", { name: "No", exact: true }).click();
  await h.toast("Replied No.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
