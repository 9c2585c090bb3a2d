// An offscreen document that uploads for the service worker: a worker has
// only fetch, which cannot report how much of a request body was sent;
// XMLHttpRequest here can. Reads the recording from the queue itself, so the
// (possibly large) blob is never copied through a message.

import { getRecording } from "./queue.js";

const PROGRESS_STEP = 0.05;

function upload({ id, url, headers, suiteId, description }) {
  return new Promise((resolve) => {
    getRecording(id).then((entry) => {
      if (!entry) return resolve({ error: "the recording is no longer in the queue" });
      const form = new FormData();
      form.append("suite_id", suiteId);
      if (description) form.append("description", description);
      form.append("input_events", entry.blob, "recording.trace.json.gz");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      let reported = 0;
      xhr.upload.onprogress = (event) => {
        if (!event.lengthComputable) return;
        const fraction = event.loaded / event.total;
        if (fraction - reported < PROGRESS_STEP && fraction < 1) return;
        reported = fraction;
        chrome.runtime.sendMessage({ type: "upload-progress", id, fraction }).catch(() => {});
      };
      xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText, retryAfter: xhr.getResponseHeader("Retry-After") });
      xhr.onerror = () => resolve({ error: "the network request failed" });
      xhr.ontimeout = () => resolve({ error: "the request timed out" });
      xhr.send(form);
    }, (error) => resolve({ error: `reading the queue: ${error.message}` }));
  });
}

chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  if (message?.type !== "offscreen-upload") return false;
  upload(message).then(reply);
  return true;
});
