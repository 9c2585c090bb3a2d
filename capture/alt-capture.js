/*
 * alt-capture.js: a second, independent implementation of the Tracepipe
 * capture contract (shared/reference/capture-contract.md), written from the
 * contract alone. It writes one User Timing mark per interaction:
 *
 *   performance.mark("tracepipe:" + type, { detail: { target, value, key, modifiers, url } })
 *
 * Where the contract leaves a choice open this script takes a different one
 * from capture/capture.js, on purpose, so that recordings made with it show
 * what a classifier may and may not rely on:
 *   - every click event is recorded, including the click a browser forwards
 *     from a <label> to its control (only Enter's synthetic submit click is
 *     left out, as the contract says);
 *   - a checkbox's or radio's `change` value is the element's `value`
 *     attribute (usually "on"), not its checked state;
 *   - target carries only the contract's fields (no checked state, no
 *     autocomplete), and its selector is attribute-based;
 *   - a `change` is recorded every time the browser fires one (no
 *     de-duplication against the Enter-time change);
 *   - a click's after-click `state` is read in a MessageChannel task and
 *     written as strings only ("true", not true);
 *   - the `tracepipe:view` mark written once the page settles after an
 *     action (see "what the page shows" below) reads line breaks from the
 *     computed style rather than a list of tags, leaves the text of ARIA
 *     buttons out as well as <button>'s, always keeps the open item's `text`
 *     field, takes a table's column headers from its first row of header
 *     cells only, and sets `truncated` when a `data-*` value had to be cut.
 */
