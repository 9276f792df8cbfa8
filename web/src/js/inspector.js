// The inspector's phone page (/inspector): report a problem where one stands (or
// where one taps), with category, nearby component, photos and note; follow one's
// reports; do the verification and on-site check tasks.
//
// It works offline (an installable web app: /inspector/sw.js keeps the page, its
// data and the map of the inspector's own grids): every report goes through the
// outbox (outbox.js) with a key made here, so it is sent exactly once whenever the
// connection allows, and a refused one stays with the server's reason.

import { api, el, forgetSession, qs, restoreSession, session, when } from './api.js';
import { setupLanguage, t, lang } from './i18n.js';
import { nearText, reverseApi } from './geocode-text.js';
import { createMap } from './mapkit.js';
import { withSession } from './session.js';
import { showCases } from './cases-layer.js';
import { caseItem, categoryName, checkPhoto, loadCategories, markPoint, photoImage, timeline, uploadPhoto } from './casekit.js';
import { announce, CHANNEL, deleteItem, getItem, kvDelete, kvGet, kvSet, listOutbox, newReport, putItem, retryNow, sendOutbox, SYNC_TAG, withLock } from './outbox.js';
import { DATA_CACHE, keepData, OFFLINE_CAP_BYTES, OFFLINE_ZOOMS, offlineMapState, refreshOfflineMap, TILE_CACHE } from './offline-map.js';

let map;
let me;
let point = null;
let cats = { categories: [], major_classes: [] };
let myGrids = [];

/** The server's reason a report waits or was refused, in the reader's language. */
function reasonOf(item) {
  return (lang() === 'zh' && item.errorZh) || item.error;
}

function name(x) {
  return lang() === 'zh' ? x.name_zh : x.name_en;
}

function fillMajors() {
  const kind = document.getElementById('kind').value;
  const prefix = kind === 'component' ? 'P' : 'E';
  const majors = cats.major_classes.filter((m) => m.code.startsWith(prefix));
  const select = document.getElementById('major');
  const keep = select.value;
  select.replaceChildren(...majors.map((m) => el('option', { value: m.code }, `${m.code.slice(1)} ${name(m)}`)));
  if (majors.some((m) => m.code === keep)) select.value = keep;
  fillCategories();
}

function fillCategories() {
  const major = document.getElementById('major').value;
  const select = document.getElementById('category');
  const keep = select.value;
  const list = cats.categories.filter((c) => c.code.startsWith(major));
  select.replaceChildren(...list.map((c) => el('option', { value: c.code }, `${c.code.slice(3)} ${name(c)}`)));
  if (list.some((c) => c.code === keep)) select.value = keep;
}

function setCategory(code) {
  const c = cats.categories.find((x) => x.code === code);
  if (!c) return;
  document.getElementById('kind').value = c.kind;
  fillMajors();
  document.getElementById('major').value = code.slice(0, 3);
  fillCategories();
  document.getElementById('category').value = code;
}

async function setPoint(lonlat, source) {
  point = lonlat;
  confirmedOutside = false;
  document.getElementById('where').textContent = `${lonlat[0].toFixed(6)}, ${lonlat[1].toFixed(6)} (${source})`;
  document.getElementById('grid-warning').hidden = insideOwnGrids(lonlat);
  markPoint(map, lonlat);
  const box = document.getElementById('nearby');
  const list = document.getElementById('nearby-list');
  if (!navigator.onLine) {
    list.replaceChildren();
    box.hidden = true;
    return;
  }
  showNearAddress(lonlat);
  try {
    const near = await api(`/api/nearest${qs({ layer: 'components', lon: lonlat[0], lat: lonlat[1], k: 5, max_distance_m: 50 })}`);
    const none = el('label', {}, el('input', { type: 'radio', name: 'component', value: '', checked: true }), t('none'));
    const options = (near.features || []).map((f) => {
      const p = f.properties || {};
      const radio = el('input', { type: 'radio', name: 'component', value: p.component_id || '' });
      radio.addEventListener('change', () => p.category_code && setCategory(p.category_code));
      return el('label', {}, radio, `${p.component_id} ${p.name || ''} · ${p.category_code || ''} · ${Number(f.distance_m ?? p.distance_m ?? 0).toFixed(1)} m`);
    });
    list.replaceChildren(none, ...options);
    box.hidden = options.length === 0;
  } catch {
    list.replaceChildren();
    box.hidden = true;
  }
}

