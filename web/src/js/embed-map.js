// The frameable minimal map (/embed/map?key=…&layers=a,b): the chosen layers with
// the department's API key, and a clear message when the key is refused.

import { t } from './i18n.js';
import { createMap, attributeTable, maplibregl } from './mapkit.js';

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
  map.on('click', (e) => {
    const hits = map.queryRenderedFeatures(e.point);
    if (!hits.length) return;
    new maplibregl.Popup().setLngLat(e.lngLat).setDOMContent(attributeTable(hits[0], hits[0].sourceLayer || '')).addTo(map);
  });
  document.body.dataset.ready = 'true';
}

main();
