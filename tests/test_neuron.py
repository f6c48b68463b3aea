"""The NEURON backend: the model's equations, agreement with brian2, MPI ranks, failures, the mechanism cache.

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

from livn.analysis import matched_spikes, summarize  # noqa: E402
from livn.env import Env  # noqa: E402
from livn.errors import InvalidArgumentError, RecordingError  # noqa: E402
from livn.models import CultureModel  # noqa: E402

import neuron_mpi_worker as worker  # noqa: E402
from test_model import _reference_spike_times  # noqa: E402

MODEL = CultureModel()
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


def test_single_neuron_rests_and_fires_when_the_equations_do(single_neuron_dir):
    env = neuron_env(single_neuron_dir)
    params = MODEL.neuron_parameters(env.system.population_ranges, env.seed)
    a, b, c, d = (params[k][0] for k in "abcd")
    it, _, iv, v = env.run(200)
    assert len(it) == 0 and iv.tolist() == [0] and v.shape == (1, 2000)
    np.testing.assert_allclose(v, MODEL.resting_potential(b), atol=1e-9)
    for current in (0.25, 0.37, 0.40, 1.0):
        env.clear()
        it, t, _, _ = env.run(1000, np.full((1000, 1), current))
        reference = _reference_spike_times(a, b, c, d, current, 1000.0)
        assert (len(it) > 0) == (len(reference) > 0), current
        if current == 1.0:
            assert len(it) == pytest.approx(len(reference), abs=1) and t[0] == pytest.approx(reference[0], abs=1.0)


def test_single_neuron_is_the_euler_step_of_the_model(single_neuron_dir):
    """Voltage trace = forward Euler of `CultureModel.membrane_derivatives` at dt, reset included."""
    env = neuron_env(single_neuron_dir)
    params = MODEL.neuron_parameters(env.system.population_ranges, env.seed)
    a, b, c, d = (params[k][0] for k in "abcd")
    stimulus = np.zeros((60, 1))
    stimulus[10:60] = 1.5  # nA
    it, t, _, trace = env.run(60, stimulus)
    v, u = MODEL.initial_state({key: np.array([params[key][0]]) for key in "abcd"})
    v, u = float(v[0]), float(u[0])
    expected, spikes = [], []
    for step in range(600):
        expected.append(v)
        dv, du = MODEL.membrane_derivatives(v, u, a, b, stimulus[step // 10, 0])
        v, u = v + MODEL.dt * dv, u + MODEL.dt * du
        if v >= MODEL.v_peak:
            spikes.append(round(step * MODEL.dt, 6))
            v, u = c, u + d
    np.testing.assert_allclose(trace[0], expected, rtol=1e-12, atol=1e-9)
    assert len(spikes) >= 3 and t.tolist() == spikes and it.tolist() == [0] * len(spikes)


def test_stimulus_rows_are_one_millisecond(single_neuron_dir):
    env = neuron_env(single_neuron_dir, voltage=False).record_voltage()
    stimulus = np.zeros((20, 1))
    stimulus[10] = 0.5  # nA during [10, 11) ms only
    _, _, _, v = env.run(25, stimulus)  # rows after T are zero
    dv = np.diff(v[0])
    assert np.all(np.abs(dv[:100]) < 1e-9)
    assert dv[100] == pytest.approx(0.5, abs=1e-6)  # 0.5 nA / 0.1 nF * 0.1 ms
    assert dv[110] < 0  # off again at 11 ms


# -- the Env interface, as on brian2 --------------------------------------------------------------


def test_windows_continue_one_run_and_clear_replays_it(s2_dir):
    env = Env(s2_dir, seed=11, backend="neuron").init().apply_model_defaults().record_spikes()
    env.record_voltage([3, 1, 3], dt=0.5)
    whole = env.run(300)
    assert env.t == pytest.approx(300)
    env.clear()
    assert env.t == 0
    first, second = env.run(120), env.run(180)
    assert len(whole.it) > 50
    np.testing.assert_array_equal(np.concatenate([first.it, second.it]), whole.it)
    np.testing.assert_allclose(np.concatenate([first.t, second.t + 120]), whole.t, atol=1e-6)
    assert first.iv.tolist() == [3, 1, 3] and first.v.shape == (3, 240) and second.v.shape == (3, 360)
    np.testing.assert_array_equal(np.concatenate([first.v, second.v], axis=1), whole.v)
    assert np.all(np.diff(whole.t) >= 0) and whole.t.min() >= 0 and whole.t.max() < 300


def test_seed_and_settings_change_activity(s2_dir):
    def spikes(seed, **settings):
        env = Env(s2_dir, seed=seed, backend="neuron").init().apply_model_defaults().record_spikes()
        if "weights" in settings:
            env.set_weights(settings["weights"])
        if "noise" in settings:
            env.set_noise(*settings["noise"])
        return env.run(300).it

    reference = spikes(11)
    np.testing.assert_array_equal(spikes(11), reference)
    assert not np.array_equal(spikes(12), reference)
    assert len(spikes(11, noise=(0.0, 0.0))) == 0
    assert len(spikes(11, weights={"EXC_EXC": 0.0, "EXC_INH": 0.0})) < len(reference)


def test_env_checks_arguments_before_the_backend_runs(s1_dir):
    env = neuron_env(s1_dir)
    with pytest.raises(InvalidArgumentError, match="NaN"):
        env.run(5, np.full((5, 11), np.nan))
    with pytest.raises(InvalidArgumentError, match="diffrax"):
        env.run(5, unroll="mask")
    assert env.t == 0
    env.run(5)
    with pytest.raises(RecordingError):
        env.record_voltage()


def test_a_newer_network_replaces_the_older_one(s1_dir):
    from livn.backends.neuron import NetworkReplacedError

    old = neuron_env(s1_dir)
    new = neuron_env(s1_dir)
    with pytest.raises(NetworkReplacedError, match="one network per process"):
        old.run(5)
    assert new.run(5).v.shape == (11, 50)


def test_electrode_recording_as_on_brian2(s1_dir):
    env = Env(s1_dir, backend="neuron").init().apply_model_defaults().record_spikes()
    inputs = np.zeros((100, 16))
    inputs[10:40, :] = 10.0
    it, t, _, _ = env.run(100, env.cell_stimulus(inputs))
    cit, ct = env.channel_recording(it, t)
    assert len(it) > 0 and sum(len(v) for v in cit.values()) > 0


# -- agreement with brian2 -----------------------------------------------------------------------


def _noise_free(directory, backend, inputs):
    env = Env(directory, seed=3, backend=backend).init().apply_model_defaults().record_spikes()
    env.set_noise(0.0, 0.0)
    return env.run(inputs.shape[0], env.cell_stimulus(inputs))


def test_noise_free_s1_matches_brian2_spike_for_spike(s1_dir):
    inputs = np.zeros((500, 16))
    inputs[50:80, 3] = 15.0
    inputs[200:230, 10] = 15.0
    inputs[300:400, 6] = 8.0
    reference = _noise_free(s1_dir, "brian2", inputs)
    result = _noise_free(s1_dir, "neuron", inputs)
    assert len(reference.it) > 50
    matched = matched_spikes(reference.it, reference.t, result.it, result.t, tolerance=1.0)
    assert matched >= 0.9 * len(reference.it)
    assert len(result.it) == pytest.approx(len(reference.it), rel=0.05)


def test_s2_spontaneous_mean_rate_within_15_percent_of_brian2(s2_dir):
    duration, seeds = 5000.0, (1, 2, 3, 4)
    rates = {}
    for backend in ("brian2", "neuron"):
        per_seed = []
        for seed in seeds:
            env = Env(s2_dir, seed=seed, backend=backend).init().apply_model_defaults().record_spikes()
            env.run(500)
            it, t, _, _ = env.run(duration)
            per_seed.append(summarize(it, t, env.num_neurons, duration).mean_rate)
        rates[backend] = np.mean(per_seed)
    assert rates["brian2"] > 1.0
    assert rates["neuron"] == pytest.approx(rates["brian2"], rel=0.15)


# -- MPI -------------------------------------------------------------------------------------------


@needs_mpirun
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
