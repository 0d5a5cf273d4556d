#!/bin/bash
# tools/quickstart.sh — README command (1): install, build, start ternd for localhost
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh build
[ -x configure ] || autoreconf -fi >/dev/null
[ -f Makefile ] || ./configure --quiet
make -j"$(nproc)" --quiet ternd ternctl
mkdir -p run
cat <<MSG
ternd: serving localhost with a self-signed certificate (generated in run/certs on first
start), accounts in run/data (LMDB). Ports: 5222 (STARTTLS), 5223 (direct TLS).
  Create an account (another terminal):  ./ternctl -c run/ternd.conf adduser me@localhost
  Then log in with any XMPP client as me@localhost, server 127.0.0.1, accepting the
  self-signed certificate. Stop with Ctrl-C.
MSG
[ -f run/ternd.conf ] || cat >run/ternd.conf <<CONF
# ternd.conf for a first try; every key: docs/ternd.conf.example
[server]
domains = localhost
data_dir = data
certificates = certs
CONF
exec ./ternd -c run/ternd.conf
