// The city's home view (GET /api/home) and what goes with it on every map: the home
// button (a MapLibre control), zooming to a layer, layer titles and field names in
// the reader's language, and the one search endpoint (GET /api/search).

import { addText, lang, t } from './i18n.js';
import { errorText } from './api.js';

addText({
  home: ['Home view', '回到全市'],
  zoomToLayer: ['Zoom to layer', '缩放至图层'],
  searchKind_unit_grid: ['Unit grids', '单元网格'],
  searchKind_component: ['Components', '部件'],
  searchKind_case: ['Cases', '案卷'],
  searchKind_road: ['Roads and streets', '道路'],
  searchKind_poi: ['Places', '兴趣点'],
  searchKind_building: ['Buildings', '建筑'],
  searchKind_community: ['Communities', '社区'],
  searchKind_area: ['Districts and streets', '行政区划与街道'],
  searchKind_feature: ['Other', '其他'],
  searchParts: ['segments', '段'],
  searchMore: ['more: refine the search', '条未显示，请细化搜索'],
});

/** [[w, s], [e, n]] of a [w, s, e, n] box. */
export function boundsOf(b) {
  return [[b[0], b[1]], [b[2], b[3]]];
}

/**
 * The home view {center, zoom, bbox, source} of the citygrid at `server`, as the
 * caller sees it (built from the layers it may read): pass the embed's API `key`, or
 * the signed-in user's `headers`.
 */
export async function fetchHome({ server = '', key = '', headers = {} } = {}) {
  const url = `${server}/api/home${key ? `?key=${encodeURIComponent(key)}` : ''}`;
  const response = await fetch(url, { headers });
  if (!response.ok) throw new Error(`${response.status}`);
  return response.json();
}

/** Moves `map` to the home view (the whole box on screen). */
export function goHome(map, home, { duration = 300 } = {}) {
  if (!home) return;
  map.fitBounds(boundsOf(home.bbox), { padding: 20, duration, maxZoom: 18 });
}

/** The home button: a MapLibre control that brings the map back to the home view. */
export class HomeControl {
  constructor(home) {
    this.home = home;
  }

  onAdd(map) {
    this.container = document.createElement('div');
    this.container.className = 'maplibregl-ctrl maplibregl-ctrl-group';
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'citygrid-home';
    button.title = t('home');
    button.setAttribute('aria-label', t('home'));
    button.addEventListener('click', () => goHome(map, this.home));
    this.container.append(button);
    return this.container;
  }

  onRemove() {
    this.container.remove();
  }
}

/** Zooms `map` to a catalogue layer's bounds; false when it has none. */
export function zoomToLayer(map, layer, { duration = 300 } = {}) {
  const b = layer && layer.bounds;
  if (!Array.isArray(b) || b.length !== 4) return false;
  map.fitBounds(boundsOf(b), { padding: 40, duration, maxZoom: 18 });
  return true;
}

/** A catalogue layer's title in the reader's language (its plain title otherwise). */
export function layerTitle(layer) {
  if (!layer) return '';
  const own = lang() === 'zh' ? layer.title_zh : layer.title_en;
  return own || layer.title || layer.id;
}

/** A field's name in the reader's language (the field name otherwise). */
export function fieldTitle(layer, field) {
  const titles = (layer && layer.field_titles && layer.field_titles[field]) || {};
  return titles[lang()] || field;
}

/** The name of a search kind. */
export function kindName(kind) {
  return t(`searchKind_${kind}`);
}

/**
 * GET /api/search: {q, total, truncated, groups: [{kind, hits: [{kind, layer, label,
 * detail, fid, parts, bbox, matched}]}]}; `headers` carry the caller's credentials.
 */
export async function searchApi(q, { server = '', key = '', headers = {}, limit = 20, layers = null } = {}) {
  const params = new URLSearchParams({ q, limit: String(limit) });
  if (key) params.set('key', key);
  if (layers && layers.length) params.set('layers', layers.join(','));
  const response = await fetch(`${server}/api/search?${params}`, { headers });
  if (!response.ok) {
    let message = `${response.status}`;
    try {
      message = errorText(await response.json(), message);
    } catch {
      // not JSON
    }
    throw new Error(message);
  }
  return response.json();
}

/** Zooms `map` to a search hit's box (a point: street level). */
export function zoomToHit(map, hit, { duration = 300 } = {}) {
  const b = hit.bbox;
  if (b[0] === b[2] && b[1] === b[3]) {
    map.easeTo({ center: [b[0], b[1]], zoom: Math.max(map.getZoom(), 18), duration });
  } else {
    map.fitBounds(boundsOf(b), { padding: 80, maxZoom: 18, duration });
  }
}
