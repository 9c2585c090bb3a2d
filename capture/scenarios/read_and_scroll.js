// Reads a long newsletter, scrolling through it with pauses, goes back to the
// inbox, scrolls the list idly and reads one more message.
const { openMessage } = require("./lib/mail.js");

module.exports = async function readAndScroll(page, helpers) {
  const { pause, scroll } = helpers;
  await pause(800);
  await openMessage(page, helpers, "Dev Weekly #212: tracing in the browser");
  const article = page.getByRole("article");
  await scroll(300, { over: article });
  await pause(1200);
  await scroll(300);
  await pause(1000);
  await scroll(-600);
  await page.getByRole("button", { name: "Back to Inbox" }).click();
  await page.getByRole("grid").waitFor();
  await pause(500);
  await scroll(200, { over: page.getByRole("grid") });
  await pause(800);
  await scroll(-200);
  await openMessage(page, helpers, "Re: Team offsite agenda");
  await pause(1000);
};
