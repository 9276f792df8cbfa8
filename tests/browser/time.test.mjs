// The pages show and read times in the city's time zone (GET /api/home `timezone`),
// not the browser's (issue 20): web/src/js/api.js when() and fromZoned(), around
// midnight and across a daylight-saving change, in zones other than Shanghai.
import test from 'node:test';
import assert from 'node:assert/strict';
import { fromZoned, setTimeZone, timeZone, when } from '../../web/src/js/api.js';

test('a deadline shows on the city clock, around midnight', () => {
  // 23:30 UTC on 6 Dec 2026 is already 7 Dec in Shanghai and Helsinki, still 6 Dec
  // in New York.
  const due = '2026-12-06T23:30:00Z';
  assert.equal(when(due, 'Asia/Shanghai'), '2026-12-07 07:30');
  assert.equal(when(due, 'Europe/Helsinki'), '2026-12-07 01:30');
  assert.equal(when(due, 'America/New_York'), '2026-12-06 18:30');
  // 00:30 in Helsinki is 22:30 UTC the day before.
  assert.equal(when('2026-12-06T22:30:00Z', 'Europe/Helsinki'), '2026-12-07 00:30');
  assert.equal(when('2026-12-06T21:59:00Z', 'Europe/Helsinki'), '2026-12-06 23:59');
  // Midnight itself is 00:00, not 24:00.
  assert.equal(when('2026-12-06T22:00:00Z', 'Europe/Helsinki'), '2026-12-07 00:00');
});

test('the configured zone is the one used, whatever the browser zone', () => {
  process.env.TZ = 'Asia/Shanghai';
  setTimeZone('America/Los_Angeles');
  assert.equal(timeZone(), 'America/Los_Angeles');
  assert.equal(when('2026-07-01T07:15:00Z'), '2026-07-01 00:15');
  assert.equal(fromZoned('2026-07-01T00:15'), '2026-07-01T07:15:00.000Z');
  setTimeZone('Not/AZone');
  assert.notEqual(timeZone(), 'Not/AZone', 'an unknown zone is ignored');
});

test('a time entered on the city clock is the right instant', () => {
  assert.equal(fromZoned('2026-12-07T00:30', 'Asia/Shanghai'), '2026-12-06T16:30:00.000Z');
  assert.equal(fromZoned('2026-12-07T00:30', 'Europe/Helsinki'), '2026-12-06T22:30:00.000Z');
  // Summer time (EEST, +03:00) and the night it ends (25 Oct 2026, 04:00 → 03:00).
  assert.equal(fromZoned('2026-07-01T00:00', 'Europe/Helsinki'), '2026-06-30T21:00:00.000Z');
  assert.equal(fromZoned('2026-10-26T00:30', 'Europe/Helsinki'), '2026-10-25T22:30:00.000Z');
  assert.equal(fromZoned('2026-03-29T05:00', 'Europe/Helsinki'), '2026-03-29T02:00:00.000Z');
  // Round trip.
  for (const tz of ['Asia/Shanghai', 'Europe/Helsinki', 'America/New_York', 'Asia/Kolkata']) {
    const iso = fromZoned('2026-12-31T23:59', tz);
    assert.equal(when(iso, tz), '2026-12-31 23:59', tz);
  }
  assert.equal(fromZoned('tomorrow', 'Asia/Shanghai'), null);
  assert.equal(fromZoned('', 'Asia/Shanghai'), null);
});
