// In acme/website, look at the closed issues, then the open ones again.
const t = require("../lib/tracker.js");

module.exports = async function websiteTabs(page, h) {
  await h.pause(400);
  await t.switchRepo(page, h, "acme/website");
  await t.tab(page, h, "Closed");
  await t.tab(page, h, "Open");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
