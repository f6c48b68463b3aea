"""livn._mpi: a failure on one rank stops every rank with a clear message, never a hang."""

import subprocess
import sys

from _mpirun import MPIRUN, environment

from livn._mpi import World, world

SCRIPT = """
import sys
from livn._mpi import world, abort_on_error
comm = world()
mode = sys.argv[1]
if mode == "together":
    try:
        with abort_on_error(comm), comm.together():  # raised on every rank: passes abort_on_error
            if comm.rank == 1:
                raise ValueError("bad value on rank 1")
    except Exception as e:
        print(f"rank {comm.rank}: {type(e).__name__}: {e}", flush=True)
        sys.exit(3)
else:
    with abort_on_error(comm):
        if comm.rank == 1:
            raise RuntimeError("boom on rank 1")
        comm.barrier()  # rank 0 would wait here for ever without MPI_Abort
"""


def run(mode):
    return subprocess.run([MPIRUN, "-n", "2", sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          timeout=120, env=environment())


def test_together_raises_on_every_rank():
    result = run("together")
    assert result.returncode == 3
    assert "rank 0: RankFailure: rank 1 failed: ValueError: bad value on rank 1" in result.stdout
    assert "rank 1: ValueError: bad value on rank 1" in result.stdout


def test_an_error_on_one_rank_aborts_all_instead_of_hanging():
    result = run("abort")
    assert result.returncode != 0
    assert "rank 1 of 2 failed; aborting all ranks" in result.stderr and "boom on rank 1" in result.stderr


def test_serial_stand_in():
    comm = world()
    assert isinstance(comm, World) and comm.size == 1 and comm.is_root
    assert comm.gather(5) == [5] and comm.allgather(5) == [5] and comm.bcast(5) == 5 and comm.scatter([7]) == 7
    try:
        with comm.together():
            raise KeyError("x")
    except KeyError as e:
        assert getattr(e, "livn_collective", False)


def test_predefined_under_mpirun_builds_once_without_a_collective(tmp_path):
    """Every rank of a job may call `predefined` on an empty cache: the ranks take the
    build lock in turn (a collective build inside the lock would deadlock)."""
    script = (
        "from livn.system import predefined, make\n"
        f"uri = predefined('S2', cache_dir={str(tmp_path)!r})\n"
        "print(make(uri).num_neurons, flush=True)\n"
    )
    result = subprocess.run(
        [MPIRUN, "-n", "2", sys.executable, "-c", script],
        capture_output=True, text=True, timeout=120, env=environment(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["100", "100"]
