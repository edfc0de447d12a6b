"""Distributed Newton-Schulz (Muon's data-parallel pattern) over mpi4py or torch.distributed
(docs/scale-out.md, "From Python"). Every rank holds the whole list of matrices (as after the
gradients' all-reduce); matrix i is orthogonalized by rank owner[i] of the library's own
flop-balanced partition (vks_mpi_partition, the C ranks' code compiled into this module),
each matrix alone with vkstruct.orth.newton_schulz, so its bits do not depend on the number
of ranks; the results are exchanged once (MPI Allgatherv / torch all_gather) and every rank
returns all of them, bit-identical to a one-rank run. newton_schulz_sharded is the sharded
form (Dion's / FSDP's, vks_mpi_newton_schulz_sharded): every rank holds row slabs, one
all-to-all brings each matrix whole to its owner and a second returns the result's slabs.

    from mpi4py import MPI
    import vkstruct.dist
    outs = vkstruct.dist.newton_schulz(grads, MPI.COMM_WORLD, eps=1e-7)

A rank with bad input (or whose device fails, or a NaN/Inf result) does not hang the others:
the ranks agree on a status with one all-reduce before the exchange, and every rank raises
the same vkstruct.Error carrying the failing rank's message. Importing this module needs
neither mpi4py nor torch.
"""
import contextlib
import hashlib

import numpy as np

from ._core import (Array, DtypeMismatchError, Error, InvalidArgumentError, NonFiniteError, ShapeMismatchError, _STATUS,
                    _ERROR_BY_STATUS, _host_dtype, bfloat16_to_float32, default_context)
from ._ffi import ffi, lib
from . import orth


def _mpi_error(status):
    """An Error from a failed vks_mpi_* planning call, with vks_mpi_last_error's message."""
    message = ffi.string(lib.vks_mpi_last_error()).decode(errors="replace")
    return _ERROR_BY_STATUS.get(status, Error)(status, message)


def ns_step_flops(rows, cols):
    """Flops of one Newton-Schulz step on a rows x cols matrix (4 m^2 n + 2 m^3, m the short
    side): the cost the partition balances (vks_mpi_ns_step_flops)."""
    return float(lib.vks_mpi_ns_step_flops(int(rows), int(cols)))


def partition(costs, ranks):
    """(owner, load): vks_mpi_partition's greedy longest-processing-time assignment of jobs
    with these costs to `ranks` ranks (owner: int32 per job; load: summed cost per rank).
    Deterministic: every rank computes the same owner from the same costs."""
    cost = np.ascontiguousarray(costs, dtype=np.float64).reshape(-1)
    owner = np.empty(cost.size, np.int32)
    load = np.empty(max(int(ranks), 0), np.float64)
    status = lib.vks_mpi_partition(cost.size, ffi.from_buffer("double[]", cost), int(ranks),
                                   ffi.from_buffer("int32_t[]", owner),
                                   ffi.from_buffer("double[]", load) if load.size else ffi.NULL)
    if status != 0:
        raise _mpi_error(status)
    return owner, load


def plan(shapes, ranks):
    """owner[] of a list of matrix shapes ((rows, cols) or (batch, rows, cols)) over `ranks`,
    by vks_mpi_ns_step_flops x batch: what newton_schulz and Muon(process_group=...) use."""
    return partition([ns_step_flops(s[-2], s[-1]) * int(np.prod(s[:-2], dtype=np.int64)) for s in shapes], ranks)[0]


# ---- the two transports -------------------------------------------------------------------


