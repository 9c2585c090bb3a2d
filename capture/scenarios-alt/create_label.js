// Creates the label Suppliers from the sidebar's "+" (named "Create new
// label"), clicking Create.
const { notice } = require("./lib/postbox.js");

module.exports = async function createLabel(page, { pause, type }) {
  await pause(400);
  await page.getByRole("button", { name: "Create new label" }).click();
  const dialog = page.getByRole("dialog", { name: "New label" });
  await dialog.waitFor();
  await pause(300);
  await type(dialog.getByRole("textbox", { name: "Please enter a new label name:" }), "Suppliers");
  await pause(300);
  await dialog.getByRole("button", { name: "Create" }).click();
  await notice(page, 'Created label "Suppliers".');
};

// One screenshot frame in 3 is kept, to keep the fixtures small.
module.exports.screenshotEvery = 3;
