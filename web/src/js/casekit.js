// Pieces shared by the inspector and the console: photos, case list items,
// timelines and the case map.

import { api, el, session, when } from './api.js';
import { statusName, t, lang } from './i18n.js';
import { STATUS_COLOURS } from './cases-layer.js';

/** The largest photo the page accepts (the server checks again). */
export const MAX_PHOTO_BYTES = 8 * 1024 * 1024;
const PHOTO_TYPES = ['image/jpeg', 'image/png', 'image/webp'];
/** Photos above this are re-encoded (JPEG, at most 1600 px) before upload. */
const SHRINK_ABOVE = 900 * 1024;

/** Checks a chosen photo; returns an error text or null. */
export function checkPhoto(file) {
  if (!file) return null;
  if (!PHOTO_TYPES.includes(file.type)) return t('photoType');
  if (file.size > MAX_PHOTO_BYTES) return t('photoTooBig');
  return null;
}

async function shrink(file) {
  if (file.size <= SHRINK_ABOVE || typeof createImageBitmap !== 'function') return file;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.85));
    return blob && blob.size < file.size ? blob : file;
  } catch {
    return file;
  }
}

/** Uploads a photo to case `id` (for workflow `stage` when given: report,
 * feedback, check); returns {id, url, …}. */
export async function uploadPhoto(caseId, file, stage) {
  const body = await shrink(file);
  const query = stage ? `?stage=${encodeURIComponent(stage)}` : '';
  return api(`/api/cases/${encodeURIComponent(caseId)}/photos${query}`, {
    method: 'POST', body, headers: { 'Content-Type': body.type || 'application/octet-stream' },
  });
}

/** An <img> of a case photo (fetched with the session's token). */
export function photoImage(photo) {
  const img = el('img', { alt: `photo ${photo.id}`, loading: 'lazy' });
  const s = session();
  fetch(photo.url, { headers: s ? { Authorization: `Bearer ${s.token}` } : {} })
    .then((r) => (r.ok ? r.blob() : null))
    .then((b) => { if (b) img.src = URL.createObjectURL(b); })
    .catch(() => {});
  return img;
}

/** A coloured status badge. */
export function statusBadge(status) {
  const b = el('span', { class: 'badge status', dataset: { status } }, statusName(status));
  b.style.background = STATUS_COLOURS[status] || '#888';
  return b;
}

/** The name of a category code from the category list. */
export function categoryName(categories, code) {
  const c = categories.find((x) => x.code === code);
  if (!c) return code;
  return `${code} ${lang() === 'zh' ? c.name_zh : c.name_en}`;
}

/** One case in a list. */
export function caseItem(c, categories, { onOpen, selected } = {}) {
  const li = el('li', { class: [c.overdue ? 'overdue' : '', selected ? 'selected' : ''].join(' ').trim(), dataset: { caseNo: c.case_no, caseId: String(c.id) } },
    el('button', { class: 'link case-link', onclick: () => onOpen && onOpen(c) }, el('strong', {}, c.case_no)),
    statusBadge(c.status),
    c.overdue ? el('span', { class: 'badge overdue' }, t('overdue')) : null,
    el('div', { class: 'muted' }, categoryName(categories, c.category), ' · ', when(c.reported_at)),
    c.description ? el('div', {}, c.description) : null);
  return li;
}

/** The timeline of a case: every step with who, role, when, from → to, note. */
/** The photos of case `c` by timeline event index: each photo goes under the event
 * of its workflow stage (report, feedback, check) nearest in time to its upload, so a
 * photo added later shows under the step it belongs to. */
function photosByEvent(c) {
  const events = c.timeline || [];
  const out = new Map();
  for (const p of c.photos || []) {
    let best = -1;
    let bestGap = Infinity;
    events.forEach((e, i) => {
      if (!e.photo_stage || e.photo_stage !== p.stage) return;
      const gap = Math.abs(Date.parse(e.at) - Date.parse(p.uploaded_at));
      if (best < 0 || gap < bestGap) { best = i; bestGap = gap; }
    });
    if (best >= 0) out.set(best, [...(out.get(best) || []), p]);
  }
  return out;
}

export function timeline(c) {
  const photos = photosByEvent(c);
  return el('ol', { class: 'timeline', id: 'timeline' }, (c.timeline || []).map((e, i) =>
    el('li', { dataset: { action: e.action } },
      el('div', {}, el('strong', {}, actionName(e.action)), ' ',
        el('span', { class: 'muted' }, e.from_state && e.from_state !== e.to_state ? `${statusName(e.from_state)} → ${statusName(e.to_state)}` : `→ ${statusName(e.to_state)}`)),
      el('div', { class: 'when' }, when(e.at), ' · ', e.actor, ' (', e.role, e.department ? ` · ${e.department}` : '', ')'),
      e.note ? el('div', {}, e.note) : null,
      (e.attachments || []).length ? el('div', { class: 'muted' }, `${t('attachments')}: ${(e.attachments || []).length}`) : null,
      photos.has(i) ? el('div', { class: 'photos stage-photos', dataset: { stage: e.photo_stage } }, photos.get(i).map(photoImage)) : null)));
}

const ACTIONS = {
  report: ['Reported', '上报'], request_verification: ['Verification requested', '请求核实'], verify: ['Verified', '核实'],
  register: ['Registered', '立案'], void: ['Voided', '作废'], self_handle: ['Handled on the spot', '自行处置'],
  dispatch: ['Dispatched', '派遣'], return: ['Returned', '退回'], accept: ['Accepted', '签收'], feedback: ['Feedback', '反馈'],
  suspend: ['Suspended', '挂账'], resume: ['Resumed', '恢复'], request_extension: ['Extension requested', '申请延期'],
  approve_extension: ['Extension approved', '批准延期'], reject_extension: ['Extension rejected', '驳回延期'],
  request_check: ['Check requested', '请求核查'], check_pass: ['Check passed', '核查通过'], check_fail: ['Check failed', '核查不通过'],
  close: ['Closed', '结案'], comment: ['Comment', '备注'],
};

/** The name of a workflow action. */
export function actionName(a) {
  const e = ACTIONS[a];
  return e ? (lang() === 'zh' ? e[1] : e[0]) : a;
}

/** Categories and major classes (public). */
export async function loadCategories() {
  try {
    return await api('/api/categories?active=true', { anonymous: true });
  } catch {
    return { categories: [], major_classes: [] };
  }
}

/** Marks one point on `map` (GeoJSON source 'pick'). */
export function markPoint(map, lonlat, colour = '#d9480f') {
  const data = { type: 'FeatureCollection', features: lonlat ? [{ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: lonlat } }] : [] };
  if (map.getSource('pick')) {
    map.getSource('pick').setData(data);
  } else {
    map.addSource('pick', { type: 'geojson', data });
    map.addLayer({ id: 'pick-halo', type: 'circle', source: 'pick', paint: { 'circle-radius': 14, 'circle-color': colour, 'circle-opacity': 0.25 } });
    map.addLayer({ id: 'pick', type: 'circle', source: 'pick', paint: { 'circle-radius': 6, 'circle-color': colour, 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
  }
}
