#!/bin/bash
# Runs on the lent NVIDIA machine, like scripts/gpu/run.sh (same carried .gl and build-gpu):
# times the kernel options that are built and tested but not yet defaults, against the
# defaults, so one call decides them.
#   VKS_GEMM_TILED      gemm_tiled's double buffering / runs of 4 columns / tiles
#                       (GEMM at 2048^3 and 4096^3, the Kronecker mode products)
#   VKS_MONARCH_GROUPED the grouped block-batched kernel (Monarch two-pass at large batch)
#   VKS_LOWRANK_SPLITK=fma  the split-K LoRA decode pass on FMA units (f32; f16 beside the
#                       tensor-core pass)
# Each configuration runs in REPEAT separate processes (default 2): on the H100 about half the
# processes ran every kernel 2-4x slower than the next one (docs/bench/h100-notes.md), so
# compare the best process of each configuration. Rows go to $OUT/candidates.jsonl, each
# with a "config" field; a summary table to stdout. About 100 vks-bench processes: run it with
# timeout_s 600, and REPEAT=1 if a first look is enough.
set -u
B=build-gpu
OUT=${OUT:-/tmp/vks-out}
REPEAT=${REPEAT:-2}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" / ; done
ldconfig
export VKS_DEVICE=${VKS_DEVICE:-NVIDIA}
export LD_LIBRARY_PATH=$PWD/$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export VKS_CACHE_DIR=/tmp/vks-cache
J=$OUT/candidates.jsonl
: > "$J"

# one CONFIG ENV... -- vks-bench arguments
bench() {
    local config=$1; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    for r in $(seq "$REPEAT"); do
        rm -f /tmp/rows.jsonl
        env "${envs[@]}" timeout 120 "$B/samples/vks-bench" "$@" --json /tmp/rows.jsonl > /dev/null 2>&1 ||
            echo "failed: $config $* (exit $?)"
        [ -f /tmp/rows.jsonl ] && python3 -c '
import json, sys
for line in open("/tmp/rows.jsonl"):
    row = json.loads(line); row["config"] = sys.argv[1]; row["process"] = int(sys.argv[2])
    print(json.dumps(row))' "$config" "$r" >> "$J"
    done
}

# The small tiles are for 1024^2 grids in f64, where the mode products ran at 8% of the FMA
# probe (1024^3 GEMMs give 64 x 64 tiles two workgroups per multiprocessor).
tiles=(default "128,128,8,8,8,2,1" "128,128,8,8,8,2,0" "128,128,8,8,8,1,1" "128,128,16,8,8,2,1"
       "64,64,8,4,4,2,1" "128,64,8,8,4,2,1" "64,64,16,4,4,2,1" "32,64,8,4,4,2,1" "32,32,16,2,4,2,1")
# VKS_BENCH_GEMM narrows the gemm op to one shape (f32, f16, f64); VKS_BENCH_KRON to the
# mode products (kron_mvm rows).
for t in "${tiles[@]}"; do
    e=(VKS_GEMM_TILED=$([ "$t" = default ] || echo "$t"))
    for s in 1024,1024,1024 2048,2048,2048 4096,4096,4096; do bench "gemm $t" "${e[@]}" VKS_BENCH_GEMM=$s -- --op gemm; done
    bench "kron $t" "${e[@]}" VKS_BENCH_KRON=mvm -- --op kron
done
for g in 0 1; do
    for s in 4096,64,16384 1024,32,16384 4096,16,16384 4096,64,256; do
        bench "monarch grouped=$g" VKS_MONARCH_GROUPED=$g VKS_BENCH_MONARCH=$s -- --op monarch
    done
done

for o in default fma; do
    e=(VKS_LOWRANK_SPLITK=$([ "$o" = default ] || echo "$o"))
    for s in 1,4096,4096,16 16,4096,4096,16 64,4096,4096,16 16,4096,4096,64 1,4096,11008,16 16,4096,11008,16; do
        bench "lora splitk=$o" "${e[@]}" VKS_BENCH_LORA=single VKS_BENCH_LORA_SHAPE=$s -- --op lora
    done
done

# Best process per (config, op, variant, dtype, shape).
python3 - "$J" <<'EOF'
import json, sys
best = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("median_ms") is None: continue
    key = (r["op"], r["variant"], r["dtype"], json.dumps(r["shape"]), r["config"])
    if key not in best or r["median_ms"] < best[key]["median_ms"]: best[key] = r
for key in sorted(best):
    r = best[key]
    print(f'{r["op"]:9} {r["variant"]:10} {r["dtype"]:4} {json.dumps(r["shape"]):48} {r["config"]:28} '
          f'{r["median_ms"]:10.4f} ms {100 * (r.get("peak_fraction") or 0):6.1f}%')
EOF
