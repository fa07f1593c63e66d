// Drives the trigger service's dashboard (the Tasks panel) in Debian's chromium (headless,
// through playwright-core).
// usage: node tasks.mjs <url> <screenshot dir> <task row key> <plan row key> <cron row key>
// 1. opens <url>; waits for the Queues table's row of queue "critical";
// 2. presses its "pause": the row must say "paused";
// 3. opens the queue (clicks the row), presses "retry now" on the task <task row key>: the page
//    must say the task runs now;
// 4. presses "pause" on the plan <plan row key>: its row must say "paused";
// 5. reads the cron job <cron row key>'s next run; screenshots (desktop and phone width);
// prints {"step":"done","cronNext",...,"errors":[console errors]} and exits 0 (1 on a failed wait).
import { chromium } from 'playwright-core';
import { atPhoneWidth } from './phone.mjs';

const [url, dir, taskKey, planKey, cronKey] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const errors = [];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
let code = 0;
// the text of cell `i` of the row whose key is `k` (in the page)
const cell = ([k, i]) => {
  const r = [...document.querySelectorAll('tr[data-key]')].find((x) => x.dataset.key === k);
  return r ? r.cells[i].textContent : null;
};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  await page.goto(url);
  await page.waitForSelector('table[data-title="Queues"] tr[data-key="queue:critical"]', { timeout: 10000 });

  // pause the queue
  await page.click('tr[data-key="queue:critical"] button[data-action="pause"]');
  await page.waitForFunction(() => {
    const r = document.querySelector('tr[data-key="queue:critical"]');
    return r && r.cells[1].textContent === 'paused';
  }, null, { timeout: 10000 });

  // open the queue, retry the task
  await page.click('tr[data-key="queue:critical"] td:first-child');
  const retry = page.locator('#detail-tasks button[data-action="run"]').filter({ hasText: 'retry now' });
  await retry.first().waitFor({ timeout: 10000 });
  const buttons = await retry.evaluateAll((bs, k) => bs.map((b) => b.dataset.row === k), taskKey);
  const at = buttons.indexOf(true);
  if (at < 0) throw new Error(`no "retry now" for ${JSON.stringify(taskKey)}`);
  await retry.nth(at).click();
  await page.waitForFunction(() => document.getElementById('note').textContent.includes('runs now'), null, { timeout: 10000 });
  const note = await page.textContent('#note');

  // pause the plan
  await page.click(`tr[data-key="${planKey}"] button[data-action="pause"]`);
  await page.waitForFunction((k) => {
    const r = [...document.querySelectorAll('tr[data-key]')].find((x) => x.dataset.key === k);
    return r && r.cells[4].textContent === 'paused';
  }, planKey, { timeout: 10000 });

  // the cron job's next run
  const cronNext = await page.evaluate(cell, [cronKey, 4]);
  await page.screenshot({ path: `${dir}/tasks.png`, fullPage: true });

  const overflow = await atPhoneWidth(browser, url, 'table[data-title="Queues"] tr[data-key]',
    `${dir}/tasks-phone.png`, errors);
  out({ step: 'done', note, cronNext, overflow, errors });
} catch (e) {
  out({ step: 'failed', error: String(e), errors });
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
