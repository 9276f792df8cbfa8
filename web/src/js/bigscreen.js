// The supervision hall's big screen (/bigscreen, issue 20): a wall display of today's
// figures (GET /api/stats/live), the open cases on the map coloured by urgency, the
// most overdue cases and the departments ranked by on-time handling this month (GET
// /api/cases, GET /api/stats/evaluation). It follows the live queue (Server-Sent
// Events from /api/cases/events, reconnecting with backoff) and refreshes within a
// second of any change, and every minute anyway (deadlines pass without events).
// Times are on the city's clock (GET /api/home `timezone`). For the supervision
// centre: shift leaders, acceptors, dispatchers and administrators.

import './console-text.js';
import './bigscreen-text.js';
import { api, el, forgetSession, loadTimeZone, qs, session, timeZone, when, zonedParts } from './api.js';
import { lang, setupLanguage, t } from './i18n.js';
import { withSession } from './session.js';
import { categoryName, loadCategories } from './casekit.js';
import { createMap } from './mapkit.js';
import { countdownText, roleName } from './queue.js';

/** The roles the screen is for (the API refuses the others). */
const ROLES = ['shift_leader', 'acceptor', 'dispatcher', 'admin'];
/** Open states: the cases on the map. */
const OPEN = ['reported', 'verifying', 'verified', 'registered', 'dispatched', 'handling', 'suspended', 'handled', 'checking', 'checked', 'returned'];
const SOURCES = ['inspector', 'public', 'hotline', 'open311', 'video', 'sensor', 'superior', 'console'];
/** Cases on the map at most (the earliest deadlines first). */
const MAP_CASES = 200;
/** Rows of the two lists (they must fit without scrolling). */
const ROWS = 8;
const OVERDUE_ROWS = 5;
/** "Soon": a deadline within this many hours. */
const SOON_HOURS = 24;
const URGENCY_COLOURS = { overdue: '#ff4d4f', soon: '#ffa94d', running: '#4dabf7', suspended: '#adb5bd' };

const $ = (id) => document.getElementById(id);
const state = {
  me: null,
  cats: { categories: [] },
  departments: [],
  live: null,
  openCases: [],
  openTotal: 0,
  overdue: [],
  ranking: null,
  map: null,
  timer: null,
  refreshing: null,
  again: false,
  /** How far the service's clock is ahead of this browser's (ms): the screen runs on
   * the service's clock (deadlines, "overdue", the wall clock). */
  skew: 0,
};

/** Now by the service's clock (ms). */
const serverNow = () => Date.now() + state.skew;

const sourceKey = (s) => `src${s[0].toUpperCase()}${s.slice(1)}`;

function depName(code) {
  const d = state.departments.find((x) => x.code === code);
  if (!d) return code || '—';
  return lang() === 'zh' ? d.name : (d.name_en || d.name);
}

