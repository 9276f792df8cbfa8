// The map shared by every page: MapLibre GL JS (served by citygrid itself, global
// `maplibregl`) with citygrid's default style, optionally limited to some layers
// and carrying an API key.

import { lang, t } from './i18n.js';
import { errorText, session, setTimeZone } from './api.js';
import { HomeControl, boundsOf, fetchHome, fieldTitle } from './home.js';

const maplibregl = window.maplibregl;

/** The URL of `path` on `server` with `key` as ?key= (when given). */
export function withKey(url, key) {
  if (!key) return url;
  return url + (url.includes('?') ? '&' : '?') + 'key=' + encodeURIComponent(key);
}

/**
 * The headers for a map-data request to citygrid: the signed-in user's token
 * (so maps work where layers are not public), unless an API key is used.
 */
export function authHeaders(url, key) {
  const s = session();
  if (key || !s || !s.token) return {};
  const sameOrigin = url.startsWith('/') || url.startsWith(`${location.origin}/`);
  return sameOrigin ? { Authorization: `Bearer ${s.token}` } : {};
}

/**
 * Fetches citygrid's default style and keeps only `layers` (ids of the catalogue)
 * when given; the vector source then asks only for those layers' tiles.
 */
export async function loadStyle({ server = '', key = '', layers = null } = {}) {
  const url = withKey(`${server}/styles/default.json?lang=${lang() === 'zh' ? 'zh' : 'en'}`, key);
  const response = await fetch(url, { headers: authHeaders(url, key) });
  if (!response.ok) {
    let message = `${response.status}`;
    try {
      message = errorText(await response.json(), message);
    } catch {
      // not JSON
    }
    const err = new Error(message);
    err.status = response.status;
    throw err;
  }
  const style = await response.json();
  if (layers && layers.length) {
    const wanted = new Set(layers);
    style.layers = style.layers.filter((l) =>
      l.type === 'background' || wanted.has(l['source-layer']) || (l.type === 'raster' && wanted.has(l.id.replace(/-raster$/, ''))));
    const vector = layers.filter((id) => style.layers.some((l) => l['source-layer'] === id));
    if (style.sources.citygrid) {
      if (vector.length) {
        style.sources.citygrid.url = style.sources.citygrid.url.replace(/\/tiles\/[^/?]+\.json/, `/tiles/${vector.join(',')}.json`);
      }
      else delete style.sources.citygrid;
    }
    for (const name of Object.keys(style.sources)) {
      if (name.startsWith('raster-') && !wanted.has(name.slice(7))) delete style.sources[name];
    }
  }
  return quieterAreas(style);
}

/** Administrative areas and unit grids: a light fill and a clear outline, so they
 * frame the map instead of covering it. */
const AREAS = { unit_grids: '#7b61ff', communities: '#0b7285', streets: '#2b8a3e', admin_divisions: '#495057' };

function quieterAreas(style) {
  const out = [];
  for (const l of style.layers) {
    const colour = AREAS[l['source-layer']];
    if (colour && l.type === 'fill') {
      out.push({ ...l, paint: { 'fill-color': colour, 'fill-opacity': 0.04 } });
      const width = l['source-layer'] === 'unit_grids' ? 0.6 : 1.6;
      out.push({ ...l, id: `${l.id}-outline`, type: 'line', paint: { 'line-color': colour, 'line-width': width, 'line-opacity': 0.7 } });
    } else {
      out.push(l);
    }
  }
  style.layers = out;
  return style;
}

/** The catalogue layer id a style layer draws. */
export function layerIdOf(styleLayer) {
  if (styleLayer['source-layer']) return styleLayer['source-layer'];
  if (styleLayer.type === 'raster') return styleLayer.id.replace(/-raster$/, '');
  return null;
}

/** The colour a style layer draws with (for legends). */
export function colourOf(styleLayer) {
  const p = styleLayer.paint || {};
  const c = p['fill-color'] || p['line-color'] || p['circle-color'];
  return typeof c === 'string' ? c : '#888';
}

