// The WMTS sample page (/wmts-demo): citygrid's layers in an OpenLayers map in
// EPSG:4490 (CGCS2000Quad, Tianditu's "c" levels) or EPSG:3857 (WebMercatorQuad),
// everything read from the service's WMTS capabilities, as a Tianditu-based page
// would. Raster layers through ol/source/WMTS, vector layers as MVT through
// ol/source/VectorTile on the tile grid of the same capabilities. Bundled with
// OpenLayers from npm by web/build.mjs into /assets/vendor/wmts-demo.js (no CDN).
import Map from 'ol/Map.js';
import View from 'ol/View.js';
import TileLayer from 'ol/layer/Tile.js';
import VectorTileLayer from 'ol/layer/VectorTile.js';
import WMTS, { optionsFromCapabilities } from 'ol/source/WMTS.js';
import VectorTileSource from 'ol/source/VectorTile.js';
import MVT from 'ol/format/MVT.js';
import WMTSCapabilities from 'ol/format/WMTSCapabilities.js';
import { createFromCapabilitiesMatrixSet } from 'ol/tilegrid/WMTS.js';
import Projection from 'ol/proj/Projection.js';
import { addEquivalentProjections, addProjection, get as getProjection, transformExtent } from 'ol/proj.js';
import { Circle, Fill, Stroke, Style } from 'ol/style.js';
import { addText, setupLanguage, t } from '../src/js/i18n.js';

addText({
  wmtsDemo: ['WMTS', 'WMTS'],
  wmtsTitle: ['WMTS in CGCS2000 (EPSG:4490)', 'CGCS2000（EPSG:4490）WMTS 服务'],
  wmtsIntro: [
    'The city layers served as OGC WMTS 1.0.0 in WebMercatorQuad, WorldCRS84Quad and CGCS2000Quad (the levels of Tianditu\'s "c" matrix set). QGIS, ArcGIS, SuperMap, MapGIS, GDAL and OpenLayers pages load the capabilities below.',
    '城市图层以 OGC WMTS 1.0.0 发布，提供 WebMercatorQuad、WorldCRS84Quad 和 CGCS2000Quad（与天地图“c”矩阵集级别一致）三种切片方案。QGIS、ArcGIS、SuperMap、MapGIS、GDAL 和基于 OpenLayers 的页面均可加载下面的能力文档。',
  ],
  wmtsCapabilities: ['Capabilities', '能力文档'],
  wmtsGrid: ['Tile matrix set', '切片方案'],
  wmtsTiles: ['tiles drawn', '已绘制切片'],
  wmtsFailed: ['failed', '失败'],
  wmtsNoLayers: ['No layer you may read is offered.', '没有可读取的图层。'],
  wmtsMapLibreNote: [
    'The main map viewer uses MapLibre GL JS, which draws only Web Mercator tiles; CGCS2000 tiles are shown here with OpenLayers.',
    '主地图使用 MapLibre GL JS，仅支持 Web 墨卡托切片；CGCS2000 切片请在本页用 OpenLayers 查看。',
  ],
});

// EPSG:4490 (CGCS2000 geographic, latitude first). A degree is 2π·6378137/360 m, the
// rule WMTS scale denominators use; CGCS2000 and WGS 84 coincide at map scales.
const DEGREE_M = (Math.PI * 6378137) / 180;
const cgcs2000 = ['EPSG:4490', 'urn:ogc:def:crs:EPSG::4490', 'http://www.opengis.net/def/crs/EPSG/0/4490'].map(
  (code) => new Projection({
    code, units: 'degrees', axisOrientation: 'neu', global: true, metersPerUnit: DEGREE_M,
    extent: [-180, -90, 180, 90], worldExtent: [-180, -90, 180, 90],
  }));
cgcs2000.forEach(addProjection);
addEquivalentProjections([...cgcs2000, getProjection('EPSG:4326')]);

const MVT_TYPE = 'application/vnd.mapbox-vector-tile';
const params = new URLSearchParams(location.search);
const key = params.get('key');
const capsUrl = `${location.origin}/wmts/1.0.0/WMTSCapabilities.xml${key ? `?key=${encodeURIComponent(key)}` : ''}`;
const withKey = (url) => (key ? `${url}${url.includes('?') ? '&' : '?'}key=${encodeURIComponent(key)}` : url);

/** What the page drew: tiles loaded and failed per matrix set (read by the browser test). */
const stats = { loaded: {}, failed: {}, layers: [] };
window.wmtsDemo = stats;

function count(kind, set) {
  stats[kind][set] = (stats[kind][set] || 0) + 1;
  showStatus(set);
}

