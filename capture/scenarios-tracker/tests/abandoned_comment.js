// Open issue 17, write a comment, then go back to the list without sending it.
const t = require("../lib/tracker.js");

module.exports = async function abandonedComment(page, h) {
  await h.pause(400);
  await t.openIssue(page, h, 17, "Document the plugin API");
  await h.type(page.getByRole("textbox", { name: "Add a comment" }), "I could take this one next week.");
  await h.pause(400);
  await page.getByRole("link", { name: "Back to issues" }).click();
  await page.getByRole("heading", { name: "acme/widgets" }).waitFor();
  await h.pause(500);
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
