// Selects two messages in the list and deletes them together.
const { selectRows } = require("./lib/mail.js");

module.exports = async function batchDelete(page, helpers) {
  await helpers.pause(600);
  await selectRows(page, helpers, ["Your monthly statement is ready", "Old build logs"]);
  await helpers.pause(300);
  await page.getByRole("toolbar").getByRole("button", { name: "Delete" }).click();
  await helpers.toast("2 conversations moved to Trash.");
};
