// The map viewer (/): layers with legends, attributes on click, search, measuring,
// polygon statistics, the cursor in three coordinate systems, and cases by status.

import { setupLanguage, t } from './i18n.js';
import { api, el } from './api.js';
import { createMap, relabelMap, catalog, layerIdOf, colourOf, setLayerVisible, attributeTable, authHeaders, maplibregl } from './mapkit.js';
import { Draw } from './draw.js';
import { lineLength, polygonArea, formatLength, formatArea, gaussKruger3, wgs84ToGcj02 } from './geo.js';
import { kindName, layerTitle, searchApi, zoomToHit, zoomToLayer } from './home.js';
import { geocodeApi, levelName } from './geocode-text.js';
import { showCases } from './cases-layer.js';

let map;
let layers = [];
/** The last polygon query's answer (its table is redrawn in the other language). */
let lastStats = null;
let draw;

function renderLayerList() {
  const list = document.getElementById('layers');
  list.replaceChildren();
  const styleLayers = map.getStyle().layers;
  // Top of the map first: the style draws rasters under vectors.
  const ordered = [...layers].sort((a, b) => {
    const ia = styleLayers.findIndex((l) => layerIdOf(l) === a.id);
    const ib = styleLayers.findIndex((l) => layerIdOf(l) === b.id);
    return ib - ia;
  });
  for (const layer of ordered) {
    const own = styleLayers.filter((l) => layerIdOf(l) === layer.id);
    if (!own.length) continue;
    const visible = own.some((l) => (l.layout || {}).visibility !== 'none');
    const swatch = el('span', { class: `swatch swatch-${own[0].type}` });
    if (own[0].type !== 'raster') swatch.style.background = colourOf(own[0]);
    const box = el('input', { type: 'checkbox', checked: visible, dataset: { layer: layer.id } });
    box.addEventListener('change', () => setLayerVisible(map, layer.id, box.checked));
    const count = layer.kind === 'raster' ? '' : ` (${layer.feature_count ?? ''})`;
    const zoom = el('button', { type: 'button', class: 'zoom-layer', title: t('zoomToLayer'), 'aria-label': `${t('zoomToLayer')}: ${layerTitle(layer)}`,
      dataset: { zoomLayer: layer.id }, onclick: () => zoomToLayer(map, layer) });
    zoom.disabled = !Array.isArray(layer.bounds);
    list.append(el('li', { dataset: { layerItem: layer.id } }, el('label', {}, box, swatch, el('span', { class: 'layer-title' }, layerTitle(layer)),
      el('small', { class: 'layer-count' }, `${layer.kind === 'raster' ? 'raster' : (layer.geometry_type || '')}${count}`)), zoom));
  }
}

function showCoords(lngLat) {
  const lon = lngLat.lng, lat = lngLat.lat;
  document.getElementById('c-wgs').textContent = `WGS84 ${lon.toFixed(6)}, ${lat.toFixed(6)}`;
  const gk = gaussKruger3(lon, lat);
  const epsg = gk.epsg ? `EPSG:${gk.epsg}` : `zone ${gk.zone}`;
  document.getElementById('c-gk').textContent =
    `CGCS2000 GK3° ${epsg} (CM ${gk.centralMeridian}°E) E ${gk.easting.toFixed(2)} N ${gk.northing.toFixed(2)}`;
  const [glon, glat] = wgs84ToGcj02(lon, lat);
  document.getElementById('c-gcj').textContent = `GCJ-02 ${glon.toFixed(6)}, ${glat.toFixed(6)}`;
}

function popupAt(e) {
  if (draw.active) return;
  const box = [[e.point.x - 4, e.point.y - 4], [e.point.x + 4, e.point.y + 4]];
  const hits = map.queryRenderedFeatures(box).filter((f) => !f.layer.id.startsWith('draw-') && !f.layer.id.startsWith('search-hit'));
  if (!hits.length) return;
  const content = el('div', { class: 'popup-list' });
  const seen = new Set();
  for (const f of hits) {
    const id = `${f.layer.id}:${f.id ?? JSON.stringify(f.properties)}`;
    if (seen.has(id) || seen.size >= 4) continue;
    seen.add(id);
    const lid = f.sourceLayer || f.layer.id;
    const meta = layers.find((l) => l.id === lid);
    content.append(attributeTable(f, meta ? layerTitle(meta) : lid, meta));
  }
  new maplibregl.Popup({ maxWidth: '320px' }).setLngLat(e.lngLat).setDOMContent(content).addTo(map);
}

function setResult(...nodes) {
  document.getElementById('tool-result').replaceChildren(...nodes);
}

