#!/usr/bin/env python3
"""Side-by-side benchmark report: vkstruct (vks-bench) against its peers.

Reads every JSON-lines file given (or every *.jsonl in the folders given), in the schema
vks-bench and samples/bench/peers/*.py share, and writes:
  <out>/report.md   per device: the measured peaks, then per op a table of every shape and
                    dtype with vkstruct's variants and each peer's median ms, the speed-up of
                    vkstruct's best variant over each peer, the fraction of the device's
                    measured peak vkstruct reached, and the errors against float64;
  <out>/*.svg       per device and op, median ms per case (log scale), drawn by gnuplot.
Usage: bench_report.py [--out DIR] [--title TEXT] FILE_OR_DIR...
Standard library only (plus gnuplot for the plots, skipped with a note when absent).
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
from collections import OrderedDict, defaultdict


def load(paths):
    rows = []
    for p in paths:
        files = sorted(glob.glob(os.path.join(p, "*.jsonl"))) if os.path.isdir(p) else [p]
        for f in files:
            with open(f) as fh:
                for line in fh:
                    line = line.strip()
                    if line.startswith("{"):
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError:
                            pass
    return rows


def shape_key(shape):
    return json.dumps(shape, sort_keys=True, separators=(",", ":"))


def shape_text(shape):
    return " ".join(f"{k}={v}" for k, v in shape.items()) if shape else "-"


def fmt_ms(v):
    return "-" if v is None else (f"{v:.4f}" if v < 10 else f"{v:.2f}")


def fmt_err(v):
    return "-" if v is None else f"{v:.1e}"


def slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def device_of(rows):
    """Peer rows name CUDA devices like vkstruct does; CPU peers say "cpu"."""
    return OrderedDict((r["device"], None) for r in rows).keys()


def plot(out_dir, name, title, cases, series):
    """cases: list of labels; series: {name: [ms or None per case]} -> name.svg (or None)."""
    if not shutil.which("gnuplot") or not cases:
        return None
    data = os.path.join(out_dir, name + ".dat")
    with open(data, "w") as f:
        f.write("case " + " ".join(f'"{s}"' for s in series) + "\n")
        for i, c in enumerate(cases):
            vals = ["NaN" if series[s][i] is None else repr(series[s][i]) for s in series]
            f.write(f'"{c}" ' + " ".join(vals) + "\n")
    svg = os.path.join(out_dir, name + ".svg")
    ncol = len(series)
    script = f"""
set terminal svg size {max(640, 90 * len(cases) + 200)},420 dynamic font 'sans,11'
set output '{svg}'
set title '{title}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set ylabel 'median ms (log scale, lower is better)'
set xtics rotate by -30 noenhanced
set key outside right noenhanced
set grid ytics
plot for [i=2:{ncol + 1}] '{data}' using i:xtic(1) title columnheader(i)
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError):
        return None
    os.remove(data)
    return os.path.basename(svg)


