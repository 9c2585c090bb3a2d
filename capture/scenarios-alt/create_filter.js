// Creates a filter for invoices from Paper & Ink: criteria From and "Has the
// words", "Create filter"; then "Skip the Inbox" (its box), "Mark as read"
// (clicking the words beside the box, as people do), "Apply the label:" with
// Receipts chosen in the native <select> label chooser; "Create filter".
const { notice, waitRoute, clickWords } = require("./lib/postbox.js");

module.exports = async function createFilter(page, { pause, type }) {
  await pause(400);
  await page.getByRole("link", { name: "Filters and blocked addresses" }).click();
  await waitRoute(page, "#settings/filters");
  await page.getByRole("link", { name: "Create a new filter" }).click();
  await pause(300);
  await type(page.getByRole("textbox", { name: "From" }), "billing@paperink.example");
  await type(page.getByRole("textbox", { name: "Has the words" }), "invoice");
  await pause(250);
  await page.getByRole("button", { name: "Create filter" }).click();
  const actions = page.getByRole("group", { name: /^When a message arrives/ });
  await actions.waitFor();
  await pause(400);
  await actions.getByRole("checkbox", { name: "Skip the Inbox (Archive it)" }).click();
  await pause(250);
  await clickWords(page, actions.locator("label", { hasText: "Mark as read" }));
  await pause(250);
  await actions.getByRole("checkbox", { name: "Apply the label:" }).click();
  await actions.getByRole("combobox", { name: "Choose label" }).selectOption({ label: "Receipts" });
  await pause(350);
  await actions.getByRole("button", { name: "Create filter" }).click();
  await notice(page, "Filter created.");
};

// One screenshot frame in 12 is kept, to keep the fixtures small (as
// many as the committed recording had when its frames were thinned).
module.exports.screenshotEvery = 12;
