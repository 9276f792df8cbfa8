// The console's evaluation period at a fixed hour: the page's clock and the
// server's are both set to CLOCK (around midnight in Beijing), and the dashboard
// must show the city's days — "To" is today in Beijing, inclusive — with the cases
// reported today in its charts.
import { BASE, check, expectClean, newPage, run, shot } from './lib.mjs';

const F = JSON.parse(process.env.FIXTURE);

await run(`evaluation-${F.label}`, async (browser) => {
  const leader = await newPage(browser);
  // The browser's own clock at the same instant (its time zone is the machine's, UTC here).
  await leader.clock.install({ time: new Date(F.clock) });
  await leader.goto(`${BASE}/console`);
  await leader.fill('#username', F.user[0]);
  await leader.fill('#password', F.user[1]);
  await leader.click('#login-form button[type="submit"]');
  await leader.waitForSelector('body[data-ready="true"]');
  await leader.click('#tab-dashboard');
  await leader.waitForSelector('#chart-department svg rect[data-value]');
  const from = await leader.inputValue('#from');
  const to = await leader.inputValue('#to');
  check(to === F.today, `"To" is today in Beijing (${F.today}), not ${to}`);
  check(from === F.first_day, `"From" is 30 days before, inclusive (${F.first_day}), not ${from}`);
  // Every row has two bars (reported, closed): sum the reported ones.
  const values = await leader.locator('#chart-department rect[data-value]').evaluateAll((xs) => xs.map((x) => Number(x.dataset.value)));
  const reported = values.filter((_, i) => i % 2 === 0).reduce((a, b) => a + b, 0);
  check(reported === F.reported, `the chart counts the ${F.reported} case(s) reported in the period, not ${reported}`);
  // Asking again for the days shown (inclusive "To") gives the same figures.
  await leader.click('#period button[type="submit"]');
  await leader.waitForSelector('#chart-department svg rect[data-value]');
  check(await leader.inputValue('#to') === F.today, 'the period stays as entered');
  const again = await leader.locator('#chart-department rect[data-value]').evaluateAll((xs) => xs.map((x) => Number(x.dataset.value)));
  check(again.filter((_, i) => i % 2 === 0).reduce((a, b) => a + b, 0) === F.reported, `the same count for the dates shown: ${again}`);
  // The table of the chosen view has the API's numbers; its XLSX export is saved for
  // the Rust side to read back (the token travels in a header, not in the link).
  await leader.waitForSelector('#eval-table table[data-by="department"] tr[data-key="total"]');
  const tableTotal = Number(await leader.locator('#eval-table tr[data-key="total"] td[data-count="reported"]').textContent());
  check(tableTotal === F.reported, `the table's total counts ${F.reported} reported case(s), not ${tableTotal}`);
  if (F.download) {
    const [download] = await Promise.all([leader.waitForEvent('download'), leader.click('#export-xlsx')]);
    check(/^evaluation-department-.*\.xlsx$/.test(download.suggestedFilename()), `the file's name: ${download.suggestedFilename()}`);
    await download.saveAs(F.download);
  }
  // Views by person, grid and community (a shift leader may read figures by person).
  for (const by of ['person', 'grid', 'community']) {
    await leader.selectOption('#eval-by', by);
    await leader.waitForSelector(`#eval-table table[data-by="${by}"]`);
  }
  // A preset: "today" is the city's day, whatever the browser's clock says.
  await leader.selectOption('#preset', 'today');
  await leader.waitForFunction((d) => document.getElementById('from').value === d && document.getElementById('to').value === d, F.today);
  await leader.waitForSelector('#eval-table tr[data-key="total"]');
  const today = Number(await leader.locator('#eval-table tr[data-key="total"] td[data-count="reported"]').textContent());
  check(today === F.reported_today, `today's ${F.reported_today} report(s) are counted with period=today, not ${today}`);
  // Chinese mode: the charts' and the table's labels are Chinese.
  await leader.click('#lang');
  await leader.waitForFunction(() => document.querySelector('#rates svg').textContent.includes('按期处置率'));
  const rates = await leader.locator('#rates').textContent();
  check(!/on-time|closing rate/i.test(rates), `no English left in the rates chart in Chinese mode: ${rates}`);
  check((await leader.locator('#eval-table thead').textContent()).includes('立案率'), 'the table headers are Chinese');
  check((await leader.locator('#preset option[value="week"]').textContent()) === '本周', 'the presets are Chinese');
  await shot(leader, `console-evaluation-${F.label}`);
  expectClean(leader);
});
