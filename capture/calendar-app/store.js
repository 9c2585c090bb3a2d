// Agenda's in-memory data: two calendars and a week of events (7–13
// December 2026). Every `reset()` puts back the same events, so recordings
// repeat. Ids look like Google Calendar's (base32hex: a–v and digits).

"use strict";

const CALENDARS = [
  { id: "primary", name: "My calendar" },
  { id: "team@acme.example", name: "Team" },
];

function seed() {
  const ev = (id, calendarId, summary, start, end, extra = {}) => ({
    id, calendarId, summary, start: `2026-12-${start}`, end: `2026-12-${end}`, location: "", description: "", invited: false, response: "needsAction", ...extra,
  });
  return [
    ev("k7dq2m0b1a", "team@acme.example", "Team standup", "07T09:30", "07T09:45", { invited: true, location: "Video call" }),
    ev("d3n7tl5s0c", "primary", "Dentist", "08T08:30", "08T09:15", { location: "Smile Clinic" }),
    ev("q1p4lan9g2", "team@acme.example", "Quarterly planning", "08T14:00", "08T16:00", { location: "Room 4", invited: true, response: "accepted" }),
    ev("r2v1e0d3sg", "team@acme.example", "Design review", "09T10:00", "09T11:00", { invited: true, location: "Room 2" }),
    ev("l5u0n2c8hp", "primary", "Lunch with Priya", "09T12:30", "09T13:30", { location: "Café Lumen" }),
    ev("o9n3e1s2am", "team@acme.example", "1:1 with Sam", "10T11:00", "10T11:30", { invited: true, response: "accepted" }),
    ev("g6m4b8t0aa", "primary", "Gym", "10T18:00", "10T19:00"),
    ev("r8e7t2r0ob", "team@acme.example", "Release retro", "11T15:00", "11T16:00", { invited: true }),
    ev("t4d1n5e9rr", "team@acme.example", "Team dinner", "11T19:00", "11T21:00", { invited: true, location: "Casa Nova" }),
    ev("f1l7g3h5tl", "primary", "Flight to Lisbon", "12T07:10", "12T09:40", { location: "Terminal 2" }),
  ];
}

const FIELDS = ["summary", "start", "end", "location", "description"];

class Store {
  constructor() {
    this.calendars = CALENDARS;
    this.reset();
  }

  reset() {
    this.events = seed();
    this.created = 0;
  }

  list() {
    return [...this.events].sort((a, b) => a.start.localeCompare(b.start));
  }

  get(id) {
    return this.events.find((e) => e.id === id);
  }

  create(body) {
    if (!CALENDARS.some((c) => c.id === body.calendarId)) return null;
    if (!body.summary || !body.start || !body.end) return { error: "an event needs a title, a start and an end" };
    this.created += 1;
    const event = { id: `n${this.created}e0v${this.created}`, calendarId: body.calendarId, invited: false, response: "needsAction", location: "", description: "" };
    for (const f of FIELDS) if (body[f] !== undefined) event[f] = String(body[f]);
    this.events.push(event);
    return event;
  }

  update(id, body) {
    const event = this.get(id);
    if (!event) return null;
    for (const f of FIELDS) if (body[f] !== undefined) event[f] = String(body[f]);
    return event;
  }

  remove(id) {
    const event = this.get(id);
    if (!event) return null;
    this.events = this.events.filter((e) => e !== event);
    return { deleted: id };
  }

  respond(id, { response }) {
    const event = this.get(id);
    if (!event) return null;
    if (!["accepted", "declined", "tentative"].includes(response)) return { error: "response is accepted, declined or tentative" };
    event.response = response;
    return event;
  }

  // Events of one calendar between two times whose title, place or notes
  // contain the words.
  search({ calendarId, query = "", timeMin = "", timeMax = "" }) {
    if (!CALENDARS.some((c) => c.id === calendarId)) return null;
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    return this.list().filter((e) =>
      e.calendarId === calendarId &&
      (!timeMin || e.end >= timeMin) &&
      (!timeMax || e.start <= timeMax) &&
      words.every((w) => `${e.summary} ${e.location} ${e.description}`.toLowerCase().includes(w)));
  }
}

module.exports = { Store, CALENDARS };
