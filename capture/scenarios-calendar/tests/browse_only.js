// Scroll the week and look at the keyboard shortcuts: no call.
const a = require("../lib/agenda.js");

module.exports = async function browseOnly(page, h) {
  await h.pause(400);
  await h.scroll(600, { over: page.locator("main") });
  await h.pause(500);
  await h.scroll(-600, { over: page.locator("main") });
  await page.getByRole("button", { name: "Keyboard shortcuts" }).click();
  await page.getByRole("dialog", { name: "Keyboard shortcuts" }).waitFor();
  await h.pause(800);
  await page.keyboard.press("Escape");
  await h.pause(400);
  await h.scroll(300, { over: page.locator("main") });
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