function percent(x) {
  return x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)}%`;
}

/** The urgency of an open case at `now` (ms). */
export function urgency(c, now = serverNow()) {
  if (c.status === 'suspended') return 'suspended';
  const due = c.due_at ? new Date(c.due_at).getTime() : NaN;
  if (Number.isNaN(due)) return 'running';
  if (due < now) return 'overdue';
  if (due - now < SOON_HOURS * 3600000) return 'soon';
  return 'running';
}

// ---- rendering ------------------------------------------------------------------------

function renderClock() {
  const now = serverNow();
  const p = zonedParts(now);
  const two = (n) => String(n).padStart(2, '0');
  $('bs-clock').textContent = `${when(new Date(now).toISOString())}:${two(p.s)}`;
  $('bs-clock').title = timeZone();
  for (const node of document.querySelectorAll('[data-due]')) {
    const text = countdownText(node.dataset.due, now);
    if (node.textContent !== text) node.textContent = text;
  }
}

function renderCounters() {
  const f = state.live;
  if (!f) return;
  const set = (id, v) => {
    const node = $(id);
    node.textContent = String(v);
    node.dataset.value = String(v);
  };
  set('c-reported', f.reported_today);
  set('c-open', f.open);
  set('c-overdue', f.overdue);
  set('c-closed', f.closed_today);
  $('c-ontime').textContent = percent(f.closed_on_time_rate);
  $('c-ontime').dataset.value = f.closed_on_time_rate === null ? '' : String(f.closed_on_time_rate);
  const by = f.by_source || {};
  const shown = SOURCES.filter((s) => by[s]);
  $('c-sources').replaceChildren(...(shown.length
    ? shown.map((s) => el('li', { dataset: { source: s } }, el('span', {}, t(sourceKey(s))), el('strong', {}, String(by[s]))))
    : [el('li', { class: 'muted' }, t('bsNoReports'))]));
}

function renderOverdue() {
  const list = $('bs-overdue');
  list.replaceChildren(...(state.overdue.length
    ? state.overdue.slice(0, OVERDUE_ROWS).map((c) => el('li', { dataset: { caseNo: c.case_no } },
      el('span', { class: 'bs-no' }, c.case_no),
      el('span', { title: c.address || '' }, `${categoryName(state.cats.categories, c.category)} · ${depName(c.department || c.routed_department)}`),
      el('span', { class: 'bs-due', title: `${t('bsDue')} (${timeZone()})` }, when(c.due_at)),
      el('span', { class: 'bs-late', dataset: { due: c.due_at } }, countdownText(c.due_at, serverNow()))))
    : [el('li', { class: 'bs-empty' }, t('bsNoneOverdue'))]));
}

function renderRanking() {
  const list = $('bs-ranking');
  $('bs-ranking-period').textContent = state.ranking ? `(${t('bsThisMonth')})` : '';
  $('bs-ranking-period').title = state.ranking ? `${state.ranking.from_date} – ${state.ranking.to_date}` : '';
  const groups = ((state.ranking && state.ranking.groups) || [])
    .filter((g) => g.key && g.figures && g.figures.on_time_handling_rate !== null && g.figures.on_time_handling_rate !== undefined)
    .sort((a, b) => b.figures.on_time_handling_rate - a.figures.on_time_handling_rate
      || b.counts.due_for_handling - a.counts.due_for_handling || a.key.localeCompare(b.key));
  list.replaceChildren(...(groups.length
    ? groups.slice(0, ROWS).map((g, i) => {
      const bar = el('i');
      bar.style.width = `${Math.round(g.figures.on_time_handling_rate * 100)}%`;
      return el('li', { dataset: { department: g.key } },
        el('span', { class: 'bs-rank' }, String(i + 1)),
        el('span', {}, `${depName(g.key)} (${g.counts.due_for_handling} ${t(g.counts.due_for_handling === 1 ? 'bsCase' : 'bsCases')})`),
        el('span', { class: 'bs-bar' }, el('span', {}, bar), el('b', {}, percent(g.figures.on_time_handling_rate))));
    })
    : [el('li', { class: 'bs-empty' }, t('bsNoRanking'))]));
}

function renderLegend() {
  $('bs-legend').replaceChildren(...[['overdue', 'bsLegendOverdue'], ['soon', 'bsLegendSoon'], ['running', 'bsLegendRunning'], ['suspended', 'bsLegendSuspended']]
    .map(([k, key]) => {
      const dot = el('span', { class: 'bs-swatch' });
      dot.style.background = URGENCY_COLOURS[k];
      return el('li', {}, dot, t(key));
    }));
  $('bs-map-count').textContent = state.openTotal > state.openCases.length
    ? `(${state.openCases.length} ${t('bsShown')} · ${t('bsOf')} ${state.openTotal})`
    : `(${state.openCases.length})`;
}

function features(now = serverNow()) {
  return {
    type: 'FeatureCollection',
    features: state.openCases.filter((c) => Number.isFinite(c.lon) && Number.isFinite(c.lat)).map((c) => ({
      type: 'Feature', id: c.id,
      properties: { id: c.id, case_no: c.case_no, status: c.status, urgency: urgency(c, now) },
      geometry: { type: 'Point', coordinates: [c.lon, c.lat] },
    })),
  };
}

async function setupMap() {
  try {
    const map = await createMap('bs-map', { interactive: false });
    // The style's own case layers show every case (closed ones too): the screen draws
    // the open ones itself, by urgency.
    for (const l of map.getStyle().layers) {
      if (l['source-layer'] === 'cases') map.setLayoutProperty(l.id, 'visibility', 'none');
    }
    map.addSource('open-cases', { type: 'geojson', data: features() });
    // Circles grow with the type (a 4K wall shows them as large as a 1080p one).
    const k = parseFloat(getComputedStyle(document.documentElement).fontSize) / 19.2 || 1;
    const colour = ['match', ['get', 'urgency']];
    for (const [k, c] of Object.entries(URGENCY_COLOURS)) colour.push(k, c);
    colour.push('#4dabf7');
    map.addLayer({ id: 'open-cases-halo', type: 'circle', source: 'open-cases', filter: ['==', ['get', 'urgency'], 'overdue'],
      paint: { 'circle-radius': ['interpolate', ['linear'], ['zoom'], 10, 9 * k, 16, 18 * k], 'circle-color': '#ff4d4f', 'circle-opacity': 0.35 } });
    map.addLayer({ id: 'open-cases', type: 'circle', source: 'open-cases',
      paint: { 'circle-radius': ['interpolate', ['linear'], ['zoom'], 10, 4 * k, 16, 9 * k], 'circle-color': colour, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 * k } });
    new ResizeObserver(() => map.resize()).observe($('bs-map'));
    state.map = map;
    showOnMap();
  } catch (e) {
    console.warn('big screen map', e);
  }
}

function showOnMap() {
  if (!state.map) return;
  const source = state.map.getSource('open-cases');
  if (source) source.setData(features());
  document.body.dataset.mapped = String(state.openCases.length);
}

function renderAll() {
  renderCounters();
  renderOverdue();
  renderRanking();
  renderLegend();
  showOnMap();
  renderClock();
}

// ---- data -----------------------------------------------------------------------------

async function load() {
  const [live, open, overdue, ranking] = await Promise.all([
    api('/api/stats/live'),
    api(`/api/cases${qs({ status: OPEN.join(','), sort: 'deadline', limit: MAP_CASES })}`),
    api(`/api/cases${qs({ overdue: true, sort: 'deadline', limit: OVERDUE_ROWS })}`),
    api(`/api/stats/evaluation${qs({ period: 'month', by: 'department' })}`).catch(() => null),
  ]);
  state.live = live;
  const at = Date.parse(live.now);
  if (Number.isFinite(at)) state.skew = at - Date.now();
  state.openCases = open.cases || [];
  state.openTotal = open.total || 0;
  state.overdue = overdue.cases || [];
  state.ranking = ranking;
}

/** Loads everything again and redraws (one load at a time; a change during a load
 * loads once more after it). */
async function refresh() {
  if (state.refreshing) {
    state.again = true;
    return state.refreshing;
  }
  state.refreshing = (async () => {
    do {
      state.again = false;
      try {
        await load();
        $('bs-error').hidden = true;
        renderAll();
        document.body.dataset.updated = String(Date.now());
      } catch (e) {
        $('bs-error').textContent = e.status === 403 ? t('bsNotAllowed') : `${t('error')}: ${e.message}`;
        $('bs-error').hidden = false;
        if (e.status === 401) {
          setTimeout(() => location.reload(), 1500);
          return;
        }
      }
    } while (state.again);
  })();
  try {
    await state.refreshing;
  } finally {
    state.refreshing = null;
  }
  return null;
}

function soon() {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => refresh(), 300);
}

function setLive(on) {
  const box = $('bs-live');
  box.dataset.live = String(on);
  $('bs-live-text').textContent = t(on ? 'bsLive' : (box.dataset.seen ? 'bsReconnecting' : 'bsConnecting'));
  if (on) box.dataset.seen = 'true';
}

/** Silence longer than this on the live stream (the server sends a heartbeat every
 * 15 s) means a dead connection (a proxy or NAT that dropped it without a word): it
 * is closed and opened again. */
const SILENCE_MS = 45000;

/** Follows /api/cases/events while signed in: any case change refreshes the screen;
 * a dropped, refused or silent stream is reopened (1 s doubling to 30 s) and the
 * screen reloaded when it is back. */
async function followLive() {
  let wait = 1000;
  for (;;) {
    const s = session();
    if (!s || !s.token) return;
    const abort = new AbortController();
    let watchdog = null;
    const quiet = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort.abort(), SILENCE_MS);
    };
    try {
      quiet();
      const response = await fetch('/api/cases/events', { headers: { Authorization: `Bearer ${s.token}`, Accept: 'text/event-stream' }, signal: abort.signal });
      if (response.status === 401) {
        forgetSession();
        location.reload();
        return;
      }
      if (!response.ok || !response.body) throw new Error(String(response.status));
      wait = 1000;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        quiet();
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
          if (event === 'ready') {
            setLive(true);
            soon();
          } else if (event === 'case' || event === 'resync') {
            window.citygridEvents = (window.citygridEvents || 0) + 1;
            soon();
          } else if (event === 'end') {
            forgetSession();
            location.reload();
            return;
          }
        }
      }
    } catch {
      // dropped, refused or silent: try again below
    } finally {
      clearTimeout(watchdog);
      abort.abort();
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 30000);
  }
}

async function start(me) {
  state.me = me;
  showWho();
  if (!ROLES.includes(me.role)) {
    $('bs-error').textContent = t('bsNotAllowed');
    $('bs-error').hidden = false;
    document.body.dataset.ready = 'refused';
    return;
  }
  const [cats] = await Promise.all([loadCategories(), loadTimeZone()]);
  state.cats = cats;
  try {
    state.departments = (await api('/api/departments')).departments || [];
  } catch {
    state.departments = [];
  }
  renderClock();
  setInterval(renderClock, 1000);
  // Deadlines pass without events: the whole screen is read again every minute.
  setInterval(() => refresh(), 60000);
  await Promise.all([refresh(), setupMap()]);
  followLive();
  document.body.dataset.ready = 'true';
}

function showWho() {
  const me = state.me;
  $('who').textContent = `${t('signedInAs')} ${me.username} · ${roleName(me.role)}`;
}

setupLanguage(() => {
  if (!state.me) return;
  showWho();
  setLive($('bs-live').dataset.live === 'true');
  renderAll();
});
withSession(start);
