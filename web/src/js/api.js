// Calls to the citygrid HTTP API: JSON in and out, the bearer token from
// localStorage, errors as Error objects carrying the server's message.

import { lang } from './i18n.js';

const TOKEN = 'citygrid.session';

/** The signed-in session {token, role, username, department} or null. */
export function session() {
  try {
    // localStorage: every page and tab of this browser shares the sign-in
    // (sessionStorage: an older page's copy, still read).
    return JSON.parse(localStorage.getItem(TOKEN) || sessionStorage.getItem(TOKEN) || 'null');
  } catch {
    return null;
  }
}

/** Puts back a session kept elsewhere (the inspector's offline copy). */
export function restoreSession(s) {
  if (s && s.token) localStorage.setItem(TOKEN, JSON.stringify(s));
}

/** Signs in; keeps the token in localStorage, shared by the pages and tabs of this
 * browser until it expires or someone signs out. */
export async function login(username, password) {
  const s = await api('/api/auth/login', { method: 'POST', body: { username, password }, anonymous: true });
  localStorage.setItem(TOKEN, JSON.stringify(s));
  return s;
}

/** Forgets the session here (every tab of this browser). */
export function forgetSession() {
  localStorage.removeItem(TOKEN);
  sessionStorage.removeItem(TOKEN);
}

/** Calls `onChange()` when another tab signs in or out. */
export function onSessionChange(onChange) {
  window.addEventListener('storage', (e) => {
    if (e.key === TOKEN || e.key === null) onChange();
  });
}

/** Signs out (revokes the token on the server, forgets it here). */
export async function logout() {
  try {
    await api('/api/auth/logout', { method: 'POST' });
  } catch {
    // The token may be expired already; forget it anyway.
  }
  forgetSession();
}

/** The message of an error answer `data` ({error, error_zh, detail}) in the reader's
 * language: the server sends every error in English (`error`) and Chinese
 * (`error_zh`). `fallback` when the answer has none. */
export function errorText(data, fallback = '') {
  if (!data || typeof data !== 'object') return fallback;
  return (lang() === 'zh' && data.error_zh) || data.error || fallback;
}

/** An error answer of the API. */
export class ApiError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

/**
 * Calls the API. `body` is sent as JSON unless it is FormData; returns parsed JSON
 * (or null for an empty answer); throws ApiError with the server's message.
 */
export async function api(path, { method = 'GET', body, anonymous = false, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  const s = session();
  if (s && s.token && !anonymous) h.Authorization = `Bearer ${s.token}`;
  let payload;
  if (body instanceof FormData || body instanceof Blob) {
    payload = body;
  } else if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers: h, body: payload });
  } catch (e) {
    throw new ApiError(0, `${lang() === 'zh' ? '网络错误' : 'network error'}: ${e.message}`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    if (response.status === 401 && s && !anonymous) forgetSession();
    const message = errorText(data, `${response.status} ${response.statusText}`);
    throw new ApiError(response.status, message, data && data.detail);
  }
  return data;
}

/** Builds a query string from an object, leaving out empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

/** Creates an element: el('div', {class: 'x', onclick: f}, 'text', child…). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'style') Object.assign(node.style, v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** The city's time zone (GET /api/home `timezone`): every date and time the pages show
 * or read is in it, not in the browser's zone. Unset: the browser's. */
let cityZone = null;

/** Sets the zone `when()` and `fromZoned()` use (an IANA name; ignored when unknown). */
export function setTimeZone(tz) {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz }).format(0);
    cityZone = tz;
  } catch {
    cityZone = null;
  }
}

/** The zone in use (the city's, else the browser's). */
export function timeZone() {
  return cityZone || Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Loads the city's time zone from GET /api/home (once; kept if it fails). */
export async function loadTimeZone() {
  try {
    const r = await fetch('/api/home');
    if (r.ok) setTimeZone((await r.json()).timezone);
  } catch {
    // the browser's zone stays
  }
  return timeZone();
}

/** The wall-clock fields {y, mo, d, h, mi, s} of instant `ms` in zone `tz`. */
export function zonedParts(ms, tz = timeZone()) {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { y: Number(p.year), mo: Number(p.month), d: Number(p.day), h: Number(p.hour) % 24, mi: Number(p.minute), s: Number(p.second) };
}

/** Formats an ISO time as "YYYY-MM-DD HH:MM" in the city's time zone. */
export function when(iso, tz = timeZone()) {
  if (!iso) return '';
  const ms = new Date(iso).getTime();
  if (Number.isNaN(ms)) return String(iso);
  const q = zonedParts(ms, tz);
  const p = (n) => String(n).padStart(2, '0');
  return `${q.y}-${p(q.mo)}-${p(q.d)} ${p(q.h)}:${p(q.mi)}`;
}

/** The instant (ISO, UTC) of wall-clock time "YYYY-MM-DDTHH:MM" (a datetime-local
 * input's value) in the city's time zone; null when it does not parse. */
export function fromZoned(value, tz = timeZone()) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value || '');
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x || 0));
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  // The zone's offset at a guess, then at the result (right across a DST change).
  const offset = (ms) => {
    const q = zonedParts(ms, tz);
    return Date.UTC(q.y, q.mo - 1, q.d, q.h, q.mi, q.s) - Math.floor(ms / 1000) * 1000;
  };
  let ms = wall - offset(wall);
  ms = wall - offset(ms);
  return new Date(ms).toISOString();
}