function startTool(mode) {
  const bar = document.getElementById('draw-bar');
  bar.hidden = false;
  setResult();
  const query = mode === 'query';
  draw.start(query ? 'polygon' : mode, {
    onChange: (g) => { if (!query && g) setResult(measureText(g)); },
    onFinish: async (g) => {
      bar.hidden = true;
      if (!g) return setResult();
      if (!query) return setResult(measureText(g));
      await queryPolygon(g);
    },
  });
}

function measureText(g) {
  if (g.type === 'LineString') {
    return el('p', { class: 'measure', id: 'measure-value' }, `${t('length')}: ${formatLength(lineLength(g.coordinates))}`);
  }
  const ring = g.coordinates[0];
  return el('p', { class: 'measure', id: 'measure-value' },
    `${t('area')}: ${formatArea(polygonArea(ring))}`, el('br'), `${t('perimeter')}: ${formatLength(lineLength(ring))}`);
}

async function queryPolygon(geometry) {
  const vectorIds = layers.filter((l) => l.kind === 'vector').map((l) => l.id);
  setResult(el('p', {}, t('loading')));
  const area = el('p', { class: 'measure' }, `${t('area')}: ${formatArea(polygonArea(geometry.coordinates[0]))}`);
  try {
    const answer = await api('/api/query', { method: 'POST', body: { layers: vectorIds, geometry, op: 'intersects', include_features: false } });
    lastStats = answer;
    setResult(area, statsTable(answer));
  } catch (e) {
    setResult(area, el('p', { class: 'error' }, `${t('error')}: ${e.message}`));
  }
}

/** The statistics of POST /api/query as a table (one row per layer with matches). */
function statsTable(answer) {
  const rows = [];
  let empty = 0;
  for (const s of (answer && answer.layers) || []) {
    if (!s.count) {
      empty += 1;
      continue;
    }
    const meta = layers.find((l) => l.id === s.layer);
    rows.push(el('tr', { dataset: { layer: s.layer } }, el('th', {}, meta ? layerTitle(meta) : s.layer), el('td', { class: 'count' }, String(s.count)),
      el('td', {}, s.length_m ? formatLength(s.length_m) : ''), el('td', {}, s.area_m2 ? formatAreaShort(s.area_m2) : '')));
  }
  if (!rows.length) return el('p', { class: 'muted' }, t('noResult'));
  return el('div', {}, el('table', { class: 'stats', id: 'query-stats' },
    el('thead', {}, el('tr', {}, el('th', {}, t('layers')), el('th', {}, t('count')), el('th', {}, t('length')), el('th', {}, t('area')))),
    el('tbody', {}, rows)), empty ? el('p', { class: 'muted' }, `+ ${empty} ${t('layers')}: 0`) : null);
}

function formatAreaShort(m2) {
  return m2 >= 1e6 ? `${(m2 / 1e6).toFixed(3)} km²` : `${Math.round(m2).toLocaleString('en')} m²`;
}

/** Search through GET /api/search and, beside it, GET /api/geocode: hits grouped by
 * kind and the address candidates; a click zooms to the hit (a road: the whole road)
 * or the address. */
