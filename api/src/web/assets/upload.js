// Tracepipe upload page: each chosen or dropped file is posted, one after
// the other, to POST /v1/sessions (the API the clients use) with the session
// cookie and the page's CSRF token; an XHR reports the bytes sent, shown in
// the file's progress bar, and the answer links to the new session.
'use strict';
(() => {
  const form = document.getElementById('upload-form');
  if (!form) return;
  const input = document.getElementById('files');
  const zone = document.getElementById('dropzone');
  const chosen = document.getElementById('chosen');
  const list = document.getElementById('upload-list');
  const status = document.getElementById('upload-status');
  const button = document.getElementById('upload-button');
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let files = [];

  function choose(fileList) {
    files = Array.from(fileList);
    chosen.textContent = files.length === 0
      ? 'No files chosen.'
      : `${files.length} file${files.length === 1 ? '' : 's'} chosen: ${files.map((f) => f.name).join(', ')}`;
  }

  input.addEventListener('change', () => choose(input.files));
  ['dragenter', 'dragover'].forEach((type) => zone.addEventListener(type, (event) => {
    event.preventDefault();
    zone.classList.add('over');
  }));
  ['dragleave', 'drop'].forEach((type) => zone.addEventListener(type, () => zone.classList.remove('over')));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length > 0) choose(event.dataTransfer.files);
  });

  // A key per file, so that a retried request cannot store the file twice.
  function idempotencyKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return `upload-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  }

  function row(file) {
    const item = document.createElement('li');
    item.className = 'upload-item';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = file.name;
    const bar = document.createElement('progress');
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute('aria-label', `Upload of ${file.name}`);
    const state = document.createElement('span');
    state.className = 'state';
    state.textContent = 'Waiting';
    item.append(name, bar, state);
    list.append(item);
    return { item, bar, state };
  }

  function send(file, fields, view) {
    return new Promise((resolve) => {
      const body = new FormData();
      body.append('suite_id', fields.suite);
      if (fields.description) body.append('description', fields.description);
      if (fields.screenshotsSafe) body.append('screenshots_safe', 'true');
      body.append('input_events', file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open('POST', form.dataset.endpoint);
      xhr.setRequestHeader('X-CSRF-Token', csrf);
      xhr.setRequestHeader('Idempotency-Key', idempotencyKey());
      xhr.responseType = 'json';
      xhr.upload.addEventListener('progress', (event) => {
        if (!event.lengthComputable) return;
        const percent = Math.round((event.loaded / event.total) * 100);
        view.bar.value = percent;
        view.state.textContent = `Sending, ${percent} %`;
      });
      xhr.upload.addEventListener('load', () => {
        view.bar.value = 100;
        view.state.textContent = 'Sent; storing…';
      });
      xhr.addEventListener('load', () => {
        const answer = xhr.response || {};
        view.state.textContent = '';
        if (xhr.status === 200 || xhr.status === 201) {
          view.item.classList.add('done');
          const link = document.createElement('a');
          link.href = `/sessions/${answer.id}`;
          link.textContent = answer.capture === 'pending'
            ? 'Stored: review session (being read)'
            : `Stored: review session (${answer.event_count} events)`;
          link.dataset.sessionId = answer.id;
          view.state.append(link);
          resolve(true);
        } else {
          view.item.classList.add('failed');
          const message = answer.error ? answer.error.message : `the server answered ${xhr.status}`;
          view.state.textContent = `Failed: ${message}`;
          resolve(false);
        }
      });
      xhr.addEventListener('error', () => {
        view.item.classList.add('failed');
        view.state.textContent = 'Failed: the connection was lost.';
        resolve(false);
      });
      view.state.textContent = 'Sending, 0 %';
      xhr.send(body);
    });
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (files.length === 0) {
      status.textContent = 'Choose or drop at least one file first.';
      input.focus();
      return;
    }
    const fields = {
      suite: form.elements.suite_id.value,
      description: form.elements.description.value.trim(),
      screenshotsSafe: form.elements.screenshots_safe.checked,
    };
    const batch = files;
    const views = batch.map(row);
    button.disabled = true;
    status.textContent = `Uploading ${batch.length} file${batch.length === 1 ? '' : 's'}…`;
    let stored = 0;
    for (let i = 0; i < batch.length; i += 1) {
      if (await send(batch[i], fields, views[i])) stored += 1;
    }
    button.disabled = false;
    status.textContent = `Done: ${stored} of ${batch.length} stored.`;
    choose([]);
    input.value = '';
  });
})();
