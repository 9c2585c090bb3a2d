// Create a Team event whose title is typed with mistakes corrected with Backspace.
const a = require("../lib/agenda.js");

module.exports = async function typingCorrections(page, h) {
  await h.pause(400);
  await a.newEvent(page, h);
  await page.getByRole("textbox", { name: "Title" }).click();
  await page.keyboard.type("Budegt", { delay: 40 });
  for (let i = 0; i < 3; i += 1) await page.keyboard.press("Backspace", { delay: 30 });
  await page.keyboard.type("get riveiw", { delay: 40 });
  for (let i = 0; i < 5; i += 1) await page.keyboard.press("Backspace", { delay: 30 });
  await page.keyboard.type("eview", { delay: 40 });
  await h.pause(200);
  await a.fillEvent(page, h, { calendar: "Team", start: "2026-12-09T15:00", end: "2026-12-09T16:00", location: "Room 4" });
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await h.toast("Saved “Budget review”.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
