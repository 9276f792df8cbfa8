// The case console (/console), by role: the acceptor registers or voids reports
// (duplicates shown), the dispatcher dispatches (suggested department first),
// handles returns and extensions, a department accepts and feeds back with a
// photo, the shift leader closes; each case with its timeline, countdown and the
// actions the server offers for it; the queue (search, filters, paging, map, live
// updates: queue.js); the evaluation dashboard with SVG bar charts.

import './console-text.js';
import './dashboard-text.js';
import './geocode-text.js';
import { api, el, errorText, fromZoned, loadTimeZone, onSessionChange, qs, session, timeZone, when } from './api.js';
import { setupLanguage, statusName, t, lang } from './i18n.js';
import { withSession } from './session.js';
import { actionName, categoryName, checkPhoto, loadCategories, markPoint, photoImage, statusBadge, timeline, uploadPhoto } from './casekit.js';
import { barChart } from './charts.js';
import { setupHotline } from './hotline.js';
import { countdown, focusCase, followLive, loadList, queueMap, relabel, roleName, setupQueue, setView } from './queue.js';

/** The actions offered as buttons (comment needs no button of its own). */
const BUTTONS = ['register', 'void', 'request_verification', 'dispatch', 'accept', 'feedback', 'return', 'request_extension',
  'approve_extension', 'reject_extension', 'suspend', 'resume', 'request_check', 'check_pass', 'check_fail', 'close'];

/** Who takes hotline calls in the console. */
const HOTLINE_ROLES = ['acceptor', 'admin'];

let me;
let cats = { categories: [] };
let departments = [];
let view = 'queue';
let selected = null;

function depName(code) {
  const d = departments.find((x) => x.code === code);
  if (!d) return code || '';
  return lang() === 'zh' ? d.name : (d.name_en || d.name);
}

