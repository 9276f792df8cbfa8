// Shared helpers of the browser tests: Debian's Chromium driven by playwright-core
// (no browser download), screenshots to target/screenshots/, and checks that
// fail the run with a clear message.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', '..', 'web', 'package.json'));
const { chromium } = require('playwright-core');

/** The citygrid server under test. */
export const BASE = process.env.CITYGRID_URL || 'http://127.0.0.1:8080';
/** Where screenshots go. */
export const SHOTS = process.env.SCREENSHOT_DIR || join(here, '..', '..', 'target', 'screenshots');

/** Starts headless Chromium with the flags this machine needs. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--enable-unsafe-swiftshader'],
  });
}

/**
 * A new page in its own context. Page errors, CSP violations and console errors
 * are collected in page.problems (checked by expectClean).
 */
export async function newPage(browser, { width = 1280, height = 800, mobile = false, locale = 'en-US', permissions = [], geolocation, timezoneId } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, isMobile: mobile, hasTouch: mobile, locale, permissions, geolocation, timezoneId, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') page.problems.push(`console: ${m.text()}`);
  });
  page.setDefaultTimeout(30000);
  opened.push(page);
  return page;
}

const opened = [];

/** Fails when the page logged errors other than the `allowed` patterns. */
export function expectClean(page, allowed = []) {
  const left = page.problems.filter((p) => !allowed.some((a) => a.test(p)));
  check(left.length === 0, `unexpected browser errors:\n  ${left.join('\n  ')}`);
}

/** Throws with `message` unless `condition`. */
export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** Saves a screenshot as SHOTS/name.png. */
export async function shot(page, name, { fullPage = false } = {}) {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  console.log(`screenshot ${path}`);
}

/** Waits until the map of `target` (page or frame) shows rendered features; returns their count. */
export async function renderedFeatures(target, { min = 1, timeout = 30000 } = {}) {
  await target.waitForFunction((n) => {
    const m = window.citygridMap;
    return m && m.loaded() && m.areTilesLoaded() && m.queryRenderedFeatures().length >= n;
  }, min, { timeout, polling: 200 });
  return target.evaluate(() => window.citygridMap.queryRenderedFeatures().length);
}

/** The page pixel of [lon, lat] on the map (page coordinates, for mouse events). */
export async function pixelOf(page, lonlat) {
  return page.evaluate(([lon, lat]) => {
    const m = window.citygridMap;
    const p = m.project([lon, lat]);
    const r = m.getCanvas().getBoundingClientRect();
    return { x: r.left + p.x, y: r.top + p.y };
  }, lonlat);
}

/** Runs a test body with a browser; exits non-zero with the error on failure. */
export async function run(name, body) {
  const browser = await launch();
  const started = Date.now();
  try {
    await body(browser);
    console.log(`browser test ${name}: ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    console.error(`browser test ${name}: FAILED\n${e.stack || e}`);
    process.exitCode = 1;
    for (const [i, page] of opened.entries()) {
      if (page.problems.length) console.error(`page ${i} (${page.url()}) logged:\n  ${page.problems.join('\n  ')}`);
      await shot(page, `failed-${name}-${i}`).catch(() => {});
    }
  } finally {
    await browser.close();
  }
}
