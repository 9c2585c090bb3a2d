// Selects three messages in the list and files them all under Work.
const { applyLabels, selectRows } = require("./lib/mail.js");

module.exports = async function batchLabel(page, helpers) {
  await helpers.pause(600);
  await selectRows(page, helpers, ["Lunch on Thursday?", "Re: Team offsite agenda", "東京 meetup next month"]);
  await applyLabels(page, helpers, { tick: ["Work"] });
  await helpers.toast("Labels changed on 3 conversations.");
};
