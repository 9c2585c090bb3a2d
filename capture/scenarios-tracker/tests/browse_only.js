// Scroll the list, look at the keyboard shortcuts, switch repositories back and forth: no call.
const t = require("../lib/tracker.js");

module.exports = async function browseOnly(page, h) {
  await h.pause(400);
  await h.scroll(500, { over: page.locator("ul.issues") });
  await h.pause(400);
  await h.scroll(-500, { over: page.locator("ul.issues") });
  await page.getByRole("button", { name: "Keyboard shortcuts" }).click();
  await page.getByRole("dialog", { name: "Keyboard shortcuts" }).waitFor();
  await h.pause(800);
  await page.getByRole("button", { name: "Close", exact: true }).click();
  await h.pause(300);
  await t.switchRepo(page, h, "acme/website");
  await h.scroll(300, { over: page.locator("ul.issues") });
  await t.switchRepo(page, h, "acme/widgets");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
