"""One rank of the distributed tests (test_dist.py starts 2 or 3 of them): each rank checks
its results (replicated and sharded Newton-Schulz, Muon) against a one-rank run it computes
itself, bit for bit, and that a rank with bad
input makes every rank raise the same vkstruct.Error. Prints "rank R: ok" and exits 0 when
every check passed; any failed check exits non-zero with the reason.

usage: dist_worker.py torch RANK SIZE INIT_FILE   (torch.distributed, gloo)
       dist_worker.py mpi                         (mpi4py, under mpirun)
"""
import os
import sys

import numpy as np

os.environ.setdefault("VKS_DEVICE", "llvmpipe")

import vkstruct as vk  # noqa: E402
import vkstruct.dist  # noqa: E402

# Mixed shapes (wide, tall, square, a batch, an f64 one): uneven loads over 2 and 3 ranks.
NS_SHAPES = [((24, 40), np.float32), ((48, 16), np.float32), ((16, 16), np.float32), ((2, 12, 20), np.float32),
             ((8, 8), np.float64), ((32, 24), np.float32), ((4, 36), np.float32)]
# The sharded form: rows split unevenly by array_split (7 over 2 or 3, 33 over 2 or 3), an
# empty slab on rank 2 of 3 ((2, 12)), a (1, 9) row vector, f64, wide and tall.
SHARDED_SHAPES = [((24, 40), np.float32), ((7, 16), np.float32), ((2, 12), np.float32), ((33, 20), np.float64),
                  ((16, 16), np.float32), ((40, 8), np.float32), ((1, 9), np.float32)]
# Muon parameters: (8, 3, 4) is flattened to (8, 12); the (6,) bias has no gradient.
MUON_SHAPES = [(32, 24), (16, 40), (8, 3, 4), (24, 24), (6,), (40, 8)]


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def ns_inputs(seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dt) for s, dt in NS_SHAPES]


def expect_error(call, cls, rank, bad_rank, fragment):
    """call() must raise cls on every rank, naming the failing rank (and `fragment`)."""
    try:
        call()
    except cls as e:
        msg = str(e)
        expect(f"rank {bad_rank}" in msg and fragment in msg, f"rank {rank}: unexpected message: {msg}")
        expect(("failed, so no rank went on" in msg) == (rank != bad_rank),
               f"rank {rank}: message does not say who failed: {msg}")
        return msg
    raise AssertionError(f"rank {rank}: {cls.__name__} not raised")


def check_newton_schulz(comm, rank, size, ctx):
    mats = ns_inputs(7)
    outs = vk.dist.newton_schulz(mats, comm, eps=1e-7, ctx=ctx)
    expect(len(outs) == len(mats), "result count")
    for i, (m, o) in enumerate(zip(mats, outs)):
        ref = vk.orth.newton_schulz(m, eps=1e-7, ctx=ctx).numpy()
        expect(o.dtype == ref.dtype and o.shape == ref.shape, f"mats[{i}]: dtype/shape")
        expect(np.array_equal(o, ref), f"rank {rank}: mats[{i}] is not bit-identical to the one-rank result")
    owner = vk.dist.plan([s for s, _ in NS_SHAPES], size)
    expect(set(owner.tolist()) == set(range(size)), f"every rank owns a matrix: {owner}")

    # Bad input on rank 1 only: every rank raises, and the exchange is not entered.
    bad = ns_inputs(7)
    if rank == 1:
        bad[2] = bad[2][0]  # 1-D
    expect_error(lambda: vk.dist.newton_schulz(bad, comm, ctx=ctx), vk.InvalidArgumentError, rank, 1,
                 "mats[2] has shape (16,)")
    bad = ns_inputs(7)
    mine = int(np.flatnonzero(owner == 1)[0])
    if rank == 1:
        bad[mine][(0,) * bad[mine].ndim] = np.nan
    expect_error(lambda: vk.dist.newton_schulz(bad, comm, ctx=ctx), vk.NonFiniteError, rank, 1, f"mats[{mine}]")
    # Valid on each rank alone, but the ranks disagree: every rank raises ShapeMismatchError.
    bad = ns_inputs(7)
    if rank == 1:
        bad[0] = bad[0][:, :30].copy()
    try:
        vk.dist.newton_schulz(bad, comm, ctx=ctx)
        raise AssertionError(f"rank {rank}: disagreeing shapes not detected")
    except vk.ShapeMismatchError as e:
        expect("disagree" in str(e), str(e))
    # The communicator still works after the failures.
    again = vk.dist.newton_schulz(ns_inputs(7)[:3], comm, eps=1e-7, ctx=ctx)
    expect(all(np.array_equal(a, b) for a, b in zip(again, outs[:3])), "a call after the failures")


