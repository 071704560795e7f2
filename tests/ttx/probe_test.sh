#!/bin/sh
# The ttx plugin loads on any machine: without a CUDA driver mojo-info lists it as skipped at probe with
# the reason; with one it is a backend. usage: probe_test.sh MOJO_INFO
set -u
out="$(MOJO_LOG_LEVEL=off "$1" 2>&1)" || { echo "FAIL: mojo-info failed: $out"; exit 1; }
echo "$out"
if echo "$out" | grep -q "skipped   probe .*libmojo-ttx.so"; then
  echo "$out" | grep -q "reason: probe score 0: no CUDA driver" || { echo "FAIL: no reason for the decline"; exit 1; }
  exit 0
fi
echo "$out" | grep -qE "#[0-9]+ ttx " || { echo "FAIL: ttx neither declined at probe nor loaded"; exit 1; }
exit 0