/** "near 沿江大道188号" under the location, from GET /api/reverse (nothing offline or
 * when no address or road is near); a later point's answer wins over an earlier one's. */
let nearAsked = 0;
async function showNearAddress(lonlat) {
  const out = document.getElementById('near-address');
  const asked = ++nearAsked;
  out.textContent = '';
  out.hidden = true;
  out.dataset.label = '';
  if (!navigator.onLine) return;
  try {
    const r = await reverseApi(lonlat, { headers: authHeaders() });
    if (asked !== nearAsked || !r.label) return;
    out.dataset.label = r.label;
    out.textContent = nearText(r.label);
    out.hidden = false;
  } catch {
    // the location stands without it
  }
}

/** The caller's credentials for a fetch outside api(). */
function authHeaders() {
  const s = session();
  return s && s.token ? { Authorization: `Bearer ${s.token}` } : {};
}

function notice(target, text, kind = '') {
  target.replaceChildren(el('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text));
}

// ---------------------------------------------------------------------------- grids

/** Whether [lon, lat] lies in a GeoJSON Polygon or MultiPolygon (even-odd rule). */
export function inPolygon([x, y], geometry) {
  const polygons = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.type === 'MultiPolygon' ? geometry.coordinates : [];
  return polygons.some((rings) => {
    let inside = false;
    for (const ring of rings) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
        const [xi, yi] = ring[i];
        const [xj, yj] = ring[j];
        if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
      }
    }
    return inside;
  });
}

function bboxOf(grids) {
  let b = null;
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      b = b ? [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])] : [c[0], c[1], c[0], c[1]];
    } else c.forEach(walk);
  };
  for (const g of grids) if (g.geometry) walk(g.geometry.coordinates);
  return b;
}

const GRIDS_URL = '/api/grids?mine=true&geometry=true&limit=1000';
/** What the page reads at start, kept for offline work (with the style's TileJSON). */
const DATA_URLS = ['/styles/default.json?lang=en', '/styles/default.json?lang=zh', '/catalog', '/api/categories?active=true', GRIDS_URL];

/** The inspector's own unit grids (kept for offline work). */
async function loadOwnGrids() {
  try {
    const { grids } = await api(GRIDS_URL);
    myGrids = (grids || []).filter((g) => g.geometry);
    await kvSet('grids', { user: me.username, grids: myGrids });
  } catch {
    const kept = await kvGet('grids');
    myGrids = kept && kept.user === me.username ? kept.grids : [];
  }
}

function showOwnGrids() {
  const data = { type: 'FeatureCollection', features: myGrids.map((g) => ({ type: 'Feature', properties: { code: g.code }, geometry: g.geometry })) };
  if (map.getSource('my-grids')) return map.getSource('my-grids').setData(data);
  map.addSource('my-grids', { type: 'geojson', data });
  map.addLayer({ id: 'my-grids-fill', type: 'fill', source: 'my-grids', paint: { 'fill-color': '#1c7ed6', 'fill-opacity': 0.08 } });
  map.addLayer({ id: 'my-grids-line', type: 'line', source: 'my-grids', paint: { 'line-color': '#1c7ed6', 'line-width': 2 } });
}

function insideOwnGrids(lonlat) {
  return myGrids.some((g) => inPolygon(lonlat, g.geometry));
}

// ---------------------------------------------------------------------------- photos

const MAX_PHOTOS = 6;
const PHOTO_LONG_SIDE = 1600;
const PHOTO_QUALITY = 0.8;

/** A photo re-encoded as JPEG, its long side at most 1600 px (the original when it
 * cannot be decoded here, the server checks it). */
