// Tracepipe capture script: records what a person clicked, typed and pressed as
// User Timing marks, which Chrome writes into a performance trace as
// `blink.user_timing` events named `tracepipe:<type>` (see
// docs/recording.md and the capture contract).
//
// Safe to inject into any page, any number of times, as a DevTools snippet, an
// extension content script or an automation init script: it is one IIFE that
// leaves a single non-enumerable guard property on `window` and nothing else.
(() => {
  "use strict";

  const GUARD = "__tracepipeCapture";
  if (window[GUARD]) return;
  Object.defineProperty(window, GUARD, { value: true });

  // Bound now so that a page replacing `performance.mark` later cannot hide or
  // break our marks.
  const mark = performance.mark.bind(performance);
  const clearMarks = performance.clearMarks.bind(performance);
  const clockNow = performance.now.bind(performance);

  const TEXT_LIMIT = 80;
  const KEYS_WORTH_RECORDING = new Set(["Enter", "Escape", "Tab", "Delete"]);
  const MODIFIER_KEYS = new Set(["Control", "Meta", "Alt", "Shift", "AltGraph", "CapsLock", "Fn", "OS"]);
  const CREDENTIAL_AUTOCOMPLETE = new Set(["current-password", "new-password", "one-time-code"]);
  const TEXT_INPUT_TYPES = new Set(["", "text", "email", "search", "tel", "url", "password"]);
  const BUTTON_INPUT_TYPES = new Set(["button", "submit", "reset", "image"]);
  const INTERACTIVE_TAGS = new Set(["a", "button", "input", "select", "textarea", "summary", "option"]);
  // Roles of things a person acts on. Structural roles (gridcell, listitem,
  // group, region …) are not among them: a click on a cell is a click on its
  // row, which is what carries the item's id.
  const INTERACTIVE_ROLES = new Set([
    "button", "link", "checkbox", "radio", "switch", "tab", "menuitem", "menuitemcheckbox", "menuitemradio",
    "option", "treeitem", "row", "textbox", "searchbox", "combobox", "slider", "spinbutton",
  ]);

  // `startTime` places a mark made later at the moment it stands for (a
  // click marked once its handlers ran, below).
  function record(type, detail, startTime) {
    // Marks stay in the order of the events: a click still waiting for its
    // state goes first.
    flushClick();
    if (detail.url === undefined) detail.url = location.href;
    try {
      mark("tracepipe:" + type, startTime === undefined ? { detail } : { detail, startTime });
      // The trace already holds the mark; dropping it from the page's own
      // timeline keeps long sessions from growing the page's memory and keeps
      // our entries out of the page's performance.getEntries().
      clearMarks("tracepipe:" + type);
    } catch (error) {
      // A mark must never break the page it observes.
    }
  }

  function collapse(text) {
    return (text || "").replace(/\s+/g, " ").trim();
  }

  function truncate(text) {
    return text.length > TEXT_LIMIT ? text.slice(0, TEXT_LIMIT) : text;
  }

  function innerText(el) {
    return truncate(collapse(el.innerText !== undefined ? el.innerText : el.textContent));
  }

  function isFormControl(el) {
    return el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement;
  }

  // The element that owns a contenteditable region: focus, focusout and our
  // value all belong to it, not to the paragraph the caret sits in.
  function editingHost(el) {
    if (!(el instanceof HTMLElement) || !el.isContentEditable) return null;
    let host = el;
    while (host.parentElement && host.parentElement.isContentEditable) host = host.parentElement;
    return host;
  }

  function autocompleteTokens(el) {
    const value = el.getAttribute && el.getAttribute("autocomplete");
    return value ? value.toLowerCase().split(/\s+/).filter(Boolean) : [];
  }

  // Passwords, one-time codes and every payment-card field (cc-number,
  // cc-csc, cc-exp, cc-name, …) are masked before anything leaves the page.
  function isSecret(el) {
    if (el instanceof HTMLInputElement && el.type === "password") return true;
    return autocompleteTokens(el).some((token) => CREDENTIAL_AUTOCOMPLETE.has(token) || token.startsWith("cc-"));
  }

  function implicitRole(el) {
    const tag = el.localName;
    if (tag === "button") return "button";
    if (tag === "a" && el.hasAttribute("href")) return "link";
    if (tag === "textarea") return "textbox";
    if (tag === "select") return el.multiple ? "listbox" : "combobox";
    if (tag === "input") {
      const type = (el.getAttribute("type") || "").toLowerCase();
      if (TEXT_INPUT_TYPES.has(type)) return "textbox";
      if (BUTTON_INPUT_TYPES.has(type)) return "button";
      if (type === "checkbox" || type === "radio") return type;
    }
    if (editingHost(el) === el) return "textbox";
    return null;
  }

  // Text of a <label>, without the text of the control it wraps (a <select>'s
  // options would otherwise end up in the name).
  function labelText(label) {
    const copy = label.cloneNode(true);
    copy.querySelectorAll("input, select, textarea, button").forEach((control) => control.remove());
    return collapse(copy.textContent);
  }

  function accessibleName(el) {
    const ariaLabel = collapse(el.getAttribute("aria-label"));
    if (ariaLabel) return ariaLabel;

    const labelledBy = el.getAttribute("aria-labelledby");
    if (labelledBy) {
      const text = collapse(
        labelledBy
          .split(/\s+/)
          .map((id) => document.getElementById(id))
          .filter(Boolean)
          .map((node) => node.textContent)
          .join(" ")
      );
      if (text) return text;
    }

    if (el.labels && el.labels.length) {
      const text = collapse(Array.from(el.labels, labelText).join(" "));
      if (text) return text;
    }

    if (el instanceof HTMLInputElement && BUTTON_INPUT_TYPES.has(el.type)) {
      const text = collapse(el.type === "image" ? el.alt : el.value);
      if (text) return text;
    }

    for (const attribute of ["placeholder", "title", "alt"]) {
      const text = collapse(el.getAttribute(attribute));
      if (text) return text;
    }

    // An icon-only control is often named by its image's alt text.
    const text = isFormControl(el) ? "" : innerText(el);
    if (text) return text;
    const image = el.querySelector && el.querySelector("img[alt]");
    return image ? collapse(image.getAttribute("alt")) : "";
  }

  function dataAttributes(el) {
    const data = {};
    for (const attribute of el.attributes) {
      if (attribute.name.startsWith("data-")) data[attribute.name] = attribute.value;
    }
    return data;
  }

  function isUnique(selector) {
    try {
      return document.querySelectorAll(selector).length === 1;
    } catch (error) {
      return false;
    }
  }

  // The shortest path of tag names (with :nth-of-type where siblings share a
  // tag) that selects only this element, anchored at the nearest unique id.
  function cssPath(el) {
    const parts = [];
    for (let node = el; node && node.nodeType === Node.ELEMENT_NODE; node = node.parentElement) {
      if (node.id && isUnique("#" + CSS.escape(node.id))) {
        parts.unshift("#" + CSS.escape(node.id));
        break;
      }
      let part = node.localName;
      const parent = node.parentElement;
      if (parent) {
        const sameTag = Array.from(parent.children).filter((child) => child.localName === node.localName);
        if (sameTag.length > 1) part += ":nth-of-type(" + (sameTag.indexOf(node) + 1) + ")";
      }
      parts.unshift(part);
      if (parts.length > 1 && isUnique(parts.join(" > "))) break;
      if (node.localName === "html") break;
    }
    return parts.join(" > ");
  }

  function describe(el) {
    const target = { tag: el.localName };
    const role = el.getAttribute("role") || implicitRole(el);
    if (role) target.role = role;
    const label = truncate(accessibleName(el));
    if (label) target.label = label;
    for (const attribute of ["id", "name", "type", "autocomplete"]) {
      const value = el.getAttribute(attribute);
      if (value) target[attribute] = value;
    }
    // Whether a checkbox, radio or aria-checked item is now ticked: a click on
    // one is a toggle, and its meaning depends on the new state.
    if (el instanceof HTMLInputElement && (el.type === "checkbox" || el.type === "radio")) {
      target.checked = el.checked;
    } else if (el.hasAttribute("aria-checked")) {
      target.checked = el.getAttribute("aria-checked") === "true";
    }
    const text = isFormControl(el) ? "" : innerText(el);
    if (text) target.text = text;
    if (el instanceof HTMLAnchorElement && el.hasAttribute("href")) target.href = el.href;
    target.selector = cssPath(el);
    const data = dataAttributes(el);
    if (Object.keys(data).length) target.data = data;
    return target;
  }

  // data-id, data-message-id, data-label-id …: the element stands for an item.
  function hasIdData(el) {
    for (const { name } of el.attributes) {
      if (name === "data-id" || (name.startsWith("data-") && name.endsWith("-id"))) return true;
    }
    return false;
  }

  function isMeaningful(el) {
    if (INTERACTIVE_TAGS.has(el.localName)) return true;
    if (INTERACTIVE_ROLES.has(el.getAttribute("role")) || hasIdData(el)) return true;
    if (editingHost(el) === el) return true;
    const tabIndex = el.getAttribute("tabindex");
    return tabIndex !== null && tabIndex !== "-1";
  }

  // The element a person meant: the button around the icon they hit, the row
  // carrying the message id around the sender's name.
  function meaningfulTarget(raw) {
    const host = editingHost(raw);
    if (host) return host;
    for (let el = raw; el && el !== document.body && el !== document.documentElement; el = el.parentElement) {
      if (isMeaningful(el) || (el.localName === "label" && el.control)) return el;
    }
    return raw;
  }

  function eventElement(event) {
    const path = event.composedPath ? event.composedPath() : [];
    const first = path.length ? path[0] : event.target;
    if (first instanceof Element) return first;
    return first && first.parentElement ? first.parentElement : null;
  }

  const BLOCK_TAGS = new Set([
    "address", "article", "aside", "blockquote", "div", "dl", "dt", "dd", "figure", "footer", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tr", "ul",
  ]);

  // The text of an editing region as typed: <br> and block boundaries are
  // line breaks. Unlike innerText this needs no layout, so it reads the same
  // after the region was hidden (a dialog closing as it sends).
  function editableText(node) {
    let text = "";
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        text += child.data;
      } else if (child.nodeType !== Node.ELEMENT_NODE) {
        continue;
      } else if (child.localName === "br") {
        text += "\n";
      } else if (BLOCK_TAGS.has(child.localName)) {
        if (text && !text.endsWith("\n")) text += "\n";
        text += editableText(child);
        if (!text.endsWith("\n")) text += "\n";
      } else {
        text += editableText(child);
      }
    }
    return text;
  }

  function currentValue(el) {
    if (el instanceof HTMLInputElement && (el.type === "checkbox" || el.type === "radio")) {
      return el.type === "checkbox" ? el.checked : el.value;
    }
    if (isFormControl(el)) return el.value;
    // Editors keep runs of spaces apart with no-break spaces.
    return editableText(el).replace(/\n$/, "").replace(/\u00a0/g, " ");
  }

  // The last value committed for an element during its current focus, so
  // that our own Enter-time `change` and the browser's `change` that follows
  // it do not record the same value twice. It stays in the page: a secret is
  // compared here but never written to a mark.
  const committedValue = new WeakMap();
  // The value a contenteditable region had when it gained focus: it has no
  // `change` event, so focusout compares against this.
  const valueAtFocus = new WeakMap();

  function recordChange(el) {
    const value = currentValue(el);
    if (committedValue.has(el) && committedValue.get(el) === value) return;
    committedValue.set(el, value);
    const secret = isSecret(el);
    const detail = { target: describe(el), value: secret ? null : value };
    if (secret) detail.masked = true;
    record("change", detail);
  }

  // The field in which Enter was last pressed, until that key is released:
  // the click that implicit form submission dispatches to the form's default
  // button arrives in between.
  let enterField = null;

  function isSyntheticSubmitClick(event, el) {
    if (event.detail !== 0 || !enterField) return false;
    const isSubmitButton =
      (el instanceof HTMLButtonElement && el.type === "submit") ||
      (el instanceof HTMLInputElement && (el.type === "submit" || el.type === "image"));
    return isSubmitButton && el.form !== null && el.form === enterField.form;
  }

  // ---- The state a click leaves ------------------------------------------
  // A menu's checkbox item (role="menuitemcheckbox") fires no `change`: only
  // its aria-checked after the click says whether the click ticked or
  // unticked it. So a click on an element carrying any of these is marked
  // once the click is over, with a `state` of what it carries then.
  const STATE_ATTRIBUTES = ["aria-checked", "aria-pressed", "aria-selected", "aria-expanded"];

  function isCheckable(el) {
    return el instanceof HTMLInputElement && (el.type === "checkbox" || el.type === "radio");
  }

  function carriesState(el) {
    return isCheckable(el) || STATE_ATTRIBUTES.some((name) => el.hasAttribute(name));
  }

  function stateOf(el) {
    const state = {};
    if (isCheckable(el)) state.checked = el.checked;
    for (const name of STATE_ATTRIBUTES) {
      const value = el.getAttribute(name);
      if (value !== null) state[name] = value;
    }
    return state;
  }

  // The click waiting for its state: the element, the detail described when
  // the click happened (the handlers may remove or rewrite the element) and
  // the time of the click.
  let pendingClick = null;

  function flushClick() {
    if (!pendingClick) return;
    const { el, detail, startTime } = pendingClick;
    pendingClick = null;
    try {
      detail.state = stateOf(el);
    } catch (error) {
      // The click is still worth a mark without its state.
    }
    record("click", detail, startTime);
  }

  // Read in a task of its own, not a microtask: for a click the person made,
  // the browser runs microtasks after each listener, so one queued here
  // would run before the page's own click handlers. A task runs after the
  // whole dispatch: every handler, their microtasks and the checkbox's
  // default action. Any mark made before that task (the checkbox's
  // `change`, a key pressed at once) and pagehide flush the click first.
  function recordClickWithState(el, detail) {
    flushClick();
    detail.url = location.href;
    pendingClick = { el, detail, startTime: clockNow() };
    setTimeout(flushClick, 0);
  }

  function onClick(event) {
    const raw = eventElement(event);
    if (!raw) return;
    const el = meaningfulTarget(raw);
    // A click on a label's text is followed by the browser's click on its
    // control, which is the one worth recording.
    if (el.localName === "label" && el.control && !el.control.disabled) return;
    if (isSyntheticSubmitClick(event, el)) return;
    viewBeforeAction();
    if (carriesState(el)) recordClickWithState(el, { target: describe(el) });
    else record("click", { target: describe(el) });
    viewAfterAction();
  }

  function onChange(event) {
    const el = eventElement(event);
    if (el && isFormControl(el)) recordChange(el);
  }

  function onSubmit(event) {
    const form = eventElement(event);
    if (!form) return;
    viewBeforeAction();
    record("submit", { target: describe(form) });
    viewAfterAction();
  }

  function modifiersOf(event) {
    const modifiers = [];
    if (event.ctrlKey) modifiers.push("ctrl");
    if (event.metaKey) modifiers.push("meta");
    if (event.altKey) modifiers.push("alt");
    if (event.shiftKey) modifiers.push("shift");
    return modifiers;
  }

  function onKeyDown(event) {
    // Autofill dispatches keydown events that carry no key.
    if (typeof event.key !== "string" || MODIFIER_KEYS.has(event.key) || event.isComposing) return;
    // AltGr reports Ctrl+Alt while typing ordinary characters such as "@".
    const altGraph = event.getModifierState && event.getModifierState("AltGraph");
    const modified = !altGraph && (event.ctrlKey || event.metaKey || event.altKey);
    if (!modified && !KEYS_WORTH_RECORDING.has(event.key)) return;

    const raw = eventElement(event);
    if (!raw) return;
    const enter = event.key === "Enter";
    if (enter) viewBeforeAction();
    const field = isFormControl(raw) ? raw : editingHost(raw);
    // The key may close the view (Ctrl+Enter sends) before any change or
    // focusout fires, so the value is committed now.
    if (field && (modified || event.key === "Enter")) recordChange(field);
    if (event.key === "Enter" && field && isFormControl(field)) enterField = field;

    const el = field || raw;
    const detail = { target: describe(el), key: event.key, modifiers: modifiersOf(event) };
    // With Alt (or Option on a Mac) a printable key types a character, which
    // in a secret field would be part of the secret.
    if (isSecret(el) && event.key.length === 1) {
      detail.key = null;
      detail.masked = true;
    }
    record("keydown", detail);
    if (enter) viewAfterAction();
  }

  function onKeyUp(event) {
    if (event.key === "Enter") enterField = null;
  }

  function onFocusIn(event) {
    const raw = eventElement(event);
    if (!raw) return;
    const host = editingHost(raw);
    const el = host || raw;
    committedValue.delete(el);
    if (host) valueAtFocus.set(host, currentValue(host));
  }

  function onFocusOut(event) {
    const raw = eventElement(event);
    const host = raw && editingHost(raw);
    if (!host) return;
    if (currentValue(host) !== valueAtFocus.get(host)) recordChange(host);
    valueAtFocus.delete(host);
  }

  // ---- Where secrets are on screen ----------------------------------------
  // Masking keeps secret values out of the marks, but a screenshot shows
  // whatever the page shows: the card number in clear, a password's dots.
  // So the script also records where every secret field that shows a value
  // is on screen, as a `tracepipe:sensitive` mark holding the whole current
  // set (docs/recording.md): on load, focus, input, scroll and resize, on
  // any frame in which the set changed (a field cleared, moved or removed),
  // and at least every SENSITIVE_HEARTBEAT_MS, so that a recording started
  // after the script was loaded is covered within that time. Processing
  // paints those regions over in every screenshot taken while they held, and
  // drops screenshots it has no such marks for. Only the top frame reports:
  // a child frame's coordinates do not locate anything in the tab's frames.
  const SENSITIVE_HEARTBEAT_MS = 2000;
  const isTopFrame = window === window.top;
  let lastSensitive = "";
  let lastSensitiveAt = -Infinity;

  // Rectangles in CSS pixels of the window, after pinch zoom: what the
  // screenshot, scaled to the viewport, shows.
  function sensitiveState() {
    const visual = window.visualViewport;
    const scale = visual ? visual.scale : 1;
    const left = visual ? visual.offsetLeft : 0;
    const top = visual ? visual.offsetTop : 0;
    const width = window.innerWidth;
    const height = window.innerHeight;
    const fields = [];
    for (const el of document.querySelectorAll("input, textarea, select")) {
      if (!isSecret(el) || !el.value) continue;
      const box = el.getBoundingClientRect();
      const x0 = Math.floor((box.left - left) * scale);
      const y0 = Math.floor((box.top - top) * scale);
      const x1 = Math.ceil((box.right - left) * scale);
      const y1 = Math.ceil((box.bottom - top) * scale);
      if (x1 <= x0 || y1 <= y0 || x1 <= 0 || y1 <= 0 || x0 >= width || y0 >= height) continue;
      fields.push({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
    }
    return { viewport: { width, height }, dpr: window.devicePixelRatio, fields };
  }

  function reportSensitive(reason) {
    if (!isTopFrame) return;
    let state;
    try {
      state = sensitiveState();
    } catch (error) {
      return;
    }
    const key = JSON.stringify(state);
    const now = performance.now();
    if (key === lastSensitive && now - lastSensitiveAt < SENSITIVE_HEARTBEAT_MS) return;
    lastSensitive = key;
    lastSensitiveAt = now;
    state.reason = reason;
    record("sensitive", state);
  }

  // Runs before every frame is painted, so a field that moved or got a value
  // is reported before the frame that shows it.
  function watchFrames() {
    reportSensitive("frame");
    requestAnimationFrame(watchFrames);
  }

  // ---- What the page shows after an action: `tracepipe:view` --------------
  // A tool's result is what the application showed once the action was
  // done: the messages a search listed, the message it opened, the label a
  // dialog created. So after a click, a submit, Enter or Ctrl/Meta+Enter,
  // or a route change, the script waits until the page has been quiet for
  // VIEW_QUIET_MS (no DOM mutation), at most VIEW_WAIT_MS, and writes a
  // `tracepipe:view` mark describing the visible entries that carry a
  // `data-*` id and the open item (docs/recording.md). Only what the
  // contracts promise is read: `data-*` ids, roles, accessible names,
  // headings, ARIA labels and description lists, and the route; never form
  // control values, never classes or element ids.
  const VIEW_QUIET_MS = 250;
  const VIEW_WAIT_MS = 2000;
  const VIEW_MAX_ITEMS = 50;
  const VIEW_NAME_LIMIT = 200;
  const VIEW_MAX_FIELDS = 12;
  const VIEW_MAX_ITEM_FIELDS = 8;
  const VIEW_FIELD_LIMIT = 2000;
  const VIEW_MAX_DATA = 8;
  // A full page of 50 rows, each named and with its cells, fits.
  const VIEW_MAX_BYTES = 32 * 1024;
  // The most elements looked at for one mark: a huge page is described in
  // part (`truncated`) rather than stalling it.
  const VIEW_MAX_ELEMENTS = 20000;
  const SKIPPED_TEXT_TAGS = new Set(["script", "style", "noscript", "template", "input", "textarea", "select", "option", "button"]);
  const INLINE_FORMATTING = new Set(["b", "i", "em", "strong", "mark", "u", "s", "sub", "sup", "code", "abbr", "small", "br"]);
  const CELL_ROLES = new Set(["gridcell", "cell", "columnheader", "rowheader"]);
  const CONTROL_ROLES = new Set([
    "button", "checkbox", "radio", "switch", "menuitemcheckbox", "menuitemradio", "textbox", "searchbox",
    "combobox", "slider", "spinbutton",
  ]);

  // Something a person operates (a link, a button, a row to open), as
  // opposed to content it shows: never the open item, never a field.
  function isControl(el) {
    return INTERACTIVE_TAGS.has(el.localName) || INTERACTIVE_ROLES.has(el.getAttribute("role")) || Boolean(editingHost(el));
  }

  function clip(text, limit) {
    return text.length > limit ? text.slice(0, limit) : text;
  }

  // An element the script must not read anything from: a secret field, or
  // anything inside an element marked as sensitive.
  function isWithheld(el) {
    if (isSecret(el)) return true;
    return Boolean(el.closest && el.closest("[data-tracepipe-sensitive]"));
  }

  function isRendered(el) {
    if (el.hidden || !el.getClientRects().length) return false;
    const style = getComputedStyle(el);
    return style.visibility !== "hidden" && style.display !== "none";
  }

  function intersects(box, area) {
    return box.right > area.left && box.left < area.right && box.bottom > area.top && box.top < area.bottom;
  }

  // In view: rendered, and at least partly within the viewport and within
  // every scrolled ancestor's visible box.
  function isInView(el) {
    if (!isRendered(el)) return false;
    const box = el.getBoundingClientRect();
    if (!intersects(box, { left: 0, top: 0, right: window.innerWidth, bottom: window.innerHeight })) return false;
    for (let node = el.parentElement; node && node !== document.body; node = node.parentElement) {
      const overflow = getComputedStyle(node);
      const clips = /(auto|scroll|hidden|clip)/.test(overflow.overflowX + overflow.overflowY);
      if (clips && !intersects(box, node.getBoundingClientRect())) return false;
    }
    return true;
  }

  // The text a person sees in an element, without the values of form
  // controls, the text of buttons, editing regions or secrets: line breaks
  // between blocks, runs of spaces collapsed.
  function shownText(root, limit) {
    let text = "";
    const walk = (node) => {
      if (text.length > limit) return;
      if (node.nodeType === Node.TEXT_NODE) {
        text += node.data;
        return;
      }
      if (node.nodeType !== Node.ELEMENT_NODE) return;
      if (SKIPPED_TEXT_TAGS.has(node.localName) || editingHost(node) || isWithheld(node)) return;
      if (node.hidden || node.getAttribute("aria-hidden") === "true") return;
      const block = BLOCK_TAGS.has(node.localName);
      // Cells of a row are read apart, as a screen reader reads them.
      const cell = isCell(node);
      // Other elements (chips, a file's name beside its size) are read
      // apart too; only formatting within a word's run is not.
      const gap = block ? "\n" : cell || !INLINE_FORMATTING.has(node.localName) ? " " : "";
      text += gap;
      for (const child of node.childNodes) walk(child);
      text += gap;
    };
    walk(root);
    const lines = text.split("\n").map(collapse).filter(Boolean);
    return clip(lines.join("\n"), limit);
  }

  function viewName(el) {
    const ariaLabel = collapse(el.getAttribute("aria-label"));
    if (ariaLabel) return clip(ariaLabel, VIEW_NAME_LIMIT);
    const labelledBy = el.getAttribute("aria-labelledby");
    if (labelledBy) {
      const text = collapse(labelledBy.split(/\s+/).map((id) => document.getElementById(id)).filter(Boolean)
        .map((node) => shownText(node, VIEW_NAME_LIMIT)).join(" "));
      if (text) return clip(text, VIEW_NAME_LIMIT);
    }
    if (isFormControl(el)) {
      const labels = el.labels ? Array.from(el.labels, labelText).join(" ") : "";
      return clip(collapse(labels), VIEW_NAME_LIMIT);
    }
    return clip(collapse(shownText(el, VIEW_NAME_LIMIT * 2)), VIEW_NAME_LIMIT);
  }

  const IMPLICIT_VIEW_ROLES = { li: "listitem", tr: "row", article: "article", option: "option", dialog: "dialog" };

  // The item's `data-*` ids (data-id, data-*-id) and its other `data-*`
  // attributes, ids first.
  function itemData(el) {
    const data = {};
    const attributes = Array.from(el.attributes).filter((a) => a.name.startsWith("data-"));
    attributes.sort((a, b) => Number(isIdAttribute(b.name)) - Number(isIdAttribute(a.name)));
    for (const attribute of attributes.slice(0, VIEW_MAX_DATA)) {
      data[attribute.name] = clip(attribute.value, VIEW_NAME_LIMIT);
    }
    return data;
  }

  function isIdAttribute(name) {
    return name === "data-id" || (name.startsWith("data-") && name.endsWith("-id"));
  }

  function idValues(el) {
    const values = [];
    for (const { name, value } of el.attributes) {
      if (isIdAttribute(name)) values.push(name + "=" + value);
    }
    return values;
  }

  function viewItem(el) {
    const item = {};
    const role = el.getAttribute("role") || implicitRole(el) || IMPLICIT_VIEW_ROLES[el.localName];
    if (role) item.role = role;
    const name = viewName(el);
    if (name) item.name = name;
    item.data = itemData(el);
    const { fields, truncated } = role === "row" ? rowFields(el) : { fields: {}, truncated: false };
    if (Object.keys(fields).length) item.fields = fields;
    return { item, truncated };
  }

  function isCell(el) {
    return CELL_ROLES.has(el.getAttribute("role") || "") || el.localName === "td" || el.localName === "th";
  }

  // The grid or table an element belongs to.
  function tableOf(el) {
    return el.closest("[role=grid], [role=treegrid], [role=table], table");
  }

  // Something the script may read and a person can see.
  function isReadable(node) {
    return !isWithheld(node) && isRendered(node);
  }

  // Fields under lowercase keys, the first value of a key kept, at most
  // `maxFields` of them of at most `limit` characters, each value tidied by
  // `tidy`; whatever is left out or cut sets `truncated`.
  function fieldCollector(maxFields, limit, tidy) {
    const fields = {};
    let truncated = false;
    return {
      put(key, value) {
        key = collapse(key).toLowerCase();
        value = tidy(value);
        if (!key || !value || key in fields) return;
        if (Object.keys(fields).length >= maxFields) {
          truncated = true;
          return;
        }
        if (value.length > limit) truncated = true;
        fields[key] = clip(value, limit);
      },
      result: () => ({ fields, truncated }),
    };
  }

  // A listed row's fields, keys lowercase: each cell under the name of its
  // column's header (as a screen reader announces a cell), and a
  // `<time datetime>` as `date`. A table without column headers gives only
  // the date.
  function rowFields(row) {
    const collected = fieldCollector(VIEW_MAX_ITEM_FIELDS, VIEW_NAME_LIMIT, collapse);
    const { put } = collected;
    const time = Array.from(row.querySelectorAll("time[datetime]")).find(isReadable);
    if (time) put("date", time.getAttribute("datetime"));
    const table = tableOf(row);
    if (!table) return collected.result();
    const inTable = (node) => tableOf(node) === table;
    // A column's header sits in a row of headers only (a `th` beside data
    // cells heads its row, not a column).
    const isColumnHeader = (header) => {
      if (!inTable(header) || header.getAttribute("role") === "rowheader" || header.getAttribute("scope") === "row") return false;
      const headerRow = header.closest("[role=row], tr");
      return !headerRow || !headerRow.querySelector("td, [role=gridcell], [role=cell]");
    };
    const headers = Array.from(table.querySelectorAll("[role=columnheader], th")).filter(isColumnHeader);
    if (!headers.length) return collected.result();
    const cells = Array.from(row.querySelectorAll("td, th, [role=gridcell], [role=cell], [role=columnheader], [role=rowheader]"))
      .filter((cell) => isCell(cell) && cell.closest("[role=row], tr") === row);
    cells.forEach((cell, column) => {
      const header = headers[column];
      if (!header || isWithheld(cell) || !isRendered(header)) return;
      put(viewName(header), shownText(cell, VIEW_NAME_LIMIT + 1));
    });
    return collected.result();
  }

  // The open item's fields, keys lowercase: `heading` (its first heading),
  // a description list's terms with their definitions, a `<time datetime>`
  // as `date`, every non-control descendant with an `aria-label` (its
  // label → its shown text), and `text`, all it shows.
  function openFields(el) {
    // The open item's text keeps its lines.
    const collected = fieldCollector(VIEW_MAX_FIELDS, VIEW_FIELD_LIMIT, (value) => value.trim());
    const { put } = collected;
    const heading = Array.from(el.querySelectorAll("h1, h2, h3, h4, h5, h6, [role=heading]")).find(isReadable);
    if (heading) put("heading", shownText(heading, VIEW_FIELD_LIMIT + 1));
    const time = Array.from(el.querySelectorAll("time[datetime]")).find(isReadable);
    if (time) put("date", time.getAttribute("datetime"));
    for (const term of el.querySelectorAll("dt")) {
      const definition = term.nextElementSibling;
      if (definition && definition.localName === "dd" && isReadable(term) && isReadable(definition)) {
        put(shownText(term, VIEW_NAME_LIMIT), shownText(definition, VIEW_FIELD_LIMIT + 1));
      }
    }
    for (const node of el.querySelectorAll("[aria-label]")) {
      const role = node.getAttribute("role") || implicitRole(node);
      if (isControl(node) || CONTROL_ROLES.has(role) || !isReadable(node)) continue;
      put(node.getAttribute("aria-label"), shownText(node, VIEW_FIELD_LIMIT + 1));
    }
    const text = shownText(el, VIEW_FIELD_LIMIT + 1);
    put("text", text);
    return collected.result();
  }

  // The route's last part (`#inbox/<messageId>` → the id), decoded.
  function routeId() {
    const parts = location.hash.replace(/^#/, "").split("/").filter(Boolean);
    if (parts.length < 2) return null;
    try {
      return decodeURIComponent(parts[parts.length - 1].replace(/\+/g, " "));
    } catch (error) {
      return null;
    }
  }

  function viewSnapshot() {
    const items = [];
    let truncated = false;
    let open = null;
    const wanted = routeId();
    // Elements that stand for an item, outermost first; a descendant that
    // carries only ids its item carries too (a row's "Select" box) is part
    // of that item, not another one.
    const stack = [];
    let seen = 0;
    const walker = document.createTreeWalker(document.body || document.documentElement, NodeFilter.SHOW_ELEMENT);
    for (let el = walker.currentNode; el; el = walker.nextNode()) {
      if (++seen > VIEW_MAX_ELEMENTS) {
        truncated = true;
        break;
      }
      const ids = idValues(el);
      if (!ids.length) continue;
      while (stack.length && !stack[stack.length - 1].el.contains(el)) stack.pop();
      const enclosing = stack.length ? stack[stack.length - 1].ids : [];
      if (ids.every((id) => enclosing.includes(id))) continue;
      if (isWithheld(el) || !isInView(el)) continue;
      stack.push({ el, ids: enclosing.concat(ids) });
      const isOpen = !open && wanted !== null && !isControl(el)
        && Array.from(el.attributes).some((a) => isIdAttribute(a.name) && a.value === wanted);
      if (isOpen) {
        const { fields, truncated: cut } = openFields(el);
        open = viewItem(el).item;
        open.fields = fields;
        truncated = truncated || cut;
        continue;
      }
      if (items.length >= VIEW_MAX_ITEMS) {
        truncated = true;
        continue;
      }
      const { item, truncated: cut } = viewItem(el);
      items.push(item);
      truncated = truncated || cut;
    }
    const snapshot = { items, open, truncated };
    // Within the size limit: the open item's text first, then entries from
    // the end.
    const size = () => new Blob([JSON.stringify(snapshot)]).size;
    if (size() > VIEW_MAX_BYTES && open && open.fields.text) {
      open.fields.text = open.fields.text.slice(0, Math.max(0, open.fields.text.length - (size() - VIEW_MAX_BYTES)));
      snapshot.truncated = true;
    }
    while (size() > VIEW_MAX_BYTES && items.length) {
      items.pop();
      snapshot.truncated = true;
    }
    return snapshot;
  }

  let viewTimer = null;
  let viewStartedAt = 0;
  let viewObserver = null;
  let lastView = "";

  function writeView() {
    clearTimeout(viewTimer);
    viewTimer = null;
    if (viewObserver) viewObserver.disconnect();
    viewObserver = null;
    let snapshot;
    try {
      snapshot = viewSnapshot();
    } catch (error) {
      return;
    }
    // The same view again (a click that changed nothing) says nothing new.
    const key = JSON.stringify(snapshot) + location.href;
    if (key === lastView) return;
    lastView = key;
    record("view", snapshot);
  }

  function quietThenView() {
    clearTimeout(viewTimer);
    const wait = Math.min(VIEW_QUIET_MS, viewStartedAt + VIEW_WAIT_MS - clockNow());
    viewTimer = setTimeout(writeView, Math.max(0, wait));
  }

  // Before a person's action is marked: a view still waiting is the outcome
  // of the action before, so it is written first. Not when that action was
  // this one's own start (a click on a submit button, then its submit; a
  // click, then the route change it causes), which share one view.
  const SAME_ACTION_MS = 50;
  function viewBeforeAction() {
    if (viewTimer !== null && clockNow() - viewStartedAt > SAME_ACTION_MS) writeView();
  }

  // After an action (or a route change): wait for the page to be quiet.
  function viewAfterAction() {
    if (!isTopFrame || !document.body) return;
    if (viewTimer === null) viewStartedAt = clockNow();
    if (!viewObserver) {
      try {
        viewObserver = new MutationObserver(quietThenView);
        viewObserver.observe(document.documentElement, { subtree: true, childList: true, attributes: true, characterData: true });
      } catch (error) {
        viewObserver = null;
      }
    }
    quietThenView();
  }

  // Capture phase on window: we see each event before the page's own
  // handlers can stop it or tear the view down.
  const options = { capture: true, passive: true };
  window.addEventListener("click", onClick, options);
  window.addEventListener("change", onChange, options);
  window.addEventListener("submit", onSubmit, options);
  window.addEventListener("keydown", onKeyDown, options);
  window.addEventListener("keyup", onKeyUp, options);
  window.addEventListener("focusin", onFocusIn, options);
  window.addEventListener("focusout", onFocusOut, options);
  window.addEventListener("pagehide", flushClick, options);
  window.addEventListener("hashchange", viewAfterAction, options);
  window.addEventListener("popstate", viewAfterAction, options);

  for (const type of ["focusin", "focusout", "input", "change", "scroll", "resize", "pageshow", "load"]) {
    window.addEventListener(type, () => reportSensitive(type), options);
  }
  document.addEventListener("visibilitychange", () => reportSensitive("visibilitychange"), options);
  if (window.visualViewport) {
    window.visualViewport.addEventListener("resize", () => reportSensitive("resize"), { passive: true });
    window.visualViewport.addEventListener("scroll", () => reportSensitive("scroll"), { passive: true });
  }
  if (isTopFrame) {
    reportSensitive("start");
    requestAnimationFrame(watchFrames);
    // rAF stops in a hidden tab; the interval keeps the heartbeat there.
    setInterval(() => reportSensitive("heartbeat"), SENSITIVE_HEARTBEAT_MS / 2);
  }
})();
