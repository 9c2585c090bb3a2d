// Tracepipe review controls on the session review page: confirm, change or
// delete each classified action, add a missed one over a time range, and
// complete the review (which re-synthesises the conversation). Every change
// goes through the /v1 review routes with the page's session cookie and its
// CSRF token, the one way the pages write; what the API refuses (a 422 names
// the argument) is shown beside the field that caused it.
'use strict';
(() => {
  const work = document.getElementById('review-work');
  const root = document.getElementById('review');
  if (!work || !root) return;
  const $ = (id) => document.getElementById(id);
  const exampleId = work.dataset.exampleId;
  const api = `/v1/examples/${exampleId}/review`;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const schemas = JSON.parse(work.dataset.tools || '{}');
  const toolNames = Object.keys(schemas);
  const stateLine = $('review-state');
  const announce = $('announce');
  const review = { state: 'open', items: [] };
  // Completed on this page: the actions shown are still the classified ones
  // the decisions were made on. A review completed before the page loaded
  // shows the reviewed actions instead, which no decision indexes.
  let completedHere = false;

  const DECISIONS = {
    pending: 'Not reviewed',
    confirmed: '✓ Confirmed',
    changed: '✎ Changed',
    deleted: '✗ Deleted',
  };

  const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

  function el(name, attrs = {}, ...children) {
    const node = document.createElement(name);
    Object.entries(attrs).forEach(([k, v]) => {
      if (k === 'text') node.textContent = v;
      else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : v);
    });
    node.append(...children);
    return node;
  }

  // The API's answer; a refusal's message (and field) as the error.
  async function send(method, url, body) {
    const response = await fetch(url, {
      method,
      headers: { Accept: 'application/json', 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = answer.error || {};
      const error = new Error(detail.message || `${method} ${url}: ${response.status}`);
      error.field = detail.field;
      throw error;
    }
    return answer;
  }

  // A starting point for a tool's arguments: its required properties, empty.
  function template(tool) {
    const schema = schemas[tool] || {};
    const out = {};
    (schema.required || []).forEach((name) => {
      const type = ((schema.properties || {})[name] || {}).type;
      out[name] = { string: '', number: 0, integer: 0, boolean: false, array: [], object: {} }[type] ?? null;
    });
    return out;
  }

  function parseArguments(text) {
    try {
      const value = JSON.parse(text);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
      return value;
    } catch (error) {
      const refusal = new Error('The arguments must be a JSON object, such as {"messageId": "…"}.');
      refusal.field = 'arguments';
      throw refusal;
    }
  }

  function showError(box, error) {
    box.textContent = error ? `${error.message}${error.field && error.field !== 'arguments' && error.field !== 'tool' ? ` (${error.field})` : ''}` : '';
    box.hidden = !error;
  }

  function toolSelect(id, selected) {
    const select = el('select', { id, name: 'tool' });
    const names = toolNames.includes(selected) || !selected ? toolNames : [selected, ...toolNames];
    names.forEach((name) => select.append(el('option', { value: name, text: name })));
    if (selected) select.value = selected;
    return select;
  }

  function badge(decision) {
    return el('span', { class: `badge decision decision-${decision}`, text: DECISIONS[decision] || decision });
  }

  // --- one classified action's controls.
  function renderControls(box, item) {
    const i = box.dataset.actionIndex;
    box.replaceChildren();
    if (!item) {
      box.append(el('p', { class: 'hint', text: 'Not part of the review.' }));
      return;
    }
    const status = el('p', { class: 'review-status' }, el('span', { text: 'Review: ' }), badge(item.decision));
    box.append(status);
    if (item.decision === 'changed') {
      box.append(el('pre', { class: 'arguments corrected' }, el('code', { text: `${item.tool}(${JSON.stringify(item.arguments, null, 2)})` })));
    }
    if (review.state !== 'open') return;
    const formId = `change-form-${i}`;
    const change = el('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false', 'aria-controls': formId, text: 'Change tool or arguments' });
    const confirm = el('button', { type: 'button', text: 'Confirm' });
    const remove = el('button', { type: 'button', class: 'danger', text: 'Delete' });
    const buttons = el('div', { class: 'actions' }, confirm, change, remove);
    const error = el('p', { class: 'field-error', id: `decide-error-${i}`, role: 'alert', hidden: true });
    const toolId = `change-tool-${i}`;
    const argsId = `change-arguments-${i}`;
    const select = toolSelect(toolId, item.tool);
    const args = el('textarea', { id: argsId, name: 'arguments', rows: 5, spellcheck: 'false', 'aria-describedby': `decide-error-${i}` });
    args.value = JSON.stringify(item.arguments, null, 2);
    select.addEventListener('change', () => {
      args.value = JSON.stringify(select.value === item.tool ? item.arguments : template(select.value), null, 2);
    });
    const cancel = el('button', { type: 'button', class: 'secondary', text: 'Cancel' });
    const form = el('form', { class: 'review-form', id: formId, hidden: true, novalidate: true, 'aria-label': `Change action ${Number(i) + 1}` },
      el('label', { for: toolId, text: 'Tool' }), select,
      el('label', { for: argsId, text: 'Arguments (JSON)' }), args,
      el('div', { class: 'actions' }, el('button', { type: 'submit', text: 'Save change' }), cancel));
    box.append(buttons, form, error);

    const decide = async (body, focusAfter) => {
      showError(error, null);
      try {
        await send('PUT', `${api}/items/${item.index}`, body);
        await load();
        announce.textContent = `Action ${Number(i) + 1}: ${DECISIONS[body.decision]}.`;
        const again = document.querySelector(`.review-controls[data-action-index="${i}"] ${focusAfter}`);
        if (again) again.focus();
      } catch (refusal) {
        showError(error, refusal);
        if (refusal.field && refusal.field.startsWith('arguments')) args.setAttribute('aria-invalid', 'true');
        else if (refusal.field === 'tool') select.setAttribute('aria-invalid', 'true');
      }
    };
    confirm.addEventListener('click', () => decide({ decision: 'confirmed' }, '.review-status'));
    remove.addEventListener('click', () => decide({ decision: 'deleted' }, '.review-status'));
    change.addEventListener('click', () => {
      form.hidden = false;
      change.setAttribute('aria-expanded', 'true');
      args.focus();
    });
    cancel.addEventListener('click', () => {
      form.hidden = true;
      showError(error, null);
      change.setAttribute('aria-expanded', 'false');
      change.focus();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      args.removeAttribute('aria-invalid');
      select.removeAttribute('aria-invalid');
      let parsed;
      try {
        parsed = parseArguments(args.value);
      } catch (refusal) {
        showError(error, refusal);
        args.setAttribute('aria-invalid', 'true');
        args.focus();
        return;
      }
      decide({ decision: 'changed', tool: select.value, arguments: parsed }, '.review-status');
    });
    // The review status can take focus after a decision, so the keyboard
    // stays where it was.
    status.tabIndex = -1;
  }

  // The decision, beside each action in the list too.
  function markList(item) {
    const button = document.querySelector(`#action-list button.action[data-index="${item.index}"]`);
    if (!button) return;
    let mark = button.querySelector('.decision');
    if (!mark) {
      mark = badge(item.decision);
      button.append(mark);
    }
    mark.className = `badge decision decision-${item.decision}`;
    mark.textContent = DECISIONS[item.decision] || item.decision;
  }

  function renderAdded() {
    const added = review.items.filter((item) => item.origin === 'added');
    const list = $('added-list');
    list.replaceChildren(...added.map((item) => {
      const li = el('li', { 'data-index': String(item.index) },
        el('code', { text: `${item.tool}(${JSON.stringify(item.arguments)})` }),
        el('span', { class: 'when', text: ` ${seconds(item.start_ms)} to ${seconds(item.end_ms)} ` }),
        item.decision === 'deleted' ? badge('deleted') : el('span', { class: 'badge decision decision-added', text: '＋ Added' }));
      if (review.state === 'open' && item.decision !== 'deleted') {
        const remove = el('button', { type: 'button', class: 'danger', text: 'Remove', 'aria-label': `Remove the added ${item.tool}` });
        remove.addEventListener('click', async () => {
          try {
            await send('PUT', `${api}/items/${item.index}`, { decision: 'deleted' });
            await load();
            announce.textContent = `The added ${item.tool} is removed.`;
            $('add-tool').focus();
          } catch (error) {
            showError($('add-error'), error);
          }
        });
        li.append(' ', remove);
      }
      return li;
    }));
    $('added-none').hidden = added.length > 0;
  }

  function render() {
    const classified = review.items.filter((item) => item.origin === 'classified');
    const decided = classified.filter((item) => item.decision !== 'pending').length;
    const added = review.items.filter((item) => item.origin === 'added' && item.decision !== 'deleted').length;
    stateLine.textContent = review.state === 'open'
      ? `Review open: ${decided} of ${classified.length} actions decided, ${added} added.`
      : 'Review completed: the conversation was re-synthesised from the reviewed actions.';
    work.dataset.reviewState = review.state;
    const open = review.state === 'open';
    if (open || completedHere) {
      document.querySelectorAll('.review-controls[data-action-index]').forEach((box) => {
        const item = classified.find((c) => c.index === Number(box.dataset.actionIndex));
        renderControls(box, item);
      });
      classified.forEach(markList);
    } else {
      document.querySelectorAll('.review-controls[data-action-index]').forEach((box) => {
        box.replaceChildren(el('p', { class: 'review-status' }, el('span', { class: 'badge decision decision-confirmed', text: '✓ Reviewed' }), ' This is the action as the review left it.'));
      });
    }
    renderAdded();
    $('add-form').closest('.review-add').hidden = !open;
    $('complete-review').hidden = !open;
    $('complete-help').hidden = !open;
    if (!open) $('chat-title').textContent = completedHere ? 'Conversation before the review' : 'Conversation (reviewed)';
  }

  async function load() {
    const answer = await send('GET', api);
    review.state = answer.state;
    review.items = answer.items;
    render();
  }

  // --- adding a missed action.
  const addForm = $('add-form');
  const addTool = $('add-tool');
  const addArgs = $('add-arguments');
  const addStart = $('add-start');
  const addEnd = $('add-end');
  const addError = $('add-error');
  const now = () => (Number(root.dataset.timeMs) || 0) / 1000;
  $('mark-start').addEventListener('click', () => {
    addStart.value = now().toFixed(3);
    announce.textContent = `Start marked at ${addStart.value} s.`;
  });
  $('mark-end').addEventListener('click', () => {
    addEnd.value = now().toFixed(3);
    announce.textContent = `End marked at ${addEnd.value} s.`;
  });
  addTool.addEventListener('change', () => { addArgs.value = JSON.stringify(template(addTool.value), null, 2); });
  if (addTool.value) addArgs.value = JSON.stringify(template(addTool.value), null, 2);
  addForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    [addArgs, addStart, addEnd, addTool].forEach((c) => c.removeAttribute('aria-invalid'));
    showError(addError, null);
    const start = Number(addStart.value);
    const end = addEnd.value === '' ? start : Number(addEnd.value);
    if (addStart.value === '' || !Number.isFinite(start) || !Number.isFinite(end)) {
      showError(addError, new Error('Set the time range: the start (and end) in seconds.'));
      addStart.setAttribute('aria-invalid', 'true');
      addStart.focus();
      return;
    }
    let parsed;
    try {
      parsed = parseArguments(addArgs.value);
    } catch (refusal) {
      showError(addError, refusal);
      addArgs.setAttribute('aria-invalid', 'true');
      addArgs.focus();
      return;
    }
    try {
      const item = await send('POST', `${api}/items`, {
        tool: addTool.value, arguments: parsed, start_ms: Math.round(start * 1000), end_ms: Math.round(end * 1000),
      });
      await load();
      announce.textContent = `Added ${item.tool} at ${seconds(item.start_ms)}.`;
      addStart.value = '';
      addEnd.value = '';
      addTool.focus();
    } catch (refusal) {
      showError(addError, refusal);
      const at = { tool: addTool, start_ms: addStart, end_ms: addEnd }[refusal.field] || (refusal.field && refusal.field.startsWith('arguments') ? addArgs : null);
      if (at) at.setAttribute('aria-invalid', 'true');
    }
  });

  // --- completing: the new conversation, shown below.
  function chatItem(message) {
    const li = el('li', { class: `msg ${message.role}` });
    const who = { system: 'System prompt', user: 'Request', assistant: 'Assistant', tool: 'Result' }[message.role] || message.role;
    li.append(el('div', { class: 'who', text: who }));
    if (typeof message.content === 'string' && message.content) {
      li.append(el('p', { class: 'content', text: message.role === 'system' ? `${message.content.slice(0, 200)}…` : message.content }));
    }
    (message.tool_calls || []).forEach((call) => {
      let args = call.function.arguments;
      try { args = JSON.stringify(JSON.parse(args), null, 2); } catch (e) { /* shown as sent */ }
      li.append(el('div', { class: 'call', 'data-call-id': call.id },
        el('div', { class: 'who' }, 'Tool call ', el('code', { text: call.function.name })),
        el('pre', {}, el('code', { text: args }))));
    });
    return li;
  }

  $('complete-review').addEventListener('click', async () => {
    const button = $('complete-review');
    showError(addError, null);
    button.disabled = true;
    try {
      await send('POST', `${api}/complete`);
      completedHere = true;
      await load();
      const response = await fetch(`/v1/examples/${exampleId}/messages`);
      if (!response.ok) throw new Error(`the new conversation: ${response.status}`);
      const messages = (await response.text()).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
      $('new-chat').replaceChildren(...messages.map(chatItem));
      $('new-conversation').hidden = false;
      work.dataset.completed = 'true';
      $('new-chat-title').focus();
      announce.textContent = `Review completed; the new conversation has ${messages.length} messages.`;
    } catch (error) {
      button.disabled = false;
      stateLine.textContent = `Could not complete the review: ${error.message}`;
    }
  });

  load().then(() => { work.dataset.ready = 'true'; }).catch((error) => {
    stateLine.textContent = `The review could not be loaded: ${error.message}`;
  });
})();
