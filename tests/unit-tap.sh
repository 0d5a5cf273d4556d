#!/bin/sh
# tests/unit-tap.sh — run a GTest binary with TAP output for automake's tap-driver
exec "$@" --tap
