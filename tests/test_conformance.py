"""Every installed backend against the backend contract (`tests/conformance.py`), plus the half-step system
and the NEURON backend's translation of the contract under MPI (two ranks)."""

import numpy as np
import pytest

from conformance import HALF_STEP_EDGES, BackendConformance

from livn.backends import installed_backends
from livn.models import CultureModel, lower
from livn.system import System


class TestBrian2(BackendConformance):
    backend = "brian2"


class TestDiffrax(BackendConformance):
    backend = "diffrax"
    # JAX computes in float32 by default; traces near rest are compared to 1e-4 mV.
    voltage_atol = 1e-4  # mV

    def exact_arithmetic(self):
        import jax

        enable_x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64
        return enable_x64(True)


class TestNeuron(BackendConformance):
    backend = "neuron"
    networks_per_process = 1  # building an Env replaces the previous network


def test_half_step_system_has_every_delay_on_a_half_step(half_step_dir):
    """The delays of the half-step system are k + 1/2 steps, and lowering rounds every one up."""
    model = CultureModel()
    system = System(half_step_dir)
    lowered = lower(system, model, seed=1)
    raw = []
    for key in lowered.projections:
        pre, post = key.split("_")
        edges = system.projections[(pre, post)]
        raw.append(model.axonal_delay(edges.distance) / model.dt)
    raw = np.concatenate(raw)
    assert len(raw) == sum(len(edges) for edges in HALF_STEP_EDGES.values()) == lowered.num_edges
    np.testing.assert_allclose(raw - np.floor(raw + 1e-6), 0.5, atol=1e-9)  # 5.5, 6.5, ... steps
    np.testing.assert_array_equal(lowered.delay_steps, np.floor(raw + 1e-6) + 1)  # halves up


# -- NEURON under MPI: fine stimulus rows and synaptic currents on two ranks --------------------------------

MPI_TIMEOUT = 240  # s; longer counts as a hang


def _mpirun_neuron_worker(mode, *args, timeout=MPI_TIMEOUT):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import neuron_currents_worker

    mpirun = Path(sys.executable).parent / "mpirun"
    if not mpirun.exists() or "neuron" not in installed_backends():
        pytest.skip("NEURON or mpirun is not installed (pip install 'livn[neuron,mpi]')")
    command = [str(mpirun), "-n", "2", sys.executable, neuron_currents_worker.__file__, mode, *map(str, args)]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ})
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(command)} did not finish within {timeout} s (a hang):\n{e.stderr}")


def test_neuron_two_ranks_record_the_currents_of_one_process(s2_dir, tmp_path):
    """0.1 ms stimulus rows and synaptic currents on 2 ranks: rank 0 gets what one process records, rank 1
    its own gids' rows."""
    import neuron_currents_worker as worker

    done = _mpirun_neuron_worker("currents", s2_dir, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    _, single = worker.currents_run(s2_dir)
    rank0, rank1 = (np.load(tmp_path / f"rank{r}.npz") for r in (0, 1))
    assert set(rank1["local_gids"].tolist()) == set(range(1, 100, 2))
    for k, (result, currents) in enumerate(single):
        assert len(result.it) > 0 and np.any(currents.ampa) and np.any(currents.gaba)
        np.testing.assert_array_equal(rank0[f"it{k}"], result.it)
        np.testing.assert_array_equal(rank0[f"t{k}"], result.t)
        np.testing.assert_array_equal(rank0[f"gids{k}"], worker.CURRENT_GIDS)
        np.testing.assert_array_equal(rank0[f"ampa{k}"], currents.ampa)
        np.testing.assert_array_equal(rank0[f"gaba{k}"], currents.gaba)
        assert rank1[f"gids{k}"].tolist() == [7, 99]
        np.testing.assert_array_equal(rank1[f"ampa{k}"], currents.ampa[[1, 3]])
        np.testing.assert_array_equal(rank1[f"gaba{k}"], currents.gaba[[1, 3]])
    assert single[0][1].ampa.shape == (4, 200) and single[1][1].ampa.shape == (4, 100)


def test_neuron_ranks_with_different_stimulus_steps_all_refuse_to_run(s2_dir, tmp_path):
    done = _mpirun_neuron_worker("other-stimulus-step", s2_dir, tmp_path, timeout=120)
    assert done.returncode != 0
    assert "ran although a rank failed" not in done.stdout
    assert "RankError" in done.stderr and "rows of 5 steps" in done.stderr, done.stderr[-3000:]
