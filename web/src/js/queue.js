// The console's queue: server-side search and filters, sorting and paging with the
// total, the listed cases on a map beside the list (click a marker or a row to open
// the case), a countdown to each case's current deadline, and the live queue
// (Server-Sent Events from /api/cases/events, read with fetch so that the bearer
// token goes in a header) with a visible and audible alert for new cases on the
// acceptor's desk.

import { api, el, forgetSession, qs, session } from './api.js';
import { t, lang } from './i18n.js';
import { statusColourExpression } from './cases-layer.js';
import { caseItem, markPoint } from './casekit.js';
import { createMap } from './mapkit.js';

/** The open states. */
export const OPEN = ['reported', 'verifying', 'verified', 'registered', 'dispatched', 'handling', 'suspended', 'handled', 'checking', 'checked', 'returned'];

/** The states each role works on (the queue tab). Dispatched and handling cases
 * need the dispatcher only for an extension request: the "Extension requests"
 * filter shows those. */
export const QUEUES = {
  acceptor: ['reported', 'verified', 'handled'],
  shift_leader: ['checked', 'reported', 'verified', 'suspended', 'handled'],
  dispatcher: ['registered', 'returned', 'handled', 'suspended'],
  department: ['dispatched', 'handling'],
  inspector: ['verifying', 'checking'],
  admin: OPEN,
};

const STATES = ['reported', 'verifying', 'verified', 'registered', 'dispatched', 'handling', 'suspended', 'handled', 'checking', 'checked', 'returned', 'closed', 'voided'];
const SOURCES = ['inspector', 'public', 'hotline', 'open311', 'video', 'sensor', 'superior', 'console'];
/** Roles whose desk is alerted (sound and banner) when a case is reported. */
const ALERTED = ['acceptor', 'shift_leader'];
/** Rows per page. */
export const PAGE = 50;

const q = {
  me: null,
  cats: { categories: [] },
  departments: [],
  view: 'queue',
  offset: 0,
  total: 0,
  cases: [],
  selected: null,
  onOpen: null,
  onChanged: null,
  map: null,
  mapReady: null,
  fitted: false,
  reloadTimer: null,
  loading: null,
};

const $ = (id) => document.getElementById(id);
const sourceKey = (s) => `src${s[0].toUpperCase()}${s.slice(1)}`;

/** The name of a role in the current language. */
export function roleName(role) {
  const key = { admin: 'roleAdmin', inspector: 'roleInspector', acceptor: 'roleAcceptor', dispatcher: 'roleDispatcher', shift_leader: 'roleShiftLeader', department: 'roleDepartment' }[role];
  return key ? t(key) : role;
}

/** "2 h 13 min left" / "overdue by 1 h 5 min" for an ISO deadline at `now` (ms). */
export function countdownText(due, now = Date.now()) {
  if (!due) return t('noDeadline');
  const ms = new Date(due).getTime() - now;
  if (Number.isNaN(ms)) return '';
  const m = Math.floor(Math.abs(ms) / 60000);
  const d = Math.floor(m / 1440);
  const h = Math.floor((m % 1440) / 60);
  const parts = [];
  if (d) parts.push(`${d} ${t('days')}`);
  if (d || h) parts.push(`${h} ${t('hoursShort')}`);
  parts.push(`${m % 60} ${t('minutesShort')}`);
  const span = parts.join(' ');
  if (ms < 0) return `${t('overdueBy')} ${span}`;
  return lang() === 'zh' ? `${t('left')} ${span}` : `${span} ${t('left')}`;
}

/** A countdown element for case `c` (kept current by the page's ticker). */
export function countdown(c) {
  const running = c.due_at && !['suspended', 'closed', 'voided'].includes(c.status);
  return el('span', { class: 'countdown', dataset: running ? { due: c.due_at } : {} }, running ? countdownText(c.due_at) : t('noDeadline'));
}

function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll('.countdown[data-due]')) {
    const text = countdownText(node.dataset.due, now);
    if (node.textContent !== text) node.textContent = text;
    node.classList.toggle('late', new Date(node.dataset.due).getTime() < now);
  }
}

