// The OGC API's HTML pages in a real browser (issue 22): a browser's own Accept
// header gets pages, not JSON; the pages link to each other; an item page draws its
// feature on a small map served by citygrid (no CDN); a missing item is a 404 page.
import { BASE, check, expectClean, newPage, run, shot } from './lib.mjs';

await run('ogc_html', async (browser) => {
  const page = await newPage(browser);
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(BASE) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) external.push(r.url()); });

  let response = await page.goto(`${BASE}/ogc`);
  check(response.headers()['content-type'].startsWith('text/html'), 'the landing page is HTML for a browser');
  check(await page.locator('h1').count() === 1, 'the landing page has a title');
  await page.locator('a[href*="/ogc/collections?f=html"]').first().click();
  await page.waitForSelector('table.ogc-table');
  check(await page.locator('table.ogc-table a', { hasText: 'buildings' }).count() === 1, 'the collections page lists buildings');
  await page.locator('table.ogc-table a', { hasText: 'buildings' }).click();
  await page.waitForURL(/\/ogc\/collections\/buildings\?f=html/);
  await page.locator('a[href*="/items?"]').first().click();
  await page.waitForSelector('#ogc-map[data-ready]');
  const rows = await page.locator('table.ogc-table tbody tr').count();
  check(rows > 0, `the items page has a table of features (${rows})`);
  await page.locator('table.ogc-table tbody tr a').first().click();
  await page.waitForSelector('table.ogc-props');
  await page.waitForSelector('#ogc-map[data-ready="1"]');
  await page.waitForFunction(() => window.ogcMap && window.ogcMap.loaded()
    && window.ogcMap.queryRenderedFeatures({ layers: ['ogc-fill', 'ogc-line', 'ogc-point'] }).length > 0);
  await shot(page, 'ogc-item-page');
  check(await page.locator('table.ogc-props th', { hasText: 'name' }).count() === 1, 'the item page lists its properties');

  // the conformance page lists the HTML classes it now implements
  await page.goto(`${BASE}/ogc/conformance`);
  check(await page.locator('code', { hasText: 'ogcapi-features-1/1.0/conf/html' }).count() === 1, 'Features HTML class claimed');

  // the same address asked as JSON is JSON
  response = await page.goto(`${BASE}/ogc/collections/buildings/items/1?f=json`);
  check(response.headers()['content-type'].includes('json'), 'f=json is JSON');

  // a missing feature is a 404 page that says so
  response = await page.goto(`${BASE}/ogc/collections/buildings/items/999999`);
  check(response.status() === 404, `a missing feature is a 404 (${response.status()})`);
  check(/999999/.test(await page.locator('.notice.error').textContent()), 'the 404 page names the feature');
  check(external.length === 0, `no request leaves citygrid: ${external.join(', ')}`);
  expectClean(page, [/404/]);
});
