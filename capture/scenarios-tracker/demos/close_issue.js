// Open issue 15 of acme/widgets and close it.
const t = require("../lib/tracker.js");

module.exports = async function closeIssue(page, h) {
  await h.pause(400);
  await t.openIssue(page, h, 15, "Slider ignores keyboard arrows");
  await page.getByRole("button", { name: "Close issue" }).click();
  await h.toast("Issue #15 closed.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
