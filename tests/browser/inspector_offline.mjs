// The inspector page offline, in a real browser (driven by tests/inspector_offline.rs,
// which owns the server and the database): sign in online, go offline, make three
// reports (one with two photos), close the tab, reopen it offline with the server
// down (the page comes from the service worker), come back online → the outbox
// empties; a report sent while the server is killed is resent after the restart;
// the answers to a case and to its photo are lost after the server did the work,
// and the resends create nothing twice; a report refused with 422 stays in the
// outbox with its reason.
//
// Steps are printed as `STEP <name>`; the Rust test answers on stdin when the
// server has been killed or restarted.
import { createInterface } from 'node:readline';
import { deflateSync } from 'node:zlib';
import { BASE, check, expectClean, newPage, run, shot } from './lib.mjs';

const F = JSON.parse(process.env.FIXTURE || '{}');
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Tells the Rust test where we are and waits for its answer (when `wait`). */
async function step(name, wait) {
  console.log(`STEP ${name}`);
  if (!wait) return;
  const { value, done } = await lines.next();
  check(!done && value.trim() === wait, `expected "${wait}" from the test, got ${done ? 'end of input' : value}`);
}

/** A real PNG of w×h pixels: a colour gradient (made here, no file needed). */
function png(w, h, [r, g, b]) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  const raw = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) {
    const o = y * (1 + 3 * w);
    for (let x = 0; x < w; x++) {
      raw[o + 1 + 3 * x] = (r + x) & 255;
      raw[o + 2 + 3 * x] = (g + y) & 255;
      raw[o + 3 + 3 * x] = (b + x + y) & 255;
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const outboxCount = (page) => page.evaluate(() => Number(document.getElementById('outbox-count').textContent));

async function waitOutbox(page, n, timeout = 90000) {
  await page.waitForFunction((k) => Number(document.getElementById('outbox-count').textContent) === k, n, { timeout, polling: 250 });
}

/** Chooses category `code` (kind, major class, subclass). */
async function choose(page, code) {
  await page.selectOption('#kind', code.startsWith('E') ? 'event' : 'component');
  await page.selectOption('#major', code.slice(0, 3));
  await page.selectOption('#category', code);
}

/** Makes a report at the device's location with `note` and `photos`. */
async function report(page, note, photos = []) {
  await page.click('#tab-report');
  await page.evaluate(() => { document.getElementById('where').textContent = '—'; });
  await page.click('#locate');
  await page.waitForFunction(() => /GPS/.test(document.getElementById('where').textContent));
  await choose(page, F.category);
  await page.fill('#note', note);
  if (photos.length) await page.setInputFiles('#photo', photos);
  await page.evaluate(() => document.getElementById('report-result').replaceChildren());
  await page.click('#submit');
  await page.waitForSelector('#report-result .notice:not(.sending)');
}

const allowed = [/status of 401/, /ERR_CONNECTION_RESET/, /ERR_INTERNET_DISCONNECTED/, /ERR_CONNECTION_REFUSED/, /ERR_CONNECTION_RESET/, /ERR_EMPTY_RESPONSE/,
  /Failed to load resource/, /Failed to fetch/, /NetworkError/, /net::ERR_FAILED/];

await run('inspector_offline', async (browser) => {
  const [user, password] = F.user;
  let page = await newPage(browser, { width: 390, height: 844, mobile: true, permissions: ['geolocation'], geolocation: { longitude: F.inside[0], latitude: F.inside[1], accuracy: 8 } });
  const context = page.context();

  // Online: sign in; the service worker takes the page; the offline map is kept.
  await page.goto(`${BASE}/inspector`);
  const manifest = await page.evaluate(async () => (await fetch(document.querySelector('link[rel="manifest"]').href)).json());
  check(manifest.start_url === '/inspector' && manifest.icons.length > 0 && /监督员/.test(manifest.name) && /Inspector/.test(manifest.name), `manifest: ${JSON.stringify(manifest)}`);
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#login-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30000 });
  await page.waitForSelector('#offline-map-status[data-done="true"]', { state: 'attached', timeout: 120000 });
  const offline = await page.evaluate(() => ({ text: document.getElementById('offline-map-status').textContent, bytes: Number(document.getElementById('offline-map-status').dataset.bytes), tiles: Number(document.getElementById('offline-map-status').dataset.tiles) }));
  console.log(`offline map: ${offline.text}`);
  check(offline.tiles > 0 && offline.bytes > 0 && /MB of 100 MB/.test(offline.text), `offline map kept: ${JSON.stringify(offline)}`);
  // The map opens on the inspector's own grids, not on the world.
  const view = await page.evaluate(() => ({ zoom: window.citygridMap.getZoom(), center: window.citygridMap.getCenter().toArray() }));
  check(view.zoom >= 14, `the map opens on the inspector's grids (zoom ${view.zoom})`);
  check(view.center[0] > F.grids_bbox[0] && view.center[0] < F.grids_bbox[2] && view.center[1] > F.grids_bbox[1] && view.center[1] < F.grids_bbox[3], `map centre ${view.center} in ${F.grids_bbox}`);
  await shot(page, 'inspector-offline-ready');

  // Offline: three reports, one with two photos; they wait in the outbox.
  await context.setOffline(true);
  await page.waitForFunction(() => document.getElementById('net').textContent.length > 0 && !navigator.onLine);
  const big = png(2400, 1800, [200, 60, 40]);
  await report(page, 'offline report 1 with two photos', [
    { name: 'hole.png', mimeType: 'image/png', buffer: big },
    { name: 'street.png', mimeType: 'image/png', buffer: png(800, 600, [40, 120, 200]) },
  ]);
  check(/outbox|待发送/.test(await page.locator('#report-result').textContent()), `queued offline: ${await page.locator('#report-result').textContent()}`);
  const accuracy = await page.locator('#accuracy').textContent();
  check(/±8 m/.test(accuracy), `GPS accuracy shown: ${accuracy}`);
  await report(page, 'offline report 2');
  await report(page, 'offline report 3');
  check(await outboxCount(page) === 3, `three reports in the outbox (${await outboxCount(page)})`);
  // The photos were shrunk to JPEG with a long side of at most 1600 px.
  const photos = await page.evaluate(async () => {
    const db = await new Promise((resolve, reject) => { const r = indexedDB.open('citygrid-inspector'); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
    const items = await new Promise((resolve) => { const r = db.transaction('outbox').objectStore('outbox').getAll(); r.onsuccess = () => resolve(r.result); });
    const out = [];
    for (const item of items) {
      for (const p of item.photos) {
        const bitmap = await createImageBitmap(p.blob);
        out.push({ type: p.blob.type, w: bitmap.width, h: bitmap.height, bytes: p.blob.size, key: p.key, caseKey: item.key });
      }
    }
    return out;
  });
  console.log(`photos kept: ${JSON.stringify(photos.map(({ type, w, h, bytes }) => ({ type, w, h, bytes })))}`);
  check(photos.length === 2, `two photos in the outbox (${photos.length})`);
  check(photos.every((p) => p.type === 'image/jpeg' && Math.max(p.w, p.h) <= 1600), `photos resized: ${JSON.stringify(photos)}`);
  check(photos.some((p) => p.w === 1600 && p.h === 1200), `the large photo is 1600×1200: ${JSON.stringify(photos)}`);
  check(new Set([...photos.map((p) => p.key), ...photos.map((p) => p.caseKey)]).size === 3, 'every photo and the report have their own keys');
  await page.click('#tab-outbox');
  check(await page.locator('#outbox-list li.outbox-item[data-state="pending"]').count() === 3, 'three pending reports listed');
  await shot(page, 'inspector-offline-outbox');

  // The tab is closed; the server goes down; the page reopens offline from the
  // service worker, signed in, with its outbox and its map.
  await page.close();
  await step('closed-offline', 'server-down');
  page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  page.on('console', (m) => console.log(`reopened page console ${m.type()}: ${m.text()}`));
  page.setDefaultTimeout(30000);
  await page.goto(`${BASE}/inspector`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached' }).catch(async (e) => {
    await shot(page, 'failed-reopened');
    throw e;
  });
  check(await page.locator('#work').isVisible(), 'the work page shows offline (no sign-in form)');
  check(await outboxCount(page) === 3, `the outbox survived the closed tab (${await outboxCount(page)})`);
  const rendered = await page.waitForFunction(() => {
    const m = window.citygridMap;
    return m && m.loaded() && m.areTilesLoaded() && m.queryRenderedFeatures().filter((f) => f.sourceLayer === 'unit_grids').length > 0;
  }, null, { timeout: 30000, polling: 250 }).then(() => true, () => false);
  check(rendered, 'the offline map draws the unit grids from the kept tiles');
  await shot(page, 'inspector-offline-reopened');
  expectClean(page, allowed);
  await step('reopened-offline', 'server-up');

  // Online again: the outbox is sent, each report once.
  await context.setOffline(false);
  await waitOutbox(page, 0);
  await page.click('#tab-outbox');
  check(await page.locator('#sent-list li').count() === 3, `three reports sent (${await page.locator('#sent-list li').count()})`);
  await shot(page, 'inspector-outbox-sent');
  await step('offline-sent', 'go-kill');

  // A report sent while the server is killed (the test holds the case insert,
  // kills the server, restarts it): it is resent after the restart.
  await report(page, 'sent while the server dies');
  await step('sending', 'restarted');
  await waitOutbox(page, 0, 120000);
  await step('resent', 'go-lost');

  // The server's answers are lost after it did the work (the case, then the photo):
  // the page sends again with the same keys and the server answers the first result.
  const lost = { case: 0, photo: 0 };
  await page.route(/\/api\/cases(\/\d+\/photos)?(\?.*)?$/, async (route) => {
    const request = route.request();
    if (request.method() !== 'POST') return route.continue();
    const kind = /photos/.test(request.url()) ? 'photo' : 'case';
    if (lost[kind] > 0) return route.continue();
    lost[kind] += 1;
    const answer = await route.fetch();
    console.log(`lost the answer ${answer.status()} to ${request.method()} ${new URL(request.url()).pathname}`);
    await route.abort('connectionreset');
  });
  await report(page, 'answers lost', [{ name: 'lost.png', mimeType: 'image/png', buffer: png(320, 240, [10, 200, 90]) }]);
  await waitOutbox(page, 0, 60000);
  await page.unrouteAll();
  check(lost.case === 1 && lost.photo === 1, `one answer of each kind was lost: ${JSON.stringify(lost)}`);
  await step('lost-sent', 'go-422');

  // A point outside every unit grid: flagged first; queued anyway, the server
  // refuses it (422) and it stays in the outbox with the reason, to edit or discard.
  await context.setGeolocation({ longitude: F.outside[0], latitude: F.outside[1], accuracy: 5 });
  await page.click('#tab-report');
  await page.click('#locate');
  await page.waitForFunction((lon) => document.getElementById('where').textContent.startsWith(lon.toFixed(6)), F.outside[0]);
  await page.waitForSelector('#grid-warning', { state: 'visible' });
  await choose(page, F.category);
  await page.fill('#note', 'outside every grid');
  await page.click('#submit');
  await page.waitForSelector('#report-result .notice.error');
  check(await outboxCount(page) === 0, 'a flagged point is not queued before the inspector confirms');
  await page.click('#queue-anyway');
  await page.waitForFunction(() => /outside every unit grid|网格/.test(document.getElementById('report-result').textContent), null, { timeout: 30000 });
  await page.click('#tab-outbox');
  const refused = page.locator('#outbox-list li.outbox-item[data-state="failed"]');
  await refused.waitFor();
  const reason = await refused.locator('.reason').textContent();
  check(/outside every unit grid/.test(reason), `the server's reason is shown: ${reason}`);
  check(await refused.locator('button[data-action="edit"]').count() === 1 && await refused.locator('button[data-action="discard"]').count() === 1, 'edit and discard offered');
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForTimeout(1500);
  check(await outboxCount(page) === 1, `the refused report stays after a reload and a send on start (${await outboxCount(page)})`);
  await page.click('#tab-outbox');
  await shot(page, 'inspector-outbox-refused');
  await step('refused', 'go-revoke');

  // Edit: the refused report back in the form, moved into the inspector's grid
  // (a new key: it is a different request), sent.
  await context.setGeolocation({ longitude: F.inside[0], latitude: F.inside[1], accuracy: 8 });
  await page.click('#outbox-list li.outbox-item[data-state="failed"] button[data-action="edit"]');
  await page.waitForSelector('#editing', { state: 'visible' });
  check(await page.inputValue('#note') === 'outside every grid', 'the note is back in the form');
  await page.click('#locate');
  await page.waitForFunction((lon) => document.getElementById('where').textContent.startsWith(lon.toFixed(6)), F.inside[0]);
  await page.fill('#note', 'moved into my grid');
  await page.evaluate(() => document.getElementById('report-result').replaceChildren());
  await page.click('#submit');
  await page.waitForSelector('#new-case-no');
  await waitOutbox(page, 0);

  // Both languages: the outbox in Chinese.
  await page.click('#lang');
  await page.click('#tab-outbox');
  check(/待发送/.test(await page.locator('#tab-outbox').textContent()), `the outbox tab in Chinese: ${await page.locator('#tab-outbox').textContent()}`);
  check(/离线地图/.test(await page.locator('#offline-map-status').textContent()), `the offline map in Chinese: ${await page.locator('#offline-map-status').textContent()}`);
  await shot(page, 'inspector-outbox-zh');
  await page.click('#lang');
  console.log(`background sync here: ${await page.evaluate(async () => !!(await navigator.serviceWorker.ready).sync)}`);

  // A report queued offline while the sign-in is revoked: online, the server says
  // 401; the report stays and the page asks to sign in again; then it is sent.
  await context.setOffline(true);
  await context.setGeolocation({ longitude: F.inside[0], latitude: F.inside[1], accuracy: 8 });
  await report(page, 'after the sign-in expired');
  check(await outboxCount(page) === 1, `queued (${await outboxCount(page)})`);
  await step('queued-for-revoke', 'revoked');
  // The server honours a revocation within its credential cache time: wait until
  // the page's own token is refused.
  const pageToken = await page.evaluate(() => JSON.parse(localStorage.getItem('citygrid.session') || 'null')?.token);
  check(pageToken, 'the page has a token');
  for (let i = 0; ; i += 1) {
    const r = await fetch(`${BASE}/api/auth/me`, { headers: { Authorization: `Bearer ${pageToken}` } });
    if (r.status === 401) break;
    check(i < 150, 'the revoked token is still accepted after 30 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await context.setOffline(false);
  await page.click('#tab-outbox');
  await page.waitForSelector('#signin-needed', { state: 'visible', timeout: 60000 });
  await page.waitForSelector('#outbox-list li.outbox-item[data-state="signin"]');
  check(await outboxCount(page) === 1, `the outbox is kept when the sign-in expired (${await outboxCount(page)})`);
  await shot(page, 'inspector-outbox-signin');
  await page.click('#signin-again');
  await page.waitForSelector('#login', { state: 'visible' });
  check(/^1 /.test(await page.locator('#login-outbox').textContent()), `the sign-in form says what waits: ${await page.locator('#login-outbox').textContent()}`);
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#login-form button[type="submit"]');
  await waitOutbox(page, 0, 60000);
  expectClean(page, allowed);
  await step('resigned');
});
// stdin stays open: end here, with the test's outcome.
process.exit(process.exitCode || 0);
