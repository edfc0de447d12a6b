"""Shared by the peer scripts: command line, timing, and vks-bench's JSON-lines schema.

Timing follows vks-bench: warm-up, then the median of N calls, each call on the next of
several input sets (so caches do not flatter); CUDA events on a GPU, synchronize +
perf_counter on the CPU. Transfers are excluded, as in vks-bench.
"""
import argparse
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

# Interpreters tried, in order, for a module the running one lacks. On Debian the first
# python3 on PATH may be a separate build without python3-numpy / python3-torch, which
# live under /usr/bin/python3.
CANDIDATES = ["python3", "/usr/bin/python3", "/opt/torch/.venv/bin/python3", "python3.12", "python3.11"]


def require(module):
    """Makes sure `module` imports: re-executes this script under another interpreter
    that has it, or exits 0 with a line saying the peer is skipped (never a fake result)."""
    if importlib.util.find_spec(module) is not None:
        return
    if os.environ.get("VKS_PEER_REEXEC") != module:
        for cand in CANDIDATES:
            exe = shutil.which(cand)
            if not exe or os.path.realpath(exe) == os.path.realpath(sys.executable):
                continue
            ok = subprocess.run([exe, "-c", f"import {module}"], capture_output=True).returncode == 0
            if ok:
                os.environ["VKS_PEER_REEXEC"] = module
                os.execv(exe, [exe] + sys.argv)
    print(f"{sys.argv[0]}: skipped: no Python interpreter here has {module} "
          f"(tried {', '.join(CANDIDATES)})")
    sys.exit(0)


def import_torch():
    """torch (re-executing under an interpreter that has it), or a skip line and exit 0."""
    require("torch")
    import torch
    return torch


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--quick", action="store_true", help="few shapes, few iterations")
    p.add_argument("--json", default=None, help="append JSON lines to this file")
    p.add_argument("--iters", type=int, default=0, help="timed calls per case")
    return p.parse_args()


class Peer:
    """Timing and reporting for one peer. `torch` may be None (numpy peers: CPU only)."""

    def __init__(self, torch, args, impl="torch"):
        self.torch = torch
        self.args = args
        self.impl = impl
        if torch is not None:
            want = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self.dev = torch.device(want)
            self.cuda = self.dev.type == "cuda"
        else:
            self.dev, self.cuda = "cpu", False
        if self.cuda:
            self.device_name = torch.cuda.get_device_name(self.dev)
            self.driver = f"CUDA {torch.version.cuda} / torch {torch.__version__}"
        elif torch is not None:
            self.device_name = "cpu"
            self.driver = f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
        else:
            import numpy
            self.device_name = "cpu"
            self.driver = f"numpy {numpy.__version__}"
        self.driver += f", {sys.executable}"
        self.iters = args.iters or (5 if args.quick else (50 if self.cuda else 10))
        self.out = open(args.json, "a") if args.json else None
        print(f"{impl} on {self.device_name} ({self.driver})", flush=True)
        print(f"{'op':16} {'variant':10} {'dtype':5} {'shape':38} {'median ms':>10} {'min ms':>10} "
              f"{'GFLOP/s':>9} {'GB/s':>9} {'rel err':>9}", flush=True)

    def sets(self, bytes_per_set):
        """How many input sets rotate out of the caches (2..16), as vks-bench does."""
        total = 256e6 if self.cuda else 96e6
        return max(2, min(16, math.ceil(total / max(bytes_per_set, 1))))

    def time(self, fn, nsets, warmup=3):
        """fn(set_index) runs one call; returns (median_ms, min_ms, iters)."""
        torch = self.torch
        for i in range(warmup):
            fn(i % nsets)
        times = []
        if self.cuda:
            torch.cuda.synchronize()
            for i in range(self.iters):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn(i % nsets)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
        else:
            for i in range(self.iters):
                t0 = time.perf_counter()
                fn(i % nsets)
                if torch is not None and self.dev != "cpu" and self.dev.type != "cpu":
                    torch.cuda.synchronize()
                times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times), min(times), len(times)

    def report(self, op, variant, dtype, shape, median_ms, min_ms, iters, flops, nbytes, max_rel_err,
               extra=None):
        s = median_ms * 1e-3
        row = {"op": op, "variant": variant, "impl": self.impl, "dtype": dtype, "shape": shape,
               "device": self.device_name, "driver": self.driver, "median_ms": median_ms, "min_ms": min_ms,
               "iters": iters, "flops": flops, "bytes": nbytes, "gflops": flops / s * 1e-9,
               "gbps": nbytes / s * 1e-9, "peak_fraction": None, "max_rel_err": max_rel_err}
        if extra:
            row.update(extra)
        err = "-" if max_rel_err is None else f"{max_rel_err:.2e}"
        print(f"{op:16} {variant:10} {dtype:5} {json.dumps(shape, separators=(',', ':'))[:38]:38} "
              f"{median_ms:10.4f} {min_ms:10.4f} {row['gflops']:9.1f} {row['gbps']:9.1f} {err:>9}", flush=True)
        if self.out:
            self.out.write(json.dumps(row) + "\n")
            self.out.flush()


def torch_dtype(torch, name):
    return {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "f64": torch.float64}[name]


def rel_err(got, want):
    """max|got - want| / max|want| in float64 (inf when got has NaN/Inf); torch or numpy."""
    if hasattr(got, "double"):
        got, want = got.double().cpu().numpy(), want.double().cpu().numpy()
    import numpy as np
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if not np.isfinite(g).all():
        return math.inf
    return float(np.abs(g - w).max() / max(np.abs(w).max(), 1e-300))
