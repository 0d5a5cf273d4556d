// SPDX-License-Identifier: AGPL-3.0-or-later
// tests/integration/converse/drive.js — Converse.js in Debian's headless Chromium, driven by
// playwright-core. One browser for the whole run (starting Chromium is the slow part); each
// case gets a fresh browser context (own storage) and page: index.html, served by
// test_converse.py, logs in by itself over WebSocket or BOSH; we wait for the connected
// state and the roster contact (when asked), open the chat as a person would (click the
// roster item; through the API when the peer is not in the roster), type a message and press
// Enter, then wait until the peer's reply shows in the chat. The wire is watched through
// CDP: the WebSocket handshake (subprotocol, extensions) and frames, the BOSH responses
// (status, CORS header, content type).
//
// Usage: node drive.js, then one JSON object a line on standard input, one case each:
//   name        tag echoed in every event of the case
//   page        URL of index.html on the test's static server
//   transport   "websocket" | "bosh";  service: the ws:// or http:// URL of the endpoint
//   jid, password, peer (bare JID of the other user), rosterContact (peer is in the roster)
//   message     text to send;  reply: text the peer will answer with
//   screenshot  PNG written at the end of the case (also on failure);  log: file for the
//               page's console and the frames (SASL payloads redacted)
//   timeout     ms for each wait (default 20000);  loglevel: Converse's (default info)
// Prints one JSON object a line ({"event": ..., "case": name, "ms": since start}); a case
// ends with "done" or "failed". Exits at the end of standard input: 0 when every case
// passed.
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const started = Date.now();
const say = (event, extra = {}) =>
  console.log(JSON.stringify({ event, ms: Date.now() - started, ...extra }));
// SASL payloads carry the password (PLAIN) or proofs: never in a log
const redact = (s) => String(s).replace(/(<(auth|response)\b[^>]*>)[^<]*/g, '$1[redacted]');
const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];

