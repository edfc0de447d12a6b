"""Distributed Newton-Schulz (Muon's data-parallel pattern) over mpi4py or torch.distributed
(docs/scale-out.md, "From Python"). Every rank holds the whole list of matrices (as after the
gradients' all-reduce); matrix i is orthogonalized by rank owner[i] of the library's own
flop-balanced partition (vks_mpi_partition, the C ranks' code compiled into this module),
each matrix alone with vkstruct.orth.newton_schulz, so its bits do not depend on the number
of ranks; the results are exchanged once (MPI Allgatherv / torch all_gather) and every rank
returns all of them, bit-identical to a one-rank run.

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

from ._core import (Array, Error, InvalidArgumentError, NonFiniteError, ShapeMismatchError, _STATUS, _ERROR_BY_STATUS,
                    _host_dtype, bfloat16_to_float32, default_context)
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


__all__ = ["newton_schulz", "partition", "plan", "ns_step_flops", "communicator", "agree", "exchange", "digest",
           "about", "as_error", "check_finite"]
