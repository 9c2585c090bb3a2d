// Postbox, the second reference client: its in-memory store.
//
// Independent of capture/demo-app: its own seed data, its own id schemes
// (Gmail-shaped, as webmail-contract.md asks, but other values) and its own
// operations. Ids come from counters and hashes only, so a fresh store always
// hands out the same ids and recordings are reproducible.

"use strict";

const crypto = require("node:crypto");

const OWNER = "sam@postbox.test";

// System labels as Gmail's API names them; the display names are what a
// person reads in the "Label as" menu and the settings table.
const SYSTEM = [
  { id: "INBOX", name: "Inbox" },
  { id: "STARRED", name: "Starred" },
  { id: "IMPORTANT", name: "Important" },
  { id: "SENT", name: "Sent" },
  { id: "DRAFT", name: "Drafts" },
  { id: "UNREAD", name: "Unread" },
  { id: "TRASH", name: "Trash" },
  { id: "SPAM", name: "Spam" },
];

// User labels keep Gmail's Label_<n> form with gaps, as a mailbox that has
// seen labels come and go has.
const USER = [
  { id: "Label_3", name: "Projects" },
  { id: "Label_5", name: "Receipts" },
  { id: "Label_8", name: "Travel" },
  { id: "Label_13", name: "Personal" },
];

const DIGEST = [
  "Good morning. Here is what happened this week in the world of web tooling.",
  "Performance traces. A trace file is a long list of events: each has a name, a category, a phase, a process and a thread, and a timestamp in microseconds.",
  "Accessible names. Screen readers announce a control by its accessible name, worked out from aria-label, aria-labelledby, an associated label, and finally the text inside it.",
  "Hash routes. Single-page apps often keep their view in location.hash; changing it is a same-document navigation, with no new page load.",
  "Screenshots. With the screenshot category enabled, each new frame is stored as a JPEG. Small viewports keep traces small.",
  "Input events. The browser logs that a key went down, never which key: that part is up to your own instrumentation.",
  "Network. Every request is a send, a response and a finish, tied together by a request id; bodies are not kept.",
  "Until next week, and thanks for reading.",
].join("\n\n");