def report(rows, out_dir, title):
    os.makedirs(out_dir, exist_ok=True)
    lines = [f"# {title}", ""]
    lines += ["How these numbers are taken (the same on both sides): warm-up calls first; then the median",
              "of N timed calls (N >= 20 on GPUs, 10 on lavapipe; `iters` in the JSON), each call on the next",
              "of several input sets so that caches do not flatter; the same shapes, dtypes and random",
              "inputs; transfers excluded on both sides. vkstruct is timed with Vulkan timestamp queries",
              "around each op, peers with CUDA events (GPU) or a synchronize + perf_counter (CPU).",
              "`speed-up` = peer median / vkstruct's best variant; `peak` = the larger of FLOPs at the",
              "measured FMA rate (f16 where vkstruct uses matrix units: their measured rate) and bytes at",
              "the measured copy bandwidth, over vkstruct's median.",
              "`err` = max relative error against float64 on the same inputs.", ""]
    by_device = defaultdict(list)
    for r in rows:
        by_device[r.get("device", "?")].append(r)
    # CPU peers (numpy, torch on the CPU) are reported with the device they ran beside: the
    # vkstruct device of the same file set, when there is exactly one CPU device (lavapipe).
    for device, drows in by_device.items():
        if device == "cpu":
            continue
        cpu_rows = by_device.get("cpu", []) if "llvmpipe" in device else []
        allrows = drows + cpu_rows
        peaks = {r["op"]: r for r in drows if r.get("variant") == "probe"}
        lines += [f"## {device}", ""]
        drv = next((r.get("driver") for r in drows if r.get("impl") == "vkstruct"), "")
        lines.append(f"Driver: {drv}.")
        if peaks:
            c, f = peaks.get("peak_copy", {}), peaks.get("peak_fma", {})
            mma = f.get('mma_gflops_f16') or 0
            lines.append(f"Measured peaks: copy {c.get('gbps', 0):.1f} GB/s, FMA f32 {f.get('gflops', 0):.1f} GFLOP/s, "
                         f"f16 {f.get('fma_gflops_f16', 0):.1f}, f64 {f.get('fma_gflops_f64', 0):.1f} GFLOP/s"
                         + (f", f16 matrix units {mma:.1f} GFLOP/s." if mma else "."))
        peers_seen = sorted({(r["impl"], r["device"]) for r in allrows if r.get("impl") != "vkstruct"})
        if peers_seen:
            lines.append("Peers: " + ", ".join(f"{i} ({d})" for i, d in peers_seen) + ".")
        lines.append("")
        ops = OrderedDict()
        for r in allrows:
            if r.get("variant") != "probe":
                ops.setdefault(r["op"], []).append(r)
        for op, orows in ops.items():
            cases = OrderedDict()
            for r in orows:
                key = (r["dtype"], shape_key(r.get("shape", {})))
                cases.setdefault(key, {"shape": r.get("shape", {}), "vk": {}, "peer": {}})
                slot = "vk" if r.get("impl") == "vkstruct" else "peer"
                name = r["variant"] if slot == "vk" else f"{r['impl']}:{r['variant']}"
                cases[key][slot][name] = r
            vk_variants = sorted({v for c in cases.values() for v in c["vk"]})
            peer_names = sorted({p for c in cases.values() for p in c["peer"]})
            lines += [f"### {op}", ""]
            head = ["dtype", "shape"] + [f"vkstruct {v} ms" for v in vk_variants] + [f"{p} ms" for p in peer_names]
            head += [f"speed-up vs {p}" for p in peer_names] + ["peak", "err"]
            lines.append("| " + " | ".join(head) + " |")
            lines.append("|" + "---|" * len(head))
            labels, series = [], OrderedDict((f"vkstruct {v}", []) for v in vk_variants)
            for p in peer_names:
                series[p] = []
            for (dtype, _), c in cases.items():
                best = min((r for r in c["vk"].values() if r.get("median_ms")), key=lambda r: r["median_ms"],
                           default=None)
                cells = [dtype, shape_text(c["shape"])]
                cells += [fmt_ms(c["vk"][v]["median_ms"]) if v in c["vk"] else "-" for v in vk_variants]
                cells += [fmt_ms(c["peer"][p]["median_ms"]) if p in c["peer"] else "-" for p in peer_names]
                for p in peer_names:
                    pr = c["peer"].get(p)
                    ok = best and pr and pr.get("median_ms")
                    cells.append(f"{pr['median_ms'] / best['median_ms']:.2f}x" if ok else "-")
                cells.append(f"{100 * best['peak_fraction']:.0f}%" if best and best.get("peak_fraction") else "-")
                errs = [r.get("max_rel_err") for r in list(c["vk"].values()) if r.get("max_rel_err") is not None]
                cells.append(fmt_err(max(errs)) if errs else "-")
                lines.append("| " + " | ".join(cells) + " |")
                labels.append(f"{dtype} {shape_text(c['shape'])}")
                for v in vk_variants:
                    series[f"vkstruct {v}"].append(c["vk"][v]["median_ms"] if v in c["vk"] else None)
                for p in peer_names:
                    series[p].append(c["peer"][p]["median_ms"] if p in c["peer"] else None)
            svg = plot(out_dir, f"{slug(device)}-{slug(op)}", f"{op} on {device}", labels, series)
            lines.append("")
            if svg:
                lines += [f"![{op} on {device}]({svg})", ""]
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return os.path.join(out_dir, "report.md")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="build/bench")
    ap.add_argument("--title", default="vkstruct benchmarks")
    ap.add_argument("inputs", nargs="+")
    a = ap.parse_args()
    rows = load(a.inputs)
    if not rows:
        raise SystemExit("bench_report: no JSON lines found in " + " ".join(a.inputs))
    print("bench_report: wrote", report(rows, a.out, a.title))


if __name__ == "__main__":
    main()
