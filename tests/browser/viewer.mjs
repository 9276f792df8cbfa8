// The map viewer in a real browser: tiles render, layers toggle, a click opens the
// attributes popup, search finds a place, length/area measures and the polygon
// query work, the cursor shows CGCS2000 Gauss–Krüger and GCJ-02, overdue cases
// stand out, the language switch works, and the page fits a phone.
import { BASE, check, expectClean, newPage, pixelOf, renderedFeatures, run, shot } from './lib.mjs';

const F = JSON.parse(process.env.FIXTURE || '{}');

function haversine(a, b) {
  const R = 6371008.8, rad = Math.PI / 180;
  const h = Math.sin(((b[1] - a[1]) * rad) / 2) ** 2 + Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.sin(((b[0] - a[0]) * rad) / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(h));
}

await run('viewer', async (browser) => {
  const page = await newPage(browser);
  await page.goto(`${BASE}/`);
  await page.waitForSelector('body[data-ready="true"]');
  const count = await renderedFeatures(page);
  console.log(`rendered features: ${count}`);
  check(count > 0, 'the viewer renders features');

  // The layer list has every layer with a legend swatch; a toggle hides a layer.
  for (const id of ['buildings', 'roads', 'pois', 'cases']) {
    check(await page.locator(`#layers input[data-layer="${id}"]`).count() === 1, `layer ${id} is listed`);
  }
  const visible = (id) => page.evaluate((id) => window.citygridMap.queryRenderedFeatures().filter((f) => f.sourceLayer === id).length, id);
  check(await visible('roads') > 0, 'roads render');
  await page.locator('#layers input[data-layer="roads"]').uncheck();
  await page.waitForFunction(() => window.citygridMap.queryRenderedFeatures().filter((f) => f.sourceLayer === 'roads').length === 0);
  await page.locator('#layers input[data-layer="roads"]').check();
  await page.waitForFunction(() => window.citygridMap.queryRenderedFeatures().filter((f) => f.sourceLayer === 'roads').length > 0);
  // Raster under vector: every raster layer of the style comes before the first vector layer.
  const order = await page.evaluate(() => window.citygridMap.getStyle().layers.map((l) => l.type));
  const lastRaster = order.lastIndexOf('raster');
  const firstVector = order.findIndex((t) => ['fill', 'line', 'circle'].includes(t));
  check(lastRaster === -1 || lastRaster < firstVector, 'raster layers are drawn under vector layers');

  // Overdue cases stand out (a halo layer of their own).
  await page.waitForFunction(() => window.citygridMap.queryRenderedFeatures({ layers: ['cases-overdue-halo'] }).length > 0);
  check(await page.locator('#case-legend').isVisible(), 'the case legend is shown');

  // Cursor coordinates: WGS84, CGCS2000 GK (zone 38, EPSG:4547 at Wuhan) and GCJ-02.
  const b = F.building;
  const at = await pixelOf(page, [b.lon, b.lat]);
  await page.mouse.move(at.x, at.y);
  const gk = await page.locator('#c-gk').textContent();
  check(/EPSG:4547/.test(gk) && /CM 114°E/.test(gk), `GK shows zone 38 / EPSG:4547: ${gk}`);
  const east = Number(/E (\d+\.\d+)/.exec(gk)[1]);
  // 1° of longitude at 30.58°N is about 95.9 km; the point is (lon − 114)° east of the CM.
  const approx = 500000 + (b.lon - 114) * 95900;
  check(Math.abs(east - approx) < 200, `GK easting ${east} near ${approx}`);
  const gcj = await page.locator('#c-gcj').textContent();
  const [glon, glat] = /GCJ-02 ([\d.]+), ([\d.]+)/.exec(gcj).slice(1).map(Number);
  const offset = haversine([b.lon, b.lat], [glon, glat]);
  check(offset > 100 && offset < 1000, `GCJ-02 is offset by a few hundred metres in China (${offset.toFixed(0)} m)`);

  // A click on a building opens its attributes.
  await page.mouse.click(at.x, at.y);
  const popup = page.locator('.maplibregl-popup');
  await popup.waitFor();
  const text = await popup.textContent();
  check(text.includes(b.name), `the popup shows the clicked building (${b.name}): ${text}`);
  await shot(page, 'viewer-popup');
  await page.locator('.maplibregl-popup-close-button').click();

  // Measure a length between two known points.
  const p1 = [F.measure[0], F.measure[1]], p2 = [F.measure[2], F.measure[3]];
  await page.click('#tool-length');
  for (const p of [p1, p2]) {
    const px = await pixelOf(page, p);
    await page.mouse.click(px.x, px.y);
  }
  await page.click('#draw-finish');
  const measured = await page.locator('#measure-value').textContent();
  const metres = Number(/([\d.]+) (k?m)/.exec(measured)[1]) * (/ km/.test(measured) ? 1000 : 1);
  const expected = haversine(p1, p2);
  check(Math.abs(metres - expected) / expected < 0.01, `measured ${metres} m, expected about ${expected.toFixed(1)} m`);

  // Area: a box of known size.
  const box = F.box; // [w, s, e, n]
  await page.click('#tool-area');
  for (const p of [[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]]) {
    const px = await pixelOf(page, p);
    await page.mouse.click(px.x, px.y);
  }
  await page.click('#draw-finish');
  const areaText = await page.locator('#measure-value').textContent();
  const m2 = Number(/Area: ([\d.]+) m²/.exec(areaText)[1]);
  const w = haversine([box[0], (box[1] + box[3]) / 2], [box[2], (box[1] + box[3]) / 2]);
  const h = haversine([box[0], box[1]], [box[0], box[3]]);
  check(Math.abs(m2 - w * h) / (w * h) < 0.01, `area ${m2} m² vs about ${(w * h).toFixed(0)} m²`);

  // Statistics of the features in a drawn polygon (POST /api/query).
  await page.click('#tool-query');
  for (const p of [[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]]) {
    const px = await pixelOf(page, p);
    await page.mouse.click(px.x, px.y);
  }
  await page.click('#draw-finish');
  await page.waitForSelector('#query-stats, #tool-result .error');
  const stats = await page.locator('#tool-result').textContent();
  check(await page.locator('#query-stats').count() === 1, `the query statistics are shown: ${stats}`);
  const buildingsRow = await page.locator('#query-stats tr[data-layer="buildings"] td.count').textContent();
  check(Number(buildingsRow) === F.box_buildings, `buildings in the box: ${buildingsRow}, expected ${F.box_buildings}`);
  await shot(page, 'viewer-query');

  // Search by place name (the map then zooms to it).
  await page.fill('#search-text', F.search);
  await page.click('#search button[type="submit"]');
  await page.waitForSelector('#search-results li');
  check((await page.locator('#search-results').textContent()).includes(F.search), 'search finds the place');

  await page.waitForFunction(() => window.citygridMap.getZoom() > 17 && !window.citygridMap.isMoving());
  await shot(page, 'viewer-search');
  // Search by case number: cases are found by those who may see them (a shift
  // leader, signed in on this browser).
  await page.evaluate(async ([user, password]) => {
    const r = await fetch('/api/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: user, password }) });
    localStorage.setItem('citygrid.session', JSON.stringify(await r.json()));
  }, F.user);
  await page.fill('#search-text', F.case_no);
  await page.click('#search button[type="submit"]');
  await page.waitForFunction((no) => document.getElementById('search-results').textContent.includes(no), F.case_no);

  // Chinese.
  await page.click('#lang');
  check((await page.locator('#tool-length').textContent()) === '测距离', 'the language switch shows Chinese');
  // Layer titles from the catalogue's bilingual metadata, and the polygon query's table
  // redrawn in Chinese.
  check((await page.locator('#layers li[data-layer-item="cases"] .layer-title').textContent()) === '案卷', 'the cases layer is titled 案卷');
  check((await page.locator('#query-stats thead th').first().textContent()) === '图层', 'the query table is in Chinese');
  // ... and the map's labels follow it: a symbol layer's text asks for name:zh first.
  const labelField = () => page.evaluate(() => {
    const m = window.citygridMap;
    const l = m.getStyle().layers.find((x) => x.type === 'symbol' && x.layout && x.layout['text-field']);
    return l ? JSON.stringify(m.getLayoutProperty(l.id, 'text-field')) : '';
  });
  await page.waitForFunction(() => {
    const m = window.citygridMap;
    const l = m.getStyle().layers.find((x) => x.type === 'symbol' && x.layout && x.layout['text-field']);
    return l && JSON.stringify(m.getLayoutProperty(l.id, 'text-field')).includes('name:zh');
  }, null, { timeout: 10000 });
  check((await labelField()).includes('name:zh'), 'the labels are in Chinese after the switch');
  // Real labels: at the building, the rendered label of its tile feature is its Chinese
  // name (the text field's first name the feature has).
  await page.evaluate(([lon, lat]) => window.citygridMap.jumpTo({ center: [lon, lat], zoom: 18 }), [b.lon, b.lat]);
  const shownLabel = () => page.evaluate(([lon, lat, name]) => {
    const m = window.citygridMap;
    const labels = m.getStyle().layers.filter((l) => l.type === 'symbol' && l['source-layer'] === 'buildings' && l.layout && l.layout['text-field']);
    const p = m.project([lon, lat]);
    for (const f of m.queryRenderedFeatures([[p.x - 80, p.y - 80], [p.x + 80, p.y + 80]], { layers: labels.map((l) => l.id) })) {
      const field = m.getLayoutProperty(f.layer.id, 'text-field');
      const keys = Array.isArray(field) && field[0] === 'coalesce' ? field.slice(1).map((g) => g[1]) : [];
      const text = keys.map((k) => f.properties[k]).find((v) => v !== undefined && v !== null);
      if (f.properties.name === name) return text;
    }
    return null;
  }, [b.lon, b.lat, b.name]);
  await page.waitForFunction(() => window.citygridMap.loaded() && window.citygridMap.areTilesLoaded(), null, { timeout: 15000 });
  let label = null;
  for (let i = 0; i < 50 && label !== b.name_zh; i += 1) {
    label = await shownLabel();
    if (label !== b.name_zh) await page.waitForTimeout(200);
  }
  check(label === b.name_zh, `the building is labelled ${b.name_zh} from its tile: ${label}`);
  await shot(page, 'viewer-zh');
  await page.click('#lang');
  await page.waitForFunction(() => {
    const m = window.citygridMap;
    const l = m.getStyle().layers.find((x) => x.type === 'symbol' && x.layout && x.layout['text-field']);
    return l && !JSON.stringify(m.getLayoutProperty(l.id, 'text-field')).includes('name:zh');
  }, null, { timeout: 10000 });
  let english = null;
  for (let i = 0; i < 50 && english !== b.name; i += 1) {
    english = await shownLabel();
    if (english !== b.name) await page.waitForTimeout(200);
  }
  check(english === b.name, `back in English the building is labelled ${b.name}: ${english}`);
  expectClean(page);

  // A phone: the panel is a drawer, the map fills the screen.
  const phone = await newPage(browser, { width: 390, height: 800, mobile: true, locale: 'zh-CN' });
  await phone.goto(`${BASE}/`);
  await phone.waitForSelector('body[data-ready="true"]');
  await renderedFeatures(phone);
  check((await phone.locator('#tool-length').textContent()) === '测距离', 'a Chinese browser gets Chinese');
  check(!(await phone.locator('#panel').isVisible()) || (await phone.locator('#panel').boundingBox()).x < 0, 'the panel is closed on a phone');
  await shot(phone, 'viewer-phone');
  await phone.click('#panel-toggle');
  await phone.waitForTimeout(400);
  await shot(phone, 'viewer-phone-panel');
  expectClean(phone);
});
