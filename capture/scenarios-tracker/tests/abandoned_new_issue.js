// Start a new issue, fill it in, then Cancel: nothing is created.
const t = require("../lib/tracker.js");

module.exports = async function abandonedNewIssue(page, h) {
  await h.pause(400);
  await t.fillNewIssue(page, h, { title: "Widgets snap to the wrong grid", body: "Grid size 8 snaps to 10.", labels: ["bug"] });
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("heading", { name: "acme/widgets" }).waitFor();
  await h.pause(500);
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
