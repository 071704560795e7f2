#!/bin/sh
# mojo-info from the command line: a broken plugin on MOJO_PLUGIN_PATH leaves a working library and a
# visible reason; a requested backend that does not exist is an error naming it.
# usage: mojo_info_cli.sh MOJO_INFO BROKEN_PLUGIN_DIR
set -u
info="$1"; broken="$2"
fail() { echo "FAIL: $*"; exit 1; }

out="$(MOJO_PLUGIN_PATH="$broken" MOJO_LOG_LEVEL=off "$info" 2>&1)" || fail "mojo-info failed with broken plugins: $out"
echo "$out" | grep -q "libmojo-badabi.so" || fail "badabi record missing"
echo "$out" | grep -q "ABI major 2" || fail "badabi reason missing"
echo "$out" | grep -q "no mojo_plugin_entry_v1 symbol" || fail "nosym reason missing"
echo "$out" | grep -qE "#[0-9]+ toy" || fail "the working toy plugin should be loaded"
echo "$out" | grep -q "op priority table is NULL" || fail "badprio reason missing"
echo "$out" | grep -q "priority -1 for silu" || fail "shy's per-op priority is not shown"

# --ops lists an op's backends in the order tried: shy (5) before cpu (0), except silu (shy at -1).
ops="$(MOJO_PLUGIN_PATH="$broken" MOJO_BACKEND=-toy MOJO_LOG_LEVEL=off "$info" --ops 2>&1)" || fail "mojo-info --ops failed"
echo "$ops" | grep -qE "^silu .* cpu\(.*\) shy\(" || fail "silu should list cpu before shy: $(echo "$ops" | grep '^silu ')"
echo "$ops" | grep -qE "^rms_norm .* shy\(.*\) cpu\(" || fail "rms_norm should list shy before cpu: $(echo "$ops" | grep '^rms_norm ')"

out="$(MOJO_BACKEND=+nosuch MOJO_LOG_LEVEL=off "$info" 2>&1)" && fail "MOJO_BACKEND=+nosuch must fail"
echo "$out" | grep -q "nosuch" || fail "error does not name nosuch: $out"
echo "ok: $out"

out="$(MOJO_BACKEND='+c$u' "$info" 2>&1)" && fail "a malformed MOJO_BACKEND must fail"
echo "$out" | grep -q "MOJO_BACKEND" || fail "error does not name the variable: $out"
exit 0
