// Writes a short message to one person and sends it with the Send button.
module.exports = async function sendSimple(page, { pause, type, toast }) {
  await pause(600);
  await page.getByRole("button", { name: "Compose" }).click();
  await pause(400);
  await type(page.getByRole("textbox", { name: "To recipients" }), "alice@example.com");
  await pause(300);
  await type(page.getByRole("textbox", { name: "Subject" }), "Meeting Tomorrow");
  await pause(250);
  await type(page.getByRole("textbox", { name: "Message Body" }), "Hi Alice,\nCan we meet at 10 tomorrow?\nThanks");
  await pause(500);
  await page.getByRole("button", { name: "Send" }).click();
  await toast("Message sent.");
};
