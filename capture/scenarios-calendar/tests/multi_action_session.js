// Accept the design review and move it to Room 9, add a personal event, then search the team calendar.
const a = require("../lib/agenda.js");

module.exports = async function multiActionSession(page, h) {
  await h.pause(400);
  await a.openEvent(page, h, "Design review");
  await page.getByRole("button", { name: "Yes", exact: true }).click();
  await h.toast("Replied Yes.");
  await a.editEvent(page, h);
  await a.fillEvent(page, h, { location: "Room 9" });
  await page.getByRole("button", { name: "Save changes" }).click();
  await h.toast("Changes saved.");
  await page.getByRole("link", { name: "Back to the week" }).click();
  await h.pause(500);
  await a.newEvent(page, h);
  await a.fillEvent(page, h, { title: "Pick up the bike", calendar: "My calendar", start: "2026-12-12T16:00", end: "2026-12-12T16:30", location: "Cycle Works" });
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await h.toast("Saved “Pick up the bike”.");
  await a.fillSearch(page, h, { query: "dinner", calendar: "Team", from: "2026-12-07T00:00", to: "2026-12-13T23:59" });
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByText("1 found").waitFor();
  await h.pause(400);
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
