// Open issue 12 of acme/widgets and comment on it with the Comment button.
const t = require("../lib/tracker.js");

module.exports = async function openAndComment(page, h) {
  await h.pause(400);
  await t.openIssue(page, h, 12, "Crash when saving an empty widget");
  await t.comment(page, h, "Still happens on 2.4 with an empty name.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
