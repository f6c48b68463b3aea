"""The NEURON backend's own concerns: one network per process, MPI ranks, failures, the mechanism cache.

What every backend must do (the model's equations, agreement with brian2, ...) is in tests/conformance.py.

NEURON holds one network per process, so every test builds the Envs it uses
(building one replaces the previous network). MPI runs are real `mpirun -n 2`
subprocesses with timeouts.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("neuron")

from livn.env import Env  # noqa: E402

import neuron_mpi_worker as worker  # noqa: E402

MPIRUN = Path(sys.executable).parent / "mpirun"
#: Seconds an MPI test may take before it counts as hanging.
MPI_TIMEOUT = 240
needs_mpirun = pytest.mark.skipif(not MPIRUN.exists(), reason="mpirun not installed (pip install 'livn[mpi]')")


def neuron_env(directory, seed=5, voltage=True):
    env = Env(directory, seed=seed, backend="neuron").init().record_spikes()
    if voltage:
        env.record_voltage()
    return env


def mpirun(*args, ranks=2, timeout=MPI_TIMEOUT, cwd=None):
    """`mpirun -n ranks python args...` in a subprocess; a timeout means a hang and fails the test."""
    command = [str(MPIRUN), "-n", str(ranks), sys.executable, *map(str, args)]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env={**os.environ})
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(command)} did not finish within {timeout} s (a hang):\n{e.stderr}")


# -- one neuron against its equations ------------------------------------------------------------


# -- one network per process --------------------------------------------------------------


def test_a_newer_network_replaces_the_older_one(s1_dir):
    from livn.backends.neuron import NetworkReplacedError

    old = neuron_env(s1_dir)
    new = neuron_env(s1_dir)
    with pytest.raises(NetworkReplacedError, match="one network per process"):
        old.run(5)
    assert new.run(5).v.shape == (11, 50)


# -- agreement with brian2 -----------------------------------------------------------------------


# -- MPI -------------------------------------------------------------------------------------------


@needs_mpirun
def test_long_runs_take_every_step_despite_neurons_clock_drift(single_neuron_dir):
    """NEURON's t is a running sum of 0.1 ms steps that drifts by ~1e-11 ms a step; after ~47 s a window
    that stopped at the exact end time lost its last step. Every window must take exactly its steps."""
    env = Env(single_neuron_dir, seed=1, backend="neuron").init().record_voltage(dt=1.0)
    h = env.backend._rt.h
    for window in range(60):
        _, _, _, v = env.run(1000.0)
        assert v.shape == (1, 1000), window
        assert h.t == pytest.approx(env.t, abs=1e-4), window


def test_two_ranks_give_the_spikes_of_one_process(s2_dir, tmp_path):
    worker_script = Path(worker.__file__)
    result = mpirun(worker_script, "spikes", s2_dir, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    _, single = worker.network_run(s2_dir)
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    assert ranks[0]["cells_per_rank"].tolist() == [50, 50]
    for k, expected in enumerate(single):
        assert len(expected.it) > 20
        np.testing.assert_array_equal(ranks[0][f"it{k}"], expected.it)
        np.testing.assert_array_equal(ranks[0][f"t{k}"], expected.t)
        np.testing.assert_array_equal(ranks[0][f"iv{k}"], expected.iv)
        np.testing.assert_array_equal(ranks[0][f"v{k}"], expected.v)
        # rank 1 gets its own gids (the odd ones) only
        own = ranks[1]["local_gids"]
        assert set(own.tolist()) == set(range(1, 100, 2))
        mine = np.isin(expected.it, own)
        np.testing.assert_array_equal(ranks[1][f"it{k}"], expected.it[mine])
        np.testing.assert_array_equal(ranks[1][f"t{k}"], expected.t[mine])
        assert ranks[1][f"iv{k}"].tolist() == [7, 99]
        np.testing.assert_array_equal(ranks[1][f"v{k}"], expected.v[[1, 3]])


@needs_mpirun
def test_a_rank_without_cells_takes_part(single_neuron_dir, tmp_path):
    result = mpirun(Path(worker.__file__), "more-ranks-than-cells", single_neuron_dir, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    _, (expected,) = worker.small_run(single_neuron_dir)
    rank0, rank1 = (np.load(tmp_path / f"rank{r}.npz") for r in (0, 1))
    assert rank0["cells_per_rank"].tolist() == [1, 0] and len(rank1["local_gids"]) == 0
    assert len(expected.it) > 0
    np.testing.assert_array_equal(rank0["it0"], expected.it)
    np.testing.assert_array_equal(rank0["v0"], expected.v)
    assert len(rank1["it0"]) == 0 and rank1["v0"].shape == (0, 500)


@needs_mpirun
@pytest.mark.parametrize(
    ("mode", "reason"),
    [("bad-stimulus", "rank 1: InvalidArgumentError: stimulus contains NaN"), ("other-duration", "rank 0: 500 steps")],
)
def test_a_failing_rank_fails_the_whole_run_without_hanging(s2_dir, tmp_path, mode, reason):
    result = mpirun(Path(worker.__file__), mode, s2_dir, tmp_path, timeout=120)
    assert result.returncode != 0
    assert "ran although a rank failed" not in result.stdout
    assert "RankError" in result.stderr and reason in result.stderr, result.stderr[-3000:]


@needs_mpirun
def test_an_uncaught_error_on_one_rank_aborts_the_job_instead_of_hanging(s2_dir, tmp_path):
    result = mpirun(Path(worker.__file__), "error-in-user-code", s2_dir, tmp_path, timeout=120)
    assert result.returncode != 0
    assert "an error in the user's script on rank 1" in result.stderr
    assert "ran although a rank failed" not in result.stdout


@needs_mpirun
def test_examples_run_with_neuron_on_one_and_two_ranks(tmp_path):
    examples = Path(__file__).parents[1] / "examples"
    env = {**os.environ, "LIVN_BACKEND": "neuron"}
    single = subprocess.run([sys.executable, str(examples / "run_a_simulation.py")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env=env)
    assert single.returncode == 0, single.stderr[-3000:]
    assert "spikes from 11 neurons" in single.stdout
    result = mpirun(examples / "parallel_simulation.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0: 500 cells" in result.stdout and "rank 1: 500 cells" in result.stdout
    assert "mean rate" in result.stdout


# -- the mechanism cache ----------------------------------------------------------------------------


def test_mechanisms_compile_once_when_processes_race(tmp_path):
    """Three processes start on an empty cache at once: one compiles, all load the same library."""
    code = (
        "import neuron; from livn.backends._neuron_build import mechanism_library; "
        "print(mechanism_library(neuron.__version__))"
    )
    env = {**os.environ, "LIVN_NRNMECH_DIR": str(tmp_path / "cache")}
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err[-2000:] for _, err in outputs]
    libraries = {out.strip() for out, _ in outputs}
    assert len(libraries) == 1
    library = Path(libraries.pop())
    assert library.is_file() and library.name == "libnrnmech.so"
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == [library.parents[1].name]
    before = library.stat().st_mtime_ns
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert Path(again.stdout.strip()) == library and library.stat().st_mtime_ns == before


def test_a_failed_compilation_says_why(tmp_path, monkeypatch):
    from livn.backends import _neuron_build

    broken = tmp_path / "mechanisms"
    broken.mkdir()
    (broken / "broken.mod").write_text("NEURON { POINT_PROCESS Broken }\nBREAKPOINT { x = }\n")
    monkeypatch.setattr(_neuron_build, "MECHANISMS", broken)
    monkeypatch.setenv("LIVN_NRNMECH_DIR", str(tmp_path / "cache"))
    with pytest.raises(_neuron_build.MechanismBuildError, match="nrnivmodl failed"):
        _neuron_build.mechanism_library("test")
    assert not any(p.is_dir() for p in (tmp_path / "cache").iterdir())  # no half-built library left behind
    shutil.rmtree(tmp_path / "cache")