export async function compressPhoto(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, PHOTO_LONG_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', PHOTO_QUALITY));
    return blob || file;
  } catch {
    return file;
  }
}

// ---------------------------------------------------------------------------- outbox

let editing = null;
let confirmedOutside = false;
let retryTimer = null;

function stateName(s) {
  return t({ pending: 'stPending', sending: 'stSending', failed: 'stFailed', signin: 'stSignin' }[s] || 'stPending');
}

async function renderOutbox() {
  const items = (await listOutbox()).filter((i) => !me || i.user === me.username);
  document.getElementById('outbox-count').textContent = String(items.length);
  const list = document.getElementById('outbox-list');
  list.replaceChildren(...(items.length ? items.map(outboxItem) : [el('li', { class: 'muted' }, t('outboxEmpty'))]));
  const sent = ((await kvGet('sent')) || []).filter((x) => !me || x.user === me.username);
  document.getElementById('sent-list').replaceChildren(...sent.map((x) =>
    el('li', { dataset: { key: x.key, caseNo: x.caseNo } }, el('strong', {}, x.caseNo), ' · ', categoryName(cats.categories, x.category), ' · ', when(new Date(x.at).toISOString()),
      x.photos ? ` · ${t('photos')}: ${x.photos}` : '')));
  const signin = items.some((i) => i.state === 'signin');
  document.getElementById('signin-needed').hidden = !signin;
}

function outboxItem(item) {
  const waiting = item.photos.filter((p) => !p.id).length;
  const li = el('li', { class: 'outbox-item', dataset: { key: item.key, state: item.state } },
    el('div', {}, el('strong', { class: 'state' }, stateName(item.state)), ' · ', categoryName(cats.categories, item.body.category), ' · ', when(new Date(item.created).toISOString())),
    item.body.description ? el('div', { class: 'note' }, item.body.description) : null,
    el('div', { class: 'muted' }, `${item.body.lon.toFixed(6)}, ${item.body.lat.toFixed(6)}`, item.photos.length ? ` · ${t('photos')}: ${item.photos.length}` : ''),
    item.caseNo ? el('div', {}, `${t('caseCreated')}: `, el('strong', { class: 'case-no-small' }, item.caseNo), waiting ? ` · ${waiting} ${t('photosWaiting')}` : '') : null,
    item.error ? el('div', { class: item.state === 'failed' ? 'reason' : 'muted' }, reasonOf(item)) : null,
    item.state === 'pending' && item.nextAt > Date.now() ? el('div', { class: 'muted' }, `${t('retryAt')}: ${new Date(item.nextAt).toLocaleTimeString()}`) : null);
  if (item.state === 'failed') {
    const buttons = [];
    if (!item.caseId) buttons.push(el('button', { type: 'button', class: 'secondary', dataset: { action: 'edit' }, onclick: () => editItem(item.key) }, t('edit')));
    const discard = el('button', { type: 'button', class: 'danger', dataset: { action: 'discard' } }, t('discard'));
    discard.addEventListener('click', async () => {
      if (discard.dataset.armed !== 'true') {
        discard.dataset.armed = 'true';
        discard.textContent = t('discardForGood');
        return;
      }
      await withLock(() => deleteItem(item.key));
      announce();
      await renderOutbox();
    });
    buttons.push(discard);
    li.append(el('div', { class: 'actions' }, buttons));
  }
  return li;
}

/** Puts a refused report back into the form; submitting stores it with a new key. */
async function editItem(key) {
  const item = await getItem(key);
  if (!item) return;
  editing = key;
  setCategory(item.body.category);
  document.getElementById('note').value = item.body.description || '';
  await setPoint([item.body.lon, item.body.lat], t('outbox'));
  map.easeTo({ center: [item.body.lon, item.body.lat], zoom: Math.max(map.getZoom(), 16) });
  document.getElementById('editing').hidden = false;
  document.getElementById('tab-report').click();
}

function stopEditing() {
  editing = null;
  document.getElementById('editing').hidden = true;
}

