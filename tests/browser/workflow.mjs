// One case through every page and role, in a real browser: an inspector reports
// it on the phone page with a photo, the acceptor registers it, the dispatcher
// dispatches it to the suggested department, the department accepts it and feeds
// back with a photo, the acceptor asks for an on-site check, the inspector's check
// passes, the shift leader closes it, and the timeline shows every step.
import { deflateSync } from 'node:zlib';
import { BASE, check, expectClean, newPage, renderedFeatures, run, shot } from './lib.mjs';

const F = JSON.parse(process.env.FIXTURE || '{}');

/** A real PNG of w×h pixels in one colour (made here, no file needed). */
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
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

async function signIn(page, path, who) {
  await page.goto(`${BASE}${path}`);
  await page.fill('#username', F.users[who][0]);
  await page.fill('#password', F.users[who][1]);
  await page.click('#login-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
}

/** Opens the case in the console's list (the queue, or all cases) and waits for its detail. */
async function openInConsole(page, caseNo, tab = '#tab-queue') {
  await page.click(tab);
  const item = page.locator(`#case-list li[data-case-no="${caseNo}"] .case-link`);
  await item.waitFor();
  await item.click();
  await page.waitForFunction((no) => document.getElementById('detail-case-no')?.textContent === no, caseNo);
  await page.waitForFunction((no) => document.getElementById('case-detail').dataset.mapReady === no, caseNo);
}

async function step(page, action, status, before) {
  if (before) await before();
  await page.click(`#actions button[data-action="${action}"]`);
  await page.waitForSelector(`#case-detail[data-status="${status}"]`);
}

await run('workflow', async (browser) => {
  // The inspector, on a phone, reports at the device's location with a photo.
  const inspector = await newPage(browser, { width: 390, height: 844, mobile: true, permissions: ['geolocation'], geolocation: { longitude: F.point[0], latitude: F.point[1], accuracy: 5 } });
  await signIn(inspector, '/inspector', 'inspector');
  await renderedFeatures(inspector);
  await inspector.click('#locate');
  await inspector.waitForFunction(() => /GPS/.test(document.getElementById('where').textContent));
  // The nearest component is offered; choosing it sets its category.
  const component = inspector.locator(`#nearby-list input[value="${F.component_id}"]`);
  await component.waitFor();
  await component.check();
  check(await inspector.inputValue('#category') === F.category, `the component's category is chosen (${await inspector.inputValue('#category')})`);
  // The page refuses a file that is not a photo before sending anything.
  await inspector.setInputFiles('#photo', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo') });
  await inspector.click('#submit');
  await inspector.waitForSelector('#report-result .notice.error');
  await inspector.setInputFiles('#photo', { name: 'cover.png', mimeType: 'image/png', buffer: png(64, 48, [200, 60, 40]) });
  await inspector.fill('#note', 'Manhole cover broken, wheel-sized hole');
  await inspector.click('#submit');
  await inspector.waitForSelector('#new-case-no');
  const caseNo = (await inspector.locator('#new-case-no').textContent()).trim();
  check(/^\d{4}-\d{6,}$/.test(caseNo), `a case number comes back: ${caseNo}`);
  check((await inspector.locator('#report-result').textContent()).includes('✓'), 'the photo was uploaded');
  await shot(inspector, 'inspector-reported');
  await inspector.click('#tab-mine');
  await inspector.locator(`#mine-list li[data-case-no="${caseNo}"]`).waitFor();
  await shot(inspector, 'inspector-my-reports');
  // The inspector adds a second photo to the report afterwards (through the outbox).
  await inspector.locator(`#mine-list li[data-case-no="${caseNo}"] .case-link`).click();
  await inspector.locator('#add-photos').waitFor();
  await inspector.setInputFiles('#add-photos', { name: 'later.png', mimeType: 'image/png', buffer: png(64, 48, [90, 90, 30]) });
  await inspector.click('#add-photos-send');
  await inspector.waitForFunction(() => document.querySelectorAll('.photos:not(.stage-photos) img').length === 2);

  // The acceptor registers it.
  const acceptor = await newPage(browser);
  await signIn(acceptor, '/console', 'acceptor');
  await openInConsole(acceptor, caseNo);
  check((await acceptor.locator('#case-info').textContent()).includes(F.component_id), 'the console shows the linked component');
  const duplicates = await acceptor.locator('#duplicates').textContent();
  check(duplicates.includes(F.earlier_case), `the acceptor sees the earlier report as a duplicate: ${duplicates}`);
  await acceptor.waitForFunction(() => document.querySelectorAll('#case-info .photos img[src^="blob:"]').length === 2);
  await shot(acceptor, 'console-acceptor');
  await step(acceptor, 'register', 'registered');

  // The dispatcher dispatches it to the suggested department.
  const dispatcher = await newPage(browser);
  await signIn(dispatcher, '/console', 'dispatcher');
  await openInConsole(dispatcher, caseNo);
  check(await dispatcher.inputValue('#dispatch-department') === F.department, `the suggested department is preselected (${await dispatcher.inputValue('#dispatch-department')})`);
  check((await dispatcher.locator('#suggested').textContent()).includes(F.department), 'the suggestion is shown');
  await shot(dispatcher, 'console-dispatcher');
  await step(dispatcher, 'dispatch', 'dispatched');

  // The department accepts it and feeds back with a photo.
  const department = await newPage(browser);
  await signIn(department, '/console', 'department');
  await openInConsole(department, caseNo);
  await step(department, 'accept', 'handling');
  await department.setInputFiles('#action-photo', { name: 'fixed.png', mimeType: 'image/png', buffer: png(64, 48, [40, 160, 60]) });
  await department.fill('#action-note', 'New cover fitted');
  await step(department, 'feedback', 'handled');
  // ... and adds a second photo afterwards (filed under the feedback stage by the server).
  await department.setInputFiles('#add-photo', { name: 'after.png', mimeType: 'image/png', buffer: png(64, 48, [40, 60, 200]) });
  await department.click('#add-photo-send');
  await department.waitForFunction(() => document.querySelectorAll('#case-info .photos img[src^="blob:"]').length === 4);
  await shot(department, 'console-department');

  // The acceptor asks the inspector to check on site.
  await openInConsole(acceptor, caseNo);
  await step(acceptor, 'request_check', 'checking');

  // The inspector's check passes.
  await inspector.click('#tab-tasks');
  const task = inspector.locator(`#task-list li[data-case-no="${caseNo}"]`);
  await task.waitFor();
  await shot(inspector, 'inspector-tasks');
  await task.locator('button[data-action="check_pass"]').click();
  await task.locator('.notice.ok').waitFor();

  // The shift leader closes it; the timeline shows every step.
  const leader = await newPage(browser);
  await signIn(leader, '/console', 'shift_leader');
  await openInConsole(leader, caseNo);
  await step(leader, 'close', 'closed');
  const steps = await leader.locator('#timeline li').evaluateAll((xs) => xs.map((x) => x.dataset.action));
  const expected = ['report', 'register', 'dispatch', 'accept', 'feedback', 'request_check', 'check_pass', 'close'];
  check(expected.every((a) => steps.includes(a)), `the timeline shows every step: ${steps}`);
  check(steps.indexOf('report') < steps.indexOf('close'), 'in order');
  await leader.waitForFunction(() => document.querySelectorAll('#case-info .photos img[src^="blob:"]').length === 4);
  check(await leader.locator('#add-photo').count() === 0, 'the shift leader is not offered to add photos');
  // Each photo shows in the timeline under the step of its stage (the one added later too).
  const underStep = await leader.locator('#timeline li').evaluateAll((xs) => xs.map((x) => [x.dataset.action, x.querySelectorAll('.stage-photos img').length]));
  check(underStep.some(([a, n]) => a === 'report' && n === 2) && underStep.some(([a, n]) => a === 'feedback' && n === 2)
    && underStep.reduce((s, [, n]) => s + n, 0) === 4, `photos under their steps in the timeline: ${JSON.stringify(underStep)}`);
  await shot(leader, 'console-closed-timeline', { fullPage: true });

  // The evaluation dashboard draws its charts from the figures.
  await leader.click('#tab-dashboard');
  await leader.waitForSelector('#chart-department svg rect[data-value]');
  const bars = await leader.locator('#chart-department rect[data-value]').evaluateAll((xs) => xs.map((x) => Number(x.dataset.value)));
  check(bars.some((v) => v >= 1), `the department chart has the case: ${bars}`);
  await shot(leader, 'console-dashboard');

  for (const p of [inspector, acceptor, dispatcher, department, leader]) expectClean(p);
});
