// Open the release retro and answer Maybe.
const a = require("../lib/agenda.js");

module.exports = async function maybeInvitation(page, h) {
  await h.pause(400);
  await a.openEvent(page, h, "Release retro");
  await page.getByRole("button", { name: "Maybe", exact: true }).click();
  await h.toast("Replied Maybe.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