// Newest first: [from, subject, body, labels, attachments [[file, type]], hours before NOW]
const SEED = [
  ["Priya Nair <priya@northwind.example>", "Budget sign-off for Q4",
    "Hi Sam,\n\nThe Q4 budget is ready for your sign-off; the spreadsheet is attached. Could you look at the travel line before Wednesday?\n\nPriya",
    ["INBOX", "UNREAD", "IMPORTANT", "Label_3"], [["budget-q4.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]], 0.3],
  ["Tomás Ruiz <tomas@example.es>", "Coffee tomorrow?",
    "Want to grab a coffee tomorrow morning? The place by the station has reopened.\n\nTomás",
    ["INBOX", "UNREAD"], [], 1.1],
  ["Rail Tickets <tickets@rail.example>", "Your train to Lyon",
    "Booking LY2291: Paris Gare de Lyon to Lyon Part-Dieu, 12 May, 08:04, coach 7 seat 42. Your ticket and the seat map are attached.",
    ["INBOX", "Label_8"], [["ticket-LY2291.pdf", "application/pdf"], ["seat-map.png", "image/png"]], 2.5],
  ["Grace Okafor <grace@example.org>", "Sprint retro notes",
    "Notes from the retro: fewer meetings on Thursdays, and we try pairing on the importer next sprint.",
    ["INBOX", "Label_3"], [], 5],
  ["Paper & Ink <shop@paperink.example>", "Invoice INV-5521",
    "Thanks for your order. Invoice INV-5521 for 64.90 EUR is attached.",
    ["INBOX", "Label_5"], [["INV-5521.pdf", "application/pdf"]], 9],
  ["Weekly Digest <digest@news.example>", "Weekly Digest: traces, names and routes",
    DIGEST, ["INBOX", "UNREAD"], [], 20],
  ["Søren Ødegaard <soren@example.dk>", "Smørrebrød på fredag",
    "Hej Sam! Skal vi spise smørrebrød på fredag? Søren",
    ["INBOX"], [], 30],
  ["Kenji Sato <kenji@example.jp>", "大阪 workshop slides",
    "The slides from the 大阪 workshop are attached. Feedback welcome!",
    ["INBOX", "UNREAD"], [["osaka-slides.pdf", "application/pdf"]], 44],
  ["HR Team <hr@northwind.example>", "Holiday calendar 2026",
    "Please find the 2026 holiday calendar attached.",
    ["INBOX"], [["holidays-2026.ics", "text/calendar"]], 70],
  ["Priya Nair <priya@northwind.example>", "Re: Vendor shortlist",
    "I'd drop the second vendor; their support hours don't match ours.",
    ["INBOX"], [], 96],
  ["Build Bot <ci@builds.example>", "Nightly build failed",
    "Nightly build #481 failed at the lint step. Log attached.",
    ["INBOX", "UNREAD"], [["nightly-481.log", "text/plain"]], 130],
  ["Mira Novak <mira@family.example>", "Dinner on Sunday",
    "Dinner at ours on Sunday, 7pm? Bring the board game!",
    ["INBOX", "STARRED", "Label_13"], [], 170],
];

const SEED_RULES = [
  [{ from: "digest@news.example" }, { removeLabelIds: ["INBOX"] }],
  [{ query: "invoice" }, { addLabelIds: ["Label_5"] }],
];

const NOW = Date.parse("2026-03-02T08:15:00Z");

// Gmail message ids are 16 hex digits that grow with time.
function messageIdAt(n) {
  return (0x19a7c3e5d2b40000n + BigInt(n) * 0x3c5e9n).toString(16);
}

function token(kind, n, length) {
  return crypto.createHash("sha1").update(`postbox/${kind}/${n}`).digest("base64url").slice(0, length);
}

function addresses(value) {
  const list = Array.isArray(value) ? value : String(value || "").split(",");
  return list.map((a) => String(a).trim()).filter(Boolean);
}

function addressOf(from) {
  const m = /<([^>]+)>/.exec(from);
  return (m ? m[1] : from).toLowerCase();
}

class Store {
  constructor() {
    this.reset();
  }

  reset() {
    this.seq = { message: 0, attachment: 0, rule: 0, label: 14 };
    this.labels = [...SYSTEM.map((l) => ({ ...l, kind: "system" })), ...USER.map((l) => ({ ...l, kind: "user" }))];
    this.messages = [];
    for (const [from, subject, body, labelIds, files, hours] of [...SEED].reverse()) {
      this.insert({ from, to: [OWNER], subject, body, labelIds, files, at: NOW - hours * 3600e3 });
    }
    this.rules = [];
    for (const [criteria, action] of SEED_RULES) this.addRule(criteria, action);
  }

  insert({ from, to, cc = [], bcc = [], subject, body, labelIds, files = [], at }) {
    const id = messageIdAt(this.seq.message++);
    const attachments = files.map(([filename, mimeType]) => {
      const attachmentId = "AOvVaw" + token("attachment", this.seq.attachment++, 34);
      return { attachmentId, filename, mimeType };
    });
    const message = { id, from, to, cc, bcc, subject, body, labelIds: [...labelIds], attachments, at };
    this.messages.unshift(message);
    return message;
  }

  message(id) {
    return this.messages.find((m) => m.id === id) || null;
  }

  label(id) {
    return this.labels.find((l) => l.id === id) || null;
  }

  labelByName(name) {
    const wanted = String(name).toLowerCase();
    return this.labels.find((l) => l.name.toLowerCase() === wanted) || null;
  }

  summary(m) {
    return {
      mid: m.id,
      sender: m.from.replace(/\s*<[^>]+>/, ""),
      subject: m.subject,
      snippet: m.body.replace(/\s+/g, " ").slice(0, 70),
      unread: m.labelIds.includes("UNREAD"),
      labels: m.labelIds,
      clip: m.attachments.length > 0,
      at: m.at,
    };
  }

  // Gmail's query language, the part this client needs.
  matches(m, query) {
    const terms = String(query).match(/-?(?:\w+:)?(?:"[^"]*"|\S+)/g) || [];
    return terms.every((raw) => {
      const negate = raw.startsWith("-");
      const term = negate ? raw.slice(1) : raw;
      const colon = /^(\w+):(.*)$/.exec(term);
      const [field, value] = colon ? [colon[1].toLowerCase(), colon[2]] : [null, term];
      const v = value.replace(/^"|"$/g, "").toLowerCase();
      let hit;
      if (field === "from") hit = m.from.toLowerCase().includes(v);
      else if (field === "to") hit = m.to.join(",").toLowerCase().includes(v);
      else if (field === "subject") hit = m.subject.toLowerCase().includes(v);
      else if (field === "has") hit = v === "attachment" ? m.attachments.length > 0 : false;
      else if (field === "is") hit = m.labelIds.includes({ unread: "UNREAD", starred: "STARRED", important: "IMPORTANT" }[v]);
      else if (field === "label") {
        const label = this.labelByName(v);
        hit = !!label && m.labelIds.includes(label.id);
      } else {
        hit = [m.from, m.subject, m.body, ...m.attachments.map((a) => a.filename)].join(" ").toLowerCase().includes(v);
      }
      return negate ? !hit : hit;
    });
  }

  threads({ box, label, q }) {
    let list = this.messages.filter((m) => !m.labelIds.includes("TRASH"));
    if (q) list = list.filter((m) => this.matches(m, q));
    else if (label) list = list.filter((m) => m.labelIds.includes(label));
    else list = list.filter((m) => m.labelIds.includes(box || "INBOX"));
    return list.map((m) => this.summary(m));
  }

  open(id) {
    const m = this.message(id);
    if (!m) return null;
    m.labelIds = m.labelIds.filter((l) => l !== "UNREAD");
    return m;
  }

  outbox({ envelope = {}, subject = "", text = "", saveOnly = false }) {
    const m = this.insert({
      from: `Sam Park <${OWNER}>`,
      to: addresses(envelope.to),
      cc: addresses(envelope.cc),
      bcc: addresses(envelope.bcc),
      subject: String(subject),
      body: String(text),
      labelIds: [saveOnly ? "DRAFT" : "SENT"],
      at: NOW + 60e3 * this.seq.message,
    });
    return { mid: m.id, state: saveOnly ? "draft" : "sent" };
  }

  mutate({ mids = [], addLabels = [], removeLabels = [], trash = false }) {
    const found = mids.map((id) => this.message(id));
    if (found.some((m) => !m)) return { error: "unknown message" };
    const unknown = [...addLabels, ...removeLabels].filter((id) => !this.label(id));
    if (unknown.length) return { error: `unknown label ${unknown.join(", ")}` };
    for (const m of found) {
      const set = new Set(m.labelIds);
      for (const id of addLabels) set.add(id);
      for (const id of removeLabels) set.delete(id);
      if (trash) {
        set.delete("INBOX");
        set.add("TRASH");
      }
      m.labelIds = [...set];
    }
    return { changed: found.length };
  }

  file(mid, attachmentId) {
    const m = this.message(mid);
    const a = m && m.attachments.find((x) => x.attachmentId === attachmentId);
    if (!a) return null;
    return { ...a, bytes: Buffer.from(`${a.filename} (${a.mimeType}), from "${m.subject}"\n`, "utf8") };
  }

  addLabel(displayName) {
    const name = String(displayName || "").trim();
    if (!name) return { error: "a label needs a name" };
    if (this.labelByName(name)) return { error: "that label exists" };
    const label = { id: `Label_${this.seq.label++}`, name, kind: "user" };
    this.labels.push(label);
    return label;
  }

  renameLabel(id, displayName) {
    const label = this.label(id);
    const name = String(displayName || "").trim();
    if (!label || label.kind !== "user") return { error: "no such label" };
    if (!name) return { error: "a label needs a name" };
    label.name = name;
    return label;
  }

  removeLabel(id) {
    const label = this.label(id);
    if (!label || label.kind !== "user") return { error: "no such label" };
    this.labels = this.labels.filter((l) => l !== label);
    for (const m of this.messages) m.labelIds = m.labelIds.filter((l) => l !== id);
    return { removed: id };
  }

  addRule(criteria, action) {
    const rule = { ruleId: "ANe1Bmi" + token("rule", this.seq.rule++, 22), criteria, action };
    this.rules.push(rule);
    return rule;
  }

  removeRule(ruleId) {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.ruleId !== ruleId);
    return before === this.rules.length ? { error: "no such filter" } : { removed: ruleId };
  }
}

module.exports = { Store, OWNER, messageIdAt };
