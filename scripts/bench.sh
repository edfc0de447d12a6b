#!/bin/sh
# make bench: vks-bench over every op on the chosen device ($VKS_DEVICE or the best),
# JSON lines into <build>/bench/<device>.jsonl.
set -eu
BUILD=${1:-build}
OUT="$BUILD/bench"
mkdir -p "$OUT"
device=$("$BUILD/samples/vks-info" | sed -n 's/^selected: \[[0-9]*\] \(.*\) (.*$/\1/p' | tr -c 'A-Za-z0-9\n' '_' | sed 's/__*/_/g; s/_$//')
json="$OUT/vkstruct-${device:-device}.jsonl"
rm -f "$json"
"$BUILD/samples/vks-bench" --op all --json "$json"
echo "bench: wrote $json"
