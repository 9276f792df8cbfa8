// /embed: a department pastes its API key, chooses layers, and gets an iframe
// snippet and a MapLibre snippet, with a live preview of /embed/map.

import { setupLanguage, t } from './i18n.js';
import { el } from './api.js';
import { catalog } from './mapkit.js';
import { fetchHome, layerTitle } from './home.js';

const KEY = 'citygrid.embedKey';
let layers = [];
let timer;

function chosen() {
  return [...document.querySelectorAll('#layer-picks input:checked')].map((i) => i.value);
}

/** The iframe snippet. */
export function iframeSnippet(origin, key, ids) {
  const src = `${origin}/embed/map?key=${encodeURIComponent(key)}&layers=${ids.join(',')}`;
  return `<iframe src="${src}"\n        width="100%" height="400" style="border:0" loading="lazy"\n        title="citygrid map"></iframe>`;
}

/**
 * The MapLibre snippet: MapLibre from citygrid and citygrid's default style by URL
 * (so later changes of the style reach the embedded map), keeping the chosen layers;
 * the map opens at the city's home view.
 */
export function maplibreSnippet(origin, key, ids, home) {
  const styleUrl = `${origin}/styles/default.json?key=${encodeURIComponent(key)}`;
  const start = home ? `center: ${JSON.stringify(home.center)}, zoom: ${home.zoom}` : 'center: [0, 0], zoom: 1';
  return `<link rel="stylesheet" href="${origin}/assets/vendor/maplibre-gl.css">
<div id="citygrid-map" style="width:100%;height:400px"></div>
<script src="${origin}/assets/vendor/maplibre-gl.js"></script>
<script>
(function () {
  var origin = ${JSON.stringify(origin)};
  var layers = ${JSON.stringify(ids)};
  var box = document.getElementById('citygrid-map');
  function fail(why) {
    box.textContent = 'citygrid: the map cannot be shown (' + why + ')';
    box.setAttribute('role', 'alert');
    box.style.cssText += ';display:flex;align-items:center;justify-content:center;color:#c92a2a;background:#fff5f5';
  }
  // Only the chosen layers: their style layers, and tiles of just those layers.
  function keep(previous, style) {
    var drawn = {};
    Object.keys(style.sources).forEach(function (name) {
      var s = style.sources[name];
      var m = s.type === 'vector' && /\\/tiles\\/([^/?]+)\\.json/.exec(s.url || '');
      if (m) {
        var ids = m[1].split(',').filter(function (id) { return layers.indexOf(id) >= 0; });
        if (ids.length) { s.url = s.url.replace(m[1], ids.join(',')); drawn[name] = true; }
        else delete style.sources[name];
      } else if (s.type === 'raster' && name.indexOf('raster-') === 0) {
        if (layers.indexOf(name.slice(7)) >= 0) drawn[name] = true; else delete style.sources[name];
      } else {
        drawn[name] = true;
      }
    });
    style.layers = style.layers.filter(function (l) {
      if (!l.source) return true;
      if (!drawn[l.source]) return false;
      return !l['source-layer'] || layers.indexOf(l['source-layer']) >= 0;
    });
    return style;
  }
  var map = new maplibregl.Map({
    container: box,
    style: { version: 8, sources: {}, layers: [] },
    ${start}
  });
  map.setStyle(${JSON.stringify(styleUrl)}, { transformStyle: keep });
  // The city's home view, as the service says today.
  fetch(origin + '/api/home?key=${encodeURIComponent(key)}').then(function (r) { return r.json(); }).then(function (h) {
    map.fitBounds([[h.bbox[0], h.bbox[1]], [h.bbox[2], h.bbox[3]]], { padding: 20, duration: 0, maxZoom: 18 });
  }).catch(function () {});
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
  const home = await fetchHome({ key }).catch(() => null);
  document.getElementById('snippet-maplibre').value = maplibreSnippet(origin, key, ids, home);
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
    return el('label', {}, box, layerTitle(l));
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
