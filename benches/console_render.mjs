// The console's first render (benches/console_bench.sh): signed in as the acceptor
// (the session in localStorage, as the pages keep it), the time from navigation to
// the first page of cases in the list, and to the cases on the map, over 5 loads.
import { launch } from '../tests/browser/lib.mjs';

const BASE = process.env.CITYGRID_URL;
const SESSION = process.env.SESSION;
const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${BASE}/console`);
  await page.evaluate((s) => localStorage.setItem('citygrid.session', s), SESSION);
  const list = [];
  const map = [];
  for (let i = 0; i < 6; i++) {
    await page.goto(`${BASE}/console`);
    await page.waitForSelector('#case-list li[data-case-no]');
    const listed = await page.evaluate(() => performance.now());
    await page.waitForFunction(() => {
      const m = window.citygridMap;
      return m && m.getSource('queue') && m.loaded() && m.querySourceFeatures('queue').length > 0;
    }, null, { polling: 50 });
    const mapped = await page.evaluate(() => performance.now());
    if (i > 0) { // the first load warms the browser's cache
      list.push(listed);
      map.push(mapped);
    }
  }
  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = await page.locator('#case-list li[data-case-no]').count();
  const total = await page.locator('#case-total').getAttribute('data-total');
  console.log(`first page listed (${rows} of ${total} cases)   median ${median(list).toFixed(0)} ms  (${list.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`cases on the queue map                     median ${median(map).toFixed(0)} ms  (${map.map((x) => x.toFixed(0)).join(', ')})`);
} finally {
  await browser.close();
}