async function runCase(browser, cfg) {
  const tell = (event, extra = {}) => say(event, { case: cfg.name, ...extra });
  const timeout = cfg.timeout || 20000;
  const logLine = (line) => { if (cfg.log) appendFileSync(cfg.log, line + '\n'); };
  const errors = []; // script errors, failed requests to loopback: failures
  const consoleErrors = []; // reported only
  const wire = { websocket: null, frames: { sent: 0, received: 0 }, bosh: [] };
  // the last payloads from the server (WebSocket frames, BOSH bodies): why a login failed
  const tail = [];
  const keep = (payload) => {
    tail.push(redact(payload).slice(0, 800));
    if (tail.length > 6) tail.shift();
  };
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();

  async function probe() {
    // what the page's tern-probe plugin recorded (its api object left out), and which chat
    // boxes exist and show: why a chat did not open
    return page.evaluate(() => {
      const p = window.ternProbe || {};
      const boxes = [...document.querySelectorAll('.chatbox')].map((e) =>
        `${e.tagName.toLowerCase()} ${e.getAttribute('jid') || e.id} ${e.checkVisibility()}`);
      return { connected: p.connected, jid: p.jid, transport: p.transport, fatal: p.fatal,
               openError: p.openError, events: p.events, status: p.status, boxes };
    }).catch((e) => ({ unavailable: String(e) }));
  }

  try {
    // Nothing leaves loopback: Converse's about page shows sponsors' logos from the
    // internet; refuse them at once instead of waiting on DNS (our own traffic is not routed)
    await context.route((url) => !LOOPBACK.includes(url.hostname),
                        (route) => route.abort('blockedbyclient'));
    page.setDefaultTimeout(timeout);
    page.on('pageerror', (e) => { errors.push(String(e)); logLine('pageerror: ' + e); });
    page.on('console', (m) => {
      logLine(`console.${m.type()}: ${redact(m.text())}`);
      // Converse logs every stanza error it gets (e.g. for a vCard the server has none of)
      // as console.error; a resource that failed to load is reported by 'requestfailed'
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
        consoleErrors.push(redact(m.text()).slice(0, 500));
      }
    });
    page.on('requestfailed', (r) => {
      const what = `request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`;
      logLine(what);
      if (LOOPBACK.includes(new URL(r.url()).hostname)) errors.push(what);
    });
    page.on('request', (r) => {
      if (cfg.transport === 'bosh' && r.url().startsWith(cfg.service) && r.postData()) {
        logLine('bosh sent: ' + redact(r.postData()));
      }
    });
    page.on('response', (r) => {
      if (cfg.transport !== 'bosh' || !r.url().startsWith(cfg.service)) return;
      const h = r.headers();
      wire.bosh.push({ method: r.request().method(), status: r.status(),
                       cors: h['access-control-allow-origin'] || null,
                       type: h['content-type'] || null });
      r.text().then((body) => { logLine('bosh received: ' + redact(body)); keep(body); },
                    () => {});
    });

    // The WebSocket through the DevTools protocol: playwright shows neither its
    // handshake's response headers (the subprotocol) nor all of its frames' timing
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.webSocketCreated', (e) => { wire.websocket = { url: e.url }; });
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
      const h = Object.fromEntries(Object.entries(e.response.headers || {})
        .map(([k, v]) => [k.toLowerCase(), v]));
      Object.assign(wire.websocket || (wire.websocket = {}), {
        status: e.response.status, protocol: h['sec-websocket-protocol'] || null,
        extensions: h['sec-websocket-extensions'] || null,
      });
    });
    cdp.on('Network.webSocketFrameSent', (e) => {
      wire.frames.sent++;
      logLine('ws sent: ' + redact(e.response.payloadData));
    });
    cdp.on('Network.webSocketFrameReceived', (e) => {
      wire.frames.received++;
      logLine('ws received: ' + redact(e.response.payloadData));
      keep(e.response.payloadData);
    });
    cdp.on('Network.webSocketClosed', () => {
      if (wire.websocket) wire.websocket.closed = true;
    });

    await page.addInitScript((c) => { window.TERN_CONVERSE = c; }, {
      transport: cfg.transport, url: cfg.service, jid: cfg.jid, password: cfg.password,
      loglevel: cfg.loglevel,
    });
    await page.goto(cfg.page, { waitUntil: 'domcontentloaded' });
    tell('loaded', { title: await page.title() });

    // Connected: authenticated, bound, session started (Converse's 'connected'), or a reason
    try {
      await page.waitForFunction(() => window.ternProbe &&
        (window.ternProbe.connected || window.ternProbe.fatal), null, { timeout });
    } catch (e) {
      throw new Error(`not connected within ${timeout} ms: ${JSON.stringify(await probe())}`);
    }
    let p = await probe();
    if (!p.connected) throw new Error('Converse failed: ' + JSON.stringify(p));
    tell('connected', { jid: p.jid, transport: p.transport });

    // The chat: from the roster as a person would; through the API when the peer is not in
    // the roster (not awaited in the page: the promise waits for vCard and archive too)
    const chat = page.locator(`converse-chat[jid="${cfg.peer}"]`);
    if (cfg.rosterContact) {
      const item = page.locator(`converse-roster a.open-chat[data-jid="${cfg.peer}"]`);
      await item.waitFor({ state: 'visible' });
      tell('roster', { contact: cfg.peer, text: (await item.innerText()).trim() });
      await item.click();
    } else {
      await page.evaluate((jid) => {
        const pr = window.ternProbe;
        pr.api.chats.open(jid, {}, true).catch((e) => { pr.openError = String(e); });
      }, cfg.peer);
    }
    const textarea = chat.locator('textarea.chat-textarea');
    await textarea.waitFor({ state: 'visible' });
    await textarea.fill(cfg.message);
    await textarea.press('Enter');
    // our own message shows in the chat once Converse sent it
    await chat.locator('.chat-msg__text', { hasText: cfg.message }).waitFor();
    tell('sent', { to: cfg.peer, body: cfg.message });

    await chat.locator('.chat-msg__text', { hasText: cfg.reply }).waitFor();
    // what the chat shows: each message's text and the sender Converse credits it to
    const shown = await chat.locator('.chat-msg').evaluateAll((els) => els.map((e) => ({
      from: e.dataset.from, text: e.querySelector('.chat-msg__text')?.innerText.trim() })));
    tell('received', { from: cfg.peer, shown });

    p = await probe();
    if (cfg.screenshot) await page.screenshot({ path: cfg.screenshot });
    tell('done', { errors, consoleErrors, wire, stillConnected: p.connected,
                   events: p.events });
    return true;
  } catch (e) {
    let shot = null;
    if (cfg.screenshot) {
      shot = await page.screenshot({ path: cfg.screenshot }).then(() => cfg.screenshot)
        .catch(() => null);
    }
    tell('failed', { error: String(e && e.stack || e), errors, consoleErrors, wire,
                     lastReceived: tail, screenshot: shot, probe: await probe() });
    return false;
  } finally {
    await context.close().catch(() => {});
  }
}

let browser;
let ok = true;
try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  say('launched', { version: browser.version() });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim()) ok = (await runCase(browser, JSON.parse(line))) && ok;
  }
} catch (e) {
  say('failed', { error: String(e && e.stack || e) });
  ok = false;
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exitCode = ok ? 0 : 1;
