// Creates a filter whose criteria are submitted with Enter (the form's own
// "Create filter" button is then clicked only by the browser), ticking
// "Delete it" and finishing with the second "Create filter".
const { notice, waitRoute } = require("./lib/postbox.js");

module.exports = async function createFilterEnter(page, { pause, type }) {
  await pause(400);
  await page.getByRole("link", { name: "Filters and blocked addresses" }).click();
  await waitRoute(page, "#settings/filters");
  await page.getByRole("link", { name: "Create a new filter" }).click();
  await pause(300);
  await type(page.getByRole("textbox", { name: "From" }), "ci@builds.example");
  await type(page.getByRole("textbox", { name: "Doesn't have" }), "failed");
  await pause(200);
  await page.keyboard.press("Enter");
  const actions = page.getByRole("group", { name: /^When a message arrives/ });
  await actions.waitFor();
  await pause(400);
  await actions.getByRole("checkbox", { name: "Delete it" }).click();
  await pause(300);
  await actions.getByRole("button", { name: "Create filter" }).click();
  await notice(page, "Filter created.");
};

// Typing repaints on every key: no screenshot frames, to keep the fixtures small.
module.exports.screenshotEvery = 0;
