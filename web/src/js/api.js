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
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
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

/** Formats an ISO time as local "YYYY-MM-DD HH:MM". */
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
