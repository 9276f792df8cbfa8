// The console at work (issue 20), in a real browser against the real server:
// - a second tab of the same browser is signed in already (shared sign-in);
// - a case an inspector reports through the API appears on the open acceptor
//   console within 2 seconds without a reload, with a visible alert and a beep;
// - search and filters narrow the list (server side: the total follows), paging
//   past the first page;
// - the queue map fills its box for the dispatcher, the department and the shift
//   leader as for the acceptor; a marker opens its case;
// - each case shows a countdown to its deadline, only the actions its state and the
//   user allow (no Approve/Reject extension without a pending request), no "null";
// - Chinese mode: "Signed in as", the filters and the queue texts in Chinese.
import { BASE, check, expectClean, newPage, run, shot } from './lib.mjs';

const F = JSON.parse(process.env.FIXTURE || '{}');

async function signIn(page, who) {
  await page.goto(`${BASE}/console`);
  await page.fill('#username', F.users[who][0]);
  await page.fill('#password', F.users[who][1]);
  await page.click('#login-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
}

async function apiAs(who, method, path, body) {
  const login = await fetch(`${BASE}/api/auth/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: F.users[who][0], password: F.users[who][1] }),
  }).then((r) => r.json());
  const r = await fetch(`${BASE}${path}`, {
    method, headers: { Authorization: `Bearer ${login.token}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  check(r.ok, `${method} ${path} as ${who}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/** The total the list shows. */
async function total(page) {
  return Number(await page.locator('#case-total').getAttribute('data-total'));
}

/** Waits until the list was loaded again after `action`. */
async function relisted(page, action) {
  const before = await page.evaluate(() => document.body.dataset.listed || '');
  await action();
  await page.waitForFunction((b) => (document.body.dataset.listed || '') !== b, before);
}

/** How much of the map's box its canvas fills (0..1). */
async function mapFill(page) {
  await page.waitForSelector('#queue-map canvas');
  await page.waitForTimeout(300);
  return page.evaluate(() => {
    const box = document.getElementById('queue-map').getBoundingClientRect();
    const canvas = document.querySelector('#queue-map canvas').getBoundingClientRect();
    return (canvas.width * canvas.height) / (box.width * box.height);
  });
}

// The console's catalogue: every key the console's scripts and page use exists, in
// English and in Chinese.
{
  const { readFileSync } = await import('node:fs');
  const web = new URL('../../web/src/', import.meta.url);
  // every catalogue the console imports (its own, the dashboard's…) adds its texts
  const catalogues = [...readFileSync(new URL('js/console.js', web), 'utf8').matchAll(/import[^'\n]*'\.\/([a-z-]+-text\.js)'/g)].map((m) => m[1]);
  check(catalogues.includes('console-text.js'), `the console imports its catalogue: ${catalogues}`);
  for (const file of catalogues) {
    const module = await import(new URL(`js/${file}`, web).href);
    for (const table of Object.values(module).filter((v) => v && typeof v === 'object' && !Array.isArray(v))) {
      for (const [key, pair] of Object.entries(table)) {
        check(Array.isArray(pair) && pair.length === 2 && pair.every((x) => typeof x === 'string' && x.trim()), `${file}: ${key} has English and Chinese`);
      }
    }
  }
  const { textKeys } = await import(new URL('js/i18n.js', web).href);
  const keys = new Set(textKeys());
  const used = new Set();
  for (const file of ['js/console.js', 'js/queue.js', 'console.html']) {
    const text = readFileSync(new URL(file, web), 'utf8');
    for (const m of text.matchAll(/\bt\('([A-Za-z]+)'\)|data-i18n(?:-placeholder|-title)?="([A-Za-z]+)"/g)) used.add(m[1] || m[2]);
  }
  const missing = [...used].filter((k) => !keys.has(k));
  check(missing.length === 0, `keys used by the console but missing from the catalogue: ${missing}`);
}

await run('console', async (browser) => {
  // The acceptor's console, live.
  // The browser's own zone is UTC, the city's Asia/Shanghai: times must show the city's.
  const acceptor = await newPage(browser, { timezoneId: 'UTC' });
  await signIn(acceptor, 'acceptor');
  await acceptor.waitForSelector('body[data-live="true"]');
  check((await acceptor.locator('#who').textContent()).includes(F.users.acceptor[0]), 'signed in as the acceptor');

  // A second tab of the same browser needs no sign-in.
  const second = await acceptor.context().newPage();
  await second.goto(`${BASE}/console`);
  await second.waitForSelector('body[data-ready="true"]');
  check(await second.locator('#login').isHidden(), 'the second tab is signed in already');
  await second.close();

  // An inspector reports a case: it is on the acceptor's console within 2 s.
  const started = Date.now();
  const created = await apiAs('inspector', 'POST', '/api/cases', {
    category: F.category, lon: F.point[0], lat: F.point[1], description: `Fallen tree ${F.tag}`,
  });
  await acceptor.locator(`#case-list li[data-case-no="${created.case_no}"]`).waitFor({ timeout: 2000 });
  const took = Date.now() - started;
  check(took <= 2000, `the new case appeared after ${took} ms`);
  await acceptor.waitForSelector('#new-alert:not([hidden])');
  check((await acceptor.locator('#new-alert').textContent()).includes(created.case_no), 'the alert names the new case');
  check(await acceptor.evaluate(() => window.citygridBeeps || 0) >= 1, 'the acceptor heard a beep');
  await shot(acceptor, 'console-live-alert');

  // Search narrows the list on the server: by the description's unique word...
  await relisted(acceptor, () => acceptor.click('#tab-all'));
  const all = await total(acceptor);
  check(all === F.cases + 1, `all cases are counted: ${all} (expected ${F.cases + 1})`);
  await relisted(acceptor, async () => {
    await acceptor.fill('#q', F.tag);
    await acceptor.press('#q', 'Enter');
  });
  check(await total(acceptor) === 1, `q narrows to the one case: ${await total(acceptor)}`);
  check(await acceptor.locator('#case-list li[data-case-no]').count() === 1, 'one row');
  // ... by the case number
  await relisted(acceptor, async () => {
    await acceptor.fill('#q', F.seeded_no);
    await acceptor.press('#q', 'Enter');
  });
  check(await total(acceptor) === 1, 'q finds a case number');
  await relisted(acceptor, () => acceptor.click('#reset-filters'));
  check(await total(acceptor) === all, 'clearing the filters shows every case again');
  // ... a status
  await relisted(acceptor, () => acceptor.selectOption('#f-status', 'reported'));
  const reported = await total(acceptor);
  check(reported >= 1 && reported < all, `status narrows: ${reported} of ${all}`);
  const statuses = await acceptor.locator('#case-list .badge.status').evaluateAll((xs) => xs.map((x) => x.dataset.status));
  check(statuses.every((s) => s === 'reported'), `only reported cases: ${statuses}`);
  // ... a source
  await relisted(acceptor, () => acceptor.selectOption('#f-source', 'hotline'));
  check(await total(acceptor) === F.hotline, `source narrows: ${await total(acceptor)}`);
  await relisted(acceptor, () => acceptor.click('#reset-filters'));

  // Paging past the first page (50 a page) with the total.
  check(all > 50, `enough cases to page: ${all}`);
  const firstPage = await acceptor.locator('#case-list li[data-case-no]').evaluateAll((xs) => xs.map((x) => x.dataset.caseNo));
  check(firstPage.length === 50, `a full first page: ${firstPage.length}`);
  await relisted(acceptor, () => acceptor.click('#page-next'));
  const secondPage = await acceptor.locator('#case-list li[data-case-no]').evaluateAll((xs) => xs.map((x) => x.dataset.caseNo));
  check(secondPage.length === Math.min(50, all - 50) && !secondPage.some((n) => firstPage.includes(n)), 'the second page has the next cases');
  check((await acceptor.locator('#page-info').textContent()).includes(String(all)), 'the pager shows the total');

  // The new case: countdown, no "null", the acceptor's actions only.
  await relisted(acceptor, async () => {
    await acceptor.fill('#q', created.case_no);
    await acceptor.press('#q', 'Enter');
  });
  await acceptor.click(`#case-list li[data-case-no="${created.case_no}"] .case-link`);
  await acceptor.waitForFunction((no) => document.getElementById('case-detail').dataset.mapReady === no, created.case_no);
  const detail = await acceptor.locator('#case-detail').textContent();
  check(!/\bnull\b|undefined/.test(detail), `no stray null in the detail: ${detail}`);
  check(await acceptor.locator('#no-photos').count() === 1, 'a case without photos says so');
  check(await acceptor.locator('#case-detail .countdown[data-due]').count() === 1, 'the detail counts down to the deadline');
  // The deadline on the city's clock (the server's timezone, Asia/Shanghai here), not
  // the browser's (UTC, 8 hours behind).
  check(await acceptor.evaluate(() => document.body.dataset.timezone) === 'Asia/Shanghai', 'the console uses the city\'s zone');
  check(await acceptor.locator('#nav-bigscreen').isVisible(), 'the acceptor is offered the big screen');
  const due = (await apiAs('acceptor', 'GET', `/api/cases/${created.id}`)).due_at;
  const dueCity = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(due));
  check(detail.includes(dueCity), `the deadline shows as ${dueCity} (Asia/Shanghai): ${detail}`);
  check(/left|overdue/.test(await acceptor.locator('#case-list .countdown').first().textContent()), 'the list counts down');
  const offered = await acceptor.locator('#actions button[data-action]').evaluateAll((xs) => xs.map((x) => x.dataset.action));
  check(offered.includes('register') && !offered.includes('approve_extension') && !offered.includes('close'), `the acceptor's actions: ${offered}`);
  check(await mapFill(acceptor) > 0.95, 'the map fills its box for the acceptor');

  // Chinese.
  await acceptor.click('#lang');
  check((await acceptor.locator('#who').textContent()).includes('当前用户'), 'Signed in as, in Chinese');
  check((await acceptor.locator('#case-total').textContent()).includes('件案卷'), 'the total, in Chinese');
  check((await acceptor.locator('#f-source option[value="hotline"]').textContent()) === '热线', 'the filters, in Chinese');
  await shot(acceptor, 'console-zh');
  await acceptor.click('#lang');

  // The dispatcher, the department and the shift leader: the map fills its box;
  // no Approve/Reject extension without a pending request.
  for (const who of ['dispatcher', 'department', 'shift_leader']) {
    const page = await newPage(browser);
    await signIn(page, who);
    const fill = await mapFill(page);
    check(fill > 0.95, `the map fills its box for the ${who}: ${(fill * 100).toFixed(0)}%`);
    check(await page.locator('#nav-bigscreen').isVisible() === (who !== 'department'), `the big screen link for the ${who}`);
    if (who === 'dispatcher') {
      await page.click('#tab-all');
      await relisted(page, async () => {
        await page.fill('#q', F.dispatched_no);
        await page.press('#q', 'Enter');
      });
      await page.click(`#case-list li[data-case-no="${F.dispatched_no}"] .case-link`);
      await page.waitForFunction((no) => document.getElementById('case-detail').dataset.mapReady === no, F.dispatched_no);
      const buttons = await page.locator('#actions button[data-action]').evaluateAll((xs) => xs.map((x) => x.dataset.action));
      check(!buttons.includes('approve_extension') && !buttons.includes('reject_extension'), `no extension decision without a request: ${buttons}`);
      // A marker opens its case.
      await relisted(page, async () => {
        await page.fill('#q', F.seeded_no);
        await page.press('#q', 'Enter');
      });
      await page.waitForTimeout(500);
      const point = await page.evaluate(() => {
        const map = window.citygridMap;
        const f = map.querySourceFeatures('queue')[0];
        if (!f) return null;
        map.jumpTo({ center: f.geometry.coordinates, zoom: 17 });
        return f.properties.case_no;
      });
      check(point === F.seeded_no, `the searched case is on the map: ${point}`);
      await page.waitForTimeout(400);
      const box = await page.locator('#queue-map').boundingBox();
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
      await page.waitForFunction((no) => document.getElementById('detail-case-no')?.textContent === no, F.seeded_no);
      await shot(page, 'console-dispatcher-map');
    }
    expectClean(page);
  }
  expectClean(acceptor);
});
