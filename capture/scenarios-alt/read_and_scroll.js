// Reads the long digest while scrolling, goes back, scrolls the list idly
// and reads another message.
const { openMessage, waitRoute } = require("./lib/postbox.js");

module.exports = async function readAndScroll(page, helpers) {
  const { pause, scroll } = helpers;
  await pause(400);
  await openMessage(page, helpers, "Weekly Digest: traces, names and routes");
  await scroll(360, { over: page.getByText("Performance traces.", { exact: false }) });
  await pause(500);
  await scroll(-200);
  await page.getByRole("button", { name: "Back to Inbox" }).click();
  await waitRoute(page, "#inbox");
  await page.getByRole("list", { name: "Messages" }).waitFor();
  await scroll(240, { over: page.getByRole("list", { name: "Messages" }) });
  await pause(400);
  await scroll(-240);
  await openMessage(page, helpers, "Sprint retro notes");
};

// Every screenshot frame is kept.
module.exports.screenshotEvery = 1;
