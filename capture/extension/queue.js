// Recordings not yet uploaded, kept in IndexedDB so that a failed upload, a
// closed browser or a restarted service worker never loses one. Each entry:
// {id (also the upload's Idempotency-Key), suiteId, suiteName, description,
//  pageUrl, blob (the gzipped trace), size, createdAt, state, attempts,
//  nextAttemptAt, lastError}. `state` is `waiting` (to upload, from
// nextAttemptAt), `held` (the person uploads it; auto upload is off) or
// `refused` (the server refused it as it is: only a person retries it).

const DB_NAME = "tracepipe-capture";
const STORE = "recordings";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "id" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run(mode, action) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
  } finally {
    db.close();
  }
}

export const putRecording = (entry) => run("readwrite", (store) => store.put(entry));
export const getRecording = (id) => run("readonly", (store) => store.get(id));
export const deleteRecording = (id) => run("readwrite", (store) => store.delete(id));
export const allRecordings = async () => (await run("readonly", (store) => store.getAll())).sort((a, b) => a.createdAt - b.createdAt);
