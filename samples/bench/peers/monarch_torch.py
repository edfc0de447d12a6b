#!/usr/bin/env python3
"""The peers' Monarch forward in PyTorch, timed the way vks-bench times vkstruct.

Written from the conventions in shared/REFERENCE.md (fly / m2 blockdiag_butterfly_multiply):
x (B, k*p), w1 (k, q, p), w2 (l, s, r) with l*r = k*q, y (B, l*s):
  1. view x as (k, B, p), out1 = x_i w1[i]^T per block (one batched GEMM)      -> (k, B, q)
  2. flatten to (B, k*q), view (B, r, l), transpose to (B, l, r): the middle shuffle (a copy)
  3. out2 = u_l w2[l]^T per block (one batched GEMM)                            -> (l, B, s)
  4. output column s_idx*l + l_idx: the output shuffle (a copy)
Rows (JSON lines, vks-bench's schema; shape keys n, nblocks, batch like vks-bench's rows):
  op "monarch", variant "torch_bmm" (the above) and "dense" (x @ M^T with the dense M),
  impl "torch". Weight shapes are fly's MonarchLinear(n, n, nblocks).

Usage: monarch_torch.py [--json FILE] [--quick] [--device cuda|cpu] [--iters N] [--selftest]
--selftest checks the formulation against explicit permutation matrices with numpy only.
"""
import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys

# The same shapes as samples/vks-bench/bench_monarch.c: (n, nblocks, batch).
GPU_SIZES = [(4096, 64, 16384), (4096, 64, 16), (4096, 64, 1), (4096, 64, 256), (1024, 32, 256), (1024, 32, 1),
             (1024, 32, 16), (1024, 32, 16384), (4096, 16, 16384), (8192, 64, 4096)]
CPU_SIZES = [(1024, 32, 256), (1024, 32, 1), (1024, 32, 4), (1024, 32, 16), (1024, 16, 256), (1024, 4, 256),
             (512, 16, 256), (4096, 64, 16)]


