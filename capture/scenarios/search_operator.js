// Searches with a Gmail operator and a plain word, run with Enter.
module.exports = async function searchOperator(page, { pause, type, route }) {
  await pause(600);
  await type(page.getByRole("textbox", { name: "Search mail" }), "from:alice report");
  await pause(300);
  await page.keyboard.press("Enter");
  await route("#search/from%3Aalice+report");
  await page.getByRole("row").first().waitFor();
  await pause(900);
};
