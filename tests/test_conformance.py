"""Every installed backend against the backend contract (`tests/conformance.py`), plus the half-step system."""

import numpy as np

from conformance import HALF_STEP_EDGES, BackendConformance

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
