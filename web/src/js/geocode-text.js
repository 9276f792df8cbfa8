// Geocoding's catalogue and helpers (issue 21): [English, 中文] of what the viewer's
// address hits, the inspector's "near …" and the console's hotline intake show, and
// the two calls, GET /api/geocode and GET /api/reverse.

import { addText, lang, t } from './i18n.js';
import { errorText } from './api.js';

export const GEOCODE_TEXT = {
  searchKind_address: ['Addresses', '地址'],
  geocodeLevel_house: ['house number', '门牌'],
  geocodeLevel_interpolated: ['on the road (interpolated)', '道路插值'],
  geocodeLevel_road: ['road', '道路'],
  geocodeLevel_community: ['community', '社区'],
  geocodeLevel_division: ['district', '行政区'],
  nearAddress: ['near {label}', '{label}附近'],
  hotline: ['Hotline call', '热线受理'],
  hotlineHint: ['Type the address while the caller speaks, pick the right place, then file the case.', '边听来电边输入地址，选定位置后立案。'],
  hotlineAddress: ['Address', '地址'],
  hotlineAddressHint: ['e.g. 江岸区沿江大道188号 or Kaivokatu 2', '例如 江岸区沿江大道188号'],
  hotlineNoCandidate: ['No place found for this address', '未找到该地址'],
  hotlineAmbiguous: ['Several places match: ask the caller which one', '有多个匹配位置，请与来电人确认'],
  hotlinePicked: ['Place', '位置'],
  hotlinePickFirst: ['Pick a place for the address first', '请先选定地址位置'],
  hotlineCategory: ['Category', '类别'],
  hotlineDescription: ['What the caller reports', '来电内容'],
  hotlineCaller: ['Caller', '来电人'],
  hotlineContact: ['Phone', '电话'],
  hotlineSubmit: ['File the case', '立案受理'],
  hotlineFiled: ['Case filed', '已受理'],
  hotlineOpen: ['New hotline case', '新建热线案件'],
  hotlineClose: ['Close', '关闭'],
  unitGrid: ['unit grid', '单元网格'],
};
addText(GEOCODE_TEXT);

/** "near 沿江大道188号" / "沿江大道188号附近". */
export function nearText(label) {
  return t('nearAddress').replace('{label}', label);
}

/** The name of a match level. */
export function levelName(level) {
  return t(`geocodeLevel_${level}`);
}

/** A candidate's unit grid code, if the index knows one there. */
export function gridOf(candidate) {
  const g = (candidate.areas || []).find((a) => a.kind === 'unit_grid');
  return g ? g.code : null;
}

async function getJson(url, headers) {
  const response = await fetch(url, { headers: { Accept: 'application/json', ...headers } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw new Error(errorText(body, `${response.status}`));
  return body;
}

/** GET /api/geocode: {q, parsed, candidates: [{score, level, label, point, areas…}], ambiguous, confident}. */
export function geocodeApi(q, { limit = 5, headers = {}, key = '' } = {}) {
  const params = new URLSearchParams({ q, limit: String(limit) });
  if (key) params.set('key', key);
  return getJson(`/api/geocode?${params}`, headers);
}

/** GET /api/reverse: {point, address, road, areas, label}. */
export function reverseApi([lon, lat], { headers = {}, maxDistance = 150 } = {}) {
  const params = new URLSearchParams({ lon: String(lon), lat: String(lat), max_distance: String(maxDistance) });
  return getJson(`/api/reverse?${params}`, headers);
}

/** The language of the page, for callers that format numbers. */
export function isZh() {
  return lang() === 'zh';
}
