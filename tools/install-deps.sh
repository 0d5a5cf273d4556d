#!/bin/bash
# tools/install-deps.sh — install the Debian 12 packages Tern builds and tests with
set -euo pipefail
# usage: install-deps.sh [build|test] — build: what ternd needs to build and run;
# test (default): also the peers, clients and tools the test suite runs.
BUILD_PKGS=(build-essential autoconf automake libtool pkg-config openssl
      libglib2.0-dev libexpat1-dev libssl-dev libc-ares-dev liblmdb-dev libidn2-dev
      liburing-dev # router/iobatch.c: a turn's send()s and recv()s in one system call
      libxml2-dev # a second XML parser for the differential tests (tests/fuzz)
      libsoup-3.0-dev libjson-glib-dev glib-networking # the HTTP front (HTTPS: glib-networking)
      libstrophe-dev # the transport SDK (transports/sdk)
      libsmpp34-dev) # SMPP 3.4 PDUs for the SMS gateway (transports/sms)
TEST_PKGS=(chromium # the console and Converse.js tests drive it headless (npm playwright-core)
      python3 python3-slixmpp nodejs npm dnsmasq-base
      python3-aiohttp # a WebSocket client library in test_websocket.py
      clang libclang-rt-14-dev # libFuzzer targets (tests/fuzz)
      prosody lua-unbound # prosody + lua-unbound: the federation peer in tests (s2s)
      biboumi ngircd) # the IRC gateway (XEP-0114 component) and an IRC server in tests
PKGS=("${BUILD_PKGS[@]}")
[ "${1:-test}" = build ] || PKGS+=("${TEST_PKGS[@]}")
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere (e.g. a preinstalled Node.js): accept the commands
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing packages: ${missing[*]} (run as root)" >&2
        exit 1
    fi
    # never let a package start system services on wildcard addresses
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