function showStatus(set) {
  const status = document.getElementById('status');
  status.textContent = `${set}: ${stats.loaded[set] || 0} ${t('wmtsTiles')}, ${stats.failed[set] || 0} ${t('wmtsFailed')}`;
  status.dataset.set = set;
}

const vectorStyle = new Style({
  stroke: new Stroke({ color: '#d9480f', width: 1.5 }),
  fill: new Fill({ color: 'rgba(217, 72, 15, 0.15)' }),
  image: new Circle({ radius: 5, fill: new Fill({ color: '#d9480f' }), stroke: new Stroke({ color: '#fff', width: 1.5 }) }),
});

/** The layers of `caps` drawn in matrix set `set` (rasters first, vectors on top). */
function layersIn(caps, set) {
  const out = [];
  const matrixSet = caps.Contents.TileMatrixSet.find((s) => s.Identifier === set);
  const offered = caps.Contents.Layer.filter((l) => l.TileMatrixSetLink.some((k) => k.TileMatrixSet === set));
  const rasters = offered.filter((l) => !l.Format.includes(MVT_TYPE));
  const vectors = offered.filter((l) => l.Format.includes(MVT_TYPE));
  for (const l of rasters) {
    const options = optionsFromCapabilities(caps, { layer: l.Identifier, matrixSet: set });
    if (!options) continue;
    options.urls = options.urls.map(withKey);
    options.crossOrigin = 'anonymous';
    const source = new WMTS(options);
    source.on('tileloadend', () => count('loaded', set));
    source.on('tileloaderror', () => count('failed', set));
    out.push(new TileLayer({ source }));
  }
  for (const l of vectors) {
    const link = l.TileMatrixSetLink.find((k) => k.TileMatrixSet === set);
    const grid = createFromCapabilitiesMatrixSet(matrixSet, undefined, link.TileMatrixSetLimits);
    const resource = l.ResourceURL.find((r) => r.format === MVT_TYPE);
    const template = withKey(resource.template.replace('{Style}', 'default').replace('{TileMatrixSet}', set));
    const source = new VectorTileSource({
      format: new MVT(),
      projection: getProjection(matrixSet.SupportedCRS),
      tileGrid: grid,
      tileUrlFunction: ([z, x, y]) => template
        .replace('{TileMatrix}', grid.getMatrixId(z)).replace('{TileCol}', String(x)).replace('{TileRow}', String(y)),
    });
    source.on('tileloadend', () => count('loaded', set));
    source.on('tileloaderror', () => count('failed', set));
    out.push(new VectorTileLayer({ source, style: vectorStyle }));
  }
  stats.layers = offered.map((l) => l.Identifier);
  return out;
}

/** The lon/lat box of the layers to show first: the rasters' (else every layer's). */
function homeBox(caps) {
  const layers = caps.Contents.Layer;
  const pick = layers.filter((l) => !l.Format.includes(MVT_TYPE));
  const boxes = (pick.length ? pick : layers).map((l) => l.WGS84BoundingBox).filter(Boolean);
  if (!boxes.length) return [73, 18, 135, 54];
  return boxes.reduce((a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])]);
}

async function main() {
  setupLanguage(() => {
    const set = document.getElementById('status').dataset.set;
    if (set) showStatus(set);
  });
  document.getElementById('caps-url').textContent = capsUrl;
  const response = await fetch(capsUrl);
  if (!response.ok) throw new Error(`capabilities: HTTP ${response.status}`);
  const caps = new WMTSCapabilities().read(await response.text());
  if (!caps.Contents.Layer || !caps.Contents.Layer.length) {
    document.getElementById('status').textContent = t('wmtsNoLayers');
    return;
  }
  const box = homeBox(caps);
  const map = new Map({ target: 'map' });
  const select = document.getElementById('set');
  const show = (set) => {
    const projection = set === 'WebMercatorQuad' ? getProjection('EPSG:3857') : getProjection('EPSG:4490');
    const view = new View({ projection, maxZoom: 24 });
    map.setLayers(layersIn(caps, set));
    map.setView(view);
    view.fit(transformExtent(box, 'EPSG:4326', projection), { size: map.getSize(), maxZoom: 22 });
    showStatus(set);
  };
  select.value = params.get('set') === 'WebMercatorQuad' ? 'WebMercatorQuad' : 'CGCS2000Quad';
  select.addEventListener('change', () => show(select.value));
  show(select.value);
}

main().catch((e) => {
  document.getElementById('status').textContent = `${t('error')}: ${e.message}`;
  console.error(e);
});
