// Opens the train booking and downloads the second of its two attachments.
const { openMessage } = require("./lib/postbox.js");

module.exports = async function downloadAttachment(page, helpers) {
  await helpers.pause(400);
  await openMessage(page, helpers, "Your train to Lyon");
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Download attachment seat-map.png" }).click();
  await (await download).path();
  await helpers.pause(400);
};

// Every screenshot frame is kept.
module.exports.screenshotEvery = 1;
