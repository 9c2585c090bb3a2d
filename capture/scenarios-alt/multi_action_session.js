// A longer session: search with the Search button, read the train booking,
// download its ticket, go back, scroll idly, read Tomás's message, label it
// Personal, and answer it.
const { openMessage, compose, labelAs, notice, waitRoute } = require("./lib/postbox.js");

module.exports = async function multiActionSession(page, helpers) {
  const { pause, type, scroll } = helpers;
  await pause(400);
  await type(page.getByRole("searchbox", { name: "Search mail" }), "has:attachment lyon");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await waitRoute(page, "#search/has%3Aattachment+lyon");
  await pause(400);
  await openMessage(page, helpers, "Your train to Lyon");
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Download attachment ticket-LY2291.pdf" }).click();
  await (await download).path();
  await pause(400);
  await page.getByRole("button", { name: "Back to Inbox" }).click();
  await waitRoute(page, "#inbox");
  await page.getByRole("list", { name: "Messages" }).waitFor();
  await scroll(200, { over: page.getByRole("list", { name: "Messages" }) });
  await pause(600);
  await scroll(-200);
  await openMessage(page, helpers, "Coffee tomorrow?");
  await labelAs(page, helpers, ["Personal"]);
  await notice(page, "Labels updated.");
  const dialog = await compose(page, helpers, { to: "tomas@example.es", subject: "Re: Coffee", body: "Yes, 8:30?" });
  await dialog.getByRole("button", { name: /^Send/ }).click();
  await notice(page, "Your message has been sent.");
};

// One screenshot frame in 20 is kept, to keep the fixtures small (as
// many as the committed recording had when its frames were thinned).
module.exports.screenshotEvery = 20;
