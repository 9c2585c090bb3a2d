// Postbox: a small Gmail-like client that honours webmail-contract.md and
// nothing more. Views follow location.hash; data comes from /svc/v2/.
(function () {
  "use strict";

  const view = document.getElementById("pb-view");
  const note = document.getElementById("pb-note");
  const composeBox = document.getElementById("pb-compose-box");
  const state = { labels: [], list: [], selected: new Set(), open: null, menu: null, editing: null, removing: null, rules: [] };

  // ---- helpers -------------------------------------------------------------

  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) node.append(kid);
    return node;
  }

  // A div acting as a button: Enter and Space activate it, as with Gmail's.
  function action(attrs, label, handler) {
    return el("div", { role: "button", tabindex: "0", ...attrs, onclick: handler, onkeydown: (e) => {
      if ((e.key === "Enter" || e.key === " ") && e.target === e.currentTarget) { e.preventDefault(); e.currentTarget.click(); }
    } }, label);
  }

  async function api(method, path, payload) {
    const res = await fetch("/svc/v2/" + path, {
      method,
      headers: payload ? { "content-type": "application/json" } : {},
      body: payload ? JSON.stringify(payload) : undefined,
    });
    const json = await res.json();
    if (!json.ok) throw new Error(json.data && json.data.message);
    return json.data;
  }

  let noteTimer = 0;
  function notify(text) {
    note.textContent = text;
    note.hidden = false;
    clearTimeout(noteTimer);
    noteTimer = setTimeout(() => (note.hidden = true), 4000);
  }

  function labelName(id) {
    const l = state.labels.find((x) => x.id === id);
    return l ? l.name : id;
  }

  function route() {
    const hash = location.hash.slice(1);
    const parts = hash.split("/");
    return { hash, head: parts[0] || "inbox", rest: parts.slice(1) };
  }

  function searchRoute(q) {
    return "#search/" + encodeURIComponent(q).replace(/%20/g, "+");
  }

  function fromSearchRoute(part) {
    return decodeURIComponent(part.replace(/\+/g, " "));
  }

  // ---- labels in the sidebar ----------------------------------------------

  async function loadLabels() {
    state.labels = (await api("GET", "labels")).labels;
    const side = document.getElementById("pb-side-labels");
    side.replaceChildren(
      ...state.labels.filter((l) => l.kind === "user").map((l) => el("li", {}, el("a", { href: "#label/" + encodeURIComponent(l.name) }, l.name)))
    );
  }

  // ---- list views -----------------------------------------------------------

  function listToolbar() {
    const bar = el("div", { class: "pb-bar", role: "toolbar", "aria-label": "List actions" });
    if (state.selected.size) {
      bar.append(
        action({ "aria-label": "Label as", "aria-haspopup": "menu" }, "\u{1F3F7} Labels", (e) => openMenu(e.currentTarget, [...state.selected])),
        action({ "aria-label": "Delete" }, "\u{1F5D1} Trash", () => trash([...state.selected])),
        el("span", { class: "pb-count" }, `${state.selected.size} selected`)
      );
    }
    return bar;
  }

  function renderList(title, threads) {
    state.list = threads;
    const items = threads.map((t) =>
      el("li", { class: "pb-item" + (t.unread ? " unread" : ""), "data-message-id": t.mid },
        el("input", {
          type: "checkbox", "aria-label": "Select", "data-message-id": t.mid, checked: state.selected.has(t.mid),
          onchange: (e) => {
            if (e.target.checked) state.selected.add(t.mid);
            else state.selected.delete(t.mid);
            view.querySelector(".pb-bar").replaceWith(listToolbar());
          },
        }),
        el("a", { href: "#inbox/" + t.mid, "data-message-id": t.mid },
          el("span", { class: "pb-sender" }, t.sender),
          el("span", { class: "pb-subj" }, t.subject + (t.clip ? " \u{1F4CE}" : "")),
          el("span", { class: "pb-snip" }, "\u2014 " + t.snippet)))
    );
    view.replaceChildren(
      listToolbar(),
      el("h1", { class: "pb-heading" }, title),
      items.length ? el("ul", { class: "pb-list", "aria-label": "Messages" }, items) : el("p", { class: "pb-empty" }, "No messages.")
    );
  }

  async function showList(title, query) {
    const params = new URLSearchParams(query).toString();
    const { threads } = await api("GET", "threads?" + params);
    renderList(title, threads);
  }

  // ---- one message ----------------------------------------------------------

  async function showMessage(id) {
    view.replaceChildren(el("p", { class: "pb-empty" }, "Loading\u2026"));
    const m = await api("GET", "threads/" + id);
    state.open = m;
    const toolbar = el("div", { class: "pb-bar", role: "toolbar", "aria-label": "Message actions" },
      action({ "aria-label": "Back to Inbox" }, "\u2190", () => (location.hash = "#inbox")),
      action({ "aria-label": "Delete" }, "\u{1F5D1}", () => trash([m.id], true)),
      action({ "aria-label": "Label as", "aria-haspopup": "menu" }, "\u{1F3F7}", (e) => openMenu(e.currentTarget, [m.id]))
    );
    const chips = m.attachments.map((a) =>
      action({ class: "pb-chip", "data-attachment-id": a.attachmentId, "data-message-id": m.id, "aria-label": "Download attachment " + a.filename },
        "\u{1F4C4} " + a.filename, () => download(m.id, a))
    );
    view.replaceChildren(
      toolbar,
      el("div", { class: "pb-msg", "data-message-id": m.id },
        el("h2", {}, m.subject),
        el("div", { class: "pb-meta" }, `${m.from} \u00b7 ${new Date(m.at).toUTCString()}`),
        el("div", { class: "pb-tags" }, m.labelIds.filter((l) => l.startsWith("Label_")).map((l) => labelName(l)).join(", ")),
        el("div", { class: "pb-text" }, m.body),
        chips.length ? el("div", { class: "pb-files", "aria-label": "Attachments" }, chips) : null)
    );
  }

  function download(mid, a) {
    const link = document.createElement("a");
    link.href = `/svc/v2/files/${encodeURIComponent(a.attachmentId)}?mid=${mid}`;
    link.download = a.filename;
    // Not attached to the document: the click stays inside this function.
    link.click();
  }

  async function trash(mids, fromMessage) {
    await api("POST", "threads:mutate", { mids, trash: true });
    state.selected.clear();
    if (fromMessage) location.hash = "#inbox";
    else await render();
    notify(mids.length === 1 ? "Message moved to Trash." : `${mids.length} messages moved to Trash.`);
  }

  // ---- the "Label as" menu --------------------------------------------------

  function closeMenu() {
    if (state.menu) state.menu.node.remove();
    state.menu = null;
  }

  function labelsOf(mid) {
    if (state.open && state.open.id === mid) return state.open.labelIds;
    const t = state.list.find((x) => x.mid === mid);
    return t ? t.labels : [];
  }

  function openMenu(anchor, mids) {
    if (state.menu) return closeMenu();
    const choices = state.labels.filter((l) => l.kind === "user" || l.id === "STARRED" || l.id === "IMPORTANT");
    const initial = new Map();
    const items = choices.map((l) => {
      const having = mids.filter((mid) => labelsOf(mid).includes(l.id)).length;
      const checked = having === 0 ? "false" : having === mids.length ? "true" : "mixed";
      initial.set(l.id, checked);
      return el("div", {
        role: "menuitemcheckbox", "aria-checked": checked, tabindex: "-1", "data-label-id": l.id,
        onclick: (e) => {
          const item = e.currentTarget;
          item.setAttribute("aria-checked", item.getAttribute("aria-checked") === "true" ? "false" : "true");
        },
      }, l.name);
    });
    const apply = el("div", { role: "menuitem", tabindex: "-1", onclick: () => applyMenu(mids, initial) }, "Apply");
    const node = el("div", { class: "pb-menu", role: "menu", "aria-label": "Label as" }, items, apply);
    node.style.left = anchor.offsetLeft + "px";
    view.append(node);
    state.menu = { node };
  }

  async function applyMenu(mids, initial) {
    const addLabels = [];
    const removeLabels = [];
    for (const item of state.menu.node.querySelectorAll("[role=menuitemcheckbox]")) {
      const id = item.dataset.labelId;
      const now = item.getAttribute("aria-checked");
      if (now === initial.get(id)) continue;
      if (now === "true") addLabels.push(id);
      else if (now === "false") removeLabels.push(id);
    }
    closeMenu();
    if (!addLabels.length && !removeLabels.length) return;
    await api("POST", "threads:mutate", { mids, addLabels, removeLabels });
    state.selected.clear();
    await render();
    notify(mids.length === 1 ? "Labels updated." : `Labels updated for ${mids.length} messages.`);
  }

  document.addEventListener("mousedown", (e) => {
    if (state.menu && !state.menu.node.contains(e.target) && !e.target.closest("[aria-haspopup=menu]")) closeMenu();
  });

  // ---- compose --------------------------------------------------------------

  const field = (id) => document.getElementById(id);

  function openCompose() {
    for (const id of ["pb-to", "pb-cc", "pb-bcc", "pb-subject", "pb-body"]) field(id).value = "";
    field("pb-cc-row").hidden = true;
    field("pb-bcc-row").hidden = true;
    composeBox.hidden = false;
    setTimeout(() => field("pb-to").focus(), 60);
  }

  async function finishCompose(saveOnly) {
    const payload = {
      envelope: { to: field("pb-to").value, cc: field("pb-cc").value, bcc: field("pb-bcc").value },
      subject: field("pb-subject").value,
      text: field("pb-body").value,
      saveOnly,
    };
    composeBox.hidden = true;
    const blank = !payload.envelope.to && !payload.subject && !payload.text;
    if (saveOnly && blank) return;
    await api("POST", "outbox", payload);
    notify(saveOnly ? "Saved to Drafts." : "Your message has been sent.");
  }

  composeBox.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      finishCompose(false);
    } else if (e.key === "Escape") {
      finishCompose(true);
    }
  });

  // ---- labels settings ------------------------------------------------------

  function tabs(current) {
    return el("div", { class: "pb-tabs" },
      el("a", { href: "#settings/labels", "aria-current": current === "labels" ? "page" : null }, "Labels"),
      el("a", { href: "#settings/filters", "aria-current": current === "filters" ? "page" : null }, "Filters"));
  }

  async function showLabelSettings() {
    await loadLabels();
    const system = state.labels.filter((l) => l.kind === "system");
    const user = state.labels.filter((l) => l.kind === "user");
    view.replaceChildren(
      el("h1", { class: "pb-heading" }, "Settings"),
      tabs("labels"),
      el("table", { class: "pb-table" }, el("caption", {}, "System labels"),
        system.map((l) => el("tr", { "data-label-id": l.id }, el("td", {}, l.name)))),
      el("table", { class: "pb-table" }, el("caption", {}, "Labels"),
        user.map((l) => el("tr", { "data-label-id": l.id },
          el("td", {}, l.name),
          el("td", {},
            el("button", { type: "button", class: "pb-linkbtn", "data-label-id": l.id, "aria-label": "Edit", onclick: () => openEdit(l) }, "edit"),
            el("button", { type: "button", class: "pb-linkbtn", "data-label-id": l.id, "aria-label": "Remove label", onclick: () => openRemove(l) }, "remove"))))),
      el("button", { type: "button", class: "pb-linkbtn", onclick: openNewLabel }, "Create new label")
    );
  }

  const newLabel = document.getElementById("pb-new-label");
  const editLabel = document.getElementById("pb-edit-label");
  const removeLabel = document.getElementById("pb-remove-label");

  function closeModals() {
    for (const m of [newLabel, editLabel, removeLabel]) m.hidden = true;
  }

  function openNewLabel() {
    newLabel.querySelector("input").value = "";
    newLabel.hidden = false;
    newLabel.querySelector("input").focus();
  }

  newLabel.querySelector("form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = newLabel.querySelector("input").value;
    closeModals();
    await api("POST", "labels", { displayName: name });
    await loadLabels();
    notify(`Created label "${name.trim()}".`);
    if (route().head === "settings") render();
  });

  function openEdit(l) {
    state.editing = l;
    const input = editLabel.querySelector("input");
    input.value = l.name;
    editLabel.hidden = false;
    input.focus();
    input.select();
  }

  async function saveEdit() {
    const name = editLabel.querySelector("input").value;
    const l = state.editing;
    closeModals();
    await api("POST", `labels/${l.id}:rename`, { displayName: name });
    notify(`Renamed "${l.name}" to "${name.trim()}".`);
    render();
  }

  editLabel.querySelector("input").addEventListener("keydown", (e) => {
    if (e.key === "Enter") saveEdit();
  });

  function openRemove(l) {
    state.removing = l;
    document.getElementById("pb-remove-label-text").textContent = `Remove the label "${l.name}"? Messages keep their other labels.`;
    removeLabel.hidden = false;
  }

  async function confirmRemove() {
    const l = state.removing;
    closeModals();
    await api("POST", `labels/${l.id}:remove`);
    notify(`Removed "${l.name}".`);
    render();
  }

  // ---- filters ---------------------------------------------------------------

  function describeRule(r) {
    const c = r.criteria;
    const what = [
      c.from && `from:(${c.from})`, c.to && `to:(${c.to})`, c.subject && `subject:(${c.subject})`, c.query, c.negatedQuery && `-{${c.negatedQuery}}`,
    ].filter(Boolean).join(" ");
    const a = r.action;
    const does = [
      (a.removeLabelIds || []).includes("INBOX") && "Skip Inbox",
      (a.removeLabelIds || []).includes("UNREAD") && "Mark as read",
      (a.addLabelIds || []).includes("STARRED") && "Star it",
      (a.addLabelIds || []).includes("TRASH") && "Delete it",
      ...(a.addLabelIds || []).filter((l) => l.startsWith("Label_")).map((l) => `Apply label "${labelName(l)}"`),
    ].filter(Boolean).join(", ");
    return `Matches: ${what} \u2192 ${does}`;
  }

  async function showFilters() {
    await loadLabels();
    state.rules = (await api("GET", "rules")).rules;
    const list = el("ul", { class: "pb-filters", "aria-label": "Filters" },
      state.rules.map((r) => el("li", { "data-filter-id": r.ruleId },
        el("span", {}, describeRule(r)),
        el("button", { type: "button", class: "pb-linkbtn", "data-filter-id": r.ruleId, onclick: () => deleteRule(r) }, "Delete"))));
    const create = el("span", { class: "pb-newfilter", role: "link", tabindex: "0", onclick: () => filterForm(holder) }, "Create a new filter");
    const holder = el("div", {});
    view.replaceChildren(el("h1", { class: "pb-heading" }, "Settings"), tabs("filters"), list, create, holder);
  }

  async function deleteRule(r) {
    await api("POST", `rules/${r.ruleId}:remove`);
    notify("Filter deleted.");
    render();
  }

  function filterForm(holder) {
    const inputs = {};
    const row = (key, name) => {
      const id = "pb-ff-" + key;
      inputs[key] = el("input", { type: "text", id, autocomplete: "off" });
      return el("div", { class: "pb-ffrow" }, el("label", { for: id }, name), inputs[key]);
    };
    const criteria = el("form", { class: "pb-ff", "aria-label": "Search criteria" },
      row("from", "From"), row("to", "To"), row("subject", "Subject"), row("query", "Has the words"), row("negatedQuery", "Doesn't have"),
      el("button", { type: "submit" }, "Create filter"));
    criteria.addEventListener("submit", (e) => {
      e.preventDefault();
      const values = {};
      for (const [k, input] of Object.entries(inputs)) if (input.value.trim()) values[k] = input.value.trim();
      holder.replaceChildren(filterActions(values));
    });
    holder.replaceChildren(criteria);
    inputs.from.focus();
  }

  function filterActions(criteria) {
    const box = (name) => {
      const input = el("input", { type: "checkbox" });
      return [el("div", { class: "pb-ffcheck" }, el("label", {}, input, " " + name)), input];
    };
    const [skipRow, skip] = box("Skip the Inbox (Archive it)");
    const [readRow, read] = box("Mark as read");
    const [starRow, star] = box("Star it");
    const [labelRow, apply] = box("Apply the label:");
    const chooser = el("select", { "aria-label": "Choose label", onchange: () => { if (chooser.value) apply.checked = true; } },
      el("option", { value: "" }, "Choose label\u2026"),
      state.labels.filter((l) => l.kind === "user").map((l) => el("option", { value: l.id, "data-label-id": l.id }, l.name)));
    labelRow.append(" ", chooser);
    const [trashRow, del] = box("Delete it");
    const finish = action({}, "Create filter", async () => {
      const add = [];
      const remove = [];
      if (skip.checked) remove.push("INBOX");
      if (read.checked) remove.push("UNREAD");
      if (star.checked) add.push("STARRED");
      if (apply.checked && chooser.value) add.push(chooser.value);
      if (del.checked) add.push("TRASH");
      const then = {};
      if (add.length) then.addLabelIds = add;
      if (remove.length) then.removeLabelIds = remove;
      await api("POST", "rules", { match: criteria, then });
      notify("Filter created.");
      render();
    });
    const summary = Object.entries(criteria).map(([k, v]) => `${k}: ${v}`).join(", ");
    return el("div", { class: "pb-ff", role: "group", "aria-label": "When a message arrives that matches this search" },
      el("p", {}, summary), skipRow, readRow, starRow, labelRow, trashRow, finish);
  }

  // ---- routing ---------------------------------------------------------------

  let renderSeq = 0;
  async function render() {
    const seq = ++renderSeq;
    closeMenu();
    const { head, rest } = route();
    try {
      if (head === "inbox" && rest[0]) return await showMessage(rest[0]);
      if (head === "inbox") return await showList("Inbox", { box: "INBOX" });
      if (head === "sent") return await showList("Sent", { box: "SENT" });
      if (head === "drafts") return await showList("Drafts", { box: "DRAFT" });
      if (head === "label" && rest[0]) {
        const name = decodeURIComponent(rest[0]);
        const l = state.labels.find((x) => x.name.toLowerCase() === name.toLowerCase());
        return await showList(name, { label: l ? l.id : "none" });
      }
      if (head === "search" && rest[0]) {
        const q = fromSearchRoute(rest[0]);
        document.querySelector(".pb-search input").value = q;
        return await showList(`Results for \u201c${q}\u201d`, { q });
      }
      if (head === "settings" && rest[0] === "labels") return await showLabelSettings();
      if (head === "settings" && rest[0] === "filters") return await showFilters();
      view.replaceChildren(el("p", { class: "pb-empty" }, "Nothing here."));
    } catch (error) {
      if (seq === renderSeq) view.replaceChildren(el("p", { class: "pb-empty" }, "Something went wrong: " + error.message));
    }
  }

  window.addEventListener("hashchange", () => {
    state.selected.clear();
    render();
  });

  document.querySelector(".pb-search").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = e.currentTarget.elements.q.value.trim();
    if (q) location.hash = searchRoute(q);
  });

  // Controls named by data-act, wherever they are.
  const ACTS = {
    compose: openCompose,
    "new-label": openNewLabel,
    "save-close": () => finishCompose(true),
    send: () => finishCompose(false),
    discard: () => { composeBox.hidden = true; },
    "reveal-cc": () => { field("pb-cc-row").hidden = false; field("pb-cc").focus(); },
    "reveal-bcc": () => { field("pb-bcc-row").hidden = false; field("pb-bcc").focus(); },
    "close-modal": closeModals,
    "save-label": saveEdit,
    "confirm-remove": confirmRemove,
  };
  document.addEventListener("click", (e) => {
    const target = e.target.closest("[data-act]");
    if (target && ACTS[target.dataset.act]) ACTS[target.dataset.act]();
  });
  document.addEventListener("keydown", (e) => {
    const target = e.target.closest && e.target.closest("[data-act][role=button]");
    if (target && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      target.click();
    }
    if (e.key === "Escape") {
      closeMenu();
      closeModals();
    }
  });

  if (!location.hash) location.replace("#inbox");
  loadLabels().then(render);
})();
