// The demo mail app's in-memory mailbox: seeded messages, labels and filters
// with Gmail-shaped identifiers, and the operations its JSON API offers. Every
// identifier is derived from a counter, so a fresh mailbox always hands out
// the same ids in the same order and recordings are reproducible.

const { createHash } = require("node:crypto");

const ME = "me@tracepipe.test";

const SYSTEM_LABELS = [
  ["INBOX", "Inbox"],
  ["STARRED", "Starred"],
  ["IMPORTANT", "Important"],
  ["SENT", "Sent"],
  ["DRAFT", "Drafts"],
  ["UNREAD", "Unread"],
  ["TRASH", "Trash"],
  ["SPAM", "Spam"],
];

const USER_LABELS = ["Work", "Receipts", "Travel", "Family"];

// [from, to, subject, body, labels, attachments, minutes before the newest]
const SEED_MESSAGES = [
  ["Alice Martin <alice@example.com>", ME, "Quarterly report draft",
    "Hi,\n\nThe Q3 numbers are in. I attached the draft report; could you review the revenue section before Friday?\n\nAlice",
    ["INBOX", "UNREAD", "IMPORTANT", "Label_1"], [["q3-report.pdf", "application/pdf"]], 12],
  ["Bob Chen <bob@example.com>", ME, "Lunch on Thursday?",
    "Are you free for lunch on Thursday? The new ramen place opened around the corner.\n\nBob",
    ["INBOX", "UNREAD"], [], 47],
  ["Skyline Air <no-reply@skyline-air.example>", ME, "Your booking to Tokyo is confirmed",
    "Booking reference TP4K2Z. Flight SK 401 departs 14 March at 10:35. Your e-ticket is attached.",
    ["INBOX", "Label_3"], [["e-ticket-TP4K2Z.pdf", "application/pdf"]], 95],
  ["Carol Diaz <carol@example.org>", ME, "Design review notes",
    "Notes from today's design review are below. Main open point: the compose dialog on small screens.",
    ["INBOX", "Label_1"], [], 180],
  ["Corner Books <orders@cornerbooks.example>", ME, "Receipt for order #20931",
    "Thank you for your order. Total: 38.40 EUR. Your receipt is attached.",
    ["INBOX", "Label_2"], [["receipt-20931.pdf", "application/pdf"]], 320],
  ["Mum <mum@family.example>", ME, "Photos from the weekend",
    "Here are the photos from Sunday! The one by the lake is my favourite.",
    ["INBOX", "STARRED", "Label_4"], [["lake.jpg", "image/jpeg"], ["picnic.jpg", "image/jpeg"]], 600],
  ["Alice Martin <alice@example.com>", ME, "Re: Team offsite agenda",
    "Works for me. Let's keep the afternoon free for the planning session.",
    ["INBOX"], [], 1440],
  ["Dev Weekly <newsletter@devweekly.example>", ME, "Dev Weekly #212: tracing in the browser",
    [
      "This week: reading Chrome traces, User Timing marks, and why your screenshots are JPEGs.",
      "1. Reading a trace. A Chrome trace is a list of events, each with a name, a category, a phase and a timestamp in microseconds. Most of them are the browser talking to itself.",
      "2. User Timing. performance.mark() puts your own events into the same timeline, with a detail object that the trace keeps as a JSON string.",
      "3. Screenshots. With the screenshot category on, every new frame becomes a small JPEG. Flat colours compress well; gradients and photos do not.",
      "4. Network. Each request shows up as a send, a response and a finish, joined by a request id. Bodies are never in the trace.",
      "5. Input. Every key and click is an event dispatch, but the trace only knows its type, never which key or which button.",
      "6. Navigation. A hash change is a same-document navigation: no new document, no new load, only a new URL.",
      "That is all for this week. Reply to tell us what you want to read about next.",
    ].join("\n\n"),
    ["INBOX", "UNREAD"], [], 2000],
  ["Zoë Laurent <zoe@example.fr>", ME, "Contrat signé",
    "Bonjour, le contrat signé est en pièce jointe. Bonne journée, Zoë",
    ["INBOX", "Label_1"], [["contrat-signe.pdf", "application/pdf"]], 2900],
  ["Hiro Tanaka <hiro@example.jp>", ME, "東京 meetup next month",
    "We are planning a small meetup in 東京 next month. Would you like to give a short talk?",
    ["INBOX", "UNREAD"], [], 4300],
  ["Bank Notices <notices@bank.example>", ME, "Your monthly statement is ready",
    "Your statement for the last month is available. Sign in to view it.",
    ["INBOX"], [["statement.csv", "text/csv"]], 5800],
  ["Bob Chen <bob@example.com>", ME, "Old build logs",
    "Attaching the build logs from last sprint in case anyone needs them.",
    ["INBOX"], [["build.log", "text/plain"]], 8000],
];

