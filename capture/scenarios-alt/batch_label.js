// Ticks three messages' Select boxes and files them all under Receipts.
const { select, labelAs, notice } = require("./lib/postbox.js");

module.exports = async function batchLabel(page, helpers) {
  await helpers.pause(400);
  await select(page, helpers, ["Invoice INV-5521", "Holiday calendar 2026", "Coffee tomorrow?"]);
  await labelAs(page, helpers, ["Receipts"]);
  await notice(page, "Labels updated for 3 messages.");
};

// Every screenshot frame is kept.
module.exports.screenshotEvery = 1;
