#!/bin/sh
# make bench: vks-bench over every op on the chosen device ($VKS_DEVICE or the best), every
# peer script that can run here (numpy always; torch where installed, on CUDA if present),
# then the side-by-side report with plots:
#   <build>/bench/vkstruct-<device>.jsonl, <build>/bench/peers-<impl>.jsonl,
#   <build>/bench/report.md and *.svg
# Environment: QUICK=1 passes --quick everywhere; OPS limits vks-bench (default all).
set -eu
BUILD=${1:-build}
OUT="$BUILD/bench"
mkdir -p "$OUT"
quick=${QUICK:+--quick}
device=$("$BUILD/samples/vks-info" | sed -n 's/^selected: \[[0-9]*\] \(.*\) (.*$/\1/p' | cut -d'(' -f1 | tr -c 'A-Za-z0-9\n' '_' | sed 's/__*/_/g; s/_$//')
json="$OUT/vkstruct-${device:-device}.jsonl"
rm -f "$json" "$OUT"/peers-*.jsonl "$OUT"/*.svg
echo "== vks-bench on ${device}"
"$BUILD/samples/vks-bench" --op "${OPS:-all}" $quick --json "$json"
for p in samples/bench/peers/*_numpy.py samples/bench/peers/*_torch.py; do
    [ -f "$p" ] || continue
    impl=$(basename "$p" .py | sed 's/.*_//')
    echo "== $p"
    python3 "$p" $quick --json "$OUT/peers-$impl.jsonl" || echo "bench: $p failed (continuing)"
done
python3 scripts/bench_report.py --out "$OUT" --title "vkstruct benchmarks on ${device}" "$OUT"
