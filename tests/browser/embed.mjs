// Embedding: a department's /embed page gives snippets and a live preview; the
// snippets work on a second origin that the API key allows, and fail clearly on
// one it does not allow and with an unknown key. The two origins are tiny static
// servers on other 127.0.0.1 ports.
import http from 'node:http';
import { BASE, check, expectClean, newPage, renderedFeatures, run, shot } from './lib.mjs';

const KEY = process.env.EMBED_KEY;
const GOOD_PORT = Number(process.env.GOOD_PORT);
const BAD_PORT = Number(process.env.BAD_PORT);
const LAYERS = ['buildings', 'roads'];

function host(pages, port) {
  const server = http.createServer((req, res) => {
    if (req.url === '/favicon.ico') return res.writeHead(204).end();
    const body = pages[req.url.split('?')[0]];
    res.writeHead(body ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(body || 'not found');
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

const wrap = (title, snippet) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head>
<body style="font-family:sans-serif;margin:16px"><h1 style="font-size:18px">${title}</h1>${snippet}</body></html>`;

await run('embed', async (browser) => {
  // The department's page: key → layers → snippets and preview.
  const page = await newPage(browser);
  await page.goto(`${BASE}/embed`);
  await page.fill('#key', KEY);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('#layer-picks input');
  const offered = await page.locator('#layer-picks input').evaluateAll((xs) => xs.map((x) => x.value));
  check(offered.includes('buildings') && offered.includes('roads'), `the key's layers are offered: ${offered}`);
  check(!offered.includes('pois'), `layers outside the key are not offered: ${offered}`);
  for (const id of offered) {
    const box = page.locator(`#layer-picks input[value="${id}"]`);
    if (LAYERS.includes(id)) await box.check(); else await box.uncheck();
  }
  await page.waitForFunction(() => document.getElementById('snippet-maplibre').value.includes('maplibregl.Map') &&
    document.getElementById('snippet-iframe').value.includes('layers=buildings,roads'));
  const iframeSnippet = await page.inputValue('#snippet-iframe');
  const maplibreSnippet = await page.inputValue('#snippet-maplibre');
  check(iframeSnippet.includes(KEY) && maplibreSnippet.includes(KEY), 'the snippets carry the key');
  const preview = page.frameLocator('#preview');
  await preview.locator('body[data-ready="true"]').waitFor();
  const previewFrame = page.frames().find((f) => f.url().includes('/embed/map'));
  check(await renderedFeatures(previewFrame) > 0, 'the live preview renders');
  await shot(page, 'embed-page');
  expectClean(page);

  const pages = {
    '/iframe.html': wrap('Department site (iframe)', iframeSnippet),
    '/maplibre.html': wrap('Department site (MapLibre)', maplibreSnippet),
    '/bad-key.html': wrap('Department site (unknown key)', iframeSnippet.replace(KEY, 'cgk_0000unknown')),
  };
  const good = await host(pages, GOOD_PORT);
  const bad = await host(pages, BAD_PORT);
  try {
    // Allowed origin: both snippets show the map.
    const a = await newPage(browser);
    await a.goto(`http://127.0.0.1:${GOOD_PORT}/iframe.html`);
    const frame = await (await a.waitForSelector('iframe')).contentFrame();
    await frame.waitForSelector('body[data-ready="true"]');
    const n = await renderedFeatures(frame);
    const layersShown = await frame.evaluate(() => [...new Set(window.citygridMap.queryRenderedFeatures().map((f) => f.sourceLayer))].sort());
    check(n > 0 && layersShown.join() === 'buildings,roads', `the iframe on the allowed origin shows the chosen layers: ${layersShown}`);
    await shot(a, 'embed-iframe-allowed');
    expectClean(a);

    const m = await newPage(browser);
    await m.goto(`http://127.0.0.1:${GOOD_PORT}/maplibre.html`);
    check(await renderedFeatures(m) > 0, 'the MapLibre snippet on the allowed origin renders');
    await shot(m, 'embed-maplibre-allowed');
    expectClean(m);
    // CORS: the allowed origin may read TileJSON with the key.
    const status = await m.evaluate(async ([base, key]) => (await fetch(`${base}/tiles/buildings.json`, { headers: { 'X-API-Key': key } })).status, [BASE, KEY]);
    check(status === 200, `a cross-origin fetch with X-API-Key from the allowed origin works (${status})`);

    // Another origin: the iframe says why, the MapLibre snippet shows an error.
    const b = await newPage(browser);
    await b.goto(`http://127.0.0.1:${BAD_PORT}/iframe.html`);
    const badFrame = await (await b.waitForSelector('iframe')).contentFrame();
    const message = await badFrame.locator('#citygrid-error').textContent();
    check(/may not be used from http:\/\/127\.0\.0\.1:\d+/.test(message), `the iframe on a disallowed origin says why: ${message}`);
    await shot(b, 'embed-iframe-refused');

    const bm = await newPage(browser);
    await bm.goto(`http://127.0.0.1:${BAD_PORT}/maplibre.html`);
    await bm.waitForSelector('#citygrid-map[role="alert"]');
    check((await bm.locator('#citygrid-map').textContent()).includes('cannot be shown'), 'the MapLibre snippet on a disallowed origin shows an error');
    const refused = await bm.evaluate(async ([base, key]) => {
      try {
        await fetch(`${base}/tiles/buildings.json`, { headers: { 'X-API-Key': key } });
        return 'readable';
      } catch {
        return 'refused';
      }
    }, [BASE, KEY]);
    check(refused === 'refused', 'a disallowed origin cannot read map data with the key');
    await shot(bm, 'embed-maplibre-refused');

    // An unknown key fails clearly too.
    const u = await newPage(browser);
    await u.goto(`http://127.0.0.1:${GOOD_PORT}/bad-key.html`);
    const unknownFrame = await (await u.waitForSelector('iframe')).contentFrame();
    const unknown = await unknownFrame.locator('#citygrid-error').textContent();
    check(/unknown or revoked/.test(unknown), `an unknown key is named as such: ${unknown}`);
    await shot(u, 'embed-unknown-key');
  } finally {
    good.close();
    bad.close();
  }
});
