#!/bin/bash
# Runs on the lent NVIDIA machine (docs/GPU.md), from the repository root, with the
# carried folders .gl (Debian's libvulkan1, libcmocka0, vulkan-validationlayers .debs)
# and build-gpu (a Release build made here by scripts/gpu/prepare.sh).
#   scripts/gpu/run.sh [tests] [bench] [peers]     (default: all three)
# Environment: OUT (results folder; the device tool sets it), OPS (vks-bench --op, default all),
# QUICK=1 (vks-bench/peers --quick), PEERS (glob of peer scripts, default all).
set -u
B=build-gpu
OUT=${OUT:-/tmp/vks-out}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" / ; done
ldconfig
# The loader finds NVIDIA's ICD in /usr/share/vulkan/icd.d by itself; pointing
# VK_DRIVER_FILES at /usr/local/nvidia/share/vulkan/icd.d (as first tried) found no driver.
export VKS_DEVICE=${VKS_DEVICE:-NVIDIA}
export LD_LIBRARY_PATH=$PWD/$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export VKS_TEST_LIBRARY=$PWD/$B/libvkstruct.so
export VKS_CACHE_DIR=/tmp/vks-cache
what=${*:-tests bench peers}
quick=${QUICK:+--quick}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv > "$OUT/machine.txt" 2>&1
"$B/samples/vks-info" >> "$OUT/machine.txt" 2>&1
head -3 "$OUT/machine.txt"; grep -E "^\[|selected" "$OUT/machine.txt"

if [[ $what == *tests* ]]; then
    : > "$OUT/tests.log"
    for t in "$B"/tests/test_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        start=$(date +%s%N)
        timeout 600 "$t" >> "$OUT/tests.log" 2>&1
        rc=$?
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        printf '%-28s rc=%d %8d ms\n' "$name" "$rc" "$ms" | tee -a "$OUT/tests-summary.txt"
    done
    grep -E "FAILED|ERROR|validation" "$OUT/tests.log" | head -40
fi

if [[ $what == *bench* ]]; then
    "$B/samples/vks-bench" --op "${OPS:-all}" $quick --json "$OUT/vkstruct-gpu.jsonl" > "$OUT/bench.txt" 2>&1
    tail -n +1 "$OUT/bench.txt" | cut -c1-150
fi

if [[ $what == *peers* ]]; then
    for p in ${PEERS:-samples/bench/peers/*_torch.py}; do
        echo "== $p"
        PYTHONUNBUFFERED=1 timeout 900 python3 "$p" --device cuda $quick --json "$OUT/torch-gpu.jsonl" 2>&1 | tail -40 | cut -c1-200
    done
fi
