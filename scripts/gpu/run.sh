#!/bin/bash
# Runs on the lent NVIDIA machine (docs/bench/h100-notes.md), from the repository root, with
# the carried folders .gl (Debian's libvulkan1, libcmocka0, vulkan-validationlayers and glvnd
# .debs) and build-gpu (a Release build made here by scripts/gpu/prepare.sh).
#   scripts/gpu/run.sh [tests] [bench] [peers] [samples]      (default: tests bench peers)
# Environment: OUT (results folder; the device tool sets it), OPS (vks-bench --op, default all),
# QUICK=1 (--quick everywhere), TESTS (test executables, default all), PEERS (peer scripts,
# default every *_torch.py), LIMIT_TESTS/LIMIT_BENCH/LIMIT_PEER (seconds per step, so that one
# slow step cannot eat a whole call), BENCH_ENV (environment of a second vks-bench pass, e.g.
# "VKS_MONARCH_COOPMAT=1"; its rows go to vkstruct-gpu-extra.jsonl).
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
LIMIT_TESTS=${LIMIT_TESTS:-300}
LIMIT_BENCH=${LIMIT_BENCH:-420}
LIMIT_PEER=${LIMIT_PEER:-240}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv > "$OUT/machine.txt" 2>&1
"$B/samples/vks-info" >> "$OUT/machine.txt" 2>&1
head -2 "$OUT/machine.txt"; grep -E "^\[|selected" "$OUT/machine.txt"

if [[ $what == *tests* ]]; then
    : > "$OUT/tests.log"
    for t in ${TESTS:-$B/tests/test_*}; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        start=$(date +%s%N)
        timeout "$LIMIT_TESTS" "$t" >> "$OUT/tests.log" 2>&1
        rc=$?
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        printf '%-28s rc=%d %8d ms\n' "$name" "$rc" "$ms" | tee -a "$OUT/tests-summary.txt"
    done
    grep -E "FAILED|ERROR|rror:|validation" "$OUT/tests.log" | head -40
fi

if [[ $what == *bench* ]]; then
    timeout "$LIMIT_BENCH" "$B/samples/vks-bench" --op "${OPS:-all}" $quick --json "$OUT/vkstruct-gpu.jsonl" \
        > "$OUT/bench.txt" 2>&1 || echo "vks-bench: exit $?" >> "$OUT/bench.txt"
    if [ -n "${BENCH_ENV:-}" ]; then
        echo "== second pass with $BENCH_ENV" >> "$OUT/bench.txt"
        env $BENCH_ENV timeout "$LIMIT_BENCH" "$B/samples/vks-bench" --op "${OPS:-all}" $quick \
            --json "$OUT/vkstruct-gpu-extra.jsonl" >> "$OUT/bench.txt" 2>&1 || echo "extra bench: exit $?" >> "$OUT/bench.txt"
    fi
    cut -c1-140 "$OUT/bench.txt" | grep -vE '^ +"' | tail -150
fi

if [[ $what == *peers* ]]; then
    for p in ${PEERS:-samples/bench/peers/*_torch.py}; do
        echo "== $p"
        PYTHONUNBUFFERED=1 timeout "$LIMIT_PEER" python3 "$p" --device cuda $quick --json "$OUT/torch-gpu.jsonl" \
            > "$OUT/peer.log" 2>&1
        echo "exit $?" >> "$OUT/peer.log"
        cut -c1-140 "$OUT/peer.log" | tail -40
        cat "$OUT/peer.log" >> "$OUT/peers.log"
    done
    rm -f "$OUT/peer.log"
fi

if [[ $what == *samples* ]]; then
    # The sample apps at GPU sizes, each bounded; their own output is the record.
    for cmd in "gp-grid" "monarch-mlp --in 4096 --out 4096 --batch 4096 --nblocks 16,64" "muon-train" "lora-serve"; do
        exe=${cmd%% *}
        [ -x "$B/samples/$exe" ] || continue
        echo "== $cmd" >> "$OUT/samples.txt"
        timeout 120 "$B/samples/"$cmd >> "$OUT/samples.txt" 2>&1
        echo "exit $?" >> "$OUT/samples.txt"
    done
    cut -c1-140 "$OUT/samples.txt" | tail -80
fi
