// Search for bugs about tooltips and open the one found.
const t = require("../lib/tracker.js");

module.exports = async function searchThenOpen(page, h) {
  await h.pause(400);
  await t.search(page, h, "label:bug tooltip");
  await t.openIssue(page, h, 19, "Tooltip flickers on hover");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
