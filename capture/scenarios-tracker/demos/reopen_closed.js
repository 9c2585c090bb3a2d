// Show the closed issues of acme/widgets, open issue 9 and reopen it.
const t = require("../lib/tracker.js");

module.exports = async function reopenClosed(page, h) {
  await h.pause(400);
  await t.tab(page, h, "Closed");
  await t.openIssue(page, h, 9, "Old build script fails on Windows");
  await page.getByRole("button", { name: "Reopen issue" }).click();
  await h.toast("Issue #9 reopened.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