/**
 * Creates a map in `container` with the default style (`noReferrer` for maps that
 * use an API key restricted to other origins), opened at the city's home view
 * (GET /api/home: never the union of every layer) with a home button. Resolves to
 * the map once the style is loaded; exposes it as window.citygridMap for tests and
 * tools, and the home view as map.citygridHome.
 */
export async function createMap(container, { server = '', key = '', layers = null, interactive = true, noReferrer = false } = {}) {
  const [style, home] = await Promise.all([
    loadStyle({ server, key, layers }),
    fetchHome({ server, key, headers: authHeaders(`${server}/api/home`, key) }).catch(() => null),
  ]);
  // The city's time zone comes with the home view: times on the page are shown in it.
  if (home && home.timezone && !server) setTimeZone(home.timezone);
  const map = new maplibregl.Map({
    container,
    style,
    center: home ? home.center : style.center || [0, 0],
    zoom: home ? home.zoom : style.zoom ?? 14,
    interactive,
    attributionControl: { compact: true },
    doubleClickZoom: true,
    dragRotate: false,
    // An embedded map's tile requests carry no Referer: citygrid's own origin is
    // not one the API key allows (the frame request was checked already).
    transformRequest: (url) => ({ url, headers: authHeaders(url, key), referrerPolicy: noReferrer ? 'no-referrer' : undefined }),
    pitchWithRotate: false,
    locale: {
      'NavigationControl.ZoomIn': t('zoomIn'),
      'NavigationControl.ZoomOut': t('zoomOut'),
    },
  });
  map.touchZoomRotate.disableRotation();
  if (interactive) {
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
    if (home) map.addControl(new HomeControl(home), 'top-right');
    map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  }
  map.citygridHome = home;
  window.citygridMap = map;
  await new Promise((resolve, reject) => {
    if (map.loaded()) resolve();
    map.once('load', resolve);
    map.once('error', (e) => reject(e.error || new Error('map error')));
  });
  // The whole home box on this screen (the centre and zoom were for a laptop's).
  if (home) map.fitBounds(boundsOf(home.bbox), { padding: 20, duration: 0, maxZoom: 18 });
  return map;
}

/** The catalogue: a list of {id, title, kind, geometry_type, …}. */
export async function catalog({ server = '', key = '' } = {}) {
  const url = withKey(`${server}/catalog`, key);
  const response = await fetch(url, { headers: authHeaders(url, key) });
  if (!response.ok) throw new Error(`${response.status}`);
  const body = await response.json();
  return Array.isArray(body) ? body : body.layers || [];
}

/** Shows or hides every style layer of catalogue layer `id`. */
export function setLayerVisible(map, id, visible) {
  for (const l of map.getStyle().layers) {
    if (layerIdOf(l) === id) map.setLayoutProperty(l.id, 'visibility', visible ? 'visible' : 'none');
  }
}

/** An attribute table for a popup (built with DOM nodes, never innerHTML); field
 * names in the reader's language when `layer` (its catalogue entry) has them. */
export function attributeTable(feature, title, layer = null) {
  const box = document.createElement('div');
  box.className = 'popup';
  const h = document.createElement('strong');
  h.textContent = title;
  box.append(h);
  const table = document.createElement('table');
  for (const [k, v] of Object.entries(feature.properties || {})) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = fieldTitle(layer, k);
    const td = document.createElement('td');
    td.textContent = typeof v === 'object' ? JSON.stringify(v) : String(v);
    tr.append(th, td);
    table.append(tr);
  }
  box.append(table);
  return box;
}

export { maplibregl };

/**
 * Relabels `map` in the reader's current language: the default style is fetched in
 * that language and each symbol layer's `text-field` of the map takes its value
 * (the map's own added layers and its position stay as they are).
 */
export async function relabelMap(map, { server = '', key = '' } = {}) {
  const style = await loadStyle({ server, key });
  for (const layer of style.layers) {
    if (layer.type !== 'symbol' || !layer.layout || !layer.layout['text-field']) continue;
    if (map.getLayer(layer.id)) map.setLayoutProperty(layer.id, 'text-field', layer.layout['text-field']);
  }
}
