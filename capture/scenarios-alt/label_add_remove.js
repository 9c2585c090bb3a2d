// Opens a message labelled Projects, adds Travel with "Label as", then
// unticks Projects: each entry is a menuitemcheckbox that toggles
// aria-checked when clicked.
const { openMessage, labelAs, notice } = require("./lib/postbox.js");

module.exports = async function labelAddRemove(page, helpers) {
  await helpers.pause(400);
  await openMessage(page, helpers, "Sprint retro notes");
  await labelAs(page, helpers, ["Travel"]);
  await notice(page, "Labels updated.");
  await helpers.pause(700);
  await labelAs(page, helpers, ["Projects"]);
  await page.getByRole("alert").filter({ hasText: "Labels updated." }).waitFor();
  await helpers.pause(300);
};

// Every screenshot frame is kept.
module.exports.screenshotEvery = 1;