function setupSearch() {
  document.getElementById('search').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = document.getElementById('search-text').value.trim();
    const out = document.getElementById('search-results');
    if (!text) return out.replaceChildren();
    out.replaceChildren(el('p', {}, t('loading')));
    const [found, geocoded] = await Promise.all([
      searchApi(text, { headers: authHeaders('/api/search', '') }).then((a) => ({ answer: a }), (err) => ({ err })),
      // at most 200 characters reach the geocoder; a failure there hides only the addresses
      text.length <= 200 ? geocodeApi(text, { headers: authHeaders('/api/geocode', '') }).catch(() => null) : Promise.resolve(null),
    ]);
    if (found.err && !geocoded) return out.replaceChildren(el('p', { class: 'error' }, `${t('error')}: ${found.err.message}`));
    const answer = found.answer || { groups: [], total: 0, truncated: false };
    const addresses = ((geocoded && geocoded.candidates) || []).filter((c) => c.score >= 0.5);
    if (!answer.groups.length && !addresses.length) return out.replaceChildren(el('p', { class: 'muted' }, t('noResult')));
    const shown = answer.groups.reduce((n, g) => n + g.hits.length, 0);
    const addressGroup = addresses.length ? el('section', { class: 'search-group', dataset: { kind: 'address' } },
      el('h3', {}, kindName('address')),
      el('ul', {}, addresses.map((c) => el('li', { dataset: { kind: 'address', level: c.level } },
        el('button', { class: 'link', onclick: () => focusAddress(c) }, c.label,
          el('small', {}, ` ${levelName(c.level)} · ${Math.round(c.score * 100)}%`)))))) : null;
    const groups = answer.groups.map((g) => el('section', { class: 'search-group', dataset: { kind: g.kind } },
      el('h3', {}, kindName(g.kind)),
      el('ul', {}, g.hits.map((h) => {
        const meta = layers.find((l) => l.id === h.layer);
        const extra = [h.detail, h.parts > 1 ? `${h.parts} ${t('searchParts')}` : '', meta ? layerTitle(meta) : h.layer].filter(Boolean).join(' · ');
        return el('li', { dataset: { kind: h.kind, layer: h.layer } },
          el('button', { class: 'link', onclick: () => focus(h) }, h.label, el('small', {}, ` ${extra}`)));
      }))));
    // a confident house number first: it is what the reader typed (a road is better
    // shown by the search's hit, which zooms to all of it)
    const addressFirst = Boolean(geocoded && geocoded.confident && addresses.length
      && ['house', 'interpolated'].includes(addresses[0].level));
    out.replaceChildren(...(addressFirst ? [addressGroup, ...groups] : [...groups, addressGroup]).filter(Boolean),
      answer.truncated ? el('p', { class: 'muted' }, `+${answer.total - shown} ${t('searchMore')}`) : '');
    if (addressFirst || !answer.groups.length) focusAddress(addresses[0]);
    else focus(answer.groups[0].hits[0]);
  });
}

function focusAddress(c) {
  const [lon, lat] = c.point;
  focus({ bbox: [lon, lat, lon, lat] });
}

function focus(hit) {
  const b = hit.bbox;
  const point = b[0] === b[2] && b[1] === b[3];
  const geometry = point ? { type: 'Point', coordinates: [b[0], b[1]] }
    : { type: 'LineString', coordinates: [[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]], [b[0], b[1]]] };
  map.getSource('search-hit').setData({ type: 'Feature', properties: {}, geometry });
  zoomToHit(map, hit);
}

function setupPanel() {
  const toggle = document.getElementById('panel-toggle');
  const panel = document.getElementById('panel');
  toggle.addEventListener('click', () => {
    const open = !panel.classList.contains('open');
    panel.classList.toggle('open', open);
    toggle.setAttribute('aria-expanded', String(open));
    setTimeout(() => map && map.resize(), 50);
  });
}

async function main() {
  setupLanguage(() => {
    if (layers.length) renderLayerList();
    // Layer titles and field names follow the switch: the query table is redrawn, an
    // open attributes popup closed (the next click opens it in the new language).
    const stats = document.getElementById('query-stats');
    if (stats && lastStats) stats.parentElement.replaceWith(statsTable(lastStats));
    for (const b of document.querySelectorAll('.maplibregl-popup-close-button')) b.click();
    // the map's labels follow the switch (name:zh or name)
    if (map) relabelMap(map).catch(() => {});
  });
  setupPanel();
  try {
    map = await createMap('map');
  } catch (e) {
    const hint = e.status === 401 ? el('a', { href: '/console' }, t('signIn')) : null;
    document.getElementById('map').replaceChildren(el('p', { class: 'error map-error', role: 'alert' }, `${t('mapFailed')}: ${e.message} `, hint));
    document.body.dataset.ready = 'error';
    return;
  }
  layers = await catalog().catch(() => []);
  map.addSource('search-hit', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  map.addLayer({ id: 'search-hit', type: 'line', source: 'search-hit', paint: { 'line-color': '#0b7285', 'line-width': 4 } });
  map.addLayer({ id: 'search-hit-point', type: 'circle', source: 'search-hit', filter: ['==', ['geometry-type'], 'Point'],
    paint: { 'circle-radius': 12, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#0b7285', 'circle-stroke-width': 3 } });
  draw = new Draw(map);
  renderLayerList();
  map.on('mousemove', (e) => showCoords(e.lngLat));
  showCoords(map.getCenter());
  map.on('click', popupAt);
  document.getElementById('tool-length').addEventListener('click', () => startTool('line'));
  document.getElementById('tool-area').addEventListener('click', () => startTool('polygon'));
  document.getElementById('tool-query').addEventListener('click', () => startTool('query'));
  document.getElementById('draw-finish').addEventListener('click', () => draw.finish());
  document.getElementById('draw-clear').addEventListener('click', () => { draw.clear(); setResult(); document.getElementById('draw-bar').hidden = true; });
  setupSearch();
  await showCases(map, layers);
  document.body.dataset.ready = 'true';
}

main();
