"""NEURON checkpoints: `Env.save_state` mid-burst and `load_state` in a new process continue the run exactly.

The saving and loading jobs are separate processes (one, or `mpirun -n 2`), as a
restart after a crash would be: the spikes after loading must be bit-identical
to those of one uninterrupted run, including the spikes that were in flight
(events in NEURON's queue) when the checkpoint was written. The loading job
records voltages, the saving job does not: what is recorded is no part of a checkpoint.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("neuron")

from livn.checkpoint import CheckpointError  # noqa: E402

import neuron_checkpoint_worker as worker  # noqa: E402
from test_neuron import MPI_TIMEOUT, mpirun, needs_mpirun  # noqa: E402

WORKER = Path(worker.__file__)


def _steps(t) -> np.ndarray:
    return np.rint(np.asarray(t) / 0.1).astype(np.int64)


@pytest.fixture(scope="module")
def uninterrupted(s2_dir):
    """Spikes (gid, step) and voltages of one run over SAVE_MS + CONTINUE_MS, from SAVE_MS on."""
    env = worker.loading_env(s2_dir)
    result = env.run(worker.SAVE_MS + worker.CONTINUE_MS)
    after = result.t >= worker.SAVE_MS
    return {
        "it": result.it[after],
        "step": _steps(result.t[after]) - _steps(worker.SAVE_MS),
        "spikes_before": int(np.sum(~after)),
        "spikes_just_before": int(np.sum(~after & (result.t >= worker.SAVE_MS - 2))),
        "v": result.v[:, int(round(worker.SAVE_MS / worker.VOLTAGE_DT)):],
    }


def _assert_continues_exactly(loaded: dict, uninterrupted: dict) -> None:
    # saved in a burst: spikes of the last 2 ms were still on their way (axonal delays) when saved
    assert uninterrupted["spikes_before"] > 100 and uninterrupted["spikes_just_before"] > 10
    assert len(loaded["it"]) > 50
    np.testing.assert_array_equal(loaded["it"], uninterrupted["it"])
    np.testing.assert_array_equal(_steps(loaded["t"]), uninterrupted["step"])
    np.testing.assert_array_equal(loaded["iv"], worker.VOLTAGE_GIDS)
    np.testing.assert_array_equal(loaded["v"], uninterrupted["v"])


def _worker(mode, s2_dir, directory, ranks=1):
    """The worker in a new process (under `mpirun -n ranks` when ranks > 1); fails the test unless it succeeds."""
    if ranks > 1:
        result = mpirun(WORKER, mode, s2_dir, directory, ranks=ranks)
    else:
        result = subprocess.run([sys.executable, str(WORKER), mode, str(s2_dir), str(directory)],
                                capture_output=True, text=True, timeout=MPI_TIMEOUT)
    assert result.returncode == 0, f"{mode} on {ranks} rank(s) failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def two_rank_checkpoint(s2_dir, tmp_path_factory):
    """A directory holding checkpoint.h5, saved by `mpirun -n 2` at SAVE_MS."""
    if not Path(sys.executable).with_name("mpirun").exists():
        pytest.skip("mpirun not installed (pip install 'livn[mpi]')")
    directory = tmp_path_factory.mktemp("two-rank-checkpoint")
    _worker("save", s2_dir, directory, ranks=2)
    return directory


def test_a_checkpoint_saved_mid_burst_continues_exactly_in_a_new_process(s2_dir, uninterrupted, tmp_path):
    env = worker.saving_run(s2_dir)
    env.save_state(tmp_path / "checkpoint.h5")
    _worker("load", s2_dir, tmp_path)
    _assert_continues_exactly(dict(np.load(tmp_path / "loaded.npz")), uninterrupted)

    # the saving process can go back to it too, after running on
    env.run(30)
    env.load_state(tmp_path / "checkpoint.h5")
    assert env.t == pytest.approx(worker.SAVE_MS)
    result = env.run(worker.CONTINUE_MS)
    np.testing.assert_array_equal(result.it, uninterrupted["it"])
    np.testing.assert_array_equal(_steps(result.t), uninterrupted["step"])


@needs_mpirun
def test_a_two_rank_checkpoint_continues_exactly_on_two_ranks(s2_dir, uninterrupted, two_rank_checkpoint):
    _worker("load", s2_dir, two_rank_checkpoint, ranks=2)
    _assert_continues_exactly(dict(np.load(two_rank_checkpoint / "loaded.npz")), uninterrupted)


@needs_mpirun
def test_a_two_rank_checkpoint_is_refused_by_one_process(s2_dir, two_rank_checkpoint):
    env = worker.loading_env(s2_dir)
    with pytest.raises(CheckpointError, match=r"saved by 2 MPI rank\(s\) and this job has 1.*mpirun -n 2"):
        env.load_state(two_rank_checkpoint / "checkpoint.h5")


@needs_mpirun
def test_a_one_process_checkpoint_is_refused_by_every_rank_of_two_without_hanging(s2_dir, tmp_path):
    worker.saving_run(s2_dir).save_state(tmp_path / "checkpoint.h5")
    result = mpirun(WORKER, "load", s2_dir, tmp_path, ranks=2, timeout=120)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert output.count("CheckpointError: the checkpoint was saved by 1 MPI rank(s) and this job has 2") == 2, output
    assert "MPI_Abort" not in output, output  # every rank raised the same error and ended normally
