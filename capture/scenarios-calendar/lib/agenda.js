// Steps the Agenda scenarios share, as a person does them: things found by
// their accessible names, text typed at a human pace, dates picked.

// Opens the event whose entry starts with `Event: <title>,` and waits for it.
async function openEvent(page, { pause }, title) {
  await page.getByRole("link", { name: `Event: ${title},` }).first().click();
  await page.getByRole("heading", { name: title, exact: true }).waitFor();
  await pause(600);
}

// Fills the fields given of the event form shown, in the order a person
// fills them: title, calendar, times, place, notes.
async function fillEvent(page, { pause, type }, { title, calendar, start, end, location, description }) {
  if (title !== undefined) {
    const box = page.getByRole("textbox", { name: "Title" });
    await box.fill("");
    await type(box, title);
    await pause(200);
  }
  if (calendar !== undefined) {
    await page.getByRole("combobox", { name: "Calendar" }).selectOption({ label: calendar });
    await pause(250);
  }
  if (start !== undefined) {
    await page.getByLabel("Starts").fill(start);
    await pause(250);
  }
  if (end !== undefined) {
    await page.getByLabel("Ends").fill(end);
    await pause(250);
  }
  if (location !== undefined) {
    const box = page.getByRole("textbox", { name: "Location" });
    await box.fill("");
    await type(box, location);
    await pause(200);
  }
  if (description !== undefined) {
    await type(page.getByRole("textbox", { name: "Description" }), description);
    await pause(200);
  }
}

async function newEvent(page, { pause }) {
  await page.getByRole("button", { name: "New event" }).click();
  await page.getByRole("form", { name: "New event" }).waitFor();
  await pause(400);
}

async function editEvent(page, { pause }) {
  await page.getByRole("button", { name: "Edit", exact: true }).click();
  await page.getByRole("form", { name: "Edit event" }).waitFor();
  await pause(400);
}

// Fills the search form; the caller submits it.
async function fillSearch(page, { pause, type }, { query, calendar, from, to }) {
  await page.getByRole("link", { name: "Search events" }).click();
  await page.getByRole("search", { name: "Search events" }).waitFor();
  await pause(400);
  await page.getByRole("combobox", { name: "Search in" }).selectOption({ label: calendar });
  await pause(200);
  await page.getByLabel("From").fill(from);
  await pause(200);
  await page.getByLabel("To").fill(to);
  await pause(200);
  await type(page.getByRole("textbox", { name: "What" }), query);
  await pause(250);
}

module.exports = { openEvent, fillEvent, newEvent, editEvent, fillSearch };
