// SPDX-License-Identifier: AGPL-3.0-or-later
// tests/integration/console/drive.js — drive the web console in Debian's headless Chromium
// with playwright-core: bad tokens are refused, an admin token logs in, the sessions table
// lists the online user, a notification goes to an online and to an offline user.
// Usage: node drive.js BASE_URL ADMIN_TOKEN PUSH_TOKEN ONLINE_JID OFFLINE_JID [SCREENSHOT]
// Prints one JSON object a line ({"event": ...}); exits 0 when every step passed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, adminToken, pushToken, onlineJid, offlineJid, screenshot] = process.argv.slice(2);
const say = (event, extra = {}) => console.log(JSON.stringify({ event, ...extra }));

const profile = mkdtempSync(join(tmpdir(), 'tern-console-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(10000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // script errors only: the refused logins' 401/403 (and a favicon 404) are logged too
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      errors.push(m.text());
    }
  });

  await page.goto(base + '/console/');
  await page.locator('#login-view').waitFor({ state: 'visible' });
  say('loaded', { title: await page.title() });

  async function tryLogin(token) {
    await page.fill('#token', token);
    await page.click('#login');
  }
  await tryLogin('not-a-token');
  await page.locator('#login-error').filter({ hasText: /not valid/ }).waitFor();
  say('refused', { which: 'wrong', text: await page.textContent('#login-error') });
  await tryLogin(pushToken);
  await page.locator('#login-error').filter({ hasText: /admin/ }).waitFor();
  say('refused', { which: 'push', text: await page.textContent('#login-error') });

  await tryLogin(adminToken);
  await page.locator('#app-view').waitFor({ state: 'visible' });
  const stored = await page.evaluate(() => sessionStorage.getItem('tern-admin-token') !== null);
  await page.locator(`#sessions tbody tr[data-jid^="${onlineJid}/"]`).waitFor();
  const sessions = await page.$$eval('#sessions tbody tr',
                                     (rows) => rows.map((r) => r.dataset.jid));
  say('logged-in', { tokenInSessionStorage: stored, sessions,
                     stats: await page.textContent('#stats') });

  async function send(to, title, body) {
    await page.check('#to-user');
    await page.fill('#push-to', to);
    await page.fill('#push-title', title);
    await page.fill('#push-body', body);
    const before = await page.getAttribute('#push-results', 'data-done');
    await page.click('#push-send');
    await page.waitForFunction((b) => {
      const t = document.getElementById('push-results');
      return t.dataset.done && t.dataset.done !== b;
    }, before);
    const row = `#push-results tbody tr[data-to="${to}"]`;
    const status = await page.textContent(`${row} td:nth-child(2)`);
    say('sent', { to, status });
  }
  await send(onlineJid, 'Console news', 'to the online user from the console');
  await send(offlineJid, 'Console news', 'to the offline user from the console');

  await page.reload();
  await page.locator('#app-view').waitFor({ state: 'visible' });
  say('reloaded', { stillLoggedIn: await page.isVisible('#app-view') });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  say('done', { errors });
  await context.close();
  process.exitCode = 0;
} catch (e) {
  say('failed', { error: String(e && e.stack || e) });
  if (context) await context.close().catch(() => {});
  process.exitCode = 1;
} finally {
  rmSync(profile, { recursive: true, force: true });
}