(function tracepipeAltCapture() {
  "use strict";

  var FLAG = "__tracepipeAltCaptureInstalled";
  if (window[FLAG]) return;
  try {
    Object.defineProperty(window, FLAG, { value: true, enumerable: false });
  } catch (e) {
    return;
  }

  var perf = window.performance;
  var markFn = perf.mark.bind(perf);

  // What an action does to the page's view mark (tracepipe:view): before it
  // is marked, the view still waiting is written; after it, one is awaited.
  // Frames other than the top one write no views, so these stay no-ops there.
  var views = { before: function () {}, after: function () {} };

  var MEANINGFUL_KEYS = { Enter: 1, Escape: 1, Tab: 1, Delete: 1 };
  var SECRET_AUTOCOMPLETE = /(^|\s)(current-password|new-password|one-time-code|cc-[a-z-]+)(\s|$)/i;
  var CLICKABLE =
    "a[href],button,input,select,textarea,label,summary,[contenteditable=''],[contenteditable='true']," +
    "[role=button],[role=link],[role=checkbox],[role=menuitem],[role=menuitemcheckbox],[role=menuitemradio]," +
    "[role=option],[role=tab],[role=switch],[role=radio],[role=row],[role=treeitem],[role=textbox],[role=searchbox],[role=combobox]";

  function emit(type, detail, at) {
    settleClick();
    if (!("url" in detail)) detail.url = String(location.href);
    var options = { detail: detail };
    if (typeof at === "number") options.startTime = at;
    try {
      markFn("tracepipe:" + type, options);
    } catch (e) {
      /* never disturb the page */
    }
  }

  function squeeze(s) {
    return String(s == null ? "" : s).replace(/\s+/g, " ").trim();
  }

  function cap(s) {
    return s.length > 80 ? s.substring(0, 80) : s;
  }

  function isEditableHost(node) {
    return node instanceof HTMLElement && node.isContentEditable && !(node.parentElement && node.parentElement.isContentEditable);
  }

  function editableRoot(node) {
    var n = node instanceof Element ? node : node && node.parentElement;
    if (!(n instanceof HTMLElement) || !n.isContentEditable) return null;
    while (n.parentElement && n.parentElement.isContentEditable) n = n.parentElement;
    return n;
  }

  function isField(node) {
    return node instanceof HTMLInputElement || node instanceof HTMLTextAreaElement || node instanceof HTMLSelectElement;
  }

  function roleOf(node) {
    var explicit = node.getAttribute("role");
    if (explicit) return explicit.split(/\s+/)[0];
    var tag = node.tagName.toLowerCase();
    if (tag === "button") return "button";
    if (tag === "a" && node.hasAttribute("href")) return "link";
    if (tag === "textarea") return "textbox";
    if (tag === "input") {
      var t = (node.getAttribute("type") || "text").toLowerCase();
      if (t === "checkbox") return "checkbox";
      if (t === "radio") return "radio";
      if (t === "button" || t === "submit" || t === "reset" || t === "image") return "button";
      if (t === "text" || t === "email" || t === "search" || t === "tel" || t === "url" || t === "password") return "textbox";
      return undefined;
    }
    if (isEditableHost(node)) return "textbox";
    return undefined;
  }

  function textOf(node) {
    if (isField(node)) return "";
    var t = typeof node.innerText === "string" ? node.innerText : node.textContent;
    return cap(squeeze(t));
  }

  // The contract's order: aria-label, aria-labelledby, <label>, placeholder,
  // title, inner text.
  function nameOf(node) {
    var v = squeeze(node.getAttribute("aria-label"));
    if (v) return v;
    var ids = node.getAttribute("aria-labelledby");
    if (ids) {
      v = squeeze(
        ids
          .split(/\s+/)
          .map(function (id) {
            var ref = document.getElementById(id);
            return ref ? ref.textContent : "";
          })
          .join(" ")
      );
      if (v) return v;
    }
    if (node.labels && node.labels.length) {
      v = squeeze(
        Array.prototype.map
          .call(node.labels, function (label) {
            var text = "";
            label.childNodes.forEach(function (child) {
              if (child === node || (child instanceof Element && child.matches("input,select,textarea"))) return;
              text += " " + child.textContent;
            });
            return text;
          })
          .join(" ")
      );
      if (v) return v;
    }
    v = squeeze(node.getAttribute("placeholder"));
    if (v) return v;
    v = squeeze(node.getAttribute("title"));
    if (v) return v;
    if (node instanceof HTMLInputElement && /^(submit|button|reset)$/i.test(node.type)) return squeeze(node.value);
    return textOf(node);
  }

  function quoteAttr(v) {
    return '"' + String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }

  // Attribute-based where possible: [data-…-id="…"], [name=…], [aria-label=…];
  // otherwise tag:nth-child steps up to something unique.
  function selectorOf(node) {
    var tag = node.tagName.toLowerCase();
    var candidates = [];
    if (node.id) candidates.push("#" + CSS.escape(node.id));
    for (var i = 0; i < node.attributes.length; i += 1) {
      var a = node.attributes[i];
      if (/^data-.*id$/.test(a.name)) candidates.push(tag + "[" + a.name + "=" + quoteAttr(a.value) + "]");
    }
    ["name", "aria-label", "placeholder", "title"].forEach(function (attr) {
      if (node.hasAttribute(attr)) candidates.push(tag + "[" + attr + "=" + quoteAttr(node.getAttribute(attr)) + "]");
    });
    for (var j = 0; j < candidates.length; j += 1) {
      try {
        if (document.querySelectorAll(candidates[j]).length === 1) return candidates[j];
      } catch (e) {
        /* try the next one */
      }
    }
    var steps = [];
    var n = node;
    while (n && n.nodeType === 1 && n !== document.documentElement) {
      var parent = n.parentElement;
      var step = n.tagName.toLowerCase();
      if (parent) step += ":nth-child(" + (Array.prototype.indexOf.call(parent.children, n) + 1) + ")";
      steps.unshift(step);
      var sel = steps.join(">");
      try {
        if (document.querySelectorAll(sel).length === 1) return sel;
      } catch (e) {
        /* keep climbing */
      }
      n = parent;
    }
    return steps.join(">");
  }

  function describe(node) {
    var out = { tag: node.tagName.toLowerCase() };
    var role = roleOf(node);
    if (role) out.role = role;
    var label = cap(nameOf(node));
    if (label) out.label = label;
    if (node.getAttribute("id")) out.id = node.getAttribute("id");
    if (node.getAttribute("name")) out.name = node.getAttribute("name");
    if (node.getAttribute("type")) out.type = node.getAttribute("type");
    var text = textOf(node);
    if (text) out.text = text;
    if (node instanceof HTMLAnchorElement && node.hasAttribute("href")) out.href = node.href;
    out.selector = selectorOf(node);
    var data = null;
    for (var i = 0; i < node.attributes.length; i += 1) {
      var a = node.attributes[i];
      if (a.name.indexOf("data-") === 0) {
        data = data || {};
        data[a.name] = a.value;
      }
    }
    if (data) out.data = data;
    return out;
  }

  function secret(node) {
    if (node instanceof HTMLInputElement && node.type === "password") return true;
    return SECRET_AUTOCOMPLETE.test(node.getAttribute("autocomplete") || "");
  }

  function valueOf(node) {
    if (node instanceof HTMLInputElement && (node.type === "checkbox" || node.type === "radio")) return node.value;
    if (isField(node)) return node.value;
    return (node.innerText || "").replace(/\n$/, "");
  }

  function markChange(node) {
    var detail = { target: describe(node), value: null };
    if (secret(node)) detail.masked = true;
    else detail.value = valueOf(node);
    emit("change", detail);
  }

  // ---- listeners -----------------------------------------------------------

  var enterForm = null;

  window.addEventListener(
    "click",
    function (ev) {
      var raw = ev.target instanceof Element ? ev.target : ev.target && ev.target.parentElement;
      if (!raw) return;
      var node = editableRoot(raw) || raw.closest(CLICKABLE) || itemOf(raw) || raw;
      if (
        enterForm &&
        ev.detail === 0 &&
        node.form === enterForm &&
        ((node instanceof HTMLButtonElement && node.type === "submit") || (node instanceof HTMLInputElement && /^(submit|image)$/.test(node.type)))
      ) {
        return;
      }
      views.before();
      if (hasState(node)) clickLater(node, { target: describe(node) });
      else emit("click", { target: describe(node) });
      views.after();
    },
    true
  );

  // ---- after-click state ---------------------------------------------------
  // The contract asks for a clicked control's checked / aria-checked /
  // aria-pressed / aria-selected / aria-expanded as they are once the
  // click's handlers ran. This script reads them in a task posted through a
  // MessageChannel (capture.js uses a timer): the message arrives after the
  // click's whole dispatch. Every value is written as the string the DOM
  // shows ("true", "false", "mixed"); the mark keeps the click's own time.
  var STATEFUL = ["aria-checked", "aria-pressed", "aria-selected", "aria-expanded"];
  var waiting = [];
  var channel = new MessageChannel();
  channel.port1.onmessage = settleClick;

  function hasState(node) {
    if (node instanceof HTMLInputElement && /^(checkbox|radio)$/.test(node.type)) return true;
    for (var i = 0; i < STATEFUL.length; i += 1) if (node.hasAttribute(STATEFUL[i])) return true;
    return false;
  }

  function readState(node) {
    var out = {};
    if (node instanceof HTMLInputElement && /^(checkbox|radio)$/.test(node.type)) out.checked = String(node.checked);
    STATEFUL.forEach(function (name) {
      if (node.hasAttribute(name)) out[name] = node.getAttribute(name);
    });
    return out;
  }

  function settleClick() {
    var batch = waiting || [];
    waiting = [];
    batch.forEach(function (w) {
      try {
        w.detail.state = readState(w.node);
      } catch (e) {
        /* marked without state */
      }
      emit("click", w.detail, w.at);
    });
  }

  function clickLater(node, detail) {
    detail.url = String(location.href);
    waiting.push({ node: node, detail: detail, at: perf.now() });
    channel.port2.postMessage(0);
  }

  window.addEventListener("pagehide", settleClick, true);

  // An element that stands for an item by its data-…-id, when nothing more
  // specific was hit.
  function itemOf(node) {
    for (var n = node; n && n !== document.body; n = n.parentElement) {
      for (var i = 0; i < n.attributes.length; i += 1) {
        if (/^data-(.+-)?id$/.test(n.attributes[i].name)) return n;
      }
    }
    return null;
  }

  window.addEventListener(
    "change",
    function (ev) {
      if (isField(ev.target)) markChange(ev.target);
    },
    true
  );

  window.addEventListener(
    "submit",
    function (ev) {
      if (!(ev.target instanceof Element)) return;
      views.before();
      emit("submit", { target: describe(ev.target) });
      views.after();
    },
    true
  );

  var editStart = new WeakMap();
  window.addEventListener(
    "focusin",
    function (ev) {
      var host = editableRoot(ev.target);
      if (host) editStart.set(host, valueOf(host));
    },
    true
  );
  window.addEventListener(
    "focusout",
    function (ev) {
      var host = editableRoot(ev.target);
      if (host && editStart.has(host) && editStart.get(host) !== valueOf(host)) markChange(host);
      if (host) editStart.delete(host);
    },
    true
  );

  window.addEventListener(
    "keydown",
    function (ev) {
      if (ev.isComposing || typeof ev.key !== "string") return;
      if (/^(Control|Shift|Alt|Meta|AltGraph|CapsLock)$/.test(ev.key)) return;
      var modified = ev.ctrlKey || ev.metaKey || (ev.altKey && !(ev.getModifierState && ev.getModifierState("AltGraph")));
      if (!modified && !MEANINGFUL_KEYS[ev.key]) return;
      var raw = ev.target instanceof Element ? ev.target : document.activeElement;
      if (!raw) return;
      var fieldNode = isField(raw) ? raw : editableRoot(raw);
      // Enter, with or without Ctrl/Meta, is an action whose outcome is a view.
      if (ev.key === "Enter") views.before();
      if (fieldNode && (ev.key === "Enter" || modified)) {
        markChange(fieldNode);
        if (ev.key === "Enter" && fieldNode.form) {
          enterForm = fieldNode.form;
          setTimeout(function () {
            enterForm = null;
          }, 0);
        }
      }
      var mods = [];
      if (ev.ctrlKey) mods.push("ctrl");
      if (ev.metaKey) mods.push("meta");
      if (ev.altKey) mods.push("alt");
      if (ev.shiftKey) mods.push("shift");
      var node = fieldNode || raw;
      var detail = { target: describe(node), key: ev.key, modifiers: mods };
      if (secret(node) && ev.key.length === 1) {
        detail.key = null;
        detail.masked = true;
      }
      emit("keydown", detail);
      if (ev.key === "Enter") views.after();
    },
    true
  );

  // ---- tracepipe:sensitive -------------------------------------------------
  // The contract's screen-privacy marks: the rectangles (CSS pixels of the
  // window) of every secret field showing a value, with the viewport size and
  // devicePixelRatio, whenever that set changes and at least every second.
  // Unlike capture.js this script polls on a timer as well as on each
  // animation frame, and reports from the top frame only.
  if (window !== window.top) return;
  var lastState = "";
  var lastAt = -1e9;
  var HEARTBEAT = 1000;

  function boxes() {
    var vv = window.visualViewport || { scale: 1, offsetLeft: 0, offsetTop: 0 };
    var w = window.innerWidth;
    var h = window.innerHeight;
    var out = [];
    var nodes = document.getElementsByTagName("*");
    for (var i = 0; i < nodes.length; i += 1) {
      var n = nodes[i];
      if (!isField(n) || !secret(n) || !n.value) continue;
      var r = n.getBoundingClientRect();
      var left = Math.floor((r.left - vv.offsetLeft) * vv.scale);
      var top = Math.floor((r.top - vv.offsetTop) * vv.scale);
      var right = Math.ceil((r.right - vv.offsetLeft) * vv.scale);
      var bottom = Math.ceil((r.bottom - vv.offsetTop) * vv.scale);
      if (right > left && bottom > top && right > 0 && bottom > 0 && left < w && top < h) {
        out.push({ x: left, y: top, width: right - left, height: bottom - top });
      }
    }
    return { viewport: { width: w, height: h }, dpr: window.devicePixelRatio, fields: out };
  }

  function check(reason) {
    var state;
    try {
      state = boxes();
    } catch (e) {
      return;
    }
    var text = JSON.stringify(state);
    var now = Date.now();
    if (text === lastState && now - lastAt < HEARTBEAT) return;
    lastState = text;
    lastAt = now;
    state.reason = reason;
    emit("sensitive", state);
  }

  ["focusin", "focusout", "input", "change", "scroll", "resize", "load", "pageshow"].forEach(function (type) {
    window.addEventListener(
      type,
      function () {
        check(type);
      },
      true
    );
  });
  (function everyFrame() {
    check("frame");
    window.requestAnimationFrame(everyFrame);
  })();
  setInterval(function () {
    check("poll");
  }, 250);

  // ---- tracepipe:view: what the page shows ---------------------------------
  // The outcome of an action, for grounding a tool's result in what the page
  // showed (docs/recording.md): after a click, a submit, Enter and a route
  // change, once the DOM has been quiet for QUIET ms (at most LONGEST ms
  // after the action), the visible items that carry a data-* id, and the
  // item the route opens. Only contract-level structure is read (data-* ids,
  // roles, accessible names, headings, ARIA labels, description lists, the
  // route), never a form control's value, a secret, or anything inside
  // [data-tracepipe-sensitive].
  var QUIET = 250;
  var LONGEST = 2000;
  var SAME_ACTION = 50;
  var MAX_ELEMENTS = 20000;
  var MAX_ITEMS = 50;
  var NAME_CHARS = 200;
  var MAX_DATA = 8;
  var ITEM_FIELDS = 8;
  var OPEN_FIELDS = 12;
  var OPEN_FIELD_CHARS = 2000;
  var MAX_BYTES = 32 * 1024;
  var UNREAD_TAGS = /^(script|style|noscript|template|input|textarea|select|option|button)$/;
  // Phrasing inside a word's run ("<b>Re</b>port"); other inline elements
  // (a chip, a file's size) are read apart.
  var RUN_TAGS = /^(b|i|em|strong|mark|u|s|sub|sup|code|abbr|small)$/;
  var IMPLICIT_ROLES = { tr: "row", li: "listitem", article: "article", option: "option", dialog: "dialog", td: "cell", th: "columnheader" };
  var utf8 = new TextEncoder();

  var pendingSince = -1;
  var lastChange = 0;
  var quietTimer = 0;
  var lastView = "";
  var watcher = new MutationObserver(function () {
    lastChange = perf.now();
  });

  function clip(s, limit) {
    return s.length > limit ? s.substring(0, limit) : s;
  }

  function isIdName(name) {
    return name === "data-id" || /^data-.+-id$/.test(name);
  }

  // "data-message-id=19a7…" for each data-* id the element carries.
  function idsOf(node) {
    var out = [];
    for (var i = 0; i < node.attributes.length; i += 1) {
      var a = node.attributes[i];
      if (isIdName(a.name)) out.push(a.name + "=" + a.value);
    }
    return out;
  }

  function withheld(node) {
    return secret(node) || Boolean(node.closest("[data-tracepipe-sensitive]"));
  }

  // Something a person operates rather than content the page shows.
  function isControl(node) {
    return node.matches(CLICKABLE) || Boolean(editableRoot(node));
  }

  function rendered(node) {
    if (node.hidden || !node.getClientRects().length) return false;
    var style = getComputedStyle(node);
    return style.display !== "none" && style.visibility !== "hidden";
  }

  function overlaps(a, b) {
    return a.right > b.left && a.left < b.right && a.bottom > b.top && a.top < b.bottom;
  }

  // Rendered, and at least partly inside the viewport and inside every
  // scrolling or clipping ancestor's box.
  function onScreen(node) {
    if (!rendered(node)) return false;
    var box = node.getBoundingClientRect();
    if (!overlaps(box, { left: 0, top: 0, right: window.innerWidth, bottom: window.innerHeight })) return false;
    for (var up = node.parentElement; up && up !== document.body; up = up.parentElement) {
      var style = getComputedStyle(up);
      if (/auto|scroll|hidden|clip/.test(style.overflowX + " " + style.overflowY) && !overlaps(box, up.getBoundingClientRect())) return false;
    }
    return true;
  }

  // Whether the text walk leaves an element out: controls with their values
  // and labels (ARIA buttons too), editing regions, secrets, what is hidden
  // from everyone.
  function unread(node) {
    if (UNREAD_TAGS.test(node.tagName.toLowerCase())) return true;
    if (node.getAttribute("role") === "button" || node.getAttribute("aria-hidden") === "true") return true;
    return node.hasAttribute("data-tracepipe-sensitive") || isEditableHost(node);
  }

  // The text an element shows: a line per block box and per preserved line
  // break (as the computed style says), cells and other inline boxes apart,
  // spaces collapsed. The root's own kind is not checked (a chip's text is
  // its name), but a form control's text never is read.
  function shownText(root, limit) {
    if (isField(root) || withheld(root)) return "";
    var out = "";
    (function walk(node, isRoot, keepsLines) {
      if (out.length > limit) return;
      if (node.nodeType === 3) {
        out += keepsLines ? node.data.replace(/[^\S\n]+/g, " ") : node.data.replace(/\s+/g, " ");
        return;
      }
      if (node.nodeType !== 1 || (!isRoot && unread(node))) return;
      if (node.tagName.toLowerCase() === "br") {
        out += "\n";
        return;
      }
      var style = getComputedStyle(node);
      if (!isRoot && (style.display === "none" || style.visibility === "hidden")) return;
      var display = style.display;
      var gap = /^(inline|contents)$/.test(display) && RUN_TAGS.test(node.tagName.toLowerCase()) ? "" : /^(inline|contents|table-cell)/.test(display) ? " " : "\n";
      out += gap;
      var lines = /^(pre|pre-wrap|pre-line|break-spaces|preserve|preserve-breaks)$/.test(style.whiteSpaceCollapse || style.whiteSpace);
      for (var c = node.firstChild; c; c = c.nextSibling) walk(c, false, lines);
      out += gap;
    })(root, true, false);
    return clip(
      out
        .split("\n")
        .map(squeeze)
        .filter(Boolean)
        .join("\n"),
      limit
    );
  }

  function shownLine(root, limit) {
    return clip(squeeze(shownText(root, limit * 2)), limit);
  }

  // The accessible name as the view reports it: aria-label, aria-labelledby,
  // a field's <label>s, else the text shown; never a field's value.
  function viewName(node) {
    var v = squeeze(node.getAttribute("aria-label"));
    if (v) return clip(v, NAME_CHARS);
    var ids = node.getAttribute("aria-labelledby");
    if (ids) {
      v = squeeze(
        ids
          .split(/\s+/)
          .map(function (id) {
            var ref = document.getElementById(id);
            return ref ? shownLine(ref, NAME_CHARS) : "";
          })
          .join(" ")
      );
      if (v) return clip(v, NAME_CHARS);
    }
    if (isField(node)) {
      return clip(squeeze(Array.prototype.map.call(node.labels || [], function (label) {
        return shownLine(label, NAME_CHARS);
      }).join(" ")), NAME_CHARS);
    }
    return shownLine(node, NAME_CHARS);
  }

  function viewRole(node) {
    var explicit = node.getAttribute("role");
    if (explicit) return explicit.split(/\s+/)[0];
    return roleOf(node) || IMPLICIT_ROLES[node.tagName.toLowerCase()];
  }

  // Fields in insertion order within a budget; what does not fit marks the
  // view truncated.
  function fieldSink(max, chars, view) {
    var fields = {};
    var count = 0;
    return {
      fields: fields,
      put: function (key, value) {
        key = squeeze(key).toLowerCase();
        value = String(value || "").trim();
        if (!key || !value || Object.prototype.hasOwnProperty.call(fields, key)) return;
        if (count >= max) {
          view.truncated = true;
          return;
        }
        if (value.length > chars) view.truncated = true;
        fields[key] = clip(value, chars).trim();
        count += 1;
      },
    };
  }

  function firstShown(root, selector) {
    var found = root.querySelectorAll(selector);
    for (var i = 0; i < found.length; i += 1) if (!withheld(found[i]) && rendered(found[i])) return found[i];
    return null;
  }

  var TABLE = "table,[role=table],[role=grid],[role=treegrid]";
  var CELL = "td,th,[role=cell],[role=gridcell],[role=columnheader],[role=rowheader]";

  function cellsOf(row) {
    return Array.prototype.filter.call(row.querySelectorAll(CELL), function (cell) {
      return cell.closest("tr,[role=row]") === row;
    });
  }

  function isHeaderCell(cell) {
    var role = cell.getAttribute("role");
    return (role === "columnheader" || (!role && cell.tagName.toLowerCase() === "th")) && cell.getAttribute("scope") !== "row";
  }

  // The header cells of a table's first row made of header cells only (a
  // th beside data cells heads its row, not a column), or null.
  function columnHeaders(table) {
    var rows = table.querySelectorAll("tr,[role=row]");
    for (var i = 0; i < rows.length; i += 1) {
      if (rows[i].closest(TABLE) !== table) continue;
      var cells = cellsOf(rows[i]);
      if (cells.length && cells.every(isHeaderCell)) return { row: rows[i], cells: cells };
    }
    return null;
  }

  // A row's cells under the names of their column headers, by position, as
  // a screen reader announces them, and its <time datetime> as `date`.
  function rowFields(row, view) {
    var sink = fieldSink(ITEM_FIELDS, NAME_CHARS, view);
    var time = firstShown(row, "time[datetime]");
    if (time) sink.put("date", time.getAttribute("datetime"));
    var table = row.closest(TABLE);
    var headers = table && columnHeaders(table);
    if (!headers || headers.row === row) return sink.fields;
    cellsOf(row).forEach(function (cell, column) {
      var head = headers.cells[column];
      if (!head || withheld(cell) || !rendered(head)) return;
      sink.put(viewName(head), shownLine(cell, NAME_CHARS + 1));
    });
    return sink.fields;
  }

  // The open item's fields: all the text it shows (first, so that it is
  // always kept), its heading, date, description list terms, and the
  // ARIA-labelled parts that are not controls.
  function openFields(node, view) {
    var sink = fieldSink(OPEN_FIELDS, OPEN_FIELD_CHARS, view);
    sink.put("text", shownText(node, OPEN_FIELD_CHARS + 1));
    var heading = firstShown(node, "h1,h2,h3,h4,h5,h6,[role=heading]");
    if (heading) sink.put("heading", shownText(heading, OPEN_FIELD_CHARS + 1));
    var time = firstShown(node, "time[datetime]");
    if (time) sink.put("date", time.getAttribute("datetime"));
    var terms = node.querySelectorAll("dt");
    for (var i = 0; i < terms.length; i += 1) {
      var dd = terms[i].nextElementSibling;
      if (dd && dd.tagName.toLowerCase() === "dd" && !withheld(dd) && rendered(terms[i]) && rendered(dd)) {
        sink.put(shownLine(terms[i], NAME_CHARS), shownText(dd, OPEN_FIELD_CHARS + 1));
      }
    }
    var labelled = node.querySelectorAll("[aria-label]");
    for (var j = 0; j < labelled.length; j += 1) {
      var part = labelled[j];
      if (isControl(part) || isField(part) || withheld(part) || !rendered(part)) continue;
      sink.put(part.getAttribute("aria-label"), shownText(part, OPEN_FIELD_CHARS + 1));
    }
    return sink.fields;
  }

  function viewItem(node, view) {
    var item = {};
    var role = viewRole(node);
    if (role) item.role = role;
    var name = viewName(node);
    if (name) item.name = name;
    var attrs = Array.prototype.filter.call(node.attributes, function (a) {
      return a.name.indexOf("data-") === 0;
    });
    // Ids first: they are what a tool's arguments are made of.
    attrs.sort(function (a, b) {
      return Number(isIdName(b.name)) - Number(isIdName(a.name));
    });
    if (attrs.length > MAX_DATA) view.truncated = true;
    item.data = {};
    attrs.slice(0, MAX_DATA).forEach(function (a) {
      if (a.value.length > NAME_CHARS) view.truncated = true;
      item.data[a.name] = clip(a.value, NAME_CHARS);
    });
    if (role === "row") {
      var fields = rowFields(node, view);
      if (Object.keys(fields).length) item.fields = fields;
    }
    return item;
  }

  // The route's last part when it has more than one (#inbox/<id>), decoded.
  function routeId() {
    var parts = location.hash.replace(/^#/, "").split("/").filter(Boolean);
    if (parts.length < 2) return null;
    try {
      return decodeURIComponent(parts[parts.length - 1].replace(/\+/g, " "));
    } catch (e) {
      return null;
    }
  }

  function bytes(detail) {
    return utf8.encode(JSON.stringify(detail)).length;
  }

  function snapshot() {
    var view = { items: [], open: null, truncated: false, url: String(location.href) };
    var wanted = routeId();
    // Items found so far, with every id they and their enclosing items
    // carry: an element none of whose ids is new is part of its item.
    var carried = new Map();
    var all = document.body.getElementsByTagName("*");
    if (all.length > MAX_ELEMENTS) view.truncated = true;
    for (var i = 0; i < all.length && i < MAX_ELEMENTS; i += 1) {
      var node = all[i];
      var ids = idsOf(node);
      if (!ids.length) continue;
      var around = [];
      for (var up = node.parentElement; up; up = up.parentElement) if (carried.has(up)) around = around.concat(carried.get(up));
      if (ids.every(function (id) { return around.indexOf(id) >= 0; })) continue;
      if (withheld(node) || !onScreen(node)) continue;
      carried.set(node, ids);
      var opens = !view.open && wanted !== null && !isControl(node) && ids.some(function (id) {
        return id.substring(id.indexOf("=") + 1) === wanted;
      });
      if (opens) {
        view.open = viewItem(node, view);
        view.open.fields = openFields(node, view);
      } else if (view.items.length >= MAX_ITEMS) {
        view.truncated = true;
      } else {
        view.items.push(viewItem(node, view));
      }
    }
    // Within the size limit: the open item's text gives way first, then
    // items from the end.
    var over = bytes(view) - MAX_BYTES;
    if (over > 0 && view.open && view.open.fields.text) {
      // Each character cut saves at least a byte of JSON.
      view.open.fields.text = view.open.fields.text.substring(0, Math.max(0, view.open.fields.text.length - over));
      view.truncated = true;
    }
    while (bytes(view) > MAX_BYTES && view.items.length) {
      view.items.pop();
      view.truncated = true;
    }
    return view;
  }

  function writeView() {
    clearTimeout(quietTimer);
    watcher.disconnect();
    pendingSince = -1;
    var view;
    try {
      view = snapshot();
    } catch (e) {
      return;
    }
    // The same view again (a click that changed nothing) says nothing new.
    var key = JSON.stringify(view);
    if (key === lastView) return;
    lastView = key;
    emit("view", view);
  }

  // Checked when the quiet period could have ended, not on every mutation:
  // the observer only notes when the DOM last changed.
  function whenQuiet() {
    var left = Math.min(lastChange + QUIET, pendingSince + LONGEST) - perf.now();
    if (left > 0) quietTimer = setTimeout(whenQuiet, left);
    else writeView();
  }

  // A click, then the submit or route change it causes within SAME_ACTION
  // ms, share one view; a later action first writes the one still waiting.
  views.before = function () {
    if (pendingSince >= 0 && perf.now() - pendingSince > SAME_ACTION) writeView();
  };

  // A route change during the wait joins it without moving its deadline.
  views.after = function () {
    if (!document.body) return;
    lastChange = perf.now();
    if (pendingSince >= 0) return;
    pendingSince = lastChange;
    try {
      watcher.observe(document.documentElement, { subtree: true, childList: true, attributes: true, characterData: true });
    } catch (e) {
      /* the deadline still ends the wait */
    }
    quietTimer = setTimeout(whenQuiet, QUIET);
  };

  window.addEventListener("hashchange", views.after, true);
  window.addEventListener("popstate", views.after, true);
})();
