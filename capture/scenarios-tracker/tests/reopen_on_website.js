// In acme/website, show closed issues, reopen issue 28, go back and show the open ones.
const t = require("../lib/tracker.js");

module.exports = async function reopenOnWebsite(page, h) {
  await h.pause(400);
  await t.switchRepo(page, h, "acme/website");
  await t.tab(page, h, "Closed");
  await t.openIssue(page, h, 28, "Move the blog to the new theme");
  await page.getByRole("button", { name: "Reopen issue" }).click();
  await h.toast("Issue #28 reopened.");
  await page.getByRole("link", { name: "Back to issues" }).click();
  await page.getByRole("heading", { name: "acme/website" }).waitFor();
  await h.pause(400);
  await t.tab(page, h, "Closed");
  await t.tab(page, h, "Open");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