function option(value, text) {
  return el('option', { value }, text);
}

function depName(code) {
  const d = q.departments.find((x) => x.code === code);
  if (!d) return code || '';
  return lang() === 'zh' ? d.name : (d.name_en || d.name);
}

/** Fills the filters' choices (again after a language change). */
export function fillFilters() {
  const keep = (id, build) => {
    const s = $(id);
    const v = s.value;
    s.replaceChildren(...build());
    s.value = v;
  };
  keep('f-status', () => [option('', t(q.view === 'queue' ? 'queueStatuses' : 'allStatuses')), ...STATES.map((s) => option(s, statusNameOf(s)))]);
  keep('f-category', () => [option('', t('allCategories')), ...q.cats.categories.map((c) => option(c.code, `${c.code} ${lang() === 'zh' ? c.name_zh : c.name_en}`))]);
  keep('f-department', () => [option('', t('allDepartments')), ...q.departments.map((d) => option(d.code, `${depName(d.code)} (${d.code})`))]);
  keep('f-source', () => [option('', t('allSources')), ...SOURCES.map((s) => option(s, t(sourceKey(s))))]);
  keep('f-due', () => [option('', t('anyDeadline')), ...[2, 8, 24, 72].map((h) => option(String(h), `${t('dueWithin')} ${h} ${t('hours')}`))]);
  keep('f-sort', () => [option('', t('sortNewest')), option('id', t('sortOldest')), option('-reported', t('sortReportedDesc')), option('deadline', t('sortDeadline')), option('status', t('sortStatus'))]);
  // A department sees its own cases only: no department filter.
  $('f-department').hidden = q.me.role === 'department';
}

let statusNameOf = (s) => s;

/** Wires the search form, the pager, the map and the ticker. */
export function setupQueue({ me, cats, departments, onOpen, onChanged, statusName }) {
  Object.assign(q, { me, cats, departments, onOpen, onChanged });
  statusNameOf = statusName;
  fillFilters();
  $('case-search').addEventListener('submit', (e) => {
    e.preventDefault();
    q.offset = 0;
    q.fitted = false;
    loadList();
  });
  $('reset-filters').addEventListener('click', () => {
    $('case-search').reset();
    q.offset = 0;
    q.fitted = false;
    loadList();
  });
  for (const id of ['f-status', 'f-category', 'f-department', 'f-source', 'f-due', 'f-sort', 'only-overdue', 'f-extension', 'f-from', 'f-to']) {
    $(id).addEventListener('change', () => { q.offset = 0; q.fitted = false; loadList(); });
  }
  $('page-prev').addEventListener('click', () => { q.offset = Math.max(0, q.offset - PAGE); loadList(); });
  $('page-next').addEventListener('click', () => { if (q.offset + PAGE < q.total) { q.offset += PAGE; loadList(); } });
  $('new-alert-dismiss').addEventListener('click', () => { $('new-alert').hidden = true; });
  setInterval(tick, 1000);
  // The first click anywhere lets the page play sound (browsers' autoplay rule).
  document.addEventListener('click', () => audio(), { once: true });
}

/** Switches between the queue and all cases. */
export function setView(view) {
  q.view = view;
  q.offset = 0;
  q.fitted = false;
  fillFilters();
}

/** The query of the list as the form says. */
export function listParams() {
  const v = (id) => $(id).value.trim();
  const params = { limit: PAGE, offset: q.offset || undefined, q: v('q'), category: v('f-category'), source: v('f-source'),
    due_within: v('f-due'), sort: v('f-sort'), from: v('f-from'), to: v('f-to') };
  if ($('only-overdue').checked) params.overdue = 'true';
  if ($('f-extension').checked) params.extension_pending = 'true';
  const status = v('f-status');
  if (status) params.status = status;
  else if (q.view === 'queue' && !params.extension_pending) params.status = (QUEUES[q.me.role] || OPEN).join(',');
  if (q.me.role === 'department') params.department = q.view === 'queue' ? 'mine' : undefined;
  else params.department = v('f-department');
  const area = v('f-area');
  if (/^\d{15}$/.test(area)) params.grid = area;
  else if (/^\d{12}$/.test(area)) params.community = area;
  else if (/^\d{9}$/.test(area)) params.street = area;
  else if (area) params.grid = area; // the server says what is wrong with it
  return params;
}

