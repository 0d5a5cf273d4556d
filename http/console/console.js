// SPDX-License-Identifier: AGPL-3.0-or-later
// http/console/console.js — the web console: an admin token in sessionStorage, the HTTP API
'use strict';

const TOKEN_KEY = 'tern-admin-token';
const $ = (id) => document.getElementById(id);

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// Call the API with the token; the parsed JSON, or an Error carrying the server's message.
async function api(method, path, body) {
  const opts = { method: method, headers: { Authorization: 'Bearer ' + token() } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let data = null;
  try {
    data = await r.json();
  } catch (e) {
    data = null;
  }
  if (!r.ok) {
    const err = new Error((data && data.error) || 'HTTP ' + r.status);
    err.status = r.status;
    throw err;
  }
  return data;
}

// Build an element with text content only: nothing from the server becomes markup.
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function show(loggedIn) {
  $('login-view').hidden = loggedIn;
  $('app-view').hidden = !loggedIn;
  $('logout').hidden = !loggedIn;
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  show(false);
  $('login-error').textContent = message || '';
}

function failed(err, where) {
  if (err.status === 401 || err.status === 403) {
    logout(err.status === 403 ? 'This token has no admin scope.' : 'The token is not valid.');
    return;
  }
  $(where).textContent = err.message;
}

async function loadStats() {
  const stats = await api('GET', '/api/v1/stats');
  const dl = $('stats');
  dl.replaceChildren();
  for (const [k, v] of Object.entries(stats)) {
    dl.append(el('dt', k.replace(/_/g, ' ')), el('dd', v, 'stat-' + k));
  }
}

async function kick(jid) {
  try {
    await api('DELETE', '/api/v1/sessions/' + jid.split('/').map(encodeURIComponent).join('/'));
    await refresh();
  } catch (err) {
    failed(err, 'sessions-error');
  }
}

async function loadSessions() {
  const sessions = await api('GET', '/api/v1/sessions');
  const body = $('sessions').tBodies[0];
  body.replaceChildren();
  for (const s of sessions) {
    const tr = el('tr');
    tr.dataset.jid = s.jid;
    const sm = s.hibernating ? 'hibernating' : s.sm ? 'on' : 'off';
    tr.append(el('td', s.jid), el('td', s.ip), el('td', s.since), el('td', sm));
    const td = el('td');
    const b = el('button', 'Kick');
    b.type = 'button';
    b.addEventListener('click', () => kick(s.jid));
    td.append(b);
    tr.append(td);
    body.append(tr);
  }
}

async function refresh() {
  $('sessions-error').textContent = '';
  try {
    await Promise.all([loadStats(), loadSessions()]);
  } catch (err) {
    failed(err, 'sessions-error');
  }
}

async function login(ev) {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  $('login-error').textContent = '';
  try {
    await loadStats();
    show(true);
    await refresh();
  } catch (err) {
    failed(err, 'login-error');
  }
}

async function sendPush(ev) {
  ev.preventDefault();
  $('push-error').textContent = '';
  const target = $('push-to').value.trim();
  const msg = {
    to: $('to-domain').checked ? { domain: target } : target,
    title: $('push-title').value,
    body: $('push-body').value,
  };
  if ($('push-uri').value) msg.uri = $('push-uri').value;
  const table = $('push-results');
  const body = table.tBodies[0];
  body.replaceChildren();
  try {
    const res = await api('POST', '/api/v1/push', msg);
    for (const r of res.results) {
      const tr = el('tr');
      tr.dataset.to = r.to;
      const detail = r.reason || r.condition || '';
      tr.append(el('td', r.to), el('td', r.status + (detail ? ' (' + detail + ')' : ''),
                                     'status-' + r.status));
      body.append(tr);
    }
    table.hidden = false;
    table.dataset.done = String(Date.now());
  } catch (err) {
    failed(err, 'push-error');
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('push-form').addEventListener('submit', sendPush);
  $('refresh').addEventListener('click', refresh);
  $('logout').addEventListener('click', () => logout(''));
  for (const r of document.querySelectorAll('input[name="to-kind"]')) {
    r.addEventListener('change', () => {
      $('push-to').placeholder = $('to-domain').checked ? 'example.org' : 'user@example.org';
    });
  }
  if (token()) {
    show(true);
    refresh();
  } else {
    show(false);
  }
});
