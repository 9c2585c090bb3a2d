// Types with mistakes fixed by Backspace before sending: only the corrected
// text counts.
const { notice } = require("./lib/postbox.js");

module.exports = async function typingCorrections(page, { pause }) {
  const keys = (text) => page.keyboard.type(text, { delay: 30 });
  const back = async (n) => {
    for (let i = 0; i < n; i += 1) await page.keyboard.press("Backspace", { delay: 15 });
  };
  await pause(400);
  await page.getByRole("button", { name: "Compose" }).click();
  const dialog = page.getByRole("dialog", { name: "New Message" });
  await dialog.getByRole("textbox", { name: "To recipients" }).click();
  await keys("grace@exmp");
  await pause(250);
  await back(2);
  await keys("ample.org");
  await dialog.getByRole("textbox", { name: "Subject" }).click();
  await keys("Retor");
  await back(2);
  await keys("ro");
  await dialog.getByRole("textbox", { name: "Message Body" }).click();
  await keys("Thnaks");
  await pause(200);
  await back(5);
  await keys("hanks!");
  await pause(300);
  await dialog.getByRole("button", { name: /^Send/ }).click();
  await notice(page, "Your message has been sent.");
};

// Typing repaints on every key: no screenshot frames, to keep the fixtures small.
module.exports.screenshotEvery = 0;
