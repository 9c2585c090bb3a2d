// Tracepipe session review page. The server rendered the actions, their
// details and the conversation; this script fetches the timeline and the
// screenshots from the /v1 review routes a page at a time (never the whole
// recording), draws the time axis, keeps the frame, the screenshot strip and
// the transcript in step with the time, and highlights the selected action's
// evidence and tool call.
'use strict';
(() => {
  const root = document.getElementById('review');
  if (!root) return;
  const SVG = 'http://www.w3.org/2000/svg';
  const sessionId = root.dataset.sessionId;
  const pageLimit = Number(root.dataset.pageLimit) || 250;
  const api = `/v1/sessions/${sessionId}`;
  const $ = (id) => document.getElementById(id);
  const overview = $('overview');
  const lane = $('detail-lane');
  const scrub = $('scrub');
  const readout = $('time-readout');
  const frame = $('frame');
  const noFrame = $('no-frame');
  const caption = $('frame-caption');
  const strip = $('strip');
  const eventsList = $('events');
  const eventsRange = $('events-range');
  const earlier = $('events-earlier');
  const later = $('events-later');
  const announce = $('announce');
  const buttons = Array.from(document.querySelectorAll('#action-list button.action'));
  const actions = buttons.map((b) => ({
    button: b,
    index: Number(b.dataset.index),
    start: Number(b.dataset.startMs),
    end: Number(b.dataset.endMs),
    evidence: new Set((b.dataset.evidence || '').split(',').filter(Boolean).map(Number)),
    evidenceStart: b.dataset.evidenceStart === undefined ? null : Number(b.dataset.evidenceStart),
    evidenceEnd: b.dataset.evidenceEnd === undefined ? null : Number(b.dataset.evidenceEnd),
    level: b.dataset.level,
    tool: b.dataset.tool,
    confidence: Number(b.dataset.confidence),
    call: b.dataset.call || null,
  }));

  const view = {
    duration: 0,
    time: 0,
    shots: [],
    thumbs: [],
    events: { start: 0, items: [], next: null, total: 0 },
    selected: null,
    request: 0,
    shownShot: null,
  };

  const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  function svg(name, attrs, parent) {
    const el = document.createElementNS(SVG, name);
    Object.entries(attrs).forEach(([k, v]) => el.setAttribute(k, v));
    if (parent) parent.append(el);
    return el;
  }

  function patterns(target) {
    const defs = svg('defs', {}, target);
    const stripes = svg('pattern', { id: `${target.id}-medium`, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, defs);
    svg('rect', { width: 6, height: 6, fill: '#f5d889' }, stripes);
    svg('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#7d5200', 'stroke-width': 3 }, stripes);
    const hatch = svg('pattern', { id: `${target.id}-low`, width: 6, height: 6, patternUnits: 'userSpaceOnUse' }, defs);
    svg('rect', { width: 6, height: 6, fill: '#f7c6c6' }, hatch);
    svg('path', { d: 'M0 0 L6 6 M6 0 L0 6', stroke: '#a4161a', 'stroke-width': 1.5 }, hatch);
  }

  function fill(target, level) {
    if (level === 'high') return '#1a6b34';
    return `url(#${target.id}-${level})`;
  }

  function width(target) {
    const w = Math.max(200, Math.round(target.getBoundingClientRect().width));
    target.setAttribute('viewBox', `0 0 ${w} ${target.id === 'overview' ? 64 : 132}`);
    target.removeAttribute('preserveAspectRatio');
    return w;
  }

  // --- the whole recording: actions, screenshots, the shown events' band.
  function drawOverview() {
    const w = width(overview);
    overview.replaceChildren();
    patterns(overview);
    const x = (ms) => (view.duration > 0 ? (ms / view.duration) * w : 0);
    svg('rect', { x: 0, y: 0, width: w, height: 64, fill: '#f3f6f9' }, overview);
    const items = view.events.items;
    if (items.length > 0) {
      const a = x(items[0].t_ms);
      svg('rect', { class: 'band', x: a, y: 0, width: Math.max(2, x(items[items.length - 1].t_ms) - a), height: 64, fill: '#dbe9f7' }, overview);
    }
    actions.forEach((action) => {
      const selected = view.selected === action.index;
      const rect = svg('rect', {
        class: `seg${selected ? ' selected' : ''}`,
        x: x(action.start), y: 6, width: Math.max(3, x(action.end) - x(action.start)), height: 30,
        fill: fill(overview, action.level), stroke: selected ? '#e8a100' : '#1b1f24', 'stroke-width': selected ? 3 : 0.5,
      }, overview);
      svg('title', {}, rect).textContent = `Action ${action.index + 1}: ${action.tool}, ${action.level} confidence ${action.confidence.toFixed(2)}`;
    });
    view.shots.forEach((shot) => {
      svg('line', { x1: x(shot.t_ms), x2: x(shot.t_ms), y1: 44, y2: 58, stroke: '#4a535e', 'stroke-width': 1 }, overview);
    });
    svg('line', { class: 'cursor', x1: x(view.time), x2: x(view.time), y1: 0, y2: 64, stroke: '#e8a100', 'stroke-width': 2 }, overview);
  }

  const KINDS = [
    ['click', ['click', 'submit']],
    ['change', ['change', 'input']],
    ['key', ['key']],
    ['navigation', ['navigation']],
    ['request', ['network_request']],
    ['other', ['scroll', 'screenshot']],
  ];
  const rowOf = (kind) => Math.max(0, KINDS.findIndex(([, kinds]) => kinds.includes(kind)));

  // --- the shown page of events over its own time span, by kind.
  function drawLane() {
    const w = width(lane);
    lane.replaceChildren();
    patterns(lane);
    const items = view.events.items;
    const labelW = 80;
    const from = items.length ? items[0].t_ms : 0;
    const to = items.length ? Math.max(items[items.length - 1].t_ms, from + 1) : 1;
    const x = (ms) => labelW + ((ms - from) / (to - from)) * (w - labelW - 8);
    const top = 26;
    const rowH = 17;
    KINDS.forEach(([label], i) => {
      svg('rect', { x: 0, y: top + i * rowH, width: w, height: rowH, fill: i % 2 ? '#ffffff' : '#f6f8fa' }, lane);
      svg('text', { x: 4, y: top + i * rowH + 12, 'font-size': 11, fill: '#4a535e' }, lane).textContent = label;
    });
    svg('text', { x: 4, y: 16, 'font-size': 11, fill: '#4a535e' }, lane).textContent = 'actions';
    actions.filter((a) => a.end >= from && a.start <= to).forEach((action) => {
      const a = x(Math.max(from, action.start));
      const rect = svg('rect', {
        x: a, y: 4, width: Math.max(3, x(Math.min(to, action.end)) - a), height: 18,
        fill: fill(lane, action.level), stroke: view.selected === action.index ? '#e8a100' : 'none', 'stroke-width': 3,
      }, lane);
      svg('title', {}, rect).textContent = `Action ${action.index + 1}: ${action.tool}`;
    });
    const evidence = view.selected === null ? new Set() : actions[view.selected].evidence;
    items.forEach((event) => {
      const ex = x(event.t_ms);
      const row = rowOf(event.kind);
      const hit = evidence.has(event.index);
      svg('line', {
        x1: ex, x2: ex, y1: top + row * rowH + 2, y2: top + row * rowH + rowH - 2,
        stroke: hit ? '#e8a100' : '#0b5cad', 'stroke-width': hit ? 4 : 1.5,
      }, lane);
      if (hit) svg('circle', { cx: ex, cy: top + row * rowH + rowH / 2, r: 3, fill: '#1b1f24' }, lane);
    });
    if (view.time >= from && view.time <= to) {
      svg('line', { x1: x(view.time), x2: x(view.time), y1: 0, y2: 132, stroke: '#e8a100', 'stroke-width': 2 }, lane);
    }
  }

  // --- screenshots: the frame at a time, the strip.
  function shotAt(ms) {
    const shots = view.shots;
    if (shots.length === 0) return null;
    let lo = 0;
    let hi = shots.length - 1;
    if (ms <= shots[0].t_ms) return 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (shots[mid].t_ms <= ms) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  function showFrame(ms) {
    const at = shotAt(ms);
    if (at === null) return;
    const shot = view.shots[at];
    if (view.shownShot !== at) {
      frame.src = shot.url;
      frame.alt = `Screenshot at ${seconds(shot.t_ms)}`;
      caption.textContent = `Screenshot ${at + 1} of ${view.shots.length}, at ${seconds(shot.t_ms)}`;
      if (view.thumbs[view.shownShot]) {
        view.thumbs[view.shownShot].classList.remove('current');
        view.thumbs[view.shownShot].removeAttribute('aria-current');
      }
      const thumb = view.thumbs[at];
      if (thumb) {
        thumb.classList.add('current');
        thumb.setAttribute('aria-current', 'true');
        const left = thumb.offsetLeft - strip.clientWidth / 2 + thumb.clientWidth / 2;
        strip.scrollLeft = Math.max(0, left);
      }
      view.shownShot = at;
    }
    frame.hidden = false;
    noFrame.hidden = true;
  }

  // Until the screenshot list arrives (a long recording's takes a while),
  // the first frame the shown events name.
  function provisionalFrame(items) {
    const first = items.find((event) => event.screenshot);
    if (!first || !frame.hidden) return;
    frame.src = `${api}/screenshots/${encodeURIComponent(first.screenshot)}`;
    frame.alt = `Screenshot at ${seconds(first.t_ms)}`;
    caption.textContent = `Screenshot at ${seconds(first.t_ms)}; the strip is loading.`;
    frame.hidden = false;
    noFrame.hidden = true;
  }

  function addThumbs(shots) {
    if (view.thumbs.length === 0) strip.replaceChildren();
    shots.forEach((shot) => {
      const i = view.thumbs.length;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'thumb';
      button.tabIndex = -1;
      button.dataset.shot = String(i);
      const img = document.createElement('img');
      img.loading = 'lazy';
      img.decoding = 'async';
      img.width = 128;
      img.height = 80;
      img.alt = `Screenshot at ${seconds(shot.t_ms)}`;
      img.src = shot.url;
      const label = document.createElement('span');
      label.textContent = seconds(shot.t_ms);
      label.setAttribute('aria-hidden', 'true');
      button.append(img, label);
      button.addEventListener('click', () => setTime(shot.t_ms, { events: true }));
      button.addEventListener('mouseenter', () => showFrame(shot.t_ms));
      button.addEventListener('mouseleave', () => showFrame(view.time));
      strip.append(button);
      view.thumbs.push(button);
    });
  }

  async function loadScreenshots() {
    let cursor = null;
    do {
      const page = await getJson(`${api}/screenshots?limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`);
      view.shots.push(...page.items);
      addThumbs(page.items);
      showFrame(view.time);
      cursor = page.next_cursor === undefined ? null : page.next_cursor;
    } while (cursor !== null);
    if (view.shots.length === 0) {
      noFrame.textContent = 'This recording has no stored screenshots.';
      strip.replaceChildren();
      const none = document.createElement('p');
      none.className = 'hint';
      none.textContent = 'No screenshots.';
      strip.append(none);
    }
    drawOverview();
  }

  // --- the transcript: one page of events at a time.
  function describe(event) {
    const parts = [];
    if (event.label) parts.push(event.label);
    const t = event.target;
    if (t) {
      const what = [t.role || t.tag, t.name ? `“${t.name}”` : '', t.id ? `#${t.id}` : ''].filter(Boolean).join(' ');
      if (what && what !== event.label) parts.push(what);
    }
    if (event.masked) parts.push('value withheld (masked)');
    else if (event.value !== undefined) parts.push(`= “${event.value}”`);
    if (event.key) parts.push(`key ${event.key}`);
    if (event.method) parts.push(event.method);
    if (event.url) parts.push(event.url);
    if (event.status !== undefined) parts.push(`→ ${event.status}`);
    return parts.join(' · ');
  }

  function renderEvents() {
    const { items, start, total } = view.events;
    const evidence = view.selected === null ? new Set() : actions[view.selected].evidence;
    const rows = items.map((event) => {
      const li = document.createElement('li');
      li.dataset.index = String(event.index);
      li.className = `ev kind-${event.kind}`;
      const time = document.createElement('span');
      time.className = 't';
      time.textContent = seconds(event.t_ms);
      const kind = document.createElement('span');
      kind.className = 'kind';
      kind.textContent = event.kind.replace('_', ' ');
      const what = document.createElement('span');
      what.className = 'what';
      what.textContent = describe(event);
      li.append(time, kind, what);
      if (evidence.has(event.index)) {
        li.classList.add('evidence');
        const mark = document.createElement('span');
        mark.className = 'mark';
        mark.textContent = 'Evidence';
        li.prepend(mark);
      }
      return li;
    });
    eventsList.replaceChildren(...rows);
    eventsList.start = start + 1;
    eventsRange.textContent = items.length
      ? `Events ${start + 1}–${start + items.length} of ${total}`
      : `No events (${total} in all)`;
    earlier.disabled = start === 0;
    later.disabled = view.events.next === null;
    markNow();
  }

  function markNow() {
    let now = null;
    eventsList.querySelectorAll('li').forEach((li, i) => {
      li.classList.remove('now');
      li.removeAttribute('aria-current');
      if (view.events.items[i].t_ms <= view.time) now = li;
    });
    if (now) {
      now.classList.add('now');
      now.setAttribute('aria-current', 'true');
    }
  }

  async function loadEvents(query) {
    const request = (view.request += 1);
    const page = await getJson(`${api}/events?${query}`);
    if (request !== view.request) return false;
    view.duration = page.duration_ms;
    view.events = {
      start: page.items.length ? page.items[0].index : Math.min(page.total, view.events.start),
      items: page.items,
      next: page.next_cursor === undefined ? null : page.next_cursor,
      total: page.total,
    };
    scrub.max = String(Math.ceil(view.duration));
    if (view.shots.length === 0) provisionalFrame(page.items);
    renderEvents();
    drawOverview();
    drawLane();
    return true;
  }

  function eventsShowTime(ms) {
    const items = view.events.items;
    if (items.length === 0) return false;
    const last = view.events.next === null ? Infinity : items[items.length - 1].t_ms;
    return ms >= items[0].t_ms && ms <= last;
  }

  let pending = null;
  function setTime(ms, { events = false } = {}) {
    view.time = Math.max(0, Math.min(ms, view.duration || ms));
    scrub.value = String(Math.round(view.time));
    readout.textContent = seconds(view.time);
    // For the review controls: "mark start/end" take the time shown.
    root.dataset.timeMs = String(view.time);
    scrub.setAttribute('aria-valuetext', seconds(view.time));
    showFrame(view.time);
    drawOverview();
    if (events && !eventsShowTime(view.time)) {
      // While scrubbing, fetch once the thumb rests.
      clearTimeout(pending);
      pending = setTimeout(() => loadEvents(`after_ms=${view.time}&limit=${pageLimit}`).catch(report), 120);
    } else {
      markNow();
      drawLane();
    }
  }

  // --- actions.
  function selectAction(i, { focus = false } = {}) {
    const action = actions[i];
    if (!action) return;
    view.selected = i;
    actions.forEach((a) => a.button.setAttribute('aria-pressed', String(a.index === i)));
    document.querySelectorAll('.action-detail').forEach((d) => { d.hidden = d.id !== `action-detail-${i}`; });
    $('no-action').hidden = true;
    if (focus) action.button.focus();
    document.querySelectorAll('.call.selected').forEach((c) => c.classList.remove('selected'));
    if (action.call) {
      const call = document.querySelector(`.call[data-call-id="${CSS.escape(action.call)}"]`);
      if (call) {
        call.classList.add('selected');
        const chat = $('chat');
        chat.scrollTop = call.offsetTop - chat.offsetTop - 8;
      }
    }
    announce.textContent = `Action ${i + 1}: ${action.tool}, ${action.level} confidence ${action.confidence.toFixed(2)}, ${action.evidence.size} evidence events.`;
    view.time = action.start;
    const after = () => {
      setTime(action.start);
      const first = eventsList.querySelector('li.evidence');
      if (first) eventsList.scrollTop = first.offsetTop - eventsList.offsetTop - 24;
    };
    if (action.evidenceStart !== null) {
      const from = Math.max(0, action.evidenceStart - 5);
      const span = action.evidenceEnd - from + 10;
      const limit = Math.min(1000, Math.max(pageLimit, span));
      loadEvents(`cursor=${from}&limit=${limit}`).then((fresh) => { if (fresh) after(); }).catch(report);
    } else {
      renderEvents();
      after();
    }
  }

  buttons.forEach((b, i) => b.addEventListener('click', () => selectAction(i)));
  const list = $('action-list');
  if (list) {
    list.addEventListener('keydown', (event) => {
      const at = buttons.indexOf(document.activeElement);
      if (at < 0) return;
      const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: buttons.length - 1 }[event.key];
      if (to === undefined) return;
      event.preventDefault();
      selectAction(Math.max(0, Math.min(buttons.length - 1, to)), { focus: true });
    });
  }

  // --- time controls.
  scrub.addEventListener('input', () => setTime(Number(scrub.value), { events: true }));
  overview.addEventListener('click', (event) => {
    const box = overview.getBoundingClientRect();
    setTime(((event.clientX - box.left) / box.width) * view.duration, { events: true });
  });
  overview.addEventListener('mousemove', (event) => {
    const box = overview.getBoundingClientRect();
    showFrame(((event.clientX - box.left) / box.width) * view.duration);
  });
  overview.addEventListener('mouseleave', () => showFrame(view.time));
  strip.addEventListener('keydown', (event) => {
    if (view.shots.length === 0) return;
    const at = view.shownShot === null ? 0 : view.shownShot;
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: view.shots.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    const shot = view.shots[Math.max(0, Math.min(view.shots.length - 1, to))];
    setTime(shot.t_ms, { events: true });
  });
  earlier.addEventListener('click', () => {
    loadEvents(`cursor=${Math.max(0, view.events.start - pageLimit)}&limit=${pageLimit}`).catch(report);
  });
  later.addEventListener('click', () => {
    if (view.events.next !== null) loadEvents(`cursor=${view.events.next}&limit=${pageLimit}`).catch(report);
  });
  window.addEventListener('resize', () => { drawOverview(); drawLane(); });

  function report(error) {
    eventsRange.textContent = `Could not load: ${error.message}`;
  }

  loadEvents(`limit=${pageLimit}`).then(() => {
    scrub.step = '100';
    root.dataset.timelineReady = 'true';
    // The review queue links to an action: `#action-<index>`.
    const linked = /^#action-(\d+)$/.exec(window.location.hash);
    if (linked && actions[Number(linked[1])]) selectAction(Number(linked[1]), { focus: true });
  }).catch(report);
  loadScreenshots().then(() => { root.dataset.screenshotsReady = 'true'; }).catch((error) => {
    noFrame.textContent = `Screenshots could not be loaded: ${error.message}`;
  });
})();
