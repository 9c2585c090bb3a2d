// Open the team standup and answer Yes.
const a = require("../lib/agenda.js");

module.exports = async function acceptInvitation(page, h) {
  await h.pause(400);
  await a.openEvent(page, h, "Team standup");
  await page.getByRole("button", { name: "Yes", exact: true }).click();
  await h.toast("Replied Yes.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
