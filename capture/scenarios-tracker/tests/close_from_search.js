// Search for a memory leak, open it and close it.
const t = require("../lib/tracker.js");

module.exports = async function closeFromSearch(page, h) {
  await h.pause(400);
  await t.search(page, h, "memory undo");
  await t.openIssue(page, h, 22, "Memory grows after each undo");
  await page.getByRole("button", { name: "Close issue" }).click();
  await h.toast("Issue #22 closed.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
