// The demo mail app: a single page that follows the reference webmail
// contract (Gmail's accessible names, hash routes and data-* identifiers) and
// talks to the JSON API in server.js. No framework, no build step.
(() => {
  "use strict";

  const SYSTEM_MENU_LABELS = ["INBOX", "STARRED", "IMPORTANT"];
  const ICONS = {
    back: "M20 11H7.8l5.6-5.6L12 4l-8 8 8 8 1.4-1.4L7.8 13H20z",
    trash: "M6 19a2 2 0 0 0 2 2h8a2 2 0 0 0 2-2V7H6v12zM19 4h-3.5l-1-1h-5l-1 1H5v2h14V4z",
    label: "M17.6 5.8A2 2 0 0 0 16 5H5a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h11a2 2 0 0 0 1.6-.8L22 12l-4.4-6.2z",
    refresh: "M17.7 6.3A8 8 0 1 0 19.7 14h-2.1a6 6 0 1 1-1.4-6.2L13 11h7V4l-2.3 2.3z",
    attachment: "M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6h-1.5z",
  };

  const state = {
    labels: [],
    selected: new Set(),
    messages: [],
    openMessage: null,
  };

  const $ = (id) => document.getElementById(id);
  const main = $("main");

  // Builds an element: h("button", {type: "button", onclick}, "text", child…).
  function h(tag, attributes = {}, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(el.dataset, value);
      else el.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function icon(name) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  function iconButton(name, label, onclick, attributes = {}) {
    return h("button", { type: "button", class: "icon", "aria-label": label, title: label, onclick, ...attributes }, icon(name));
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(json.error || `${method} ${path} failed`);
    return json;
  }

  let toastTimer = null;
  function toast(text) {
    const el = $("toast");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      el.hidden = true;
    }, 2500);
  }

  function fail(error) {
    toast(error.message);
  }

  // Gmail writes search queries and label names into the hash URL-encoded,
  // with spaces as "+".
  function encodeRoutePart(text) {
    return encodeURIComponent(text).replace(/%20/g, "+");
  }

  function decodeRoutePart(text) {
    return decodeURIComponent(text.replace(/\+/g, " "));
  }

  function labelName(id) {
    const label = state.labels.find((l) => l.id === id);
    return label ? label.name : id;
  }

  function userLabels() {
    return state.labels.filter((l) => l.type === "user");
  }

  function senderName(from) {
    const match = /^(.*?)\s*<[^>]+>$/.exec(from);
    return match && match[1] ? match[1] : from;
  }

  function shortDate(iso) {
    return new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
  }

  function formatSize(bytes) {
    return bytes < 1024 ? `${bytes} B` : `${Math.round(bytes / 1024)} KB`;
  }

  async function loadLabels() {
    state.labels = await api("GET", "/api/labels");
    renderNav();
    return state.labels;
  }

  function renderNav() {
    $("nav-labels").replaceChildren(
      ...userLabels().map((label) =>
        h("a", { href: `#label/${encodeRoutePart(label.name)}`, "data-label-id": label.id }, label.name)
      )
    );
    const inbox = state.labels.find((l) => l.id === "INBOX");
    $("inbox-count").textContent = inbox ? String(inbox.messagesTotal) : "";
  }

  function highlightNav(route) {
    for (const link of document.querySelectorAll(".sidebar a")) {
      const current = link.getAttribute("href") === `#${route}`;
      link.classList.toggle("current", current);
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  // ---- The "Label as" menu, shared by the list toolbar and an open message.

  let closeMenu = null;

  // Opens the menu under `anchor`; entries start ticked for the labels every
  // message in `current` already has, and "Apply" reports what changed.
  function openLabelMenu(anchor, currentLabelSets, onApply) {
    if (closeMenu) closeMenu();
    const common = SYSTEM_MENU_LABELS.concat(userLabels().map((l) => l.id)).filter((id) =>
      currentLabelSets.every((labels) => labels.includes(id))
    );
    const entries = SYSTEM_MENU_LABELS.concat(userLabels().map((l) => l.id)).map((id) =>
      h("label", { class: "menu-entry" },
        h("input", { type: "checkbox", "data-label-id": id, checked: common.includes(id) }),
        h("span", {}, labelName(id)))
    );
    const menu = h("div", { class: "label-menu", role: "group", "aria-label": "Label as" },
      h("div", { class: "menu-title" }, "Label as:"),
      h("div", { class: "menu-entries" }, entries),
      h("button", {
        type: "button",
        class: "primary",
        onclick: () => {
          const ticked = entries.map((entry) => entry.querySelector("input")).filter((box) => box.checked).map((box) => box.dataset.labelId);
          const addLabelIds = ticked.filter((id) => !common.includes(id));
          const removeLabelIds = common.filter((id) => !ticked.includes(id));
          closeMenu();
          if (addLabelIds.length || removeLabelIds.length) onApply({ addLabelIds, removeLabelIds });
        },
      }, "Apply")
    );
    placeMenu(anchor, menu);
  }

  // Shows `menu` under `anchor` until a click outside it or Escape.
  function placeMenu(anchor, menu) {
    const rect = anchor.getBoundingClientRect();
    menu.style.left = `${rect.left + window.scrollX}px`;
    menu.style.top = `${rect.bottom + window.scrollY + 4}px`;
    document.body.append(menu);
    anchor.setAttribute("aria-expanded", "true");

    const onOutside = (event) => {
      if (!menu.contains(event.target) && !anchor.contains(event.target)) closeMenu();
    };
    const onEscape = (event) => {
      if (event.key === "Escape") closeMenu();
    };
    closeMenu = () => {
      menu.remove();
      anchor.setAttribute("aria-expanded", "false");
      document.removeEventListener("mousedown", onOutside);
      document.removeEventListener("keydown", onEscape);
      closeMenu = null;
    };
    document.addEventListener("mousedown", onOutside);
    document.addEventListener("keydown", onEscape);
  }

  // ---- The "Labels" menu of an open message: the same choice as "Label as",
  // made the way Gmail's own menus make it, with menuitemcheckbox entries
  // whose aria-checked a click flips. No `change` fires; "Apply" reports
  // what changed.
  function openLabelsMenu(anchor, currentLabels, onApply) {
    if (closeMenu) closeMenu();
    const ids = SYSTEM_MENU_LABELS.concat(userLabels().map((l) => l.id));
    const entries = ids.map((id) =>
      h("div", {
        class: "menu-entry",
        role: "menuitemcheckbox",
        tabindex: "-1",
        "aria-checked": String(currentLabels.includes(id)),
        "data-label-id": id,
        onclick: (event) => {
          const entry = event.currentTarget;
          entry.setAttribute("aria-checked", String(entry.getAttribute("aria-checked") !== "true"));
        },
      }, labelName(id))
    );
    const menu = h("div", { class: "label-menu", role: "menu", "aria-label": "Labels" },
      h("div", { class: "menu-entries" }, entries),
      h("div", {
        class: "menu-entry",
        role: "menuitem",
        tabindex: "-1",
        onclick: () => {
          const ticked = entries.filter((entry) => entry.getAttribute("aria-checked") === "true").map((entry) => entry.dataset.labelId);
          const addLabelIds = ticked.filter((id) => !currentLabels.includes(id));
          const removeLabelIds = ids.filter((id) => currentLabels.includes(id) && !ticked.includes(id));
          closeMenu();
          if (addLabelIds.length || removeLabelIds.length) onApply({ addLabelIds, removeLabelIds });
        },
      }, "Apply")
    );
    placeMenu(anchor, menu);
  }

  // ---- Message lists: #inbox, #sent, #drafts, #label/<name>, #search/<query>.

  async function renderList(title, query) {
    state.selected.clear();
    state.messages = await api("GET", `/api/messages?${new URLSearchParams(query)}`);

    const deleteButton = iconButton("trash", "Delete", async () => {
      await api("POST", "/api/messages/batchTrash", { ids: [...state.selected] });
      toast(state.selected.size === 1 ? "Conversation moved to Trash." : `${state.selected.size} conversations moved to Trash.`);
      await refresh();
    }, { hidden: true });
    const labelButton = iconButton("label", "Label as", (event) => {
      const chosen = state.messages.filter((m) => state.selected.has(m.id));
      openLabelMenu(event.currentTarget, chosen.map((m) => m.labelIds), async (change) => {
        await api("POST", "/api/messages/batchModify", { ids: chosen.map((m) => m.id), ...change });
        toast(`Labels changed on ${chosen.length} conversation${chosen.length === 1 ? "" : "s"}.`);
        await refresh();
      });
    }, { hidden: true, "aria-haspopup": "true", "aria-expanded": "false" });

    const updateToolbar = () => {
      deleteButton.hidden = labelButton.hidden = state.selected.size === 0;
    };

    const rows = state.messages.map((message) => {
      const select = h("input", {
        type: "checkbox",
        "aria-label": "Select",
        "data-message-id": message.id,
        onchange: (event) => {
          if (event.target.checked) state.selected.add(message.id);
          else state.selected.delete(message.id);
          row.classList.toggle("selected", event.target.checked);
          updateToolbar();
        },
      });
      const row = h("div", {
        class: `row${message.labelIds.includes("UNREAD") ? " unread" : ""}`,
        role: "row",
        tabindex: "0",
        "data-message-id": message.id,
        onclick: (event) => {
          if (!event.target.closest(".select")) location.hash = `#inbox/${message.id}`;
        },
        onkeydown: (event) => {
          if (event.key === "Enter" && event.target === row) location.hash = `#inbox/${message.id}`;
        },
      },
        h("span", { class: "cell select", role: "gridcell" }, select),
        h("span", { class: "cell from", role: "gridcell" }, message.labelIds.includes("SENT") || message.labelIds.includes("DRAFT") ? `To: ${message.to.join(", ")}` : senderName(message.from)),
        h("span", { class: "cell labels", role: "gridcell" },
          message.labelIds.filter((id) => id.startsWith("Label_")).map((id) => [h("span", { class: "chip" }, labelName(id)), " "])),
        h("span", { class: "cell subject", role: "gridcell" }, h("strong", {}, message.subject || "(no subject)")),
        h("span", { class: "cell snippet", role: "gridcell" }, `— ${message.snippet}`),
        h("span", { class: "cell date", role: "gridcell" }, message.attachments.length ? icon("attachment") : null,
          h("time", { datetime: message.date }, shortDate(message.date)))
      );
      return row;
    });
    // Column headers name each cell for a screen reader; Gmail shows none, so
    // they are only read, not seen.
    const header = h("div", { class: "row header visually-hidden", role: "row" },
      ["Select", "From", "Labels", "Subject", "Snippet", "Date"].map((name) => h("span", { role: "columnheader" }, name)));

    main.replaceChildren(
      h("div", { class: "toolbar", role: "toolbar", "aria-label": "Conversation actions" },
        iconButton("refresh", "Refresh", () => refresh().catch(fail)), deleteButton, labelButton),
      h("h1", {}, title),
      rows.length
        ? h("div", { class: "list", role: "grid", "aria-label": title }, header, rows)
        : h("p", { class: "empty" }, query.q ? "No messages matched your search." : "No conversations here.")
    );
  }

  // ---- One open message: #inbox/<messageId>.

  async function renderMessage(id) {
    const message = await api("GET", `/api/messages/${id}`);
    state.openMessage = message;
    loadLabels().catch(fail);

    const labelChips = () =>
      message.labelIds
        .filter((l) => l.startsWith("Label_") || l === "STARRED" || l === "IMPORTANT")
        .map((l) => h("span", { class: "chip" }, labelName(l)));
    const chips = h("span", { class: "labels" }, labelChips());

    main.replaceChildren(
      h("div", { class: "toolbar", role: "toolbar", "aria-label": "Message actions" },
        iconButton("back", "Back to Inbox", () => {
          location.hash = "#inbox";
        }),
        iconButton("trash", "Delete", async () => {
          await api("POST", `/api/messages/${id}/trash`);
          toast("Conversation moved to Trash.");
          location.hash = "#inbox";
        }),
        iconButton("label", "Label as", (event) => {
          openLabelMenu(event.currentTarget, [message.labelIds], async (change) => {
            const result = await api("POST", `/api/messages/${id}/modify`, change);
            message.labelIds = result.messages[0].labelIds;
            chips.replaceChildren(...labelChips());
            toast("Labels changed.");
          });
        }, { "aria-haspopup": "true", "aria-expanded": "false" }),
        iconButton("label", "Labels", (event) => {
          openLabelsMenu(event.currentTarget, message.labelIds, async (change) => {
            const result = await api("POST", `/api/messages/${id}/modify`, change);
            message.labelIds = result.messages[0].labelIds;
            chips.replaceChildren(...labelChips());
            toast("Labels changed.");
          });
        }, { "aria-haspopup": "menu", "aria-expanded": "false" })),
      h("article", { class: "message", "data-message-id": message.id, "data-thread-id": message.threadId },
        h("div", { class: "subject-line" }, h("h1", {}, message.subject || "(no subject)"), chips),
        h("dl", { class: "meta" },
          h("dt", {}, "From"),
          h("dd", {}, h("strong", {}, senderName(message.from)), " ", h("span", { class: "address" }, `<${message.from.replace(/^.*<|>$/g, "")}>`)),
          h("dt", {}, "To"),
          h("dd", {}, message.to.join(", ")),
          message.cc.length ? [h("dt", {}, "Cc"), h("dd", {}, message.cc.join(", "))] : null,
          h("dt", {}, "Date"),
          h("dd", {}, h("time", { datetime: message.date }, new Date(message.date).toUTCString()))),
        h("section", { class: "body", "aria-label": "Message body" }, message.body.split(/\n{2,}/).map((paragraph) => h("p", {}, paragraph))),
        message.attachments.length
          ? h("div", { class: "attachments" },
            message.attachments.map((a) =>
              h("a", {
                class: "attachment",
                href: `/api/messages/${message.id}/attachments/${a.attachmentId}`,
                download: a.filename,
                "aria-label": `Download attachment ${a.filename}`,
                "data-attachment-id": a.attachmentId,
                "data-message-id": message.id,
              }, icon("attachment"), h("span", {}, a.filename), h("small", {}, formatSize(a.size)))))
          : null)
    );
  }

  // ---- #settings/labels

  let labelBeingChanged = null;

  function settingsHeader() {
    return h("thead", { class: "visually-hidden" },
      h("tr", {}, ["Name", "Messages", "Actions"].map((name) => h("th", { scope: "col" }, name))));
  }

  async function renderLabelSettings() {
    await loadLabels();
    const system = state.labels.filter((l) => l.type === "system");
    main.replaceChildren(
      h("h1", {}, "Labels"),
      h("h2", {}, "System labels"),
      h("table", { class: "settings" }, settingsHeader(),
        h("tbody", {}, system.map((label) =>
          h("tr", { "data-label-id": label.id }, h("td", {}, label.name), h("td", { class: "muted" }, `${label.messagesTotal} conversations`), h("td", {}))))),
      h("h2", {}, "Labels"),
      h("button", { type: "button", onclick: () => openNewLabel() }, "Create new label"),
      h("table", { class: "settings" }, settingsHeader(),
        h("tbody", {}, userLabels().map((label) =>
          h("tr", { "data-label-id": label.id },
            h("td", {}, label.name),
            h("td", { class: "muted" }, `${label.messagesTotal} conversations`),
            h("td", { class: "actions" },
              h("button", { type: "button", class: "link", "data-label-id": label.id, onclick: () => openEditLabel(label) }, "Edit"),
              h("button", { type: "button", class: "link", "data-label-id": label.id, onclick: () => openRemoveLabel(label) }, "Remove label"))))))
    );
  }

  function openModal(id, focus) {
    const modal = $(id);
    modal.hidden = false;
    if (focus) focus.focus();
  }

  function closeModals() {
    for (const modal of document.querySelectorAll(".modal")) modal.hidden = true;
    labelBeingChanged = null;
  }

  function openNewLabel() {
    $("new-label-name").value = "";
    openModal("new-label", $("new-label-name"));
  }

  function openEditLabel(label) {
    labelBeingChanged = label;
    $("edit-label-name").value = label.name;
    openModal("edit-label", $("edit-label-name"));
  }

  function openRemoveLabel(label) {
    labelBeingChanged = label;
    $("remove-label-text").textContent = `Delete the label "${label.name}"? Conversations keep their other labels.`;
    $("remove-label-confirm").dataset.labelId = label.id;
    openModal("remove-label", $("remove-label-confirm"));
  }

  async function afterLabelChange(message) {
    closeModals();
    toast(message);
    await loadLabels();
    if (currentRoute() === "settings/labels") await renderLabelSettings();
  }

  function wireLabelDialogs() {
    for (const opener of document.querySelectorAll("[data-open=new-label]")) opener.addEventListener("click", openNewLabel);
    for (const closer of document.querySelectorAll(".modal [data-close]")) closer.addEventListener("click", closeModals);
    for (const modal of document.querySelectorAll(".modal")) {
      modal.addEventListener("keydown", (event) => {
        if (event.key === "Escape") closeModals();
      });
    }
    $("new-label").querySelector("form").addEventListener("submit", (event) => {
      event.preventDefault();
      const name = $("new-label-name").value.trim();
      if (!name) return;
      api("POST", "/api/labels", { name }).then(() => afterLabelChange(`Label "${name}" created.`)).catch(fail);
    });
    $("edit-label").querySelector("form").addEventListener("submit", (event) => {
      event.preventDefault();
      const name = $("edit-label-name").value.trim();
      if (!name || !labelBeingChanged) return;
      api("PATCH", `/api/labels/${labelBeingChanged.id}`, { name }).then(() => afterLabelChange(`Label renamed to "${name}".`)).catch(fail);
    });
    $("remove-label-confirm").addEventListener("click", () => {
      if (!labelBeingChanged) return;
      const { id, name } = labelBeingChanged;
      api("DELETE", `/api/labels/${id}`).then(() => afterLabelChange(`Label "${name}" removed.`)).catch(fail);
    });
  }

  // ---- #settings/filters

  function describeFilter(filter) {
    const { criteria, action } = filter;
    const matches = [
      criteria.from && `from:(${criteria.from})`,
      criteria.to && `to:(${criteria.to})`,
      criteria.subject && `subject:(${criteria.subject})`,
      criteria.query,
      criteria.negatedQuery && `-{${criteria.negatedQuery}}`,
    ].filter(Boolean).join(" ");
    const add = action.addLabelIds || [];
    const remove = action.removeLabelIds || [];
    const does = [
      remove.includes("INBOX") && "Skip Inbox",
      remove.includes("UNREAD") && "Mark as read",
      add.includes("STARRED") && "Star it",
      ...add.filter((id) => id.startsWith("Label_")).map((id) => `Apply label "${labelName(id)}"`),
      add.includes("TRASH") && "Delete it",
    ].filter(Boolean).join(", ");
    return [h("div", {}, h("strong", {}, "Matches: "), matches), h("div", {}, h("strong", {}, "Do this: "), does)];
  }

  function field(id, label) {
    return h("div", { class: "form-row" }, h("label", { for: id }, label), h("input", { id, type: "text", autocomplete: "off" }));
  }

  function checkbox(id, label) {
    return h("div", { class: "form-row check" }, h("input", { id, type: "checkbox" }), h("label", { for: id }, label));
  }

  async function renderFilterSettings() {
    await loadLabels();
    const filters = await api("GET", "/api/filters");
    let chosenLabel = null;

    const chooser = h("button", { type: "button", class: "chooser", "aria-label": "Choose label", "aria-haspopup": "listbox", "aria-expanded": "false" }, "Choose label…");
    const options = h("ul", { class: "listbox", role: "listbox", "aria-label": "Labels", hidden: true },
      userLabels().map((label) =>
        h("li", {
          role: "option",
          tabindex: "-1",
          "aria-selected": "false",
          "data-label-id": label.id,
          onclick: (event) => {
            chosenLabel = label.id;
            for (const option of options.children) option.setAttribute("aria-selected", String(option === event.currentTarget));
            chooser.textContent = label.name;
            options.hidden = true;
            chooser.setAttribute("aria-expanded", "false");
          },
        }, label.name)));
    chooser.addEventListener("click", () => {
      options.hidden = !options.hidden;
      chooser.setAttribute("aria-expanded", String(!options.hidden));
    });

    const criteriaForm = h("form", { class: "filter-form", "aria-label": "Filter criteria" },
      field("filter-from", "From"),
      field("filter-to", "To"),
      field("filter-subject", "Subject"),
      field("filter-query", "Has the words"),
      field("filter-negated", "Doesn't have"),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Create filter")));

    const actionForm = h("form", { class: "filter-form", "aria-label": "Filter actions", hidden: true },
      h("p", {}, "When a message is an exact match for your search criteria:"),
      checkbox("filter-skip-inbox", "Skip the Inbox (Archive it)"),
      checkbox("filter-mark-read", "Mark as read"),
      checkbox("filter-star", "Star it"),
      h("div", { class: "form-row check" }, h("input", { id: "filter-apply-label", type: "checkbox" }), h("label", { for: "filter-apply-label" }, "Apply the label:"), chooser, options),
      checkbox("filter-delete", "Delete it"),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Create filter")));

    criteriaForm.addEventListener("submit", (event) => {
      event.preventDefault();
      criteriaForm.hidden = true;
      actionForm.hidden = false;
    });

    actionForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = (id) => $(id).value.trim();
      const ticked = (id) => $(id).checked;
      const criteria = {};
      for (const [key, id] of [["from", "filter-from"], ["to", "filter-to"], ["subject", "filter-subject"], ["query", "filter-query"], ["negatedQuery", "filter-negated"]]) {
        if (value(id)) criteria[key] = value(id);
      }
      const addLabelIds = [];
      const removeLabelIds = [];
      if (ticked("filter-skip-inbox")) removeLabelIds.push("INBOX");
      if (ticked("filter-mark-read")) removeLabelIds.push("UNREAD");
      if (ticked("filter-star")) addLabelIds.push("STARRED");
      if (ticked("filter-apply-label") && chosenLabel) addLabelIds.push(chosenLabel);
      if (ticked("filter-delete")) addLabelIds.push("TRASH");
      const action = {};
      if (addLabelIds.length) action.addLabelIds = addLabelIds;
      if (removeLabelIds.length) action.removeLabelIds = removeLabelIds;
      api("POST", "/api/filters", { criteria, action })
        .then(() => {
          toast("Your filter was created.");
          return renderFilterSettings();
        })
        .catch(fail);
    });

    const creator = h("section", { class: "filter-creator", hidden: true }, h("h2", {}, "New filter"), criteriaForm, actionForm);

    main.replaceChildren(
      h("h1", {}, "Filters"),
      h("p", { class: "muted" }, "The following filters are applied to all incoming mail:"),
      filters.length
        ? h("ul", { class: "filters" }, filters.map((filter) =>
          h("li", { "data-filter-id": filter.id },
            h("div", { class: "filter-text" }, describeFilter(filter)),
            h("button", {
              type: "button",
              class: "link",
              "data-filter-id": filter.id,
              onclick: () => api("DELETE", `/api/filters/${filter.id}`).then(() => {
                toast("Filter deleted.");
                return renderFilterSettings();
              }).catch(fail),
            }, "Delete"))))
        : h("p", { class: "empty" }, "You have no filters."),
      h("button", {
        type: "button",
        onclick: () => {
          creator.hidden = false;
          $("filter-from").focus();
        },
      }, "Create a new filter"),
      creator
    );
  }

  // ---- #settings/account: a form with secrets, for privacy tests.

  function renderAccountSettings() {
    const form = h("form", { class: "account-form", "aria-label": "Account" },
      h("div", { class: "form-row" }, h("label", { for: "display-name" }, "Display name"), h("input", { id: "display-name", name: "displayName", type: "text", autocomplete: "name" })),
      h("div", { class: "form-row" }, h("label", { for: "app-password" }, "App password"), h("input", { id: "app-password", name: "appPassword", type: "password", autocomplete: "current-password" })),
      h("div", { class: "form-row" }, h("label", { for: "card-number" }, "Card number"), h("input", { id: "card-number", name: "cardNumber", type: "text", inputmode: "numeric", autocomplete: "cc-number" })),
      h("div", { class: "form-row" }, h("label", { for: "card-csc" }, "Security code"), h("input", { id: "card-csc", name: "cardCsc", type: "text", inputmode: "numeric", autocomplete: "cc-csc" })),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Save changes")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const fields = Object.fromEntries(new FormData(form));
      api("POST", "/api/settings/account", fields).then(() => toast("Settings saved.")).catch(fail);
    });
    main.replaceChildren(h("h1", {}, "Account"), h("p", { class: "muted" }, "Billing and app access for me@tracepipe.test."), form);
  }

  // ---- Compose

  const compose = {
    dialog: $("compose"),
    to: $("compose-to"),
    cc: $("compose-cc"),
    bcc: $("compose-bcc"),
    subject: $("compose-subject"),
    body: $("compose-body"),
  };

  function openCompose() {
    for (const input of [compose.to, compose.cc, compose.bcc, compose.subject]) input.value = "";
    compose.body.replaceChildren();
    $("compose-cc-row").hidden = true;
    $("compose-bcc-row").hidden = true;
    compose.dialog.hidden = false;
    compose.to.focus();
  }

  function composedFields() {
    return {
      to: compose.to.value,
      cc: compose.cc.value,
      bcc: compose.bcc.value,
      subject: compose.subject.value,
      body: compose.body.innerText.replace(/\n$/, ""),
    };
  }

  function closeCompose() {
    compose.dialog.hidden = true;
  }

  async function sendComposed() {
    const fields = composedFields();
    if (!fields.to.trim()) {
      toast("Please specify at least one recipient.");
      compose.to.focus();
      return;
    }
    closeCompose();
    await api("POST", "/api/messages/send", fields);
    toast("Message sent.");
    if (["sent", "inbox"].includes(currentRoute())) await refresh();
  }

  async function saveComposed() {
    const fields = composedFields();
    closeCompose();
    // Gmail keeps no draft of an untouched message.
    if (!Object.values(fields).some((value) => value.trim())) return;
    await api("POST", "/api/drafts", fields);
    toast("Draft saved.");
    if (currentRoute() === "drafts") await refresh();
  }

  function wireCompose() {
    $("compose-button").addEventListener("click", openCompose);
    for (const reveal of compose.dialog.querySelectorAll("[data-reveal]")) {
      reveal.addEventListener("click", () => {
        const row = $(`compose-${reveal.dataset.reveal}-row`);
        row.hidden = false;
        row.querySelector("input").focus();
      });
    }
    compose.dialog.querySelector("[data-compose=send]").addEventListener("click", () => sendComposed().catch(fail));
    compose.dialog.querySelector("[data-compose=save]").addEventListener("click", () => saveComposed().catch(fail));
    compose.dialog.querySelector("[data-compose=discard]").addEventListener("click", () => {
      closeCompose();
      toast("Draft discarded.");
    });
    compose.dialog.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        sendComposed().catch(fail);
      }
    });
  }

  // ---- Search

  function wireSearch() {
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const query = $("search-input").value.trim();
      if (query) location.hash = `#search/${encodeRoutePart(query)}`;
    });
  }

  // ---- Routing

  function currentRoute() {
    return location.hash.replace(/^#/, "");
  }

  async function render() {
    const route = currentRoute();
    if (closeMenu) closeMenu();
    closeModals();
    highlightNav(route);
    const [view, ...rest] = route.split("/");
    const argument = rest.join("/");
    if (view !== "search") $("search-input").value = "";

    if (view === "inbox" && argument) return renderMessage(argument);
    if (view === "inbox") return renderList("Inbox", { labelId: "INBOX" });
    if (view === "sent") return renderList("Sent", { labelId: "SENT" });
    if (view === "drafts") return renderList("Drafts", { labelId: "DRAFT" });
    if (view === "search") {
      const query = decodeRoutePart(argument);
      $("search-input").value = query;
      return renderList(`Search results for "${query}"`, { q: query });
    }
    if (view === "label") {
      const name = decodeRoutePart(argument);
      const labels = state.labels.length ? state.labels : await loadLabels();
      const label = labels.find((l) => l.name.toLowerCase() === name.toLowerCase());
      return renderList(name, label ? { labelId: label.id } : { q: `label:${name}` });
    }
    if (route === "settings/labels") return renderLabelSettings();
    if (route === "settings/filters") return renderFilterSettings();
    if (route === "settings/account") return renderAccountSettings();
    location.replace("#inbox");
  }

  function refresh() {
    return Promise.all([render(), loadLabels()]);
  }

  wireCompose();
  wireSearch();
  wireLabelDialogs();
  window.addEventListener("hashchange", () => render().catch(fail));
  loadLabels().then(render).catch(fail);
})();
