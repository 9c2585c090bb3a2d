// Search every repository for open crashes with Enter.
const t = require("../lib/tracker.js");

module.exports = async function searchEnter(page, h) {
  await h.pause(400);
  await t.search(page, h, "is:open crash");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
