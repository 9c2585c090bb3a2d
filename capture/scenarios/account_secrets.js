// Types an app password and a payment card into the account settings and
// saves them. None of it is a mail action, and the capture script must keep
// the secrets out of the recording.
module.exports = async function accountSecrets(page, { pause, type, route, toast }) {
  await pause(500);
  await page.getByRole("link", { name: "Account" }).click();
  await route("#settings/account");
  await pause(500);
  await type(page.getByRole("textbox", { name: "Display name" }), "Sam Park");
  await type(page.getByLabel("App password"), "hunter2-Secret!");
  await type(page.getByRole("textbox", { name: "Card number" }), "4111 1111 1111 1111");
  await type(page.getByRole("textbox", { name: "Security code" }), "737");
  await pause(300);
  await page.keyboard.press("Enter");
  await toast("Settings saved.");
};
