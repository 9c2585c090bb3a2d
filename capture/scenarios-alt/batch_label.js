// Ticks three messages' Select boxes and files them all under Receipts.
const { select, labelAs, notice } = require("./lib/postbox.js");

module.exports = async function batchLabel(page, helpers) {
  await helpers.pause(400);
  await select(page, helpers, ["Invoice INV-5521", "Holiday calendar 2026", "Coffee tomorrow?"]);
  await labelAs(page, helpers, ["Receipts"]);
  await notice(page, "Labels updated for 3 messages.");
};

// One screenshot frame in 4 is kept, to keep the fixtures small (as
// many as the committed recording had when its frames were thinned).
module.exports.screenshotEvery = 4;
