// Open a new issue in acme/widgets labelled bug, submitting with the button.
const t = require("../lib/tracker.js");

module.exports = async function newIssueLabel(page, h) {
  await h.pause(400);
  await t.fillNewIssue(page, h, { title: "Undo loses the widget colour", body: "After undo the colour resets to grey.", labels: ["bug"] });
  await page.getByRole("button", { name: "Submit new issue" }).click();
  await h.toast("Issue #23 created.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