class _MPIComm:
    """An mpi4py communicator."""

    def __init__(self, comm):
        from mpi4py import MPI
        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()

    def allreduce_min(self, values):
        out = np.empty_like(values)
        self.comm.Allreduce(values, out, op=self.MPI.MIN)
        return out

    def allgather_object(self, obj):
        return self.comm.allgather(obj)

    def allgatherv_bytes(self, local, counts):
        recv = np.empty(sum(counts), np.uint8)
        displs = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64).tolist()
        self.comm.Allgatherv(local, [recv, list(counts), displs, self.MPI.BYTE])
        return recv

    def alltoallv_bytes(self, send, send_counts, recv_counts):
        recv = np.empty(sum(recv_counts), np.uint8)
        sdispls = np.concatenate(([0], np.cumsum(send_counts)[:-1])).astype(np.int64).tolist()
        rdispls = np.concatenate(([0], np.cumsum(recv_counts)[:-1])).astype(np.int64).tolist()
        self.comm.Alltoallv([send, list(send_counts), sdispls, self.MPI.BYTE],
                            [recv, list(recv_counts), rdispls, self.MPI.BYTE])
        return recv


class _TorchComm:
    """A torch.distributed process group (None: the default group); CPU tensors (gloo)."""

    def __init__(self, group):
        import torch
        import torch.distributed as tdist
        if not tdist.is_available() or not tdist.is_initialized():
            raise InvalidArgumentError(_STATUS["VKS_ERROR_INVALID_ARGUMENT"],
                                       "vkstruct.dist: torch.distributed is not initialized "
                                       "(call torch.distributed.init_process_group first)")
        self.torch, self.tdist, self.group = torch, tdist, group
        self.rank, self.size = tdist.get_rank(group), tdist.get_world_size(group)

    def allreduce_min(self, values):
        t = self.torch.from_numpy(values.copy())
        self.tdist.all_reduce(t, op=self.tdist.ReduceOp.MIN, group=self.group)
        return t.numpy()

    def allgather_object(self, obj):
        out = [None] * self.size
        self.tdist.all_gather_object(out, obj, group=self.group)
        return out

    def allgatherv_bytes(self, local, counts):
        # all_gather takes equal sizes: every rank's bytes padded to the largest count.
        width = max(max(counts), 1)
        mine = self.torch.zeros(width, dtype=self.torch.uint8)
        mine[:local.size] = self.torch.from_numpy(local)
        parts = [self.torch.empty(width, dtype=self.torch.uint8) for _ in range(self.size)]
        self.tdist.all_gather(parts, mine, group=self.group)
        return np.concatenate([p.numpy()[:c] for p, c in zip(parts, counts)])

    def alltoallv_bytes(self, send, send_counts, recv_counts):
        # gloo has no all_to_all of tensor lists, but all_to_all_single takes uneven splits
        # (zeros included): exactly MPI_Alltoallv on one uint8 tensor.
        recv = self.torch.empty(sum(recv_counts), dtype=self.torch.uint8)
        self.tdist.all_to_all_single(recv, self.torch.from_numpy(send), output_split_sizes=list(recv_counts),
                                     input_split_sizes=list(send_counts), group=self.group)
        return recv.numpy()


def communicator(comm):
    """The transport of an mpi4py communicator or a torch.distributed process group (None:
    torch's default group)."""
    if isinstance(comm, (_MPIComm, _TorchComm)):
        return comm
    if hasattr(comm, "Allgatherv") and hasattr(comm, "Get_rank"):
        return _MPIComm(comm)
    return _TorchComm(comm)


# ---- the agreement and the exchange ------------------------------------------------------


def digest(*items):
    """A 62-bit digest of what every rank must agree on (shapes, dtypes, options)."""
    return int.from_bytes(hashlib.sha256(repr(items).encode()).digest()[:8], "little") >> 2