function facts(c) {
  const report = (c.timeline || []).find((e) => e.action === 'report');
  const duplicates = (report && report.detail && report.detail.duplicates) || [];
  const routing = c.routing || {};
  const rows = [
    [t('category'), categoryName(cats.categories, c.category)],
    [t('status'), statusBadge(c.status)],
    [t('reportedAt'), when(c.reported_at)],
    [t('deadline'), el('span', { class: c.overdue ? 'error' : '' }, when(c.due_at), c.overdue ? ` · ${t('overdue')}` : '', c.due_at ? ' · ' : '', c.due_at ? countdown(c) : '')],
    [t('grid'), c.grid_code || '—'],
    [t('address'), c.address || '—'],
    [t('reporter'), c.reporter_name || '—'],
    [t('department'), depName(c.department)],
    [t('suggested'), el('span', { id: 'suggested' }, c.routed_department ? `${depName(c.routed_department)} (${c.routed_department})` : '—',
      routing.explanation ? el('small', { class: 'muted' }, ` ${routing.explanation}`) : null)],
    [t('component'), c.component_id || '—'],
    [t('note'), c.description || '—'],
    [t('photos'), el('div', {},
      (c.photos || []).length ? el('div', { class: 'photos' }, c.photos.map(photoImage)) : el('span', { class: 'muted', id: 'no-photos' }, t('noPhotos')),
      addPhoto(c))],
  ];
  if (c.pending_extension) rows.push([t('extend'), when(c.pending_extension)]);
  if (duplicates.length) {
    rows.push([t('duplicates'), el('span', { class: 'error', id: 'duplicates' }, duplicates.map((d) => `${d.case_no} (${d.distance_m} m, ${d.status})`).join(', '))]);
  }
  return el('dl', { class: 'facts' }, rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

/** Adding a photo to a case afterwards (the acceptor, the department at feedback, an
 * administrator): the server files it under the stage the case and the caller's role
 * give (report, feedback, check) and refuses it with its reason otherwise. */
const PHOTO_ROLES = ['acceptor', 'department', 'admin'];
function addPhoto(c) {
  if (!me || !PHOTO_ROLES.includes(me.role)) return null;
  const input = el('input', { type: 'file', id: 'add-photo', accept: 'image/jpeg,image/png,image/webp' });
  const out = el('span', { id: 'add-photo-result', 'aria-live': 'polite' });
  const send = async () => {
    out.replaceChildren();
    const file = input.files[0];
    if (!file) {
      out.replaceChildren(el('span', { class: 'notice error', role: 'alert' }, t('choosePhoto')));
      return;
    }
    try {
      const problem = checkPhoto(file);
      if (problem) throw new Error(problem);
      await uploadPhoto(c.id, file);
      await openCase(c);
    } catch (e) {
      out.replaceChildren(el('span', { class: 'notice error', role: 'alert' }, `${t('error')}: ${e.message}`));
    }
  };
  return el('div', { class: 'add-photo' }, el('label', {}, `${t('addPhoto')} `, input),
    el('button', { type: 'button', id: 'add-photo-send', onclick: send }, t('upload')), out);
}

function actionPanel(c) {
  const offered = (c.actions || []).filter((a) => BUTTONS.includes(a));
  if (!offered.length) return el('div');
  const note = el('textarea', { id: 'action-note', rows: 2, maxlength: 4000, placeholder: t('note'), 'aria-label': t('note') });
  const extras = el('div', { class: 'row' });
  let department = null;
  let deadline = null;
  let photo = null;
  if (offered.includes('dispatch')) {
    department = el('select', { id: 'dispatch-department', 'aria-label': t('department') },
      departments.filter((d) => d.active !== false).map((d) => el('option', { value: d.code }, `${depName(d.code)} (${d.code})${d.code === c.routed_department ? ` ★ ${t('suggested')}` : ''}`)));
    if (c.routed_department) department.value = c.routed_department;
    extras.append(el('label', { class: 'field' }, el('span', {}, t('department')), department));
  }
  if (offered.includes('request_extension') || offered.includes('approve_extension')) {
    deadline = el('input', { type: 'datetime-local', id: 'action-deadline', 'aria-label': t('deadline') });
    extras.append(el('label', { class: 'field' }, el('span', {}, t('deadline')), deadline));
  }
  if (offered.includes('feedback') || offered.includes('check_pass')) {
    photo = el('input', { type: 'file', id: 'action-photo', accept: 'image/jpeg,image/png,image/webp', 'aria-label': t('photo') });
    extras.append(el('label', { class: 'field' }, el('span', {}, `${t('photo')} · ${t('photoHint')}`), photo));
  }
  const out = el('div', { id: 'action-result', 'aria-live': 'polite' });
  const act = async (action) => {
    out.replaceChildren();
    try {
      const body = { action, note: note.value.trim() || undefined };
      if (action === 'dispatch' && department) body.department = department.value;
      if ((action === 'request_extension' || action === 'approve_extension') && deadline && deadline.value) {
        // The time entered is the city's wall clock, whatever the browser's zone.
        body.deadline = fromZoned(deadline.value);
      }
      const file = photo && photo.files[0];
      if (file) {
        const problem = checkPhoto(file);
        if (problem) throw new Error(problem);
        body.photo_ids = [(await uploadPhoto(c.id, file)).id];
      }
      await api(`/api/cases/${c.id}/actions`, { method: 'POST', body });
      await openCase(c);
      await loadList();
    } catch (e) {
      out.replaceChildren(el('div', { class: 'notice error', role: 'alert' }, `${t('error')}: ${e.message}`));
    }
  };
  const buttons = offered.map((a) => el('button', {
    type: 'button', dataset: { action: a }, class: ['void', 'return', 'reject_extension', 'check_fail'].includes(a) ? 'danger' : '',
    onclick: () => act(a),
  }, verbKey(a) ? t(verbKey(a)) : actionName(a)));
  return el('div', { class: 'card', id: 'actions' }, el('h3', {}, t('actions')), extras, note, el('div', { class: 'actions' }, buttons), out);
}

function verbKey(a) {
  return { register: 'register', void: 'void', dispatch: 'dispatch', accept: 'accept', feedback: 'feedback', return: 'returnCase',
    request_extension: 'extend', approve_extension: 'approve', reject_extension: 'reject', suspend: 'suspend', resume: 'resume',
    close: 'close', check_pass: 'pass', check_fail: 'fail', request_check: 'requestCheck',
    request_verification: 'requestVerification' }[a];
}

async function openCase(c, opts = {}) {
  selected = c.id;
  const full = await api(`/api/cases/${c.id}`);
  // Asked for by a change elsewhere: not over what is being written meanwhile.
  if (opts.unlessWriting && writing()) return;
  const info = document.getElementById('case-info');
  info.replaceChildren(
    el('h2', {}, el('span', { id: 'detail-case-no' }, full.case_no), ' ', statusBadge(full.status), full.overdue ? el('span', { class: 'badge overdue' }, t('overdue')) : null),
    facts(full),
  );
  document.getElementById('case-actions').replaceChildren(actionPanel(full));
  document.getElementById('case-timeline').replaceChildren(el('h3', {}, t('timeline')), timeline(full));
  const detail = document.getElementById('case-detail');
  delete detail.dataset.mapReady;
  detail.dataset.status = full.status;
  detail.dataset.caseId = String(full.id);
  await focusCase(full, () => { detail.dataset.mapReady = full.case_no; });
}

/** Whether an action note is being written or a photo is chosen and not yet sent: showing
 * the case again would throw them away. */
function writing() {
  const note = document.getElementById('action-note');
  if (note && note.value.trim()) return true;
  return ['add-photo', 'action-photo'].some((id) => {
    const input = document.getElementById(id);
    return Boolean(input && input.files && input.files.length);
  });
}

/** The open case changed elsewhere: show it again unless something is being written. */
async function caseChanged(c) {
  if (writing()) return;
  if (selected === c.id) await openCase(c, { unlessWriting: true }).catch(() => {});
}

function showWho() {
  const who = document.getElementById('who');
  if (me && who) who.textContent = `${t('signedInAs')} ${me.username} · ${roleName(me.role)}${me.department ? ` · ${depName(me.department)}` : ''}`;
}

/** Street code → name, from the streets layer (OGC API). */
async function streetNames() {
  try {
    const body = await api('/ogc/collections/streets/items?limit=1000');
    return Object.fromEntries((body.features || []).map((f) => [f.properties.code, f.properties.name]));
  } catch {
    return {};
  }
}

/**
 * Administrators are told which year's public-holiday arrangement is missing (from 60
 * days before the year starts: its deadlines use the statutory holidays only).
 */
async function calendarWarning() {
  if (!me || me.role !== 'admin') return;
  let missing = [];
  try {
    missing = (await api('/api/holidays')).missing || [];
  } catch {
    return;
  }
  document.getElementById('calendar-warning')?.remove();
  if (!missing.length) return;
  const note = el('p', { id: 'calendar-warning', class: 'notice error', role: 'alert', 'data-years': missing.join(',') },
    `${t('arrangementMissing')} ${missing.join(', ')} — citygrid calendar import FILE`);
  document.getElementById('work').prepend(note);
}

/** Relabels the dashboard's menus (set by setupDashboard). */
let refillDashboard = () => {};

/** The evaluation views, and the roles that may read figures by person. */
const EVAL_VIEWS = ['department', 'street', 'community', 'grid', 'person'];
const PERSON_ROLES = ['shift_leader', 'acceptor', 'dispatcher', 'admin'];
const PERIOD_PRESETS = ['custom', 'today', 'week', 'month', 'quarter', 'year'];
/** The figures of the evaluation table, in order (domain.md §6). */
const RATE_KEYS = ['registration_rate', 'on_time_dispatch_rate', 'accurate_dispatch_rate', 'on_time_handling_rate',
  'closing_rate', 'on_time_closing_rate', 'rework_rate', 'extension_rate'];

/** The period the dashboard asks for: a preset, or the dates entered ("To" inclusive). */
function evalPeriod() {
  const preset = document.getElementById('preset').value;
  if (preset !== 'custom') return { period: preset };
  const from = document.getElementById('from').value;
  const to = document.getElementById('to').value;
  return { from: from || undefined, to: to || undefined };
}

function setupDashboard() {
  const preset = document.getElementById('preset');
  const fill = () => {
    const chosen = preset.value;
    preset.replaceChildren(...PERIOD_PRESETS.map((p) => el('option', { value: p }, t(`period_${p}`))));
    preset.value = chosen || 'custom';
    const by = document.getElementById('eval-by');
    const was = by.value;
    const views = EVAL_VIEWS.filter((v) => v !== 'person' || (me && PERSON_ROLES.includes(me.role)));
    by.replaceChildren(...views.map((v) => el('option', { value: v }, t(`by_${v}`))));
    by.value = views.includes(was) ? was : 'department';
  };
  fill();
  refillDashboard = fill;
  // Changing a date by hand means a custom period; a preset fills the dates in.
  for (const id of ['from', 'to']) document.getElementById(id).addEventListener('input', () => { preset.value = 'custom'; });
  preset.addEventListener('change', () => dashboard());
  document.getElementById('eval-by').addEventListener('change', () => dashboard());
  for (const format of ['xlsx', 'csv']) {
    document.getElementById(`export-${format}`).addEventListener('click', () => exportTable(format));
  }
}

/** Downloads the current evaluation table (the token goes in the header, not the URL). */
async function exportTable(format) {
  const by = document.getElementById('eval-by').value;
  const out = document.getElementById('eval-table-status');
  out.textContent = '';
  try {
    const s = session();
    const r = await fetch(`/api/stats/evaluation${qs({ ...evalPeriod(), by, format })}`, { headers: { Authorization: `Bearer ${s && s.token}` } });
    if (!r.ok) throw new Error(errorText(await r.json().catch(() => ({})), `${r.status}`));
    const name = (/filename="([^"]+)"/.exec(r.headers.get('content-disposition') || '') || [])[1] || `evaluation.${format}`;
    const url = URL.createObjectURL(await r.blob());
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (e) {
    out.textContent = `${t('error')}: ${e.message}`;
  }
}

async function dashboard() {
  const period = evalPeriod();
  const by = document.getElementById('eval-by').value || 'department';
  const [byDep, byStreet, chosen] = await Promise.all([
    api(`/api/stats/evaluation${qs({ ...period, by: 'department' })}`),
    api(`/api/stats/evaluation${qs({ ...period, by: 'street' })}`),
    api(`/api/stats/evaluation${qs({ ...period, by })}`).catch((e) => ({ error: e.message })),
  ]);
  // "To" is inclusive and both are days in the city's time zone; show the period
  // the server evaluated (its default is the 30 days up to today; a preset ends today).
  document.getElementById('from').value = byDep.from_date || '';
  document.getElementById('to').value = byDep.to_date || '';
  const series = [{ name: t('report'), colour: '#1c7ed6' }, { name: t('close'), colour: '#2b8a3e' }];
  const rowsOf = (answer, label) => (answer.groups || []).map((g) => ({ label: label(g.key), values: [g.counts.reported, g.counts.closed] }));
  document.getElementById('chart-department').replaceChildren(barChart(rowsOf(byDep, (k) => (k ? depName(k) : '—')), series));
  const streets = await streetNames();
  document.getElementById('chart-area').replaceChildren(barChart(rowsOf(byStreet, (k) => (k ? streets[k] || k : '—')), series));
  const pct = (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
  const rateRows = (byDep.groups || []).map((g) => ({
    label: g.key ? depName(g.key) : '—',
    values: [g.figures.on_time_handling_rate, g.figures.closing_rate],
  }));
  const f = byDep.total.figures;
  document.getElementById('rates').replaceChildren(
    barChart(rateRows, [{ name: t('on_time_handling_rate'), colour: '#f59f00' }, { name: t('closing_rate'), colour: '#2b8a3e' }], { max: 1, format: pct }),
    el('dl', { class: 'facts', id: 'totals' },
      RATE_KEYS.flatMap((k) => [el('dt', {}, t(k)), el('dd', {}, pct(f[k]))])
        .concat([el('dt', {}, t('suspended_count')), el('dd', {}, String(f.suspended_count))])),
  );
  // The table of the chosen view, with the same numbers the exports hold.
  const label = (k) => {
    if (!k) return '—';
    if (by === 'department') return depName(k);
    if (by === 'street') return streets[k] || k;
    return k;
  };
  const table = document.getElementById('eval-table');
  if (chosen.error) {
    table.replaceChildren(el('p', { class: 'notice error', role: 'alert' }, `${t('error')}: ${chosen.error}`));
    return;
  }
  const head = [t(`by_${by}`), t('evalReported'), t('evalRegistered'), t('evalClosed'), ...RATE_KEYS.map((k) => t(k)), t('suspended_count')];
  const row = (key, name, g) => el('tr', { 'data-key': key },
    el('th', {}, name),
    ...['reported', 'registered', 'closed'].map((c) => el('td', { 'data-count': c }, String(g.counts[c]))),
    ...RATE_KEYS.map((k) => el('td', { 'data-rate': k }, pct(g.figures[k]))),
    el('td', { 'data-count': 'suspended_count' }, String(g.figures.suspended_count)));
  table.replaceChildren(el('table', { class: 'eval', 'data-by': by },
    el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, h)))),
    el('tbody', {}, ...(chosen.groups || []).map((g) => row(g.key || '', label(g.key), g)),
      row('total', t('evalTotal'), chosen.total))));
}

