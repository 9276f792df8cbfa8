// Geocoding in the pages (issue 21), in a real browser against the real server with
// standard addresses imported (tests/geocode.rs):
// - the acceptor's hotline intake in the console: the address typed while the caller
//   speaks shows candidates as it is typed, picking one sets the point (with its unit
//   grid), filing creates the case there (the Rust side checks its point in SQL);
// - the viewer's search box shows address hits beside the layer hits;
// - the inspector page says "near 沿江大道188号" at the device's location, in both
//   languages.
import { BASE, check, expectClean, newPage, run, shot } from './lib.mjs';

const F = JSON.parse(process.env.FIXTURE || '{}');

async function signIn(page, path, who) {
  await page.goto(`${BASE}${path}`);
  await page.fill('#username', F.users[who][0]);
  await page.fill('#password', F.users[who][1]);
  await page.click('#login-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
}

await run('geocode', async (browser) => {
  // --- the hotline call -------------------------------------------------------------
  const acceptor = await newPage(browser);
  await signIn(acceptor, '/console', 'acceptor');
  await acceptor.click('#hotline-open');
  await acceptor.waitForSelector('#hotline-form:not([hidden])');
  // typed as the caller says it, a keystroke at a time
  await acceptor.locator('#hotline-address').pressSequentially(F.typed, { delay: 40 });
  const wanted = acceptor.locator(`#hotline-candidates li[data-level="house"] button`, { hasText: F.number });
  await wanted.first().waitFor();
  await shot(acceptor, 'console-hotline-candidates');
  // filing without a place is refused by the page
  await acceptor.click('#hotline-submit');
  await acceptor.waitForSelector('#hotline-result.error');
  await wanted.first().click();
  await acceptor.waitForFunction((n) => (document.getElementById('hotline-picked-label')?.textContent || '').includes(n), F.number);
  const picked = await acceptor.locator('#hotline-picked').textContent();
  check(picked.includes(F.grid), `the picked place names its unit grid ${F.grid}: ${picked}`);
  await acceptor.selectOption('#hotline-category', F.category);
  await acceptor.fill('#hotline-description', `Overflowing bin ${F.tag}`);
  await acceptor.fill('#hotline-caller', 'Caller Wang');
  await acceptor.fill('#hotline-contact', '13800000000');
  await acceptor.click('#hotline-submit');
  await acceptor.waitForSelector('#hotline-case-no');
  const caseNo = (await acceptor.locator('#hotline-case-no').textContent()).trim();
  check(/-/.test(caseNo), `a case number: ${caseNo}`);
  // the new case is opened in the console
  await acceptor.waitForFunction((no) => document.getElementById('detail-case-no')?.textContent === no, caseNo);
  console.log(`HOTLINE_CASE ${caseNo}`);
  await shot(acceptor, 'console-hotline-filed');
  expectClean(acceptor);

  // --- the viewer's search box ------------------------------------------------------
  const viewer = await newPage(browser);
  await viewer.goto(`${BASE}/`);
  await viewer.waitForSelector('body[data-ready="true"]');
  await viewer.fill('#search-text', F.full);
  await viewer.click('#search button[type="submit"]');
  const hit = viewer.locator('#search-results .search-group[data-kind="address"] li[data-level="house"]');
  await hit.first().waitFor();
  check((await hit.first().textContent()).includes(F.number), 'the address hit is the house');
  await shot(viewer, 'viewer-address-search');
  expectClean(viewer);

  // --- the inspector page: "near …" at the device's location, both languages --------
  const inspector = await newPage(browser, { width: 390, height: 844, mobile: true, permissions: ['geolocation'],
    geolocation: { longitude: F.point[0], latitude: F.point[1], accuracy: 5 } });
  await signIn(inspector, '/inspector', 'inspector');
  await inspector.click('#locate');
  await inspector.waitForSelector('#near-address:not([hidden])');
  const en = await inspector.locator('#near-address').textContent();
  check(en.startsWith('near ') && en.includes(F.number), `near … in English: ${en}`);
  await inspector.click('#lang');
  await inspector.waitForFunction(() => (document.getElementById('near-address').textContent || '').endsWith('附近'));
  await shot(inspector, 'inspector-near-address');
  expectClean(inspector);
});
