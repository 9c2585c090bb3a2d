// Tracepipe review queue page: the pending actions of the signed-in user's
// open reviews from GET /v1/review-queue (low-confidence first, as the API
// orders them), a page at a time, each linking to its review page with the
// action selected.
'use strict';
(() => {
  const rows = document.getElementById('queue-rows');
  if (!rows) return;
  const status = document.getElementById('queue-status');
  const more = document.getElementById('queue-more');
  let cursor = 0;
  let shown = 0;

  const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function row(entry) {
    const tr = document.createElement('tr');
    tr.dataset.lowConfidence = String(entry.low_confidence);
    const confidence = document.createElement('td');
    const badge = document.createElement('span');
    const low = entry.low_confidence;
    badge.className = `badge ${low ? 'conf-low' : 'conf-high'}`;
    const figure = entry.confidence === null ? 'added' : entry.confidence.toFixed(2);
    badge.textContent = low ? `⚠ Low ${figure}` : figure;
    confidence.append(badge);
    const review = document.createElement('td');
    const link = document.createElement('a');
    link.href = `/sessions/${entry.session_id}?example=${entry.example_id}#action-${entry.index}`;
    link.textContent = `Review action ${entry.index + 1}`;
    link.setAttribute('aria-label', `Review ${entry.action} (${entry.tool}) at ${seconds(entry.start_ms)}`);
    review.append(link);
    tr.append(cell(entry.action), cell(entry.tool, 'mono'), confidence, cell(seconds(entry.start_ms)), review);
    return tr;
  }

  async function loadPage() {
    more.disabled = true;
    const response = await fetch(`/v1/review-queue?cursor=${cursor}&limit=50`, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(`the queue: ${response.status}`);
    const page = await response.json();
    rows.append(...page.data.map(row));
    shown += page.data.length;
    cursor = page.next_cursor;
    more.hidden = cursor === null || cursor === undefined;
    more.disabled = false;
    status.textContent = shown === 0 ? 'Nothing waits for review.' : `${shown} actions waiting for review${more.hidden ? '' : ' so far'}.`;
    document.getElementById('review-queue').dataset.ready = 'true';
  }

  const report = (error) => { status.textContent = `The queue could not be loaded: ${error.message}`; };
  more.addEventListener('click', () => loadPage().catch(report));
  loadPage().catch(report);
})();
