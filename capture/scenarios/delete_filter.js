// Deletes the newsletter filter on the filter settings page.
module.exports = async function deleteFilter(page, { pause, route, toast }) {
  await pause(600);
  await page.getByRole("link", { name: "Filters" }).click();
  await route("#settings/filters");
  const filter = page.getByRole("listitem").filter({ hasText: "newsletter@devweekly.example" });
  await filter.waitFor();
  await pause(1000);
  await filter.getByRole("button", { name: "Delete" }).click();
  await toast("Filter deleted.");
};