def agree(comm, fn, failure, digest_value):
    """The collective status agreement: one all-reduce (MIN) of (lowest failing rank, digest,
    -digest). Returns on every rank when all passed and agree; otherwise every rank raises the
    same vkstruct.Error: the lowest failing rank's (its message prefixed with that rank), or
    ShapeMismatchError when the ranks' digests differ."""
    failed_rank = comm.rank if failure is not None else comm.size
    r = comm.allreduce_min(np.array([failed_rank, digest_value, -digest_value], np.int64))
    if r[0] < comm.size:
        # Only on the failure path: the failing ranks' statuses and messages reach every rank.
        reports = comm.allgather_object(None if failure is None else (failure.status, failure.message or str(failure)))
        status, message = reports[int(r[0])]
        message = message[len(fn) + 2:] if message.startswith(fn + ": ") else message
        where = f"rank {int(r[0])}" if int(r[0]) == comm.rank else f"rank {int(r[0])} failed, so no rank went on"
        raise _ERROR_BY_STATUS.get(status, Error)(status, f"{fn}: {where}: {message}")
    if r[1] != -r[2]:
        raise ShapeMismatchError(_STATUS["VKS_ERROR_SHAPE_MISMATCH"],
                                 f"{fn}: the ranks disagree on the list of matrices (shapes, dtypes) or the "
                                 f"options (rank {comm.rank} of {comm.size})")


