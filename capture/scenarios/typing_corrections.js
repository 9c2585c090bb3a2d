// Types with mistakes and fixes them with Backspace before sending: only the
// corrected text counts.
module.exports = async function typingCorrections(page, { pause, toast }) {
  const typeSlowly = (text) => page.keyboard.type(text, { delay: 35 });
  const erase = async (count) => {
    for (let i = 0; i < count; i += 1) await page.keyboard.press("Backspace", { delay: 20 });
  };
  await pause(500);
  await page.getByRole("button", { name: "Compose" }).click();
  const dialog = page.getByRole("dialog", { name: "New Message" });
  await dialog.getByRole("textbox", { name: "To recipients" }).click();
  await typeSlowly("carol@exma");
  await pause(300);
  await erase(2);
  await typeSlowly("ample.org");
  await dialog.getByRole("textbox", { name: "Subject" }).click();
  await typeSlowly("Desgin");
  await pause(250);
  await erase(3);
  await typeSlowly("ign");
  await dialog.getByRole("textbox", { name: "Message Body" }).click();
  await typeSlowly("Looks godo");
  await pause(300);
  await erase(2);
  await typeSlowly("od.");
  await pause(400);
  await dialog.getByRole("button", { name: "Send" }).click();
  await toast("Message sent.");
};
