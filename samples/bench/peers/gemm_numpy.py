#!/usr/bin/env python3
"""CPU peer of vks-bench's gemm rows: numpy.matmul (OpenBLAS), f32 and f64 (numpy has no
fast f16 GEMM: those rows are left to torch). Its float64 product is also the oracle."""
from peerlib import Peer, parse_args, rel_err, require

SIZES = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (1, 4096, 4096)]


def main():
    args = parse_args(__doc__)
    require("numpy")
    import numpy as np
    peer = Peer(None, args, impl="numpy")
    rng = np.random.default_rng(42)
    for m, n, k in (SIZES[:2] if args.quick else SIZES):
        nbytes = (m * k + k * n + m * n) * 4
        nsets = peer.sets(nbytes)
        a = [rng.uniform(-1, 1, (m, k)).astype(np.float32) for _ in range(nsets)]
        b = [rng.uniform(-1, 1, (k, n)).astype(np.float32) for _ in range(nsets)]
        c = [np.empty((m, n), np.float32) for _ in range(nsets)]
        med, mn, iters = peer.time(lambda s: np.matmul(a[s], b[s], out=c[s]), nsets)
        want = a[0].astype(np.float64) @ b[0].astype(np.float64)
        peer.report("gemm", "openblas", "f32", {"m": m, "n": n, "k": k}, med, mn, iters, 2.0 * m * n * k, nbytes,
                    rel_err(c[0], want))


if __name__ == "__main__":
    main()
