"""vkstruct.dist and Muon(process_group=...) on 2 and 3 processes of this machine: over
torch.distributed (gloo, file:// rendezvous) and over mpi4py (mpirun). Each rank checks
itself bit for bit against a one-rank run and the bad-input cases (dist_worker.py); here we
start the ranks, bound them by a timeout (a hang fails the test) and require every rank's
"ok". Skipped, with the reason, only where torch.distributed/gloo or mpi4py/mpirun is
missing."""
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import vkstruct as vk
import vkstruct.dist

WORKER = os.path.join(os.path.dirname(__file__), "dist_worker.py")
TIMEOUT_S = 150


def run_ranks(commands, env=None):
    """Starts the commands in their own process groups; fails when one exits non-zero or
    any runs past TIMEOUT_S (all are killed then)."""
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                              start_new_session=True) for c in commands]
    outputs, deadline = [], time.monotonic() + TIMEOUT_S
    try:
        for p in procs:
            out, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            outputs.append(out)
    except subprocess.TimeoutExpired:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
        pytest.fail(f"ranks still running after {TIMEOUT_S} s (a hang): {commands[0]}")
    text = "\n".join(outputs)
    assert all(p.returncode == 0 for p in procs), f"a rank failed:\n{text}"
    return text


def test_plan_is_the_library_partition():
    # The C partition itself (vks_mpi_partition, compiled in): LPT by flops, ties to the lower rank.
    owner, load = vk.dist.partition([5.0, 1.0, 4.0, 3.0, 3.0], 2)
    assert owner.tolist() == [0, 1, 1, 1, 0] and load.tolist() == [8.0, 8.0]
    assert vk.dist.ns_step_flops(64, 16) == 4 * 16 * 16 * 64 + 2 * 16 ** 3 == vk.dist.ns_step_flops(16, 64)
    shapes = [(24, 40), (2, 12, 20), (8, 8)]
    costs = [vk.dist.ns_step_flops(24, 40), 2 * vk.dist.ns_step_flops(12, 20), vk.dist.ns_step_flops(8, 8)]
    assert np.array_equal(vk.dist.plan(shapes, 2), vk.dist.partition(costs, 2)[0])
    with pytest.raises(vk.InvalidArgumentError, match=r"vks_mpi_partition: cost\[1\] is nan"):
        vk.dist.partition([1.0, float("nan")], 2)
    with pytest.raises(vk.InvalidArgumentError, match="ranks is 0"):
        vk.dist.partition([1.0], 0)


def test_slab_is_array_split():
    # The sharded form's row slabs (vks_mpi_slab, compiled in) are numpy.array_split's blocks.
    for n in (1, 2, 7, 33):
        for ranks in (1, 2, 3, 5):
            blocks = np.array_split(np.arange(n), ranks)
            for r in range(ranks):
                first, count = vk.dist.slab(n, ranks, r)
                assert count == blocks[r].size and (count == 0 or first == blocks[r][0]), (n, ranks, r)
    with pytest.raises(vk.InvalidArgumentError, match="vks_mpi_slab: rank is 3, expected 0..2"):
        vk.dist.slab(5, 3, 3)


def test_sharded_one_rank_checks_its_slabs():
    # In-process, on a one-rank transport (a transport object passes through communicator()).
    class OneRank(vk.dist._MPIComm):
        def __init__(self):
            self.rank, self.size = 0, 1

        def allreduce_min(self, values):
            return values

        def allgather_object(self, obj):
            return [obj]

        def alltoallv_bytes(self, send, send_counts, recv_counts):
            assert list(send_counts) == list(recv_counts)
            return send.copy()

    comm = OneRank()
    rng = np.random.default_rng(5)
    mats = [rng.standard_normal((9, 5)).astype(np.float32), rng.standard_normal((4, 12))]
    outs = vk.dist.newton_schulz_sharded(mats, comm, rows=[9, 4], eps=1e-7)
    for m, o in zip(mats, outs):
        assert np.array_equal(o, vk.orth.newton_schulz(m, eps=1e-7).numpy())
    with pytest.raises(vk.ShapeMismatchError, match=r"rank 0: shards\[1\] has shape \(3, 12\), expected this rank's "
                       r"row slab \(4, cols >= 1\): rows 0..3 of rows\[1\] = 4"):
        vk.dist.newton_schulz_sharded([mats[0], mats[1][:3]], comm, rows=[9, 4])
    with pytest.raises(vk.InvalidArgumentError, match="rows has 1 entries, shards 2"):
        vk.dist.newton_schulz_sharded(mats, comm, rows=[9])


def torch_distributed_missing():
    try:
        import torch.distributed as tdist
    except ImportError as e:
        return f"torch is not importable: {e}"
    if not tdist.is_available() or not tdist.is_gloo_available():
        return "this torch has no torch.distributed with gloo"
    return None


@pytest.mark.parametrize("size", [2, 3])
def test_torch_distributed_gloo(size, tmp_path):
    reason = torch_distributed_missing()
    if reason:
        pytest.skip(reason)
    init = tmp_path / "rendezvous"
    text = run_ranks([[sys.executable, WORKER, "torch", str(r), str(size), str(init)] for r in range(size)])
    assert all(f"rank {r}: ok" in text for r in range(size)), text


@pytest.mark.parametrize("size", [2, 3])
def test_mpi4py(size):
    mpirun = shutil.which("mpirun")
    probe = subprocess.run([sys.executable, "-c", "import mpi4py"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"mpi4py is not importable ({probe.stderr.strip().splitlines()[-1]}); "
                    "Debian: apt-get install python3-mpi4py")
    if not mpirun:
        pytest.skip("mpirun is not on PATH (Debian: apt-get install openmpi-bin)")
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
    extra, env = [], dict(os.environ)
    if "Open MPI" in version or "OpenRTE" in version:
        # As the C MPI tests: leave to run as root, more ranks than cores, no ptrace single-copy.
        extra = ["--oversubscribe", "--mca", "btl_vader_single_copy_mechanism", "none"]
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    text = run_ranks([[mpirun, "-np", str(size)] + extra + [sys.executable, WORKER, "mpi"]], env=env)
    assert all(f"rank {r}: ok" in text for r in range(size)), text