def as_error(exc, fn):
    """A local failure as a vkstruct.Error (other exceptions too: a rank must never leave the
    collective because of them)."""
    if isinstance(exc, Error):
        return exc
    return InvalidArgumentError(_STATUS["VKS_ERROR_INVALID_ARGUMENT"], f"{fn}: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def about(fn, what):
    """Prefixes a failed vkstruct call's message with fn and the item it was working on."""
    try:
        yield
    except Error as e:
        raise type(e)(e.status, f"{fn}: {what}: {e.message}") from e


def check_finite(host, fn, what):
    values = bfloat16_to_float32(host) if host.dtype == np.uint16 else host
    if not np.isfinite(values).all():
        raise NonFiniteError(_STATUS["VKS_ERROR_NON_FINITE"], f"{fn}: the result of {what} holds NaN or Inf "
                             "(a NaN/Inf in its input)")


def exchange(comm, owner, results, nbytes):
    """Every rank's owned results (host arrays by index) to every rank: one all-gather of the
    bytes, each rank's matrices in increasing index order. Returns a flat uint8 array per
    matrix (views into the gathered buffer)."""
    counts = [0] * comm.size
    for i, o in enumerate(owner):
        counts[o] += nbytes[i]
    mine = [np.ascontiguousarray(results[i]).reshape(-1).view(np.uint8) for i in range(len(owner))
            if owner[i] == comm.rank]
    local = np.concatenate(mine) if mine else np.empty(0, np.uint8)
    gathered = comm.allgatherv_bytes(local, counts)
    start = np.concatenate(([0], np.cumsum(counts)[:-1])).tolist()
    out = [None] * len(owner)
    for i, o in enumerate(owner):
        out[i] = gathered[start[o]:start[o] + nbytes[i]]
        start[o] += nbytes[i]
    return out


def _host_dtype_of(x):
    return np.dtype(_host_dtype(x.dtype)) if isinstance(x, Array) else np.asarray(x).dtype


def newton_schulz(mats, comm, *, steps=0, schedule="muon", eps=0.0, norm_factor=0.0, gram="auto", ctx=None):
    """vkstruct.orth.newton_schulz on every matrix of `mats` (numpy arrays or device Arrays,
    (m, n) or (batch, m, n), mixed shapes), spread over the ranks of `comm` (an mpi4py
    communicator, or a torch.distributed process group; None: torch's default group).
    Collective: every rank passes the same shapes, dtypes and options. Returns host numpy
    arrays, all of them on every rank, bit-identical to a one-rank run."""
    fn = "vkstruct.dist.newton_schulz"
    comm = communicator(comm)
    mats = list(mats)
    failure, owner, results, shapes, dtypes = None, [], {}, [], []
    try:
        shapes = [tuple(int(d) for d in m.shape) for m in mats]
        dtypes = [_host_dtype_of(m) for m in mats]
        for i, s in enumerate(shapes):
            if len(s) not in (2, 3) or min(s) < 1:
                raise InvalidArgumentError(_STATUS["VKS_ERROR_INVALID_ARGUMENT"],
                                           f"{fn}: mats[{i}] has shape {s}, expected (m, n) or (batch, m, n), "
                                           "all >= 1")
        owner = plan(shapes, comm.size)
        ctx = ctx or default_context()
        for i in np.flatnonzero(owner == comm.rank):
            with about(fn, f"mats[{i}]"):
                r = orth.newton_schulz(mats[i], steps=steps, schedule=schedule, eps=eps, norm_factor=norm_factor,
                                       gram=gram, ctx=ctx).numpy()
            check_finite(r, fn, f"mats[{i}]")
            results[i] = r
    except Exception as exc:  # noqa: BLE001 - every failure must reach the agreement
        failure = as_error(exc, fn)
    agree(comm, fn, failure, digest(fn, shapes, [str(d) for d in dtypes], steps, schedule, eps, norm_factor, gram))
    flat = exchange(comm, owner, results, [int(np.prod(s)) * d.itemsize for s, d in zip(shapes, dtypes)])
    return [f.view(d).reshape(s).copy() for f, d, s in zip(flat, dtypes, shapes)]


def slab(n, ranks, rank):
    """(first, count): the rows of an n-row matrix that rank `rank` of `ranks` holds in the
    sharded form (vks_mpi_slab: numpy.array_split's blocks, the first n % ranks ranks get one
    more row)."""
    first, count = ffi.new("int64_t *"), ffi.new("int64_t *")
    status = lib.vks_mpi_slab(int(n), int(ranks), int(rank), first, count)
    if status != 0:
        raise _mpi_error(status)
    return int(first[0]), int(count[0])


def _to_bytes(arrays):
    parts = [np.ascontiguousarray(a).reshape(-1).view(np.uint8) for a in arrays]
    return np.concatenate(parts) if parts else np.empty(0, np.uint8)


def newton_schulz_sharded(shards, comm, *, rows, steps=0, schedule="muon", eps=0.0, norm_factor=0.0, gram="auto",
                          ctx=None):
    """The sharded form (Dion's / FSDP's; vks_mpi_newton_schulz_sharded): matrix i is
    rows[i] x cols[i] and this rank passes its row slab of it, shards[i] = rows
    slab(rows[i], size, rank) (numpy.array_split(matrix, size)[rank]; (0, cols) where the slab
    is empty), a numpy array or device Array, float32/float16/float64, 2-D. Matrix i is
    orthogonalized whole (vkstruct.orth.newton_schulz) by rank plan(shapes, size)[i]: one
    all-to-all brings it to that owner, a second returns every rank its row slab of the
    result. Returns this rank's slabs of the results (host numpy arrays), each bit-identical
    to the same rows of a one-rank vkstruct.orth.newton_schulz of the whole matrix.

    Exchanges: mpi4py: 2 x Alltoallv; torch.distributed: 2 x all_to_all_single with uneven
    splits on one uint8 CPU tensor (gloo has it; its list form all_to_all it has not).
    Collective: every rank passes the same rows, cols, dtypes and options. A local failure (a
    shard of the wrong shape, a NaN/Inf in a shard, a failed device call, a non-finite
    result) is agreed on before each exchange, so every rank raises the same vkstruct.Error
    naming the failing rank, and nothing hangs."""
    fn = "vkstruct.dist.newton_schulz_sharded"
    comm = communicator(comm)
    size, me = comm.size, comm.rank
    shards = list(shards)
    failure, owner, host, nrows, key = None, [], [], [], None
    try:
        nrows = [int(r) for r in rows]
        if len(nrows) != len(shards):
            raise InvalidArgumentError(_STATUS["VKS_ERROR_INVALID_ARGUMENT"],
                                       f"{fn}: rows has {len(nrows)} entries, shards {len(shards)}")
        host = [s.numpy() if isinstance(s, Array) else np.asarray(s) for s in shards]
        for i, (h, r) in enumerate(zip(host, nrows)):
            if r < 1:
                raise InvalidArgumentError(_STATUS["VKS_ERROR_INVALID_ARGUMENT"],
                                           f"{fn}: rows[{i}] is {r}, expected >= 1")
            first, mine = slab(r, size, me)
            if h.ndim != 2 or h.shape[0] != mine or h.shape[1] < 1:
                raise ShapeMismatchError(_STATUS["VKS_ERROR_SHAPE_MISMATCH"],
                                         f"{fn}: shards[{i}] has shape {h.shape}, expected this rank's row slab "
                                         f"({mine}, cols >= 1): rows {first}..{first + mine - 1} of rows[{i}] = {r}")
            if h.dtype not in (np.float16, np.float32, np.float64):
                raise DtypeMismatchError(_STATUS["VKS_ERROR_DTYPE_MISMATCH"],
                                         f"{fn}: shards[{i}].dtype is {h.dtype}, expected float16, float32 or float64")
            if not np.isfinite(h).all():
                raise NonFiniteError(_STATUS["VKS_ERROR_NON_FINITE"], f"{fn}: shards[{i}] holds NaN or Inf")
        owner = plan([(r, h.shape[1]) for h, r in zip(host, nrows)], size)
        key = (nrows, [h.shape[1] for h in host], [str(h.dtype) for h in host])
        ctx = ctx or default_context()
    except Exception as exc:  # noqa: BLE001 - every failure must reach the agreement
        failure = as_error(exc, fn)
    agree(comm, fn, failure, digest(fn, key, steps, schedule, eps, norm_factor, gram))

    count = len(host)
    cols = [h.shape[1] for h in host]
    row_bytes = [c * h.dtype.itemsize for c, h in zip(cols, host)]
    slabs = [[slab(r, size, k) for k in range(size)] for r in nrows]  # (first, count) per matrix, rank
    mine = [i for i in range(count) if owner[i] == me]

    # 1: this rank's slabs to the owners (grouped by owner, index order); the owned matrices'
    # slabs from every rank (grouped by sender, index order), so rows arrive in order.
    send = [[i for i in range(count) if owner[i] == o] for o in range(size)]
    recv = comm.alltoallv_bytes(_to_bytes([host[i] for o in range(size) for i in send[o]]),
                                [sum(host[i].nbytes for i in send[o]) for o in range(size)],
                                [sum(slabs[i][r][1] * row_bytes[i] for i in mine) for r in range(size)])
    pieces, at = {i: [] for i in mine}, 0
    for r in range(size):
        for i in mine:
            n = slabs[i][r][1] * row_bytes[i]
            pieces[i].append(recv[at:at + n])
            at += n

    failure, results = None, {}
    try:
        for i in mine:
            whole = np.concatenate(pieces[i]).view(host[i].dtype).reshape(nrows[i], cols[i])
            with about(fn, f"matrix {i}"):
                result = orth.newton_schulz(whole, steps=steps, schedule=schedule, eps=eps, norm_factor=norm_factor,
                                            gram=gram, ctx=ctx).numpy()
            check_finite(result, fn, f"matrix {i}")
            results[i] = result
    except Exception as exc:  # noqa: BLE001
        failure = as_error(exc, fn)
    agree(comm, fn, failure, 0)

    # 2: the results' slabs back to every rank (grouped by receiver, index order).
    slab_of = lambda i, r: results[i][slabs[i][r][0]:slabs[i][r][0] + slabs[i][r][1]]  # noqa: E731
    recv = comm.alltoallv_bytes(_to_bytes([slab_of(i, r) for r in range(size) for i in mine]),
                                [sum(slabs[i][r][1] * row_bytes[i] for i in mine) for r in range(size)],
                                [sum(host[i].nbytes for i in send[o]) for o in range(size)])
    out, at = [None] * count, 0
    for o in range(size):
        for i in send[o]:
            n = host[i].nbytes
            out[i] = recv[at:at + n].view(host[i].dtype).reshape(host[i].shape).copy()
            at += n
    return out


__all__ = ["newton_schulz", "newton_schulz_sharded", "partition", "plan", "slab", "ns_step_flops", "communicator",
           "agree", "exchange", "digest", "about", "as_error", "check_finite"]
