// The inspector's outbox: every report is stored in IndexedDB (with its photos,
// already shrunk) under a key made on the device, then sent with that key as
// `Idempotency-Key`, so that a report is created once however often it is sent.
// Used by the page and by its service worker (Background Sync): no DOM here.
//
// A report's states: pending (waiting, maybe with a retry time), sending, failed
// (the server refused it for a reason the inspector can fix: it stays, with the
// reason, until edited or discarded), signin (the sign-in expired). A case that
// was created keeps its remaining photos here, each with its own key, until they
// are uploaded to /api/cases/{id}/photos?stage=report.

const DB_NAME = 'citygrid-inspector';
const DB_VERSION = 1;
const OUTBOX = 'outbox';
const KV = 'kv';
/** The channel the page and the service worker tell each other about changes on. */
export const CHANNEL = 'citygrid-outbox';
/** The Background Sync tag. */
export const SYNC_TAG = 'citygrid-outbox';
/** Retry delays: 2 s, doubling, at most 5 minutes, ±25 %. */
const FIRST_RETRY_MS = 2000;
const MAX_RETRY_MS = 5 * 60 * 1000;
/** Client errors that are worth retrying as they are. */
const RETRY_STATUS = [408, 425, 429];

let dbPromise = null;

/** Opens (and creates) the database. */
export function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(OUTBOX)) db.createObjectStore(OUTBOX, { keyPath: 'key' });
        if (!db.objectStoreNames.contains(KV)) db.createObjectStore(KV);
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    dbPromise.catch(() => { dbPromise = null; });
  }
  return dbPromise;
}

async function tx(store, mode, body) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode);
    let result;
    const request = body(t.objectStore(store));
    if (request) request.onsuccess = () => { result = request.result; };
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('transaction aborted'));
  });
}

/** A value of the key-value store (session, profile, grids, offline map). */
export const kvGet = (key) => tx(KV, 'readonly', (s) => s.get(key));
/** Stores a value. */
export const kvSet = (key, value) => tx(KV, 'readwrite', (s) => s.put(value, key));
/** Deletes a value. */
export const kvDelete = (key) => tx(KV, 'readwrite', (s) => s.delete(key));

/** Every report of the outbox, oldest first. */
export async function listOutbox() {
  const all = (await tx(OUTBOX, 'readonly', (s) => s.getAll())) || [];
  return all.sort((a, b) => a.created - b.created);
}
/** One report. */
export const getItem = (key) => tx(OUTBOX, 'readonly', (s) => s.get(key));
/** Stores a report. */
export const putItem = (item) => tx(OUTBOX, 'readwrite', (s) => s.put(item));
/** Removes a report. */
export const deleteItem = (key) => tx(OUTBOX, 'readwrite', (s) => s.delete(key));

/** Tells every page and the service worker that the outbox changed. */
export function announce(what = 'changed') {
  try {
    const channel = new BroadcastChannel(CHANNEL);
    channel.postMessage(what);
    channel.close();
  } catch {
    // No BroadcastChannel: the page re-reads the outbox after each run anyway.
  }
}

/**
 * A new report of `user` (its body as POST /api/cases takes it, photos as Blobs),
 * with a fresh idempotency key for the case and one per photo.
 */
export function newReport(user, body, photos) {
  return {
    key: crypto.randomUUID(),
    user,
    body,
    photos: photos.map((blob) => ({ key: crypto.randomUUID(), blob, type: blob.type || 'image/jpeg', id: null })),
    state: 'pending',
    created: Date.now(),
    attempts: 0,
    nextAt: 0,
    caseId: null,
    caseNo: null,
    error: null,
  };
}

/** The delay before retry number `attempts` (1, 2, …). */
export function retryDelay(attempts, random = Math.random()) {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.75 + random / 2));
}

/** One request: {kind: ok|retry|fixable|signin, data, reason, status}. */
async function call(path, { method = 'POST', headers = {}, body }, token) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { Accept: 'application/json', Authorization: `Bearer ${token}`, ...headers },
      body,
      cache: 'no-store',
    });
  } catch (e) {
    return { kind: 'retry', reason: `network error: ${e.message}` };
  }
  let data = null;
  try {
    const text = await response.text();
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.ok) return { kind: 'ok', data };
  const reason = (data && data.error) || `${response.status} ${response.statusText}`;
  // The server's reason in Chinese too: the page shows the reader's language.
  const reasonZh = (data && data.error_zh) || reason;
  if (response.status === 401) return { kind: 'signin', reason, reasonZh, status: 401 };
  if (response.status >= 500 || RETRY_STATUS.includes(response.status)) return { kind: 'retry', reason, reasonZh, status: response.status };
  return { kind: 'fixable', reason, reasonZh, status: response.status };
}