/** Loads the page of cases the form asks for; renders the list, the pager and the map. */
export async function loadList() {
  const list = $('case-list');
  const error = $('list-error');
  error.hidden = true;
  if (!list.children.length) list.replaceChildren(el('li', { class: 'muted' }, t('loading')));
  const asked = qs(listParams());
  q.loading = asked;
  let body;
  try {
    body = await api(`/api/cases${asked}`);
  } catch (e) {
    if (q.loading !== asked) return;
    error.textContent = `${t('error')}: ${e.message}`;
    error.hidden = false;
    list.replaceChildren();
    return;
  }
  if (q.loading !== asked) return; // a newer request is on its way
  q.cases = body.cases || [];
  q.total = body.total || 0;
  renderList();
  await showOnMap();
  document.body.dataset.listed = String(Date.now());
}

function renderList() {
  const list = $('case-list');
  list.replaceChildren(...(q.cases.length
    ? q.cases.map((c) => {
      const li = caseItem(c, q.cats.categories, { onOpen: q.onOpen, selected: q.selected === c.id });
      li.append(el('div', { class: 'muted small' }, countdown(c), c.address ? ` · ${c.address}` : ''));
      return li;
    })
    : [el('li', { class: 'muted' }, t('noCases'))]));
  const first = q.cases.length ? q.offset + 1 : 0;
  const last = q.offset + q.cases.length;
  $('case-total').textContent = `${q.total} ${t('total')}`;
  $('case-total').dataset.total = String(q.total);
  $('page-info').textContent = q.total ? `${first}–${last} ${t('pageOf')} ${q.total}` : '';
  $('page-prev').disabled = q.offset === 0;
  $('page-next').disabled = last >= q.total;
}

/** Re-renders what depends on the language. */
export function relabel() {
  fillFilters();
  renderList();
  renderAlert();
  tick();
}

function features() {
  return {
    type: 'FeatureCollection',
    features: q.cases.filter((c) => Number.isFinite(c.lon) && Number.isFinite(c.lat)).map((c) => ({
      type: 'Feature', id: c.id,
      properties: { id: c.id, case_no: c.case_no, status: c.status, overdue: !!c.overdue },
      geometry: { type: 'Point', coordinates: [c.lon, c.lat] },
    })),
  };
}

