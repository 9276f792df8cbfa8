// /embed: a department pastes its API key, chooses layers, and gets an iframe
// snippet and a MapLibre snippet, with a live preview of /embed/map.

import { setupLanguage, t } from './i18n.js';
import { el } from './api.js';
import { catalog, loadStyle } from './mapkit.js';

const KEY = 'citygrid.embedKey';
let layers = [];
let timer;

function chosen() {
  return [...document.querySelectorAll('#layer-picks input:checked')].map((i) => i.value);
}

function bounds(ids) {
  let b = null;
  for (const l of layers) {
    if (!ids.includes(l.id) || !Array.isArray(l.bounds) || l.bounds.length !== 4) continue;
    b = b ? [Math.min(b[0], l.bounds[0]), Math.min(b[1], l.bounds[1]), Math.max(b[2], l.bounds[2]), Math.max(b[3], l.bounds[3])] : l.bounds.slice();
  }
  return b;
}

/** The iframe snippet. */
export function iframeSnippet(origin, key, ids) {
  const src = `${origin}/embed/map?key=${encodeURIComponent(key)}&layers=${ids.join(',')}`;
  return `<iframe src="${src}"\n        width="100%" height="400" style="border:0" loading="lazy"\n        title="citygrid map"></iframe>`;
}

/** The MapLibre snippet: MapLibre from citygrid, an inline style with the chosen layers. */
export function maplibreSnippet(origin, style, b) {
  const json = JSON.stringify({ version: 8, sources: style.sources, layers: style.layers }, null, 1)
    .replace(/\n\s*/g, ' ');
  const fit = b ? `,\n    bounds: ${JSON.stringify([[b[0], b[1]], [b[2], b[3]]])},\n    fitBoundsOptions: { padding: 20, maxZoom: 17 }` : '';
  return `<link rel="stylesheet" href="${origin}/assets/vendor/maplibre-gl.css">
<div id="citygrid-map" style="width:100%;height:400px"></div>
<script src="${origin}/assets/vendor/maplibre-gl.js"></script>
<script>
(function () {
  var box = document.getElementById('citygrid-map');
  function fail(why) {
    box.textContent = 'citygrid: the map cannot be shown (' + why + ')';
    box.setAttribute('role', 'alert');
    box.style.cssText += ';display:flex;align-items:center;justify-content:center;color:#c92a2a;background:#fff5f5';
  }
  var map = new maplibregl.Map({
    container: box,
    style: ${json}${fit}
  });
  map.on('error', function (e) {
    var s = e.error && e.error.status;
    fail(s === 401 || s === 403 || !s ? 'the API key is unknown or does not allow this site' : 'HTTP ' + s);
  });
  window.citygridMap = map;
})();
</script>`;
}

async function update() {
  const key = document.getElementById('key').value.trim();
  const ids = chosen();
  const origin = location.origin;
  document.getElementById('snippet-iframe').value = ids.length ? iframeSnippet(origin, key, ids) : '';
  const preview = document.getElementById('preview');
  const src = `/embed/map?key=${encodeURIComponent(key)}&layers=${ids.join(',')}`;
  if (ids.length && preview.getAttribute('src') !== src) preview.setAttribute('src', src);
  if (!ids.length) {
    document.getElementById('snippet-maplibre').value = '';
    return;
  }
  try {
    const style = await loadStyle({ key, layers: ids });
    document.getElementById('snippet-maplibre').value = maplibreSnippet(origin, style, bounds(ids));
  } catch (e) {
    document.getElementById('snippet-maplibre').value = `${t('error')}: ${e.message}`;
  }
}

async function loadLayers() {
  const key = document.getElementById('key').value.trim();
  sessionStorage.setItem(KEY, key);
  const status = document.getElementById('key-status');
  const picks = document.getElementById('layer-picks');
  try {
    layers = await catalog({ key });
  } catch (e) {
    status.replaceChildren(el('p', { class: 'notice error' }, `${t('mapFailedKey')} (${e.message})`));
    picks.replaceChildren();
    return;
  }
  status.replaceChildren();
  picks.replaceChildren(...layers.map((l) => {
    const box = el('input', { type: 'checkbox', value: l.id, checked: l.kind === 'vector' });
    box.addEventListener('change', () => { clearTimeout(timer); timer = setTimeout(update, 250); });
    return el('label', {}, box, l.title || l.id);
  }));
  await update();
}

function copy(id) {
  const area = document.getElementById(id);
  area.select();
  navigator.clipboard?.writeText(area.value).catch(() => document.execCommand('copy'));
}

function main() {
  setupLanguage();
  document.getElementById('key').value = sessionStorage.getItem(KEY) || new URLSearchParams(location.search).get('key') || '';
  document.getElementById('key-form').addEventListener('submit', (e) => { e.preventDefault(); loadLayers(); });
  document.getElementById('copy-iframe').addEventListener('click', () => copy('snippet-iframe'));
  document.getElementById('copy-maplibre').addEventListener('click', () => copy('snippet-maplibre'));
  if (document.getElementById('key').value) loadLayers();
}

main();
