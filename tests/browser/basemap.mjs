// The default style as a basemap (issue 19), in real headless Chromium: a bare page
// on the server's origin loads MapLibre from citygrid's assets and the style
// `/styles/default.json?lang=en` (glyphs and sprite from citygrid too), opens over
// central Helsinki, and at z16 MapLibre's queryRenderedFeatures returns symbol
// features with text for roads, POIs and buildings. Screenshots at z14, z16, z18
// (SCREENSHOT_DIR/basemap-z*.png). First, on the fresh server, the viewer at `/`: bytes
// transferred and the time to the map's first `idle`, printed as `first-view {...}`.
import { BASE, check, expectClean, newPage, run, shot } from './lib.mjs';

const CENTRE = JSON.parse(process.env.CENTRE || '[24.944, 60.1705]');
// Set to a folder (docs/screenshots) to also save the screenshots there as JPEG.
const DOCS = process.env.BASEMAP_DOCS_DIR;

const HTML = `<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/assets/vendor/maplibre-gl.css">
<script src="/assets/vendor/maplibre-gl.js"></script>
<style>html,body,#map{margin:0;height:100%}</style></head>
<body><div id="map"></div></body></html>`;

async function idle(page) {
  await page.waitForFunction(() => {
    const m = window.citygridMap;
    return m && m.loaded() && m.areTilesLoaded() && m.isStyleLoaded();
  }, null, { timeout: 60000, polling: 200 });
  // A render after the last tile, so the symbols are placed.
  await page.evaluate(() => new Promise((resolve) => {
    const m = window.citygridMap;
    m.once('idle', resolve);
    m.triggerRepaint();
  }));
}

await run('basemap', async (browser) => {
  // The first view of the viewer: bytes over the wire and the first `idle`.
  const viewer = await newPage(browser, { width: 1280, height: 800 });
  // Every request of the page and its workers (MapLibre fetches tiles in workers),
  // with the browser cache off: bytes as transferred (headers and compressed body).
  const cdp = await viewer.context().newCDPSession(viewer);
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const parts = { fonts: 0, sprites: 0, tiles: 0, other: 0 };
  const finished = [];
  viewer.on('requestfinished', (r) => finished.push(r.sizes().then((s) => {
    const path = new URL(r.url()).pathname;
    const part = ['fonts', 'sprites', 'tiles'].find((p) => path.startsWith(`/${p}/`)) || 'other';
    parts[part] += s.responseHeadersSize + s.responseBodySize;
  }).catch(() => {})));
  const started = Date.now();
  await viewer.goto(`${BASE}/`);
  await viewer.waitForFunction(() => window.citygridMap, null, { timeout: 60000 });
  await viewer.evaluate(() => new Promise((resolve) => {
    const m = window.citygridMap;
    if (m.loaded() && m.areTilesLoaded()) resolve();
    else m.once('idle', resolve);
  }));
  const ms = Date.now() - started;
  const atIdle = finished.slice();
  await Promise.all(atIdle);
  const bytes = Object.values(parts).reduce((a, b) => a + b, 0);
  console.log(`first-view ${JSON.stringify({ bytes, requests: atIdle.length, ms, parts })}`);
  await viewer.close();

  const page = await newPage(browser, { width: 1024, height: 640 });
  const host = `${BASE}/__basemap_test`;
  await page.route(host, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: HTML }));
  const failed = [];
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(host);
  await page.evaluate(([centre]) => {
    window.citygridMap = new window.maplibregl.Map({
      container: 'map', style: '/styles/default.json?lang=en', center: centre, zoom: 16,
      // Ideographs from the server's glyphs as well (as MapLibre Native draws them).
      localIdeographFontFamily: false, attributionControl: false,
    });
  }, [CENTRE]);
  await idle(page);
  const found = await page.evaluate(() => {
    const m = window.citygridMap;
    const symbols = m.queryRenderedFeatures().filter((f) => f.layer.type === 'symbol');
    const withText = (pred) => symbols.filter((f) => pred(f) && f.layer.layout && f.layer.layout['text-field'] !== undefined
      && typeof f.properties.name === 'string' && f.properties.name.length > 0);
    const bySource = (suffix) => withText((f) => f.sourceLayer.endsWith(suffix));
    return {
      roads: bySource('_roads').map((f) => f.properties.name).slice(0, 5),
      pois: bySource('_pois').map((f) => f.properties.name).slice(0, 5),
      buildings: bySource('_buildings').map((f) => f.properties.name).slice(0, 5),
      icons: symbols.filter((f) => f.layer.layout && f.layer.layout['icon-image'] !== undefined).length,
      glyphs: performance.getEntriesByType('resource').filter((e) => e.name.includes('/fonts/')).length,
      sprite: performance.getEntriesByType('resource').filter((e) => e.name.includes('/sprites/')).length,
    };
  });
  console.log(`z16 symbols: ${JSON.stringify(found)}`);
  check(found.roads.length > 0, 'road names are drawn along the roads at z16');
  check(found.pois.length > 0, 'POI names are drawn at z16');
  check(found.buildings.length > 0, 'building names are drawn at z16');
  check(found.icons > 0, 'icons are drawn at z16');
  check(found.glyphs > 0 && found.sprite > 0, 'glyphs and sprite come from citygrid');
  check(failed.length === 0, `no request failed: ${failed.join(', ')}`);
  for (const zoom of [14, 16, 18]) {
    await page.evaluate((z) => window.citygridMap.jumpTo({ zoom: z }), zoom);
    await idle(page);
    await shot(page, `basemap-z${zoom}`);
    if (DOCS) await page.screenshot({ path: `${DOCS}/basemap-z${zoom}.jpg`, type: 'jpeg', quality: 82 });
  }
  expectClean(page);
});
