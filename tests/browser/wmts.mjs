// The WMTS sample page (/wmts-demo): OpenLayers reads the WMTS capabilities and
// draws the orthophoto and the vector layer in EPSG:4490 (CGCS2000Quad), then in
// EPSG:3857 (WebMercatorQuad) after the switch, with no failed request; the page
// speaks both languages. Driven by tests/wmts.rs (a server with `ortho` and `pts`).
import { BASE, check, expectClean, newPage, run, shot } from './lib.mjs';

await run('wmts', async (browser) => {
  const page = await newPage(browser);
  const failed = [];
  const tiles = { CGCS2000Quad: new Set(), WebMercatorQuad: new Set() };
  page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    const url = r.url();
    if (r.status() >= 400) failed.push(`${url} HTTP ${r.status()}`);
    // KVP parameter names in any case (OpenLayers writes layer=, tilematrixset=).
    const lower = url.toLowerCase();
    for (const set of Object.keys(tiles)) {
      if (lower.includes(`tilematrixset=${set.toLowerCase()}`) || url.includes(`/${set}/`)) {
        if (r.status() === 200) tiles[set].add(url);
      }
    }
  });
  await page.goto(`${BASE}/wmts-demo`);
  const drawn = async (set) => {
    await page.waitForFunction((s) => {
      const d = window.wmtsDemo;
      return d && d.layers.includes('ortho') && d.layers.includes('pts') && (d.loaded[s] || 0) >= 2;
    }, set, { timeout: 60000, polling: 200 });
    // Let the tiles of the first view finish.
    await page.waitForTimeout(1500);
    return page.evaluate((s) => ({ loaded: window.wmtsDemo.loaded[s] || 0, failed: window.wmtsDemo.failed[s] || 0 }), set);
  };
  const cgcs = await drawn('CGCS2000Quad');
  check(cgcs.failed === 0, `no tile failed in CGCS2000Quad: ${JSON.stringify(cgcs)}`);
  const caps = await page.textContent('#caps-url');
  check(caps.endsWith('/wmts/1.0.0/WMTSCapabilities.xml'), `the capabilities URL is shown: ${caps}`);
  // Both kinds of tile came in the geographic set: PNG from the orthophoto, MVT from pts.
  const cgcsUrls = [...tiles.CGCS2000Quad];
  check(cgcsUrls.some((u) => /layer=ortho&/i.test(u) || u.includes('/wmts/ortho/')), `orthophoto tiles in CGCS2000Quad: ${cgcsUrls.slice(0, 5)}`);
  check(cgcsUrls.some((u) => u.includes('/wmts/pts/')), `vector tiles in CGCS2000Quad: ${cgcsUrls.slice(0, 5)}`);
  const centre = await page.evaluate(() => {
    const canvas = document.querySelector('#map canvas');
    return canvas ? [canvas.width, canvas.height] : null;
  });
  check(centre && centre[0] > 100, `the map has a canvas: ${centre}`);
  await shot(page, 'wmts-cgcs2000');

  // The other grid: a new view in EPSG:3857 from the same capabilities.
  await page.selectOption('#set', 'WebMercatorQuad');
  const merc = await drawn('WebMercatorQuad');
  check(merc.failed === 0, `no tile failed in WebMercatorQuad: ${JSON.stringify(merc)}`);
  const mercUrls = [...tiles.WebMercatorQuad];
  check(mercUrls.some((u) => /layer=ortho&/i.test(u) || u.includes('/wmts/ortho/')), `orthophoto tiles in WebMercatorQuad: ${mercUrls.slice(0, 5)}`);
  check(mercUrls.some((u) => u.includes('/wmts/pts/')), `vector tiles in WebMercatorQuad: ${mercUrls.slice(0, 5)}`);
  await shot(page, 'wmts-webmercator');

  // Chinese.
  await page.click('#lang');
  const title = await page.textContent('h1');
  check(title.includes('CGCS2000') && /[\u4e00-\u9fff]/.test(title), `the title in Chinese: ${title}`);
  const status = await page.textContent('#status');
  check(status.includes('已绘制切片'), `the status in Chinese: ${status}`);

  check(failed.length === 0, `no failed request:\n  ${failed.join('\n  ')}`);
  expectClean(page);
});
