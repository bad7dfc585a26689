// A line-protocol driver for Debian's Chromium, through playwright-core (which downloads
// no browser): pytest writes one JSON command per line on stdin, and reads one JSON
// answer per line on stdout, so the assertions stay in Python (tests/support/browser.py).
//
//   node driver.js USER_DATA_DIR
//   {"do": "open", "url": "..."}                → {"ok": true, "status": 200}
//   {"do": "wait", "selector": "...", "timeout": 30000}
//   {"do": "text", "selector": "..."}           → {"ok": true, "value": "..."}
//   {"do": "texts", "selector": "..."}          → {"ok": true, "value": ["...", ...]}
//   {"do": "click", "selector": "..."}
//   {"do": "fill", "selector": "...", "value": "..."}, {"do": "select", …same}
//   {"do": "submit", "selector": "button"}    → {"ok": true, "value": URL after the form}
//   {"do": "press", "key": "Tab"}               (the keyboard, as a person uses it)
//   {"do": "eval", "script": "..."}             → {"ok": true, "value": ...}
//   {"do": "screenshot", "path": "..."}
//   {"do": "close"}
"use strict";
const readline = require("readline");
const { chromium } = require("playwright-core");

const FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function main() {
  const context = await chromium.launchPersistentContext(process.argv[2], {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] || (await context.newPage());
  const actions = {
    open: async (c) => ({ status: (await page.goto(c.url, { waitUntil: "load" })).status() }),
    wait: async (c) => {
      await page.waitForSelector(c.selector, { timeout: c.timeout || 30000 });
      return {};
    },
    text: async (c) => ({ value: await page.textContent(c.selector) }),
    texts: async (c) => ({ value: await page.$$eval(c.selector, (all) => all.map((n) => n.textContent)) }),
    click: async (c) => { await page.click(c.selector); return {}; },
    fill: async (c) => { await page.fill(c.selector, c.value); return {}; },
    select: async (c) => { await page.selectOption(c.selector, c.value); return {}; },
    submit: async (c) => {
      await Promise.all([page.waitForNavigation(), page.click(c.selector)]);
      return { value: page.url() };
    },
    press: async (c) => { await page.keyboard.press(c.key); return {}; },
    eval: async (c) => ({ value: await page.evaluate(c.script) }),
    screenshot: async (c) => { await page.screenshot({ path: c.path, fullPage: true }); return {}; },
  };
  const lines = readline.createInterface({ input: process.stdin });
  process.stdout.write(JSON.stringify({ ok: true, ready: true }) + "\n");
  for await (const line of lines) {
    const command = JSON.parse(line);
    if (command.do === "close") break;
    let answer;
    try {
      answer = { ok: true, ...(await actions[command.do](command)) };
    } catch (error) {
      answer = { ok: false, error: String(error && error.message ? error.message : error) };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  }
  await context.close();
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(error) }) + "\n");
  process.exit(1);
});