def monarch_linear_shapes(n_in, n_out, nblocks):
    """fly's MonarchLinear weight shapes (in_blk = ceil(in/nb), out_blk = ceil(out/nb))."""
    ib, ob = -(-n_in // nblocks), -(-n_out // nblocks)
    if ib * nblocks < ob * nblocks:
        return (nblocks, ib, ib), (nblocks, ob, ib)
    return (nblocks, ob, ib), (nblocks, ob, ob)


class Ops:
    """The few array operations the formulation needs, for torch tensors or numpy arrays."""

    def __init__(self, xp):
        self.xp = xp
        self.torch = xp.__name__ == "torch"

    def permute(self, a, axes):
        return a.permute(*axes) if self.torch else a.transpose(axes)

    def contiguous(self, a):
        return a.contiguous() if self.torch else self.xp.ascontiguousarray(a)

    def bmm(self, a, b):
        return self.xp.bmm(a, b) if self.torch else self.xp.matmul(a, b)


def monarch_forward(ops, x, w1, w2):
    """y = monarch(x, w1, w2) as the reference runs it: 2 batched GEMMs + 2 shuffles."""
    batch, n = x.shape
    k, q, p = w1.shape
    l, s, r = w2.shape
    assert k * p == n and l * r == k * q
    xb = ops.permute(x.reshape(batch, k, p), (1, 0, 2))                      # (k, B, p), a view
    out1 = ops.bmm(xb, ops.permute(w1, (0, 2, 1)))                            # (k, B, q)
    flat = ops.contiguous(ops.permute(out1, (1, 0, 2))).reshape(batch, r, l)  # (B, k*q) as (B, r, l)
    u = ops.contiguous(ops.permute(flat, (2, 0, 1)))                          # middle shuffle -> (l, B, r)
    out2 = ops.bmm(u, ops.permute(w2, (0, 2, 1)))                             # (l, B, s)
    return ops.contiguous(ops.permute(out2, (1, 2, 0))).reshape(batch, s * l)  # output shuffle


def selftest():
    """The formulation against explicit permutation matrices and dense block diagonals (numpy)."""
    import numpy as np
    rng = np.random.default_rng(1)
    ops = Ops(np)
    for (k, q, p, l, s, r, b) in [(4, 4, 4, 4, 4, 4, 3), (2, 6, 5, 3, 4, 4, 2), (3, 2, 4, 6, 3, 1, 5), (1, 5, 7, 1, 6, 5, 1)]:
        x, w1, w2 = rng.standard_normal((b, k * p)), rng.standard_normal((k, q, p)), rng.standard_normal((l, s, r))

        def blockdiag(w):
            nb, rows, cols = w.shape
            m = np.zeros((nb * rows, nb * cols))
            for i in range(nb):
                m[i * rows:(i + 1) * rows, i * cols:(i + 1) * cols] = w[i]
            return m

        def swap(a, c):  # 'b (a c) -> b (c a)' as a matrix acting on column vectors
            m = np.zeros((a * c, a * c))
            for ai in range(a):
                for ci in range(c):
                    m[ci * a + ai, ai * c + ci] = 1.0
            return m

        dense = swap(l, s) @ blockdiag(w2) @ swap(r, l) @ blockdiag(w1)
        got, want = monarch_forward(ops, x, w1, w2), x @ dense.T
        err = np.abs(got - want).max() / np.abs(want).max()
        assert err < 1e-13, (k, q, p, l, s, r, err)
        # The closed form of the square case: y[b, t*J + j] = sum_k w2[j,t,k] sum_i w1[k,j,i] x[b, k*I + i].
        if q == l and r == k:
            closed = np.einsum("jtk,kji,bki->btj", w2, w1, x.reshape(b, k, p)).reshape(b, s * l)
            assert np.abs(closed - got).max() / np.abs(closed).max() < 1e-13
    print("monarch_torch.py: selftest passed (numpy %s)" % np.__version__)


def import_or_reexec(module):
    """Returns the module; otherwise re-runs this script under a Python that has it
    ($VKS_PEER_PYTHON, Debian's /usr/bin/python3, python3 on PATH), or skips."""
    try:
        return __import__(module)
    except ImportError:
        pass
    if not os.environ.get("VKS_PEER_REEXEC"):
        here = os.path.realpath(sys.executable)
        for cand in [os.environ.get("VKS_PEER_PYTHON"), "/usr/bin/python3", shutil.which("python3"),
                     shutil.which("python")]:
            if not cand or not os.path.exists(cand) or os.path.realpath(cand) == here:
                continue
            if subprocess.call([cand, "-c", "import " + module], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL) == 0:
                os.environ["VKS_PEER_REEXEC"] = "1"
                sys.stdout.flush()
                os.execv(cand, [cand] + sys.argv)
    print("monarch_torch.py: skipped: no Python with %s here (tried %s, /usr/bin/python3, python3 on PATH; "
          "set VKS_PEER_PYTHON)" % (module, sys.executable))
    sys.exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", help="append one JSON line per row to FILE")
    ap.add_argument("--quick", action="store_true", help="two shapes, fp32 only, few iterations")
    ap.add_argument("--device", choices=["cuda", "cpu"], help="default: cuda when available")
    ap.add_argument("--iters", type=int, default=0, help="timed calls per row (at least 20)")
    ap.add_argument("--selftest", action="store_true", help="check the formulation with numpy and exit")
    args = ap.parse_args()
    if args.selftest:
        import_or_reexec("numpy")
        selftest()
        return
    torch = import_or_reexec("torch")
    dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dev == "cuda" and not torch.cuda.is_available():
        print("monarch_torch.py: skipped: --device cuda but torch sees no CUDA device")
        return
    cuda = dev == "cuda"
    iters = max(20, args.iters or (50 if cuda else 20))
    warmup = 5
    if cuda:
        device_name = torch.cuda.get_device_name()
        driver = "CUDA %s, torch %s" % (torch.version.cuda, torch.__version__)
    else:
        device_name = platform.processor() or platform.machine()
        driver = "torch %s (CPU, %d threads)" % (torch.__version__, torch.get_num_threads())
    print("monarch_torch.py: %s on %s (%s), interpreter %s" % (dev, device_name, driver, sys.executable))
    ops = Ops(torch)
    sizes = GPU_SIZES if cuda else CPU_SIZES
    if args.quick:
        sizes = sizes[:2]
    dtypes = [torch.float32] + ([torch.float16] if cuda and not args.quick else [])
    out = open(args.json, "a") if args.json else None
    gen = torch.Generator(device="cpu").manual_seed(42)

    def timed(fn, nsets):
        for i in range(warmup):
            fn(i % nsets)
        if cuda:
            torch.cuda.synchronize()
            ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
            for i, (a, b) in enumerate(ev):
                a.record()
                fn(i % nsets)
                b.record()
            torch.cuda.synchronize()
            ms = sorted(a.elapsed_time(b) for a, b in ev)
        else:
            import time
            ms = []
            for i in range(iters):
                t0 = time.perf_counter()
                fn(i % nsets)
                ms.append((time.perf_counter() - t0) * 1e3)
            ms.sort()
        med = ms[len(ms) // 2] if len(ms) % 2 else 0.5 * (ms[len(ms) // 2 - 1] + ms[len(ms) // 2])
        return med, ms[0]

    print("%-8s %-10s %-5s %-36s %10s %10s %9s %9s %9s" % ("op", "variant", "dtype", "shape", "median ms", "min ms",
                                                         "GFLOP/s", "GB/s", "rel err"))
    for dt in dtypes:
        es = torch.finfo(dt).bits // 8
        dname = "f16" if dt == torch.float16 else "f32"
        for (n, nb, batch) in sizes:
            s1, s2 = monarch_linear_shapes(n, n, nb)
            n1, n2 = math.prod(s1), math.prod(s2)
            set_bytes = (2 * batch * n + n * n + n1 + n2) * es
            nsets = min(16, max(2, math.ceil((256e6 if cuda else 96e6) / set_bytes)))
            sets = []
            for _ in range(nsets):
                # Weights scaled like a trained layer's (entries ~ 1/sqrt(fan-in)), as vks-bench does.
                x = (torch.rand(batch, n, generator=gen) * 2 - 1)
                w1 = (torch.rand(*s1, generator=gen) * 2 - 1) / math.sqrt(s1[2])
                w2 = (torch.rand(*s2, generator=gen) * 2 - 1) / math.sqrt(s2[2])
                sets.append([t.to(dev, dt) for t in (x, w1, w2)])
            # The dense M (m x n) of each set: the forward of the identity, in float64.
            dense = []
            for (x, w1, w2) in sets:
                eye = torch.eye(n, dtype=torch.float64, device=dev)
                dense.append(monarch_forward(ops, eye, w1.double(), w2.double()).t().contiguous().to(dt))
            # Float64 reference rows (64 of them) of set 0, on the same (rounded) inputs.
            rows = torch.randperm(batch, generator=gen)[:64].to(dev)
            x0, w10, w20 = sets[0]
            want = monarch_forward(ops, x0[rows].double(), w10.double(), w20.double())
            variants = {
                "torch_bmm": (lambda i: monarch_forward(ops, *sets[i]), 2.0 * batch * (n1 + n2),
                              (2 * batch * n + n1 + n2) * es),
                "dense": (lambda i: torch.matmul(sets[i][0], dense[i].t()), 2.0 * batch * n * n,
                          (2 * batch * n + n * n) * es),
            }
            for name, (fn, flops, nbytes) in variants.items():
                with torch.no_grad():
                    med, mn = timed(fn, nsets)
                    got = fn(0)[rows].double()
                err = ((got - want).abs().max() / want.abs().max()).item()
                row = {"op": "monarch", "variant": name, "impl": "torch", "dtype": dname,
                       "shape": {"n": n, "nblocks": nb, "batch": batch}, "device": device_name, "driver": driver,
                       "median_ms": med, "min_ms": mn, "iters": iters, "flops": flops, "bytes": nbytes,
                       "gflops": flops / (med * 1e-3) * 1e-9, "gbps": nbytes / (med * 1e-3) * 1e-9,
                       "peak_fraction": None, "max_rel_err": err if math.isfinite(err) else None}
                print("%-8s %-10s %-5s %-36s %10.4f %10.4f %9.1f %9.1f %9.2e" % (
                    "monarch", name, dname, json.dumps(row["shape"]), med, mn, row["gflops"], row["gbps"], err))
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
            del sets, dense
            if cuda:
                torch.cuda.empty_cache()
    if out:
        out.close()


if __name__ == "__main__":
    main()
