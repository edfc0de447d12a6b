#!/usr/bin/env python3
"""Peer of vks-bench's low-rank rows (--op lora): the way PEFT and serving stacks' torch
fallbacks compute them, with the same shapes, dtypes and work counts as vkstruct's rows.

  lora        eager        x @ W.T + s * (x @ A.T) @ B.T            (PEFT's LoRA Linear)
              merged_gemm  x @ W'.T, W' = W + s B A formed beforehand (one GEMM: the floor)
  lora_multi  loop         per adapter present: its rows through the eager LoRA
              gather_bmm   x @ W.T, then A and B stacks padded to the largest rank, gathered
                           per row and applied with bmm (the padded batched fallback)

Rows of lora_multi draw their adapters exactly as vks-bench does (lowrank_shapes.py), so
the "used" adapter counts agree. f32 runs with TF32 off; on the CPU only f32 is timed.
max_rel_err: 48 sampled entries against float64 on the same inputs.
"""
from lowrank_shapes import (ADAPTERS, LORA_SCALE, MultiBatch, lora_bytes, lora_flops, lora_shape, lora_shapes,
                            multi_shapes)
from peerlib import Peer, import_torch, parse_args, torch_dtype

SAMPLES = 48


def sampled_error(torch, y, x, w, a_of_row, b_of_row, s_of_row, gen):
    """max |y - y64| / max |y64| over sampled (row, column) pairs, y64 in float64."""
    m, n_out = y.shape
    rows = torch.randint(0, m, (SAMPLES,), generator=gen).tolist()
    cols = torch.randint(0, n_out, (SAMPLES,), generator=gen).tolist()
    err, scale = 0.0, 0.0
    for i, c in zip(rows, cols):
        xi = x[i].double()
        want = float(xi @ w[c].double())
        a, b, s = a_of_row(i), b_of_row(i), s_of_row(i)
        if a is not None:
            want += s * float((a.double() @ xi) @ b[c].double())
        got = float(y[i, c])
        if got != got or abs(got) == float("inf"):
            return float("inf")
        err, scale = max(err, abs(got - want)), max(scale, abs(want))
    return err / max(scale, 1e-300)


def bench_lora(torch, peer, dt, m, n_in, n_out, r, gen):
    tdt, dev, s = torch_dtype(torch, dt), peer.dev, LORA_SCALE
    es = 2 if dt == "f16" else 4
    nsets = peer.sets(lora_bytes(m, n_in, n_out, r, es))

    def rand(*shape):
        return (torch.rand(*shape, generator=gen) * 2 - 1).to(dev, tdt)

    x = [rand(m, n_in) for _ in range(nsets)]
    w = [rand(n_out, n_in) for _ in range(nsets)]
    a = [rand(r, n_in) for _ in range(nsets)]
    b = [rand(n_out, r) for _ in range(nsets)]
    merged = [(w[i].float() + s * (b[i].float() @ a[i].float())).to(tdt) for i in range(nsets)]
    out = {}

    def eager(i):
        out["y"] = x[i] @ w[i].T + s * (x[i] @ a[i].T) @ b[i].T

    def merged_gemm(i):
        out["y"] = x[i] @ merged[i].T

    shape = lora_shape(m, n_in, n_out, r)
    for variant, fn in (("eager", eager), ("merged_gemm", merged_gemm)):
        med, mn, iters = peer.time(fn, nsets)
        fn(0)
        err = sampled_error(torch, out["y"], x[0], w[0], lambda i: a[0], lambda i: b[0], lambda i: s, gen)
        peer.report("lora", variant, dt, shape, med, mn, iters, lora_flops(m, n_in, n_out, r),
                    lora_bytes(m, n_in, n_out, r, es), err)


def bench_multi(torch, peer, dt, m, n_in, n_out, r, gen):
    tdt, dev = torch_dtype(torch, dt), peer.dev
    es = 2 if dt == "f16" else 4
    batch = MultiBatch(m, n_in, n_out, r)
    nsets = peer.sets(batch.bytes(es) + (batch.a_total + batch.b_total) * es)
    rmax = max(batch.ranks)

    def rand(*shape):
        return (torch.rand(*shape, generator=gen) * 2 - 1).to(dev, tdt)

    x = [rand(m, n_in) for _ in range(nsets)]
    w = [rand(n_out, n_in) for _ in range(nsets)]
    # Per adapter A_k (r_k, in), B_k (out, r_k); and the padded stacks the batched path gathers.
    a = [[rand(batch.ranks[k], n_in) for k in range(ADAPTERS)] for _ in range(nsets)]
    b = [[rand(n_out, batch.ranks[k]) for k in range(ADAPTERS)] for _ in range(nsets)]
    a_pad, b_pad = [], []
    for i in range(nsets):
        ap = torch.zeros(ADAPTERS, rmax, n_in, device=dev, dtype=tdt)
        bp = torch.zeros(ADAPTERS, n_out, rmax, device=dev, dtype=tdt)
        for k in range(ADAPTERS):
            ap[k, :batch.ranks[k]] = a[i][k]
            bp[k, :, :batch.ranks[k]] = b[i][k]
        a_pad.append(ap)
        b_pad.append(bp)
    ids = torch.tensor(batch.ids, device=dev)
    scales = torch.tensor(batch.scales, device=dev, dtype=tdt)
    rows_of = {k: torch.nonzero(ids == k).flatten() for k in batch.used}
    out = {}

    def loop(i):
        y = torch.empty(m, n_out, device=dev, dtype=tdt)
        for k, rows in rows_of.items():
            xk = x[i].index_select(0, rows)
            y.index_copy_(0, rows, xk @ w[i].T + batch.scales[k] * (xk @ a[i][k].T) @ b[i][k].T)
        out["y"] = y

    def gather_bmm(i):
        y = x[i] @ w[i].T
        t = torch.bmm(a_pad[i][ids], x[i].unsqueeze(2))               # (m, rmax, 1)
        y += scales[ids].unsqueeze(1) * torch.bmm(b_pad[i][ids], t).squeeze(2)
        out["y"] = y

    for variant, fn in (("loop", loop), ("gather_bmm", gather_bmm)):
        med, mn, iters = peer.time(fn, nsets)
        fn(0)
        err = sampled_error(torch, out["y"], x[0], w[0], lambda j: a[0][batch.ids[j]], lambda j: b[0][batch.ids[j]],
                            lambda j: batch.scales[batch.ids[j]], gen)
        peer.report("lora_multi", variant, dt, batch.shape(), med, mn, iters, batch.flops(), batch.bytes(es), err)


def main():
    args = parse_args(__doc__)
    torch = import_torch()
    peer = Peer(torch, args)
    torch.backends.cuda.matmul.allow_tf32 = False
    gen = torch.Generator(device="cpu").manual_seed(42)
    dtypes = ["f16", "f32"] if peer.cuda else ["f32"]
    with torch.inference_mode():
        for dt in dtypes:
            for m, n_in, n_out, r in lora_shapes(peer.cuda, args.quick):
                bench_lora(torch, peer, dt, m, n_in, n_out, r, gen)
        for dt in dtypes:
            for m, n_in, n_out, r in multi_shapes(peer.cuda, args.quick):
                bench_multi(torch, peer, dt, m, n_in, n_out, r, gen)
            if peer.cuda:
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