async function registerSync() {
  try {
    const reg = await navigator.serviceWorker?.ready;
    if (reg && reg.sync) await reg.sync.register(SYNC_TAG);
  } catch {
    // No Background Sync here: the page sends on `online` and on start.
  }
}

/** Sends what is due now; plans the next try. Returns the outcome. */
async function pump({ force = false, only = null } = {}) {
  clearTimeout(retryTimer);
  let outcome = null;
  if (navigator.onLine) {
    outcome = await sendOutbox({ force, only });
    if (outcome.signin) askSignIn();
    if (outcome.nextAt) retryTimer = setTimeout(() => pump(), Math.max(500, outcome.nextAt - Date.now()));
    else if (only) retryTimer = setTimeout(() => pump(), 500);
  }
  await renderOutbox();
  return outcome;
}

/** The sign-in expired: the outbox stays; the form asks to sign in again. */
function askSignIn() {
  forgetSession();
  document.getElementById('signin-needed').hidden = false;
}

async function showSignIn() {
  const n = (await listOutbox()).length;
  const note = document.getElementById('login-outbox');
  note.textContent = `${n} ${t('outboxWaiting')}`;
  note.hidden = n === 0;
  document.getElementById('login').hidden = false;
  document.getElementById('login').scrollIntoView({ block: 'start' });
}

