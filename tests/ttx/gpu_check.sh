#!/usr/bin/env bash
# The ttx plugin on a GPU machine (device tool), after a build in $BUILD: mojo-info, the conformance cases
# of OPS on ttx, memcheck on the quick cases, then mojo-bench -b ttx beside torch and -b cuda alone.
# usage: tests/ttx/gpu_check.sh BUILD OPS [BENCH_OPS]; logs go to $OUT.
set -uo pipefail
B="$1"; OPS="$2"; BENCH_OPS="${3:-$2}"; OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
"$B/tools/mojo-info" > "$OUT/mojo-info.txt" 2>&1
grep -A1 "ttx" "$OUT/mojo-info.txt" | head -6
"$B/tools/mojo-test-ops" -b ttx -o "$OPS" > "$OUT/test-ops-ttx.txt" 2>&1; echo "test-ops rc=$?"
grep -E "FAIL|cases:" "$OUT/test-ops-ttx.txt" | tail -25
python3 - "$OUT/test-ops-ttx.txt" <<'PY'
import collections, re, sys
count = collections.Counter()
for line in open(sys.argv[1]):
    m = re.search(r"\b(OK|FAIL|NOT_SUPPORTED)\b", line)
    if line.startswith("  ") and m:
        count[(line.split()[0], m.group(1))] += 1
for (op, status), n in sorted(count.items()):
    print(f"{op:28s} {status:14s} {n}")
PY
if command -v compute-sanitizer > /dev/null; then
  compute-sanitizer --tool memcheck --error-exitcode 9 "$B/tools/mojo-test-ops" -b ttx --quick -o "$OPS" \
    > "$OUT/memcheck.txt" 2>&1; echo "memcheck rc=$?"
  grep -E "FAIL|cases:|ERROR SUMMARY" "$OUT/memcheck.txt" | tail -4
fi
"$B/tools/mojo-bench" -b cuda -o "$BENCH_OPS" --reps 50 > "$OUT/bench-cuda.txt" 2>&1
mkdir -p /tmp/ttx-bench
python3 tools/mojo-bench/torch_bench.py --mojo-bench "$B/tools/mojo-bench" --backend ttx --ops "$BENCH_OPS" \
  --out /tmp/ttx-bench > "$OUT/bench.log" 2>&1; echo "bench rc=$?"
cp /tmp/ttx-bench/bench-ttx.md "$OUT/" 2>/dev/null
cat "$OUT/bench-ttx.md" "$OUT/bench-cuda.txt" 2>/dev/null || tail -20 "$OUT/bench.log"
