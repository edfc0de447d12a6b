#!/usr/bin/env python3
"""Peer of vks-bench's gemm rows: torch.matmul (cuBLAS on a GPU), same shapes and dtypes.

f32 runs with TF32 off (plain fp32 FMA, like vkstruct's f32 GEMM); f16 uses whatever
cuBLAS chooses (tensor cores), which vkstruct's portable f16 kernel does not.
"""
from peerlib import Peer, import_torch, parse_args, rel_err, torch_dtype

CPU_SIZES = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (1, 4096, 4096)]
GPU_SIZES = [(1024, 1024, 1024), (2048, 2048, 2048), (4096, 4096, 4096), (8192, 8192, 8192),
             (16, 4096, 4096), (16384, 4096, 1024)]


def main():
    args = parse_args(__doc__)
    torch = import_torch()
    peer = Peer(torch, args)
    torch.backends.cuda.matmul.allow_tf32 = False
    sizes = GPU_SIZES if peer.cuda else CPU_SIZES
    if args.quick:
        sizes = sizes[:3] if peer.cuda else sizes[:2]
    gen = torch.Generator(device="cpu").manual_seed(42)
    for dt in (["f32"] if args.quick else ["f32", "f16"]):
        tdt = torch_dtype(torch, dt)
        for m, n, k in sizes:
            es = 2 if dt == "f16" else 4
            nbytes = (m * k + k * n + m * n) * es
            nsets = peer.sets(nbytes)
            a = [(torch.rand(m, k, generator=gen) * 2 - 1).to(peer.dev, tdt) for _ in range(nsets)]
            b = [(torch.rand(k, n, generator=gen) * 2 - 1).to(peer.dev, tdt) for _ in range(nsets)]
            c = [torch.empty(m, n, device=peer.dev, dtype=tdt) for _ in range(nsets)]
            med, mn, iters = peer.time(lambda s: torch.matmul(a[s], b[s], out=c[s]), nsets)
            torch.matmul(a[0], b[0], out=c[0])
            rows = torch.randint(0, m, (64,), generator=gen)
            want = a[0].double()[rows] @ b[0].double()
            err = rel_err(c[0][rows.to(peer.dev)], want.to(peer.dev))
            peer.report("gemm", "cublas" if peer.cuda else "matmul", dt, {"m": m, "n": n, "k": k}, med, mn, iters,
                        2.0 * m * n * k, nbytes, err)
            del a, b, c


if __name__ == "__main__":
    main()
