// In acme/website, open a new issue whose title is typed with mistakes corrected with Backspace; Ctrl+Enter submits.
const t = require("../lib/tracker.js");

module.exports = async function typingCorrections(page, h) {
  await h.pause(400);
  await t.switchRepo(page, h, "acme/website");
  await page.getByRole("button", { name: "New issue" }).click();
  await page.getByRole("form", { name: "New issue" }).waitFor();
  await h.pause(300);
  await page.getByRole("textbox", { name: "Title" }).click();
  await page.keyboard.type("Contact from", { delay: 40 });
  for (let i = 0; i < 3; i += 1) await page.keyboard.press("Backspace", { delay: 30 });
  await page.keyboard.type("orm sends twcie", { delay: 40 });
  for (let i = 0; i < 4; i += 1) await page.keyboard.press("Backspace", { delay: 30 });
  await page.keyboard.type("wice", { delay: 40 });
  await h.pause(200);
  await h.type(page.getByRole("textbox", { name: "Description" }), "Every message arrives two times.");
  await h.pause(200);
  await page.getByRole("checkbox", { name: "bug" }).click();
  await h.pause(200);
  await page.getByRole("textbox", { name: "Description" }).focus();
  await page.keyboard.press("Control+Enter");
  await h.toast("Issue #39 created.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
