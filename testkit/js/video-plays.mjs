// Opens a page in Debian's chromium (headless, through playwright-core) and waits until its
// first <video> has played past `seconds`; prints {"currentTime", "duration", "errors"} as JSON
// and saves a screenshot. Exit 0 when it played, 1 when not.
// usage: node video-plays.mjs <url> <screenshot.png> [seconds=1.5] [timeout ms=30000]
import { chromium } from 'playwright-core';

const [url, shot, seconds = '1.5', timeout = '30000'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'],
});
const errors = [];
let result = { currentTime: 0, duration: 0 };
let ok = false;
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  try {
    await page.waitForFunction(
      (s) => { const v = document.querySelector('video'); return v && v.currentTime > s; },
      Number(seconds),
      { timeout: Number(timeout) },
    );
    ok = true;
  } catch (_) { /* reported below */ }
  result = await page.evaluate(() => {
    const v = document.querySelector('video');
    return { currentTime: v ? v.currentTime : -1, duration: v ? v.duration : -1, state: document.getElementById('state')?.textContent };
  });
  await page.screenshot({ path: shot });
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ...result, errors }));
process.exit(ok ? 0 : 1);