const SEED_FILTERS = [
  [{ from: "newsletter@devweekly.example" }, { removeLabelIds: ["INBOX"], addLabelIds: ["Label_1"] }],
  [{ query: "receipt OR invoice" }, { addLabelIds: ["Label_2"] }],
];

// The newest seeded message is dated here; the rest count back from it.
const NEWEST = Date.parse("2026-01-06T09:30:00Z");
const MESSAGE_ID_BASE = 0x18c2f0a1b2c3d4e5n;

function messageId(n) {
  return (MESSAGE_ID_BASE + BigInt(n) * 0x1f3a7n).toString(16);
}

// Gmail's attachment and filter ids are long opaque tokens; these look alike
// and stay stable.
function opaqueId(prefix, n) {
  return prefix + createHash("sha256").update(`${prefix}${n}`).digest("base64url").slice(0, 24);
}

function attachmentContent(filename, mimeType, subject) {
  if (mimeType.startsWith("text/")) return `${filename}\nAttached to "${subject}".\n`;
  // Not a real document: the demo only needs a download to happen.
  return `${mimeType} placeholder for ${filename} (attached to "${subject}")\n`;
}

function splitAddresses(value) {
  if (Array.isArray(value)) return value.map((v) => String(v).trim()).filter(Boolean);
  return String(value || "").split(/[,;]/).map((v) => v.trim()).filter(Boolean);
}

// Gmail search syntax, the part the demo needs: `word`, `"a phrase"`,
// `from:`, `to:`, `subject:`, `label:`, `is:unread|starred|important`,
// `has:attachment`, and `-term` to negate.
function tokenize(query) {
  const tokens = [];
  const pattern = /(-?)(?:(\w+):)?(?:"([^"]*)"|(\S+))/g;
  let match;
  while ((match = pattern.exec(query)) !== null) {
    tokens.push({ negate: match[1] === "-", field: match[2] ? match[2].toLowerCase() : null, value: (match[3] ?? match[4]).toLowerCase() });
  }
  return tokens;
}

class Mailbox {
  constructor() {
    this.reset();
  }

  reset() {
    this.nextMessage = 0;
    this.nextAttachment = 0;
    this.nextLabel = 1;
    this.nextFilter = 0;
    this.labels = SYSTEM_LABELS.map(([id, name]) => ({ id, name, type: "system" }));
    for (const name of USER_LABELS) this.addLabel(name);
    // Oldest first, so that ids grow with time as Gmail's do; listed newest first.
    this.messages = [...SEED_MESSAGES]
      .reverse()
      .map(([from, to, subject, body, labelIds, attachments, minutesAgo]) =>
        this.createMessage({ from, to: [to], subject, body, labelIds, attachments, date: NEWEST - minutesAgo * 60000 })
      )
      .reverse();
    this.filters = [];
    for (const [criteria, action] of SEED_FILTERS) this.addFilter(criteria, action);
  }

  createMessage({ from, to, cc = [], bcc = [], subject, body, labelIds, attachments = [], date }) {
    const id = messageId(this.nextMessage);
    this.nextMessage += 1;
    const message = {
      id,
      threadId: id,
      from,
      to,
      cc,
      bcc,
      subject,
      body,
      date: new Date(date).toISOString(),
      labelIds: [...labelIds],
      attachments: attachments.map(([filename, mimeType]) => {
        const attachmentId = opaqueId("ANGjdJ", this.nextAttachment);
        this.nextAttachment += 1;
        const content = Buffer.from(attachmentContent(filename, mimeType, subject));
        return { attachmentId, filename, mimeType, size: content.length, content };
      }),
    };
    return message;
  }

  summary(message) {
    const { attachments, ...rest } = message;
    return {
      ...rest,
      snippet: message.body.replace(/\s+/g, " ").slice(0, 100),
      attachments: attachments.map(({ content, ...meta }) => meta),
    };
  }

  get(id) {
    return this.messages.find((m) => m.id === id) || null;
  }

  list({ labelId, query }) {
    let found = this.messages;
    if (labelId) found = found.filter((m) => m.labelIds.includes(labelId));
    if (query) found = found.filter((m) => this.matches(m, query));
    if (labelId !== "TRASH" && labelId !== "SPAM") {
      found = found.filter((m) => !m.labelIds.includes("TRASH") && !m.labelIds.includes("SPAM"));
    }
    return found.map((m) => this.summary(m));
  }

