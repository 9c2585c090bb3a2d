// Delete lunch with Priya, then answer Maybe to the team standup and No to the team dinner.
const a = require("../lib/agenda.js");

module.exports = async function deleteAndRespond(page, h) {
  await h.pause(400);
  await a.openEvent(page, h, "Lunch with Priya");
  await page.getByRole("button", { name: "Delete" }).click();
  await h.toast("Deleted “Lunch with Priya”.");
  await h.pause(400);
  await a.openEvent(page, h, "Team standup");
  await page.getByRole("button", { name: "Maybe", exact: true }).click();
  await h.toast("Replied Maybe.");
  await page.getByRole("link", { name: "Back to the week" }).click();
  await h.pause(400);
  await a.openEvent(page, h, "Team dinner");
  await page.getByRole("button", { name: "No", exact: true }).click();
  await h.toast("Replied No.");
};

// No screenshots: the learner reads marks, and the fixtures stay small.
module.exports.screenshotEvery = 0;