function setupTabs() {
  const show = async (which) => {
    view = which;
    for (const id of ['queue', 'all', 'dashboard']) document.getElementById(`tab-${id}`).setAttribute('aria-selected', String(id === which));
    document.getElementById('cases-view').hidden = which === 'dashboard';
    document.getElementById('dashboard').hidden = which !== 'dashboard';
    if (which === 'dashboard') await dashboard();
    else {
      setView(which);
      await loadList();
    }
  };
  document.getElementById('tab-queue').addEventListener('click', () => show('queue'));
  document.getElementById('tab-all').addEventListener('click', () => show('all'));
  document.getElementById('tab-dashboard').addEventListener('click', () => show('dashboard'));
  document.getElementById('refresh').addEventListener('click', () => loadList());
  document.getElementById('period').addEventListener('submit', (e) => { e.preventDefault(); dashboard(); });
  setupDashboard();
}

async function start(who) {
  me = who;
  const detail = document.getElementById('case-detail');
  detail.replaceChildren(el('div', { id: 'case-info' }, el('p', { class: 'muted' }, t('noCases'))),
    el('div', { id: 'case-actions' }), el('div', { id: 'case-timeline' }));
  // Deadlines and times show in the city's time zone (GET /api/home), not the browser's.
  const [categories] = await Promise.all([loadCategories(), loadTimeZone()]);
  cats = categories;
  document.body.dataset.timezone = timeZone();
  // The supervision hall's big screen is for these roles (the server checks too).
  document.getElementById('nav-bigscreen').hidden = !['shift_leader', 'acceptor', 'dispatcher', 'admin'].includes(me.role);
  calendarWarning();
  try {
    departments = (await api('/api/departments')).departments || [];
  } catch {
    departments = [];
  }
  // The period's dates are left to the server: it knows the city's time zone and
  // clock (the browser's may be another), and dashboard() shows the days it used.
  setupTabs();
  showWho();
  setupQueue({ me, cats, departments, onOpen: openCase, onChanged: caseChanged, statusName });
  // The acceptor takes hotline calls: an address typed while the caller speaks, a
  // place picked among the geocoder's candidates, the case filed there.
  if (HOTLINE_ROLES.includes(me.role)) {
    setupHotline(document.getElementById('hotline'), {
      categories: () => cats.categories,
      onPlace: async (lonlat) => {
        const map = await queueMap();
        markPoint(map, lonlat, '#2f9e44');
        map.jumpTo({ center: lonlat, zoom: Math.max(map.getZoom(), 17) });
      },
      onFiled: async (c) => {
        await loadList();
        await openCase(c);
      },
    });
  }
  setView('queue');
  queueMap().catch(() => {});
  await loadList();
  followLive();
  document.body.dataset.ready = 'true';
}

setupLanguage(() => {
  if (!me) return;
  showWho();
  relabel();
  refillDashboard();
  calendarWarning();
  if (view === 'dashboard') dashboard().catch(() => {});
  if (selected !== null) openCase({ id: selected }).catch(() => {});
});
// Signing in or out in another tab of this browser applies here too.
onSessionChange(() => {
  const s = session();
  if (!s || !me || s.username !== me.username) location.reload();
});
withSession(start);
