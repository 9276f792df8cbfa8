// The inspector's phone page (/inspector): report a problem where one stands (or
// where one taps), with category, nearby component, photo and note; follow one's
// reports; do the verification and on-site check tasks.

import { api, el, qs } from './api.js';
import { setupLanguage, t, lang } from './i18n.js';
import { createMap } from './mapkit.js';
import { withSession } from './session.js';
import { showCases } from './cases-layer.js';
import { caseItem, checkPhoto, loadCategories, markPoint, photoImage, timeline, uploadPhoto } from './casekit.js';

let map;
let me;
let point = null;
let cats = { categories: [], major_classes: [] };

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
  document.getElementById('where').textContent = `${lonlat[0].toFixed(6)}, ${lonlat[1].toFixed(6)} (${source})`;
  markPoint(map, lonlat);
  const box = document.getElementById('nearby');
  const list = document.getElementById('nearby-list');
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

function notice(target, text, kind = '') {
  target.replaceChildren(el('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text));
}

async function submitReport(e) {
  e.preventDefault();
  const out = document.getElementById('report-result');
  if (!point) return notice(out, t('needLocation'), 'error');
  const category = document.getElementById('category').value;
  if (!category) return notice(out, t('needCategory'), 'error');
  const file = document.getElementById('photo').files[0];
  const problem = checkPhoto(file);
  if (problem) return notice(out, problem, 'error');
  const component = document.querySelector('input[name="component"]:checked')?.value || undefined;
  const note = document.getElementById('note').value.trim();
  const button = document.getElementById('submit');
  button.disabled = true;
  try {
    const created = await api('/api/cases', {
      method: 'POST',
      body: { category, lon: point[0], lat: point[1], description: note || undefined, component_id: component },
    });
    let photoText = '';
    if (file) {
      try {
        await uploadPhoto(created.id, file);
        photoText = ` · ${t('photo')} ✓`;
      } catch (ex) {
        photoText = ` · ${t('photo')}: ${ex.message}`;
      }
    }
    const dup = (created.duplicates || []).length ? ` · ${t('duplicates')}: ${created.duplicates.map((d) => d.case_no).join(', ')}` : '';
    out.replaceChildren(el('div', { class: 'notice ok', role: 'status' }, t('reported'), ' ',
      el('span', { class: 'case-no', id: 'new-case-no' }, created.case_no), photoText, dup));
    document.getElementById('note').value = '';
    document.getElementById('photo').value = '';
    out.scrollIntoView({ block: 'nearest' });
  } catch (ex) {
    notice(out, `${t('error')}: ${ex.message}`, 'error');
  } finally {
    button.disabled = false;
  }
}

async function openCase(c, target) {
  const full = await api(`/api/cases/${c.id}`);
  markPoint(map, [full.lon, full.lat], '#1c7ed6');
  map.easeTo({ center: [full.lon, full.lat], zoom: Math.max(map.getZoom(), 17) });
  target.replaceChildren(el('h3', {}, full.case_no), timeline(full),
    el('div', { class: 'photos' }, (full.photos || []).map(photoImage)));
  return full;
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
      if (file) photoIds.push((await uploadPhoto(c.id, file)).id);
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
  const tabs = { 'tab-report': 'report', 'tab-mine': 'mine', 'tab-tasks': 'tasks' };
  for (const [tab, panel] of Object.entries(tabs)) {
    document.getElementById(tab).addEventListener('click', async () => {
      for (const [other, p] of Object.entries(tabs)) {
        document.getElementById(other).setAttribute('aria-selected', String(other === tab));
        document.getElementById(p).hidden = p !== panel;
      }
      if (panel === 'mine') await showMine();
      if (panel === 'tasks') await showTasks();
    });
  }
}

async function start(who) {
  me = who;
  if (map) return;
  cats = await loadCategories();
  fillMajors();
  document.getElementById('kind').addEventListener('change', fillMajors);
  document.getElementById('major').addEventListener('change', fillCategories);
  map = await createMap('map');
  await showCases(map, []);
  map.on('click', (e) => setPoint([e.lngLat.lng, e.lngLat.lat], t('tapMap').replace(/^or /, '')));
  document.getElementById('locate').addEventListener('click', () => {
    if (!navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition(
      (p) => {
        const lonlat = [p.coords.longitude, p.coords.latitude];
        setPoint(lonlat, `GPS ±${Math.round(p.coords.accuracy)} m`);
        map.easeTo({ center: lonlat, zoom: 17 });
      },
      (err) => notice(document.getElementById('report-result'), `${t('error')}: ${err.message}`, 'error'),
      { enableHighAccuracy: true, timeout: 15000 },
    );
  });
  document.getElementById('report').addEventListener('submit', submitReport);
  setupTabs();
  document.body.dataset.ready = 'true';
}

setupLanguage(() => cats.major_classes.length && fillMajors());
withSession(start);