/** The queue's map (made once): the listed cases by status, overdue ones haloed. */
export function queueMap() {
  if (q.mapReady) return q.mapReady;
  q.mapReady = (async () => {
    const map = await createMap('queue-map');
    q.map = map;
    map.addSource('queue', { type: 'geojson', data: features() });
    map.addLayer({ id: 'queue-overdue', type: 'circle', source: 'queue', filter: ['==', ['get', 'overdue'], true],
      paint: { 'circle-radius': 13, 'circle-color': '#e03131', 'circle-opacity': 0.35 } });
    map.addLayer({ id: 'queue-cases', type: 'circle', source: 'queue',
      paint: { 'circle-radius': 7, 'circle-color': statusColourExpression(), 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
    map.on('click', 'queue-cases', (e) => {
      const f = e.features && e.features[0];
      if (f && q.onOpen) q.onOpen({ id: f.properties.id });
    });
    map.on('mouseenter', 'queue-cases', () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', 'queue-cases', () => { map.getCanvas().style.cursor = ''; });
    // The map fills its box whatever happens around it (panels opening, photos
    // loading, the window or the layout changing).
    new ResizeObserver(() => map.resize()).observe($('queue-map'));
    return map;
  })();
  return q.mapReady;
}

async function showOnMap() {
  let map;
  try {
    map = await queueMap();
  } catch {
    return;
  }
  const data = features();
  map.getSource('queue').setData(data);
  if (!q.fitted && data.features.length && q.selected === null) {
    q.fitted = true;
    const xs = data.features.map((f) => f.geometry.coordinates[0]);
    const ys = data.features.map((f) => f.geometry.coordinates[1]);
    map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 40, maxZoom: 17, duration: 0 });
  }
}

/** Shows case `c` on the queue map; `ready()` runs once the map shows it. */
export async function focusCase(c, ready) {
  q.selected = c.id;
  for (const li of document.querySelectorAll('#case-list li')) li.classList.toggle('selected', li.dataset.caseId === String(c.id));
  const map = await queueMap();
  markPoint(map, [c.lon, c.lat], '#1c7ed6');
  map.once('idle', ready);
  map.jumpTo({ center: [c.lon, c.lat], zoom: Math.max(map.getZoom(), 16) });
}

// ---- the live queue -----------------------------------------------------------------

let audioContext = null;

function audio() {
  try {
    audioContext = audioContext || new (window.AudioContext || window.webkitAudioContext)();
    if (audioContext.state === 'suspended') audioContext.resume().catch(() => {});
  } catch {
    audioContext = null;
  }
  return audioContext;
}

/** A short beep (WebAudio): 880 Hz for 0.18 s. */
export function beep() {
  window.citygridBeeps = (window.citygridBeeps || 0) + 1;
  const ctx = audio();
  if (!ctx) return;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = 'sine';
  osc.frequency.value = 880;
  gain.gain.setValueAtTime(0.0001, ctx.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.25, ctx.currentTime + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.18);
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 0.2);
}

let lastAlert = null;

function renderAlert() {
  const box = $('new-alert');
  const c = lastAlert;
  if (!c) return;
  const count = Number(box.dataset.count || 1);
  $('new-alert-text').replaceChildren(
    el('strong', {}, `${t('newCase')} `),
    el('button', { class: 'link', id: 'new-alert-case', dataset: { caseNo: c.case_no }, onclick: () => q.onOpen && q.onOpen(c) }, c.case_no),
    c.description ? ` · ${c.description.slice(0, 80)}` : '',
    count > 1 ? ` (+${count - 1} ${t('newCases')})` : '',
  );
}

function alertNew(c) {
  const box = $('new-alert');
  box.dataset.count = String(box.hidden ? 1 : Number(box.dataset.count || 0) + 1);
  lastAlert = c;
  renderAlert();
  box.hidden = false;
  beep();
}

function scheduleReload() {
  clearTimeout(q.reloadTimer);
  q.reloadTimer = setTimeout(loadList, 150);
}

function setLive(on) {
  const badge = $('live');
  badge.dataset.on = String(on);
  badge.textContent = on ? `● ${t('live')}` : t('liveOff');
  document.body.dataset.live = String(on);
}

async function handle(event, data) {
  if (event === 'ready') setLive(true);
  else if (event === 'resync') scheduleReload();
  else if (event === 'case') {
    const c = data.case || {};
    if (data.kind === 'new' && ALERTED.includes(q.me.role)) alertNew(c);
    scheduleReload();
    if (q.selected === c.id && q.onChanged) q.onChanged(c);
  } else if (event === 'end') {
    forgetSession();
    $('list-error').textContent = t('sessionEnded');
    $('list-error').hidden = false;
    setTimeout(() => location.reload(), 1500);
    return false;
  }
  return true;
}

/** Follows /api/cases/events for as long as the page is signed in (reconnecting). */
export async function followLive() {
  let wait = 1000;
  for (;;) {
    const s = session();
    if (!s || !s.token) return;
    let ok = true;
    try {
      const response = await fetch('/api/cases/events', { headers: { Authorization: `Bearer ${s.token}`, Accept: 'text/event-stream' } });
      if (response.status === 401) {
        await handle('end', {});
        return;
      }
      if (!response.ok || !response.body) throw new Error(String(response.status));
      wait = 1000;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data += line.slice(5).trim();
          }
          if (!data) continue; // a heartbeat
          let parsed = {};
          try {
            parsed = JSON.parse(data);
          } catch {
            parsed = {};
          }
          ok = await handle(event, parsed);
          if (!ok) return;
        }
      }
    } catch {
      // the connection dropped or was refused: try again below
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 30000);
    scheduleReload();
  }
}
