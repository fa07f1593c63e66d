// Drives the platform dashboard in Debian's chromium (headless, through playwright-core).
// usage: node dashboard.mjs <url> <screenshot dir> <station key to watch | - >
// With "-": prints {"step":"rendered","firstRender":ms,"rows":n} once the Stations table shows
// and exits (the benchmark's first render).
// 1. opens <url>; waits for the Stations table, and for "points on the bus" to change;
// 2. clicks the watched station's row: its latest values; clicks the first value: its chart,
//    which must draw at least 2 values; screenshots (desktop and phone width);
// 3. prints {"step":"ready",...} and waits for a line "killed" on stdin, then times how long the
//    watched station's row takes to say "disconnected"; screenshots again;
// prints {"step":"done","ms",...,"errors":[console errors]} and exits 0 (1 on a failed wait).
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { atPhoneWidth } from './phone.mjs';

const [url, dir, station] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const errors = [];
const lines = createInterface({ input: process.stdin });
const killed = new Promise((resolve) => lines.on('line', (l) => { if (l.trim() === 'killed') resolve(); }));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
let code = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForSelector('table[data-title="Stations"] tr[data-key]', { timeout: 10000 });
  const firstRender = Date.now() - t0;
  if (station === '-') {
    const rows = await page.evaluate(() => document.querySelectorAll('table[data-title="Stations"] tr[data-key]').length);
    // in the page's clock: from the start of the navigation to the table shown (window.shownAt,
    // set by the page's first render), and the HTML's arrival
    const timing = await page.evaluate(() => ({
      shown: window.shownAt,
      response: performance.getEntriesByType('navigation')[0].responseEnd,
    }));
    await page.screenshot({ path: `${dir}/dashboard-bench.png` });
    out({ step: 'rendered', firstRender, rows, errors, ...timing });
    await browser.close();
    process.exit(0);
  }
  const stat = (label) => page.evaluate((l) => {
    for (const s of document.querySelectorAll('#panel-acquisition .view .stat')) {
      if (s.querySelector('span').textContent === l) return s.querySelector('b').textContent;
    }
    return null;
  }, label);
  const before = await stat('points on the bus');
  await page.waitForFunction((b) => {
    for (const s of document.querySelectorAll('#panel-acquisition .view .stat')) {
      if (s.querySelector('span').textContent === 'points on the bus') return s.querySelector('b').textContent !== b;
    }
    return false;
  }, before, { timeout: 10000 });
  const after = await stat('points on the bus');
  await page.click(`tr[data-key="${station}"]`);
  await page.waitForSelector('#detail-acquisition tr[data-point]', { timeout: 10000 });
  await page.click('#detail-acquisition tr[data-point]');
  await page.waitForFunction(() => {
    const p = document.querySelector('#detail-acquisition svg polyline');
    return p && p.getAttribute('points').trim().split(' ').length >= 2;
  }, null, { timeout: 10000 });
  await page.screenshot({ path: `${dir}/dashboard.png`, fullPage: true });
  const overflow = await atPhoneWidth(browser, url, 'table[data-title="Stations"] tr[data-key]',
    `${dir}/dashboard-phone.png`, errors);
  out({ step: 'ready', firstRender, before, after, overflow });
  await killed;
  const k = Date.now();
  let ms = -1;
  try {
    await page.waitForFunction((s) => {
      const row = document.querySelector(`tr[data-key="${s}"]`);
      return row && row.cells[1].textContent.startsWith('disconnected');
    }, station, { timeout: 10000, polling: 50 });
    ms = Date.now() - k;
  } catch (_) { code = 1; }
  await page.screenshot({ path: `${dir}/dashboard-disconnected.png`, fullPage: true });
  out({ step: 'done', ms, errors });
} catch (e) {
  out({ step: 'failed', error: String(e), errors });
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
