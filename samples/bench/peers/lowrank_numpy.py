#!/usr/bin/env python3
"""CPU peer of vks-bench's low-rank rows (--op lora) in numpy (OpenBLAS), f32, with the
same shapes, batches and work counts as vkstruct's rows (lowrank_shapes.py):

  lora        eager        x @ W.T + s * (x @ A.T) @ B.T
              merged_gemm  x @ W'.T, W' = W + s B A formed beforehand
  lora_multi  loop         per adapter present: its rows through the eager LoRA
              gather_bmm   x @ W.T, then padded A/B stacks gathered per row (batched matmul)

max_rel_err: 48 sampled entries against float64 on the same inputs.
"""
from lowrank_shapes import (ADAPTERS, LORA_SCALE, MultiBatch, lora_bytes, lora_flops, lora_shape, lora_shapes,
                            multi_shapes)
from peerlib import Peer, parse_args, require

SAMPLES = 48


def sampled_error(np, rng, y, x, w, a_of_row, b_of_row, s_of_row):
    m, n_out = y.shape
    err, scale = 0.0, 0.0
    for i, c in zip(rng.integers(0, m, SAMPLES), rng.integers(0, n_out, SAMPLES)):
        xi = x[i].astype(np.float64)
        want = float(xi @ w[c].astype(np.float64))
        a, b, s = a_of_row(i), b_of_row(i), s_of_row(i)
        want += s * float((a.astype(np.float64) @ xi) @ b[c].astype(np.float64))
        got = float(y[i, c])
        if not np.isfinite(got):
            return float("inf")
        err, scale = max(err, abs(got - want)), max(scale, abs(want))
    return err / max(scale, 1e-300)


def main():
    args = parse_args(__doc__)
    require("numpy")
    import numpy as np
    peer = Peer(None, args, impl="numpy")
    rng = np.random.default_rng(42)
    f32 = np.float32

    def rand(*shape):
        return rng.uniform(-1, 1, shape).astype(f32)

    for m, n_in, n_out, r in lora_shapes(False, args.quick):
        s = LORA_SCALE
        nsets = peer.sets(lora_bytes(m, n_in, n_out, r, 4))
        x = [rand(m, n_in) for _ in range(nsets)]
        w = [rand(n_out, n_in) for _ in range(nsets)]
        a = [rand(r, n_in) for _ in range(nsets)]
        b = [rand(n_out, r) for _ in range(nsets)]
        merged = [(w[i] + f32(s) * (b[i] @ a[i])).astype(f32) for i in range(nsets)]
        out = {}

        def eager(i):
            out["y"] = x[i] @ w[i].T + f32(s) * ((x[i] @ a[i].T) @ b[i].T)

        def merged_gemm(i):
            out["y"] = x[i] @ merged[i].T

        for variant, fn in (("eager", eager), ("merged_gemm", merged_gemm)):
            med, mn, iters = peer.time(fn, nsets)
            fn(0)
            err = sampled_error(np, rng, out["y"], x[0], w[0], lambda i: a[0], lambda i: b[0], lambda i: s)
            peer.report("lora", variant, "f32", lora_shape(m, n_in, n_out, r), med, mn, iters,
                        lora_flops(m, n_in, n_out, r), lora_bytes(m, n_in, n_out, r, 4), err)
        del x, w, a, b, merged

    for m, n_in, n_out, r in multi_shapes(False, args.quick):
        batch = MultiBatch(m, n_in, n_out, r)
        nsets = peer.sets(batch.bytes(4) + (batch.a_total + batch.b_total) * 4)
        rmax = max(batch.ranks)
        x = [rand(m, n_in) for _ in range(nsets)]
        w = [rand(n_out, n_in) for _ in range(nsets)]
        a = [[rand(batch.ranks[k], n_in) for k in range(ADAPTERS)] for _ in range(nsets)]
        b = [[rand(n_out, batch.ranks[k]) for k in range(ADAPTERS)] for _ in range(nsets)]
        a_pad = [np.zeros((ADAPTERS, rmax, n_in), f32) for _ in range(nsets)]
        b_pad = [np.zeros((ADAPTERS, n_out, rmax), f32) for _ in range(nsets)]
        for i in range(nsets):
            for k in range(ADAPTERS):
                a_pad[i][k, :batch.ranks[k]] = a[i][k]
                b_pad[i][k, :, :batch.ranks[k]] = b[i][k]
        ids = np.array(batch.ids)
        scales = np.array(batch.scales, f32)
        rows_of = {k: np.nonzero(ids == k)[0] for k in batch.used}
        out = {}

        def loop(i):
            y = np.empty((m, n_out), f32)
            for k, rows in rows_of.items():
                xk = x[i][rows]
                y[rows] = xk @ w[i].T + f32(batch.scales[k]) * ((xk @ a[i][k].T) @ b[i][k].T)
            out["y"] = y

        def gather_bmm(i):
            y = x[i] @ w[i].T
            t = np.matmul(a_pad[i][ids], x[i][:, :, None])            # (m, rmax, 1)
            y += scales[ids][:, None] * np.matmul(b_pad[i][ids], t)[:, :, 0]
            out["y"] = y

        for variant, fn in (("loop", loop), ("gather_bmm", gather_bmm)):
            med, mn, iters = peer.time(fn, nsets)
            fn(0)
            err = sampled_error(np, rng, out["y"], x[0], w[0], lambda j: a[0][batch.ids[j]],
                                lambda j: b[0][batch.ids[j]], lambda j: batch.scales[batch.ids[j]])
            peer.report("lora_multi", variant, "f32", batch.shape(), med, mn, iters, batch.flops(), batch.bytes(4), err)
        del x, w, a, b, a_pad, b_pad


if __name__ == "__main__":
    main()
