// Creates a filter: mail from a shop mentioning "sale" skips the inbox, is
// marked read and gets the Receipts label.
module.exports = async function createFilter(page, { pause, type, route, toast }) {
  await pause(600);
  await page.getByRole("link", { name: "Filters" }).click();
  await route("#settings/filters");
  await page.getByRole("button", { name: "Create a new filter" }).click();
  await pause(400);
  await type(page.getByRole("textbox", { name: "From" }), "deals@shop.example");
  await pause(200);
  await type(page.getByRole("textbox", { name: "Has the words" }), "sale");
  await pause(300);
  await page.getByRole("button", { name: "Create filter" }).click();
  const actions = page.getByRole("form", { name: "Filter actions" });
  await actions.waitFor();
  await pause(500);
  await actions.getByRole("checkbox", { name: "Skip the Inbox (Archive it)" }).check();
  await pause(200);
  await actions.getByRole("checkbox", { name: "Mark as read" }).check();
  await pause(200);
  await actions.getByRole("checkbox", { name: "Apply the label:" }).check();
  await actions.getByRole("button", { name: "Choose label" }).click();
  await pause(300);
  await actions.getByRole("option", { name: "Receipts" }).click();
  await pause(400);
  await actions.getByRole("button", { name: "Create filter" }).click();
  await toast("Your filter was created.");
};
