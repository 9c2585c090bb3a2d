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
 *     written as strings only ("true", not true).
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
      if (hasState(node)) clickLater(node, { target: describe(node) });
      else emit("click", { target: describe(node) });
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
      if (ev.target instanceof Element) emit("submit", { target: describe(ev.target) });
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
})();
