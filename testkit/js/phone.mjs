// A page at a phone's width (390 x 844, 2x): opens `url`, waits for `selector`, screenshots to
// `shot` (full page) and returns how many CSS pixels the page is wider than the screen (0 or
// less: it fits). Page errors go into `errors`.
export async function atPhoneWidth(browser, url, selector, shot, errors) {
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  phone.on('pageerror', (e) => errors.push(String(e)));
  try {
    await phone.goto(url);
    await phone.waitForSelector(selector, { timeout: 10000 });
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await phone.screenshot({ path: shot, fullPage: true });
    return overflow;
  } finally {
    await phone.close();
  }
}
