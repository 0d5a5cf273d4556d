// SPDX-License-Identifier: AGPL-3.0-or-later
// tests/integration/node/login.js — a second, independent XMPP client (@xmpp/client) for the
// integration tests: log in, send one message to a peer, exit 0 once the peer's reply comes.
//
// usage: node login.js SERVICE DOMAIN USERNAME PASSWORD PEER BODY [TIMEOUT_MS]
//   SERVICE  xmpp://127.0.0.1:PORT (STARTTLS) or xmpps://127.0.0.1:PORT (direct TLS)
//   PEER     JID that answers BODY with a message whose body contains BODY
// Prints one JSON object a line on stdout: {"event":"online","jid":...}, then
// {"event":"reply","from":...,"body":...}. Exit 0: reply received; 1: error or timeout;
// 2: usage. The server's certificate is self-signed: run with NODE_TLS_REJECT_UNAUTHORIZED=0.

import { client, xml } from "@xmpp/client";

const [service, domain, username, password, peer, body, timeoutArg] = process.argv.slice(2);
if (!service || !domain || !username || !password || !peer || !body) {
  console.error("usage: node login.js SERVICE DOMAIN USERNAME PASSWORD PEER BODY [TIMEOUT_MS]");
  process.exit(2);
}
const timeoutMs = Number(timeoutArg || 20000);

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const xmpp = client({ service, domain, username, password, resource: "node", timeout: 5000 });
let done = false;

async function finish(code, why) {
  if (done) return;
  done = true;
  if (why) console.error(why);
  try {
    await Promise.race([xmpp.stop(), new Promise((r) => setTimeout(r, 2000))]);
  } catch (err) {
    console.error("stop: " + err);
  }
  process.exit(code);
}

const timer = setTimeout(() => finish(1, `timeout after ${timeoutMs} ms`), timeoutMs);

xmpp.on("error", (err) => {
  say({ event: "error", error: String(err), condition: err.condition || null });
  finish(1, "error: " + (err.stack || err));
});

xmpp.on("status", (status) => console.error("status: " + status));

xmpp.on("stanza", (stanza) => {
  if (!stanza.is("message")) return;
  const text = stanza.getChildText("body");
  if (stanza.attrs.type === "error") {
    say({ event: "message-error", from: stanza.attrs.from, stanza: stanza.toString() });
    finish(1, "message error: " + stanza.toString());
    return;
  }
  if (text && text.includes(body)) {
    say({ event: "reply", from: stanza.attrs.from, to: stanza.attrs.to, body: text });
    clearTimeout(timer);
    finish(0);
  }
});

xmpp.on("online", async (address) => {
  say({ event: "online", jid: address.toString() });
  try {
    await xmpp.send(xml("presence"));
    await xmpp.send(xml("message", { type: "chat", to: peer }, xml("body", {}, body)));
  } catch (err) {
    finish(1, "send: " + err);
  }
});

xmpp.start().catch((err) => {
  say({ event: "error", error: String(err), condition: err.condition || null });
  finish(1, "start: " + (err.stack || err));
});
