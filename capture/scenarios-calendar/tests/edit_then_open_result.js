// Rename the gym session with Save changes, then search for it and open it.
const a = require("../lib/agenda.js");

module.exports = async function editThenOpenResult(page, h) {
  await h.pause(400);
  await a.openEvent(page, h, "Gym");
  await a.editEvent(page, h);
  await a.fillEvent(page, h, { title: "Gym and sauna", location: "Fit Hub" });
  await page.getByRole("button", { name: "Save changes" }).click();
  await h.toast("Changes saved.");
  await a.fillSearch(page, h, { query: "sauna", calendar: "My calendar", from: "2026-12-07T00:00", to: "2026-12-13T23:59" });
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByText("1 found").waitFor();
  await h.pause(300);
  await a.openEvent(page, h, "Gym and sauna");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
