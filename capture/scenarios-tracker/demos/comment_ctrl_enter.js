// Switch to acme/website, open issue 31 and comment on it with Ctrl+Enter.
const t = require("../lib/tracker.js");

module.exports = async function commentCtrlEnter(page, h) {
  await h.pause(400);
  await t.switchRepo(page, h, "acme/website");
  await t.openIssue(page, h, 31, "Broken link on the pricing page");
  await t.comment(page, h, "The link should point to /plans now.", "ctrl-enter");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
