// Opens a message with two photos and downloads one of them.
const { openMessage } = require("./lib/mail.js");

module.exports = async function downloadAttachment(page, helpers) {
  await helpers.pause(600);
  await openMessage(page, helpers, "Photos from the weekend");
  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Download attachment picnic.jpg" }).click();
  await (await download).path();
  await helpers.pause(500);
};