/** Sends one report (case, then its photos); returns the outcome kind. */
async function sendOne(item, token) {
  if (!item.caseId) {
    const r = await call('/api/cases', {
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': item.key },
      body: JSON.stringify(item.body),
    }, token);
    if (r.kind !== 'ok') return r;
    item.caseId = r.data.id;
    item.caseNo = r.data.case_no;
    item.duplicates = (r.data.duplicates || []).map((d) => d.case_no);
    await putItem(item);
  }
  for (const photo of item.photos) {
    if (photo.id) continue;
    const r = await call(`/api/cases/${encodeURIComponent(item.caseId)}/photos?stage=report`, {
      headers: { 'Content-Type': photo.type, 'Idempotency-Key': photo.key },
      body: photo.blob,
    }, token);
    if (r.kind !== 'ok') return { ...r, photo: true };
    photo.id = r.data.id;
    await putItem(item);
  }
  return { kind: 'ok' };
}

/** Keeps the last 20 sent reports (case numbers for the page's list). */
async function rememberSent(item) {
  const sent = (await kvGet('sent')) || [];
  sent.unshift({ key: item.key, user: item.user, caseNo: item.caseNo, caseId: item.caseId, category: item.body.category, photos: item.photos.length, at: Date.now() });
  await kvSet('sent', sent.slice(0, 20));
}

/** Runs `body` while no other page or worker works on the outbox. */
export async function withLock(body) {
  if (typeof navigator !== 'undefined' && navigator.locks) {
    return navigator.locks.request('citygrid-outbox', body);
  }
  return body();
}

/**
 * Sends what is due in the outbox of the signed-in user (`force`: also what waits
 * for its retry time; `only`: just this report). Returns {sent: [items], waiting,
 * failed, signin, nextAt}: nextAt is the earliest retry time (0: none).
 */
export function sendOutbox({ force = false, only = null, now = Date.now } = {}) {
  return withLock(async () => {
    const outcome = { sent: [], waiting: 0, failed: 0, signin: false, nextAt: 0 };
    const session = await kvGet('session');
    const items = await listOutbox();
    for (const item of items) {
      if (only && item.key !== only) continue;
      if (!session || !session.token || item.user !== session.username) {
        outcome.waiting += 1;
        continue;
      }
      if (item.state === 'failed') {
        outcome.failed += 1;
        continue;
      }
      if (outcome.signin || (!force && item.nextAt > now())) {
        outcome.waiting += 1;
        if (item.nextAt && (!outcome.nextAt || item.nextAt < outcome.nextAt)) outcome.nextAt = item.nextAt;
        continue;
      }
      item.state = 'sending';
      await putItem(item);
      announce();
      const r = await sendOne(item, session.token);
      if (r.kind === 'ok') {
        await deleteItem(item.key);
        await rememberSent(item);
        outcome.sent.push(item);
      } else if (r.kind === 'signin') {
        item.state = 'signin';
        item.error = r.reason;
        item.errorZh = r.reasonZh;
        await putItem(item);
        outcome.signin = true;
        outcome.waiting += 1;
      } else if (r.kind === 'fixable') {
        item.state = 'failed';
        item.error = r.reason;
        item.errorZh = r.reasonZh;
        item.status = r.status;
        await putItem(item);
        outcome.failed += 1;
      } else {
        item.attempts += 1;
        item.state = 'pending';
        item.error = r.reason;
        item.errorZh = r.reasonZh;
        item.nextAt = now() + retryDelay(item.attempts);
        await putItem(item);
        outcome.waiting += 1;
        if (!outcome.nextAt || item.nextAt < outcome.nextAt) outcome.nextAt = item.nextAt;
      }
      announce();
    }
    if (outcome.signin) {
      // The token is no good: forget it (the reports stay) until the next sign-in.
      await kvDelete('session');
    }
    return outcome;
  });
}

/** Reports that wait for their retry time are due now (the connection is back). */
export function retryNow() {
  return withLock(async () => {
    for (const item of await listOutbox()) {
      if (item.state === 'pending' || item.state === 'signin' || item.state === 'sending') {
        item.nextAt = 0;
        item.state = 'pending';
        await putItem(item);
      }
    }
  });
}