async function submitReport(e) {
  e.preventDefault();
  const out = document.getElementById('report-result');
  if (!point) return notice(out, t('needLocation'), 'error');
  const category = document.getElementById('category').value;
  if (!category) return notice(out, t('needCategory'), 'error');
  const files = [...document.getElementById('photo').files];
  if (files.length > MAX_PHOTOS) return notice(out, t('tooManyPhotos'), 'error');
  for (const file of files) {
    const problem = checkPhoto(file);
    if (problem) return notice(out, problem, 'error');
  }
  if (!insideOwnGrids(point) && !confirmedOutside) {
    document.getElementById('grid-warning').hidden = false;
    return notice(out, t('outsideGrids'), 'error');
  }
  const component = document.querySelector('input[name="component"]:checked')?.value || undefined;
  const note = document.getElementById('note').value.trim();
  const body = { category, lon: point[0], lat: point[1], description: note || undefined, component_id: component };
  const button = document.getElementById('submit');
  button.disabled = true;
  try {
    const photos = await Promise.all(files.map(compressPhoto));
    let item = newReport(me.username, body, photos);
    if (editing) {
      // A changed report is a new request: it gets a new key; its photos stay
      // unless new ones were chosen.
      const old = await getItem(editing);
      if (old && !files.length) item.photos = old.photos;
      await withLock(() => deleteItem(editing));
      stopEditing();
    }
    await putItem(item);
    announce();
    document.getElementById('note').value = '';
    document.getElementById('photo').value = '';
    document.getElementById('grid-warning').hidden = true;
    confirmedOutside = false;
    if (navigator.onLine) out.replaceChildren(el('div', { class: 'notice sending', role: 'status' }, t('stSending')));
    const outcome = await pump({ force: true, only: item.key });
    const sent = outcome && outcome.sent.find((x) => x.key === item.key);
    if (sent) {
      const dup = (sent.duplicates || []).length ? ` · ${t('duplicates')}: ${sent.duplicates.join(', ')}` : '';
      out.replaceChildren(el('div', { class: 'notice ok', role: 'status' }, t('reported'), ' ',
        el('span', { class: 'case-no', id: 'new-case-no' }, sent.caseNo), sent.photos.length ? ` · ${t('photo')} ✓` : '', dup));
    } else {
      item = await getItem(item.key);
      if (item && item.state === 'failed') {
        notice(out, `${t('keptOutbox')}: ${reasonOf(item)}`, 'error');
      } else {
        await registerSync();
        notice(out, item && item.caseNo ? `${t('reported')} ${item.caseNo} · ${t('savedOutbox')}` : t('savedOutbox'), 'ok');
      }
    }
    out.scrollIntoView({ block: 'nearest' });
  } catch (ex) {
    notice(out, `${t('error')}: ${ex.message}`, 'error');
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------- offline map

function megabytes(bytes) {
  return `${(bytes / 1048576).toFixed(bytes < 10 * 1048576 ? 1 : 0)} MB`;
}

async function renderOfflineMap(state) {
  const s = state || (await offlineMapState());
  const status = document.getElementById('offline-map-status');
  if (!s) {
    status.textContent = t('offlineMapNone');
    return;
  }
  status.textContent = `${t('offlineMap')}: ${megabytes(s.bytes)} ${t('offlineMapOf')} ${megabytes(s.cap || OFFLINE_CAP_BYTES)} · ${s.tiles} ${t('offlineMapTiles')} · z${(s.zooms || OFFLINE_ZOOMS).join('–')}${s.truncated ? ` · ${t('offlineMapCut')}` : ''}${s.at ? '' : ` · ${t('offlineMapBusy')}`}`;
  status.dataset.bytes = String(s.bytes);
  status.dataset.tiles = String(s.tiles);
  status.dataset.done = String(!!s.at);
}

async function downloadOfflineMap() {
  const button = document.getElementById('offline-map-refresh');
  const bbox = bboxOf(myGrids);
  if (!bbox || !navigator.onLine) return;
  button.disabled = true;
  try {
    await keepData(DATA_URLS, map.getStyle());
    await refreshOfflineMap(map.getStyle(), bbox, { onProgress: renderOfflineMap });
  } catch (ex) {
    document.getElementById('offline-map-status').textContent = `${t('error')}: ${ex.message}`;
  } finally {
    button.disabled = false;
  }
}

function renderNet() {
  const net = document.getElementById('net');
  net.textContent = navigator.onLine ? t('online') : t('offline');
  net.classList.toggle('online', navigator.onLine);
}

async function openCase(c, target) {
  const full = await api(`/api/cases/${c.id}`);
  markPoint(map, [full.lon, full.lat], '#1c7ed6');
  map.easeTo({ center: [full.lon, full.lat], zoom: Math.max(map.getZoom(), 17) });
  target.replaceChildren(el('h3', {}, full.case_no), timeline(full),
    el('div', { class: 'photos' }, (full.photos || []).map(photoImage)),
    full.reporter_user_id === me.id ? addPhotos(full, target) : null);
  return full;
}

/** Photos added to one's own report afterwards: shrunk like a report's, queued in
 * the outbox (each with its own Idempotency-Key, uploaded as stage `report`) so that
 * a dropped connection loses nothing. */
function addPhotos(c, target) {
  const input = el('input', { type: 'file', id: 'add-photos', accept: 'image/jpeg,image/png,image/webp', multiple: true });
  const out = el('div', { id: 'add-photos-result', 'aria-live': 'polite' });
  const send = async () => {
    const files = [...input.files];
    if (!files.length) return;
    if (files.length > MAX_PHOTOS) return notice(out, t('tooManyPhotos'), 'error');
    for (const file of files) {
      const problem = checkPhoto(file);
      if (problem) return notice(out, problem, 'error');
    }
    const item = newReport(me.username, { category: c.category, lon: c.lon, lat: c.lat }, await Promise.all(files.map(compressPhoto)));
    item.caseId = c.id;
    item.caseNo = c.case_no;
    await putItem(item);
    announce();
    input.value = '';
    const outcome = await pump({ force: true, only: item.key });
    if (outcome && outcome.sent.find((x) => x.key === item.key)) await openCase(c, target);
    else notice(out, t('photosQueued'), 'ok');
  };
  return el('div', { class: 'add-photos' }, el('label', {}, `${t('addPhotos')} `, input),
    el('button', { type: 'button', id: 'add-photos-send', onclick: send }, t('sendPhotos')), out);
}

async function showMine() {
  const list = document.getElementById('mine-list');
  list.replaceChildren(el('li', { class: 'muted' }, t('loading')));
  const { cases } = await api('/api/cases?limit=100');
  const mine = cases.filter((c) => c.reporter_user_id === me.id);
  const detail = el('div', { id: 'mine-detail' });
  list.replaceChildren(...(mine.length ? mine.map((c) => caseItem(c, cats.categories, { onOpen: (x) => openCase(x, detail) })) : [el('li', { class: 'muted' }, t('noCases'))]));
  list.after(detail);
}

function taskCard(c) {
  const note = el('textarea', { rows: 2, maxlength: 4000, 'aria-label': t('note'), placeholder: t('note') });
  const photo = el('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp', capture: 'environment', 'aria-label': t('photo') });
  const out = el('div', { 'aria-live': 'polite' });
  const detail = el('div');
  const act = async (action) => {
    const file = photo.files[0];
    const problem = checkPhoto(file);
    if (problem) return notice(out, problem, 'error');
    try {
      const photoIds = [];
      if (file) photoIds.push((await uploadPhoto(c.id, file, action === 'verify' ? 'report' : 'check')).id);
      await api(`/api/cases/${c.id}/actions`, { method: 'POST', body: { action, note: note.value.trim() || undefined, photo_ids: photoIds.length ? photoIds : undefined } });
      notice(out, `${c.case_no}: ${t('done')}`, 'ok');
      setTimeout(showTasks, 600);
    } catch (ex) {
      notice(out, `${t('error')}: ${ex.message}`, 'error');
    }
  };
  const buttons = c.status === 'verifying'
    ? [el('button', { type: 'button', dataset: { action: 'verify' }, onclick: () => act('verify') }, t('verify'))]
    : [el('button', { type: 'button', dataset: { action: 'check_pass' }, onclick: () => act('check_pass') }, `${t('check')}: ${t('pass')}`),
      el('button', { type: 'button', class: 'danger', dataset: { action: 'check_fail' }, onclick: () => act('check_fail') }, `${t('check')}: ${t('fail')}`)];
  const li = caseItem(c, cats.categories, { onOpen: (x) => openCase(x, detail) });
  li.append(detail, note, photo, el('div', { class: 'actions' }, buttons), out);
  return li;
}

async function showTasks() {
  const list = document.getElementById('task-list');
  list.replaceChildren(el('li', { class: 'muted' }, t('loading')));
  const { cases } = await api('/api/cases?status=verifying,checking&limit=100');
  list.replaceChildren(...(cases.length ? cases.map(taskCard) : [el('li', { class: 'muted' }, t('noCases'))]));
}

function setupTabs() {
  const tabs = { 'tab-report': 'report', 'tab-mine': 'mine', 'tab-tasks': 'tasks', 'tab-outbox': 'outbox' };
  for (const [tab, panel] of Object.entries(tabs)) {
    document.getElementById(tab).addEventListener('click', async () => {
      for (const [other, p] of Object.entries(tabs)) {
        document.getElementById(other).setAttribute('aria-selected', String(other === tab));
        document.getElementById(p).hidden = p !== panel;
      }
      if (panel === 'mine') await showMine();
      if (panel === 'tasks') await showTasks();
      if (panel === 'outbox') await renderOutbox();
    });
  }
}

/** Keeps who is signed in on this device, for offline work and the outbox. */
async function keepSession(who) {
  const s = session();
  if (s && s.token) await kvSet('session', { ...s, username: who.username });
  await kvSet('me', who);
}

/** Signing out forgets the session and the kept data and map (the outbox stays
 * with its owner's name: it is sent after that inspector signs in again). */
async function forgetDevice() {
  await kvDelete('session');
  await kvDelete('me');
  await kvDelete('grids');
  await kvDelete('offlineMap');
  for (const name of [DATA_CACHE, TILE_CACHE]) await caches.delete(name).catch(() => {});
}

function locate() {
  if (!navigator.geolocation) return;
  navigator.geolocation.getCurrentPosition(
    (p) => {
      const lonlat = [p.coords.longitude, p.coords.latitude];
      const accuracy = Math.round(p.coords.accuracy);
      const box = document.getElementById('accuracy');
      box.textContent = `· ${t('accuracy')} ±${accuracy} m${accuracy > 30 ? ` (${t('accuracyPoor')})` : ''}`;
      box.dataset.accuracy = String(accuracy);
      setPoint(lonlat, `GPS ±${accuracy} m`);
      map.easeTo({ center: lonlat, zoom: 17 });
    },
    (err) => notice(document.getElementById('report-result'), `${t('error')}: ${err.message}`, 'error'),
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 },
  );
}

