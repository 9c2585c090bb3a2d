// Opens a message, marks it Important with "Label as", then takes the Work
// label off it again.
const { openMessage, applyLabels } = require("./lib/mail.js");

module.exports = async function labelAddRemove(page, helpers) {
  await helpers.pause(600);
  await openMessage(page, helpers, "Design review notes");
  await applyLabels(page, helpers, { tick: ["Important"] });
  await helpers.toast("Labels changed.");
  await helpers.pause(800);
  await applyLabels(page, helpers, { untick: ["Work"] });
  await helpers.toast("Labels changed.");
};
