// The frameable minimal map (/embed/map?key=…&layers=a,b): the chosen layers with
// the department's API key, and a clear message when the key is refused.

import { t } from './i18n.js';
import { el } from './api.js';
import { createMap, attributeTable, maplibregl } from './mapkit.js';
import { kindName, searchApi, zoomToHit } from './home.js';

/** A search box over the map: GET /api/search within the map's layers and key. */
function setupSearch(map, key, layers) {
  const form = document.getElementById('embed-search');
  const input = document.getElementById('embed-q');
  const out = document.getElementById('embed-hits');
  input.placeholder = t('searchHint');
  form.hidden = false;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return out.replaceChildren();
    let answer;
    try {
      answer = await searchApi(q, { key, layers, limit: 8 });
    } catch (err) {
      return out.replaceChildren(el('p', { class: 'error' }, `${t('error')}: ${err.message}`));
    }
    const hits = answer.groups.flatMap((g) => g.hits);
    if (!hits.length) return out.replaceChildren(el('p', { class: 'muted' }, t('noResult')));
    out.replaceChildren(...hits.map((h) => el('button', { type: 'button', class: 'link', dataset: { kind: h.kind },
      onclick: () => zoomToHit(map, h) }, h.label, el('small', {}, ` ${kindName(h.kind)}`))));
    zoomToHit(map, hits[0]);
  });
}

function fail(message) {
  const box = document.getElementById('embed-error');
  box.textContent = `${t('mapFailed')}: ${message}`;
  box.hidden = false;
  document.body.dataset.ready = 'error';
}

async function main() {
  const params = new URLSearchParams(location.search);
  const key = params.get('key') || '';
  const layers = (params.get('layers') || '').split(',').map((s) => s.trim()).filter(Boolean);
  let map;
  try {
    map = await createMap('map', { key, layers: layers.length ? layers : null, noReferrer: true });
  } catch (e) {
    fail(e.status === 401 || e.status === 403 ? `${t('mapFailedKey')} (${e.message})` : e.message);
    return;
  }
  map.on('error', (e) => {
    const status = e.error && e.error.status;
    if (status === 401 || status === 403) fail(t('mapFailedKey'));
  });
  setupSearch(map, key, layers);
  map.on('click', (e) => {
    const hits = map.queryRenderedFeatures(e.point);
    if (!hits.length) return;
    new maplibregl.Popup().setLngLat(e.lngLat).setDOMContent(attributeTable(hits[0], hits[0].sourceLayer || '')).addTo(map);
  });
  document.body.dataset.ready = 'true';
}

main();