async function start(who) {
  me = who;
  await keepSession(who);
  document.getElementById('signin-needed').hidden = true;
  if (map) {
    // Signed in again: what waited for the sign-in goes now.
    await retryNow();
    await pump({ force: true });
    return;
  }
  cats = await loadCategories();
  fillMajors();
  document.getElementById('kind').addEventListener('change', fillMajors);
  document.getElementById('major').addEventListener('change', fillCategories);
  map = await createMap('map');
  await showCases(map, []);
  await loadOwnGrids();
  showOwnGrids();
  const bbox = bboxOf(myGrids);
  if (bbox) map.fitBounds([[bbox[0], bbox[1]], [bbox[2], bbox[3]]], { padding: 20, duration: 0, maxZoom: 18 });
  else notice(document.getElementById('report-result'), t('noOwnGrids'));
  map.on('click', (e) => setPoint([e.lngLat.lng, e.lngLat.lat], t('tapMap').replace(/^or /, '')));
  document.getElementById('locate').addEventListener('click', locate);
  document.getElementById('report').addEventListener('submit', submitReport);
  document.getElementById('queue-anyway').addEventListener('click', () => {
    confirmedOutside = true;
    document.getElementById('grid-warning').hidden = true;
    document.getElementById('report').requestSubmit();
  });
  document.getElementById('cancel-edit').addEventListener('click', stopEditing);
  document.getElementById('signin-again').addEventListener('click', showSignIn);
  document.getElementById('offline-map-refresh').addEventListener('click', downloadOfflineMap);
  setupTabs();
  renderNet();
  window.addEventListener('offline', renderNet);
  window.addEventListener('online', async () => {
    renderNet();
    await retryNow();
    await pump({ force: true });
  });
  try {
    const channel = new BroadcastChannel(CHANNEL);
    let soon = null;
    channel.onmessage = () => {
      clearTimeout(soon);
      soon = setTimeout(renderOutbox, 100);
    };
  } catch {
    // Without BroadcastChannel the list is redrawn after each send of this page.
  }
  await renderOfflineMap();
  await renderOutbox();
  document.body.dataset.ready = 'true';
  // Sending on start: whatever waited (a retry time, a closed tab) is due now.
  await retryNow();
  pump({ force: true });
  if (navigator.onLine) {
    await keepData(DATA_URLS, map.getStyle());
    if (!(await offlineMapState())) downloadOfflineMap();
  }
}

async function registerWorker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register('/inspector/sw.js', { scope: '/inspector', type: 'module' });
  } catch (e) {
    console.warn('inspector: no offline support:', e.message);
  }
}

setupLanguage(() => {
  if (me) document.getElementById('who').textContent = `${t('signedInAs')} ${me.username} · ${me.role}${me.department ? ` · ${me.department}` : ''}`;
  if (cats.major_classes.length) fillMajors();
  renderNet();
  renderOutbox();
  renderOfflineMap();
  const near = document.getElementById('near-address');
  if (near.dataset.label) near.textContent = nearText(near.dataset.label);
});
registerWorker();
// The session kept on this device lets the page open offline, and a new tab
// carry on with the outbox, until the inspector signs out or the token expires.
kvGet('session')
  .then((kept) => { if (!session() && kept) restoreSession(kept); })
  .catch(() => {})
  .finally(async () => {
    await withSession(start, { offlineMe: () => kvGet('me'), onSignOut: forgetDevice });
    if (!me) await showSignIn();
  });