def check_newton_schulz_sharded(comm, rank, size, ctx):
    rng = np.random.default_rng(11)
    mats = [rng.standard_normal(s).astype(dt) for s, dt in SHARDED_SHAPES]
    rows = [s[0] for s, _ in SHARDED_SHAPES]
    shards = [np.array_split(m, size)[rank] for m in mats]
    for i, (r, sh) in enumerate(zip(rows, shards)):  # the library's slabs are array_split's blocks
        first, count = vk.dist.slab(r, size, rank)
        expect(sh.shape[0] == count and np.array_equal(sh, mats[i][first:first + count]), f"slab of matrix {i}")
    device = list(shards)
    device[0] = vk.asarray(shards[0], ctx=ctx)  # a device Array is taken too
    outs = vk.dist.newton_schulz_sharded(device, comm, rows=rows, eps=1e-7, ctx=ctx)
    expect(len(outs) == len(mats), "result count")
    for i, (m, o) in enumerate(zip(mats, outs)):
        ref = np.array_split(vk.orth.newton_schulz(m, eps=1e-7, ctx=ctx).numpy(), size)[rank]
        expect(o.dtype == ref.dtype and o.shape == ref.shape, f"rank {rank}: sharded matrix {i}: dtype/shape {o.shape}")
        expect(np.array_equal(o, ref), f"rank {rank}: sharded matrix {i} is not bit-identical to the one-rank result")
    if size == 3:
        expect((outs[2].shape == (0, 12)) == (rank == 2), f"rank {rank}: the empty slab: {outs[2].shape}")
    owner = vk.dist.plan([s for s, _ in SHARDED_SHAPES], size)
    expect(set(owner.tolist()) == set(range(size)), f"every rank owns a matrix: {owner}")

    # Rank 1 passes a slab one row short: every rank raises, no exchange is entered.
    bad = list(shards)
    if rank == 1:
        bad[3] = bad[3][1:]
    expect_error(lambda: vk.dist.newton_schulz_sharded(bad, comm, rows=rows, ctx=ctx), vk.ShapeMismatchError, rank,
                 1, "shards[3] has shape")
    # A NaN in rank 1's slab of a matrix another rank owns: found by rank 1 before the exchange.
    bad = [s.copy() for s in shards]
    theirs = int(np.flatnonzero((owner != 1) & (np.array(rows) >= size))[0])
    if rank == 1:
        bad[theirs][0, 0] = np.nan
    expect_error(lambda: vk.dist.newton_schulz_sharded(bad, comm, rows=rows, ctx=ctx), vk.NonFiniteError, rank, 1,
                 f"shards[{theirs}] holds NaN")
    # Valid on each rank alone, but rank 1's dtype differs: every rank raises ShapeMismatchError.
    bad = list(shards)
    if rank == 1:
        bad[1] = bad[1].astype(np.float64)
    try:
        vk.dist.newton_schulz_sharded(bad, comm, rows=rows, ctx=ctx)
        raise AssertionError(f"rank {rank}: disagreeing dtypes not detected")
    except vk.ShapeMismatchError as e:
        expect("disagree" in str(e), str(e))
    # A failure on the owners, after the first exchange (a schedule every rank passes, which the
    # owners' newton_schulz rejects): the second agreement makes every rank raise, naming rank 0.
    expect_error(lambda: vk.dist.newton_schulz_sharded(shards, comm, rows=rows, schedule="bogus", ctx=ctx),
                 vk.InvalidArgumentError, rank, 0, "matrix ")
    again = vk.dist.newton_schulz_sharded(shards[:3], comm, rows=rows[:3], eps=1e-7, ctx=ctx)
    expect(all(np.array_equal(a, b) for a, b in zip(again, outs[:3])), "a sharded call after the failures")


def check_muon(group, rank, size, ctx):
    import torch
    from vkstruct.torch.optim import Muon

    def model():
        gen = torch.Generator().manual_seed(3)
        return [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in MUON_SHAPES]

    def set_grads(params, step):
        gen = torch.Generator().manual_seed(100 + step)
        for p in params:
            p.grad = None if p.dim() < 2 else torch.randn(p.shape, generator=gen)

    dist_params, ref_params = model(), model()
    kw = dict(lr=0.05, momentum=0.9, weight_decay=0.01, ctx=ctx)
    opt = Muon(dist_params, process_group=group, **kw)
    ref = Muon(ref_params, **kw)
    for step in range(2):
        set_grads(dist_params, step)
        set_grads(ref_params, step)
        opt.step()
        ref.step()
        for i, (p, q) in enumerate(zip(dist_params, ref_params)):
            expect(torch.equal(p, q), f"rank {rank}: step {step}: parameter {i} differs from the one-process run")
    owner = vk.dist.plan([(p.shape[0], p.numel() // p.shape[0]) for p in dist_params], size)
    for i, p in enumerate(dist_params):
        if p.dim() >= 2:
            mine = opt.momentum_buffer(p)
            expect((mine is not None) == (owner[i] == rank), f"rank {rank}: momentum of parameter {i}")
            if mine is not None:
                expect(torch.equal(mine, ref.momentum_buffer(ref_params[i])), f"momentum of parameter {i}")

    # Rank 1's optimizer holds a 1-D parameter with a gradient: every rank raises, nothing changes.
    before = [p.detach().clone() for p in dist_params]
    set_grads(dist_params, 5)
    if rank == 1:
        dist_params[4].grad = torch.ones(6)
    expect_error(opt.step, vk.InvalidArgumentError, rank, 1, "parameter 4 has shape (6,)")
    expect(all(torch.equal(p, b) for p, b in zip(dist_params, before)), f"rank {rank}: parameters changed")


def main():
    mode = sys.argv[1]
    ctx = vk.Context(validation=True)
    if mode == "torch":
        import torch.distributed as tdist
        rank, size, init_file = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        tdist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=size)
        check_newton_schulz(None, rank, size, ctx)
        check_newton_schulz_sharded(None, rank, size, ctx)
        check_muon(tdist.group.WORLD, rank, size, ctx)
        tdist.barrier()
        tdist.destroy_process_group()
    else:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        rank, size = comm.Get_rank(), comm.Get_size()
        check_newton_schulz(comm, rank, size, ctx)
        check_newton_schulz_sharded(comm, rank, size, ctx)
        check_muon(comm, rank, size, ctx)  # Muon's process_group may be an mpi4py communicator too
    errors = [m for m in ctx.messages if m[0] == 0 and m[1] >= 1]
    expect(not errors, f"validation messages: {errors}")
    ctx.close()
    print(f"rank {rank}: ok", flush=True)


if __name__ == "__main__":
    main()
