// A longer session: search with the Search button, read a result, download
// its attachment, go back, read another message, then answer it.
const { openMessage, fillCompose } = require("./lib/mail.js");

module.exports = async function multiActionSession(page, helpers) {
  const { pause, type, route, toast, scroll } = helpers;
  await pause(700);
  await type(page.getByRole("textbox", { name: "Search mail" }), "has:attachment tokyo");
  await pause(300);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await route("#search/has%3Aattachment+tokyo");
  await pause(600);
  await openMessage(page, helpers, "Your booking to Tokyo is confirmed");
  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Download attachment e-ticket-TP4K2Z.pdf" }).click();
  await (await download).path();
  await pause(600);
  await page.getByRole("button", { name: "Back to Inbox" }).click();
  await route("#inbox");
  await page.getByRole("grid").waitFor();
  await scroll(150, { over: page.getByRole("grid") });
  await pause(500);
  await openMessage(page, helpers, "Lunch on Thursday?");
  const dialog = await fillCompose(page, helpers, {
    to: "bob@example.com",
    subject: "Re: Lunch",
    body: "Yes, 12:30?",
  });
  await dialog.getByRole("button", { name: "Send" }).click();
  await toast("Message sent.");
};
