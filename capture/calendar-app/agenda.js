// Agenda's page: a hash-routed single page over the JSON API.
//
//   #agenda              the week, day by day
//   #event/<id>          one event: details, Going? Yes / Maybe / No, Edit, Delete
//   #event/<id>/edit     the event's form; only the fields changed are saved
//   #new                 a new event
//   #search              search one calendar between two times
//
// Everything a person acts on has an accessible name; events and their
// buttons carry the event's and its calendar's ids as data-* attributes,
// which is all the capture contract asks of an application. Enter in a text
// field submits its form, as HTML forms do.

"use strict";

(function () {
  const state = { calendars: [], events: [] };
  const view = document.getElementById("view");
  const toastBox = document.querySelector(".toast");

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  // Shows `nodes` (nested lists and nulls allowed) as the view.
  function show(...nodes) {
    view.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
  }

  async function api(method, url, body) {
    const res = await fetch(url, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (!res.ok) throw new Error(json.error || res.statusText);
    return json;
  }

  let toastTimer;
  function toast(text) {
    toastBox.textContent = text;
    toastBox.classList.add("shown");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => toastBox.classList.remove("shown"), 2500);
  }

  const ids = (event) => ({ "data-event-id": event.id, "data-calendar-id": event.calendarId });
  const calendarName = (id) => (state.calendars.find((c) => c.id === id) || { name: id }).name;
  const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const day = (iso) => {
    const d = new Date(`${iso.slice(0, 10)}T12:00:00Z`);
    return `${DAYS[d.getUTCDay()]} ${d.getUTCDate()} December`;
  };
  const time = (iso) => iso.slice(11, 16);

  async function showAgenda() {
    state.events = await api("GET", "/api/events");
    const byDay = new Map();
    for (const e of state.events) {
      const key = e.start.slice(0, 10);
      if (!byDay.has(key)) byDay.set(key, []);
      byDay.get(key).push(e);
    }
    show(
      h("h1", {}, "This week"),
      [...byDay.entries()].map(([key, events]) => [
        h("h2", { class: "day" }, day(key)),
        h("ul", { class: "events", "aria-label": day(key) }, events.map((e) => h("li", {},
          h("a", {
            href: `#event/${e.id}`,
            class: e.calendarId === "primary" ? "mine" : "team",
            "aria-label": `Event: ${e.summary}, ${day(e.start)} ${time(e.start)}`,
            ...ids(e),
          }, h("span", { class: "time" }, `${time(e.start)}–${time(e.end)}`), e.summary)))),
      ]));
  }

  function field(label, id, input) {
    return [h("label", { for: id }, label), input];
  }

  function calendarSelect(id, label, selected) {
    return field(label, id, h("select", { id, name: "calendarId", required: true },
      h("option", { value: "" }, "Choose a calendar"),
      state.calendars.map((c) => h("option", { value: c.id, selected: c.id === selected }, c.name))));
  }

  // The event form, for a new event or an existing one. Saving an existing
  // one sends only the fields changed.
  function eventForm(name, event, submitName, onSave) {
    const v = event || { summary: "", start: "", end: "", location: "", description: "" };
    const form = h("form", { class: "editor", "aria-label": name, ...(event ? ids(event) : {}) },
      field("Title", "ev-title", h("input", { type: "text", id: "ev-title", name: "summary", value: v.summary, autocomplete: "off" })),
      event ? null : calendarSelect("ev-calendar", "Calendar"),
      h("div", { class: "row" },
        h("div", {}, field("Starts", "ev-start", h("input", { type: "datetime-local", id: "ev-start", name: "start", value: v.start }))),
        h("div", {}, field("Ends", "ev-end", h("input", { type: "datetime-local", id: "ev-end", name: "end", value: v.end })))),
      field("Location", "ev-location", h("input", { type: "text", id: "ev-location", name: "location", value: v.location, autocomplete: "off" })),
      field("Description", "ev-description", h("textarea", { id: "ev-description", name: "description" }, v.description)),
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary", ...(event ? ids(event) : {}) }, submitName),
        h("button", { type: "button", class: "secondary", onclick: () => history.back() }, "Cancel")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const values = {};
      for (const input of form.querySelectorAll("input, select, textarea")) {
        if (!event || input.value !== (v[input.name] || "")) values[input.name] = input.value;
      }
      await onSave(values);
    });
    return form;
  }

  function showNew() {
    show(h("h1", {}, "New event"), eventForm("New event", null, "Save", async (values) => {
      if (!values.summary || !values.calendarId || !values.start || !values.end) {
        toast("An event needs a title, a calendar, a start and an end.");
        return;
      }
      const body = {};
      for (const [k, val] of Object.entries(values)) if (val !== "") body[k] = val;
      const created = await api("POST", "/api/events", body);
      toast(`Saved “${created.summary}”.`);
      location.hash = "#agenda";
    }));
  }

  async function showEvent(id) {
    const event = await api("GET", `/api/events/${id}`).catch(() => null);
    if (!event) {
      show(h("h1", {}, "No such event"));
      return;
    }
    const respond = (response, name) => h("button", {
      type: "button",
      class: "secondary",
      "aria-pressed": String(event.response === response),
      ...ids(event),
      "data-response": response,
      onclick: async () => {
        await api("POST", `/api/events/${id}/response`, { response });
        toast(`Replied ${name}.`);
        showEvent(id);
      },
    }, name);
    show(
      h("a", { href: "#agenda" }, "Back to the week"),
      h("h1", {}, event.summary),
      h("dl", { class: "details" },
        h("dt", {}, "When"), h("dd", {}, `${day(event.start)}, ${time(event.start)} – ${time(event.end)}`),
        h("dt", {}, "Calendar"), h("dd", {}, calendarName(event.calendarId)),
        event.location ? [h("dt", {}, "Where"), h("dd", {}, event.location)] : null,
        event.description ? [h("dt", {}, "Notes"), h("dd", {}, event.description)] : null),
      event.invited
        ? h("div", { class: "rsvp", role: "group", "aria-label": "Going?" }, h("span", {}, "Going?"),
          respond("accepted", "Yes"), respond("tentative", "Maybe"), respond("declined", "No"))
        : null,
      h("div", { class: "bar" },
        h("button", { type: "button", class: "secondary", ...ids(event), onclick: () => { location.hash = `#event/${id}/edit`; } }, "Edit"),
        h("button", {
          type: "button",
          class: "secondary",
          ...ids(event),
          onclick: async () => {
            await api("DELETE", `/api/events/${id}`);
            toast(`Deleted “${event.summary}”.`);
            location.hash = "#agenda";
          },
        }, "Delete")));
  }

  async function showEdit(id) {
    const event = await api("GET", `/api/events/${id}`).catch(() => null);
    if (!event) {
      show(h("h1", {}, "No such event"));
      return;
    }
    show(h("h1", {}, `Edit “${event.summary}”`), eventForm("Edit event", event, "Save changes", async (values) => {
      if (Object.keys(values).length) await api("PATCH", `/api/events/${id}`, values);
      toast("Changes saved.");
      location.hash = `#event/${id}`;
    }));
  }

  function showSearch() {
    const results = h("section", { "aria-label": "Results" });
    const form = h("form", { class: "editor", role: "search", "aria-label": "Search events" },
      field("What", "q-text", h("input", { type: "text", id: "q-text", name: "query", autocomplete: "off" })),
      calendarSelect("q-calendar", "Search in"),
      h("div", { class: "row" },
        h("div", {}, field("From", "q-from", h("input", { type: "datetime-local", id: "q-from", name: "timeMin" }))),
        h("div", {}, field("To", "q-to", h("input", { type: "datetime-local", id: "q-to", name: "timeMax" })))),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Search")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const params = new URLSearchParams();
      for (const input of form.querySelectorAll("input, select")) params.set(input.name, input.value);
      const found = await api("GET", `/api/search?${params}`).catch((error) => {
        toast(error.message);
        return null;
      });
      if (!found) return;
      results.replaceChildren(
        h("h2", { class: "day" }, `${found.length} found`),
        h("ul", { class: "events" }, found.map((ev) => h("li", {}, h("a", {
          href: `#event/${ev.id}`,
          "aria-label": `Event: ${ev.summary}, ${day(ev.start)} ${time(ev.start)}`,
          ...ids(ev),
        }, h("span", { class: "time" }, `${day(ev.start)} ${time(ev.start)}`), ev.summary)))));
    });
    show(h("h1", {}, "Search events"), form, results);
  }

  async function route() {
    const hash = location.hash || "#agenda";
    let m;
    if (hash === "#agenda") await showAgenda();
    else if (hash === "#new") showNew();
    else if (hash === "#search") showSearch();
    else if ((m = /^#event\/([a-v0-9]+)\/edit$/.exec(hash))) await showEdit(m[1]);
    else if ((m = /^#event\/([a-v0-9]+)$/.exec(hash))) await showEvent(m[1]);
    else location.hash = "#agenda";
  }

  document.querySelector(".new-event").addEventListener("click", () => { location.hash = "#new"; });
  const dialog = document.querySelector(".shortcuts");
  document.querySelector(".help").addEventListener("click", () => dialog.showModal());
  document.querySelector(".close-shortcuts").addEventListener("click", () => dialog.close());
  window.addEventListener("hashchange", route);
  api("GET", "/api/calendars").then((calendars) => {
    state.calendars = calendars;
    document.querySelector(".legend").replaceChildren(...calendars.map((c, i) =>
      h("li", { style: `--c: ${i ? "#188038" : "#1a73e8"}` }, c.name)));
    route();
  });
})();