  matches(message, query) {
    const everything = [message.from, ...message.to, ...message.cc, message.subject, message.body].join("\n").toLowerCase();
    return tokenize(query).every(({ negate, field, value }) => {
      let hit;
      switch (field) {
        case "from": hit = message.from.toLowerCase().includes(value); break;
        case "to": hit = [...message.to, ...message.cc, ...message.bcc].join(" ").toLowerCase().includes(value); break;
        case "subject": hit = message.subject.toLowerCase().includes(value); break;
        case "label": {
          const label = this.labels.find((l) => l.name.toLowerCase() === value || l.id.toLowerCase() === value);
          hit = Boolean(label) && message.labelIds.includes(label.id);
          break;
        }
        case "is": hit = message.labelIds.includes(value.toUpperCase()); break;
        case "has": hit = value === "attachment" ? message.attachments.length > 0 : false; break;
        default: hit = everything.includes(field ? `${field}:${value}` : value);
      }
      return negate ? !hit : hit;
    });
  }

  read(id) {
    const message = this.get(id);
    if (!message) return null;
    message.labelIds = message.labelIds.filter((l) => l !== "UNREAD");
    return this.summary(message);
  }

  send(fields) {
    return this.store(fields, ["SENT"]);
  }

  draft(fields) {
    return this.store(fields, ["DRAFT"]);
  }

  store({ to, cc, bcc, subject, body }, labelIds) {
    const message = this.createMessage({
      from: `Me <${ME}>`,
      to: splitAddresses(to),
      cc: splitAddresses(cc),
      bcc: splitAddresses(bcc),
      subject: String(subject || ""),
      body: String(body || ""),
      labelIds,
      date: Date.now(),
    });
    this.messages.unshift(message);
    return this.summary(message);
  }

  modify(ids, { addLabelIds = [], removeLabelIds = [] }) {
    const unknown = [...addLabelIds, ...removeLabelIds].find((id) => !this.label(id));
    if (unknown) return { error: `unknown label ${unknown}` };
    const changed = [];
    for (const id of ids) {
      const message = this.get(id);
      if (!message) continue;
      message.labelIds = [...new Set([...message.labelIds, ...addLabelIds])].filter((l) => !removeLabelIds.includes(l));
      changed.push(this.summary(message));
    }
    return { messages: changed };
  }

  // Deleting from the web interface moves messages to the trash, as Gmail does.
  trash(ids) {
    return this.modify(ids, { addLabelIds: ["TRASH"], removeLabelIds: ["INBOX"] });
  }

  attachment(messageId, attachmentId) {
    const message = this.get(messageId);
    return (message && message.attachments.find((a) => a.attachmentId === attachmentId)) || null;
  }

  label(id) {
    return this.labels.find((l) => l.id === id) || null;
  }

  listLabels() {
    return this.labels.map((label) => ({
      ...label,
      messagesTotal: this.messages.filter((m) => m.labelIds.includes(label.id)).length,
    }));
  }

  addLabel(name) {
    const clean = String(name || "").trim();
    if (!clean) return { error: "a label needs a name" };
    if (this.labels.some((l) => l.name.toLowerCase() === clean.toLowerCase())) return { error: `label "${clean}" exists` };
    const label = { id: `Label_${this.nextLabel}`, name: clean, type: "user" };
    this.nextLabel += 1;
    this.labels.push(label);
    return label;
  }

  renameLabel(id, name) {
    const label = this.label(id);
    const clean = String(name || "").trim();
    if (!label || label.type !== "user") return { error: "no such user label" };
    if (!clean) return { error: "a label needs a name" };
    label.name = clean;
    return label;
  }

  removeLabel(id) {
    const label = this.label(id);
    if (!label || label.type !== "user") return { error: "no such user label" };
    this.labels = this.labels.filter((l) => l.id !== id);
    for (const message of this.messages) message.labelIds = message.labelIds.filter((l) => l !== id);
    return { id };
  }

  addFilter(criteria, action) {
    const filter = { id: opaqueId("ANe1Bm", 1000 + this.nextFilter), criteria, action };
    this.nextFilter += 1;
    this.filters.push(filter);
    return filter;
  }

  removeFilter(id) {
    const before = this.filters.length;
    this.filters = this.filters.filter((f) => f.id !== id);
    return before === this.filters.length ? { error: "no such filter" } : { id };
  }
}

module.exports = { Mailbox, messageId, ME };
