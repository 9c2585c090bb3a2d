// Comment on issue 14 and close it, search closed issues, then open a new issue with two labels.
const t = require("../lib/tracker.js");

module.exports = async function multiActionSession(page, h) {
  await h.pause(400);
  await t.openIssue(page, h, 14, "Add a dark theme");
  await t.comment(page, h, "A first draft of the palette is in the wiki.");
  await page.getByRole("button", { name: "Close issue" }).click();
  await h.toast("Issue #14 closed.");
  await h.pause(400);
  await t.search(page, h, "is:closed build");
  await page.getByRole("link", { name: "Tracker" }).click();
  await h.pause(500);
  await t.fillNewIssue(page, h, { title: "Keyboard shortcut for duplicate", body: "Ctrl+D would save a lot of clicks.", labels: ["enhancement", "question"] });
  await page.getByRole("button", { name: "Submit new issue" }).click();
  await h.toast("Issue #23 created.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
