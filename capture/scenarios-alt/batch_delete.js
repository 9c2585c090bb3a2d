// Ticks three messages, changes their mind about one, and deletes the other
// two with the list toolbar's Delete.
const { select, notice } = require("./lib/postbox.js");

module.exports = async function batchDelete(page, helpers) {
  await helpers.pause(400);
  await select(page, helpers, ["Nightly build failed", "Re: Vendor shortlist", "Weekly Digest: traces, names and routes"]);
  await helpers.pause(300);
  await select(page, helpers, ["Re: Vendor shortlist"]);
  await page.getByRole("toolbar", { name: "List actions" }).getByRole("button", { name: "Delete" }).click();
  await notice(page, "2 messages moved to Trash.");
};

// One screenshot frame in 4 is kept, to keep the fixtures small (as
// many as the committed recording had when its frames were thinned).
module.exports.screenshotEvery = 4;
