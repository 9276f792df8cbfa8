// The home view in a real browser: with a layer far away imported (larger than the
// city's), the viewer, the inspector page and the embedded map still open on the
// city's home view; the home button brings the viewer back there, "zoom to layer"
// goes to a layer, the layer list has one entry per layer with its true count and
// its title, search shows hits by kind and zooms to the whole road, and the MapLibre
// snippet references the style by URL.
import { BASE, check, expectClean, newPage, run, shot } from './lib.mjs';

const F = JSON.parse(process.env.FIXTURE || '{}');
const HOME = F.home.bbox;

const centre = (target) => target.evaluate(() => {
  const c = window.citygridMap.getCenter();
  return [c.lng, c.lat];
});
const inBox = (c, b) => c[0] >= b[0] && c[0] <= b[2] && c[1] >= b[1] && c[1] <= b[3];
const still = (target) => target.waitForFunction(() => window.citygridMap && window.citygridMap.loaded() && !window.citygridMap.isMoving());

await run('home', async (browser) => {
  // The viewer opens at home, not at the union with the far layer.
  const page = await newPage(browser);
  await page.goto(`${BASE}/`);
  await page.waitForSelector('body[data-ready="true"]');
  await still(page);
  let c = await centre(page);
  check(inBox(c, HOME), `the viewer opens in the home box ${HOME}: ${c}`);
  const zoom = await page.evaluate(() => window.citygridMap.getZoom());
  check(zoom > 12, `the viewer opens at a city zoom, not the world: ${zoom}`);
  await shot(page, 'home-viewer');

  // One entry per layer, with the live count and the bilingual title.
  const items = await page.locator('#layers li').evaluateAll((xs) => xs.map((x) => x.dataset.layerItem));
  check(new Set(items).size === items.length, `one entry per layer: ${items}`);
  for (const [id, n] of Object.entries(F.counts)) {
    const text = await page.locator(`#layers li[data-layer-item="${id}"] .layer-count`).textContent();
    check(text.includes(`(${n})`), `layer ${id} shows its ${n} features: ${text}`);
  }
  const gridTitle = await page.locator('#layers li[data-layer-item="unit_grids"] .layer-title').textContent();
  check(gridTitle === 'Unit grids', `the unit grids' English title: ${gridTitle}`);

  // Zoom to the far layer, then the home button brings the map back.
  await page.click('#layers button[data-zoom-layer="far_away"]');
  await page.waitForFunction((b) => {
    const m = window.citygridMap; const p = m.getCenter();
    return !m.isMoving() && p.lng >= b[0] && p.lng <= b[2] && p.lat >= b[1] && p.lat <= b[3];
  }, F.far_bbox);
  await page.click('button.citygrid-home');
  await page.waitForFunction((b) => {
    const m = window.citygridMap; const p = m.getCenter();
    return !m.isMoving() && p.lng >= b[0] && p.lng <= b[2] && p.lat >= b[1] && p.lat <= b[3];
  }, HOME);
  check(inBox(await centre(page), HOME), 'the home button returns to the home view');
  // Zoom to a layer of the city.
  await page.click('#layers button[data-zoom-layer="pois"]');
  await page.waitForFunction((b) => {
    const m = window.citygridMap; const p = m.getCenter();
    return !m.isMoving() && Math.abs(p.lng - (b[0] + b[2]) / 2) < 1e-3 && Math.abs(p.lat - (b[1] + b[3]) / 2) < 1e-3;
  }, F.pois_bbox);

  // Search: one road hit for a road of many segments, zooming to all of it.
  await page.fill('#search-text', F.road);
  await page.click('#search button[type="submit"]');
  await page.waitForSelector('#search-results section[data-kind="road"] li');
  const roadHits = await page.locator('#search-results section[data-kind="road"] li').count();
  check(roadHits === 1, `one hit for the road of ${F.road_parts} segments: ${roadHits}`);
  await page.waitForFunction((b) => {
    const m = window.citygridMap; if (m.isMoving()) return false;
    const v = m.getBounds();
    return v.getWest() <= b[0] + 1e-6 && v.getEast() >= b[2] - 1e-6 && v.getSouth() <= b[1] + 1e-6 && v.getNorth() >= b[3] - 1e-6;
  }, F.road_bbox);
  await shot(page, 'home-search-road');
  // The Chinese layer titles.
  await page.click('#lang');
  const zh = await page.locator('#layers li[data-layer-item="unit_grids"] .layer-title').textContent();
  check(zh === '单元网格', `the unit grids' Chinese title: ${zh}`);
  await page.click('#lang');
  expectClean(page);

  // The inspector's page opens at home too (an inspector without grids of his own).
  const insp = await newPage(browser, { width: 390, height: 800, mobile: true });
  await insp.goto(`${BASE}/inspector`);
  await insp.evaluate(async ([user, password]) => {
    const r = await fetch('/api/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: user, password }) });
    localStorage.setItem('citygrid.session', JSON.stringify(await r.json()));
  }, F.inspector);
  await insp.goto(`${BASE}/inspector`);
  await insp.waitForFunction(() => window.citygridMap && window.citygridMap.loaded());
  await still(insp);
  c = await centre(insp);
  check(inBox(c, HOME), `the inspector page opens in the home box: ${c}`);
  await shot(insp, 'home-inspector');

  // The embedded map opens at home.
  const embed = await newPage(browser);
  await embed.goto(`${BASE}/embed/map?layers=buildings,roads,far_away`);
  await embed.waitForSelector('body[data-ready="true"]');
  await still(embed);
  c = await centre(embed);
  check(inBox(c, HOME), `the embedded map opens in the home box: ${c}`);
  // Its search box finds things in its own layers only.
  await embed.fill('#embed-q', 'jiefang avenue');
  await embed.press('#embed-q', 'Enter');
  await embed.waitForSelector('#embed-hits p.muted');
  await embed.fill('#embed-q', 'far 7');
  await embed.press('#embed-q', 'Enter');
  await embed.waitForSelector('#embed-hits button[data-kind="poi"]');
  const label = await embed.locator('#embed-hits button').first().textContent();
  check(label.startsWith('far 7'), `the embedded map's search finds its layer's point: ${label}`);
  expectClean(embed);

  // The embed page's preview and the MapLibre snippet: the style by URL.
  const guide = await newPage(browser);
  await guide.goto(`${BASE}/embed`);
  await guide.fill('#key', F.key);
  await guide.click('#key-form button[type="submit"]');
  await guide.waitForFunction(() => document.getElementById('snippet-maplibre').value.includes('maplibregl.Map'));
  const snippet = await guide.inputValue('#snippet-maplibre');
  check(snippet.includes('/styles/default.json?key='), 'the snippet references the style by URL');
  check(!snippet.includes('"sources"'), 'the snippet does not copy the style');
  await guide.frameLocator('#preview').locator('body[data-ready="true"]').waitFor();
  const preview = guide.frames().find((f) => f.url().includes('/embed/map'));
  await still(preview);
  c = await centre(preview);
  check(inBox(c, HOME), `the embed preview opens in the home box: ${c}`);
  expectClean(guide);
});
