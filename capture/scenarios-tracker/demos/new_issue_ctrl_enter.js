// In acme/website, open a new issue with two labels, submitting with Ctrl+Enter in the description.
const t = require("../lib/tracker.js");

module.exports = async function newIssueCtrlEnter(page, h) {
  await h.pause(400);
  await t.switchRepo(page, h, "acme/website");
  await t.fillNewIssue(page, h, { title: "Add an RSS feed for the blog", labels: ["enhancement", "documentation"] });
  await h.type(page.getByRole("textbox", { name: "Description" }), "Readers keep asking for a feed.");
  await h.pause(250);
  await page.keyboard.press("Control+Enter");
  await h.toast("Issue #39 created.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
