"""`Env(64)` and `Env({"EXC": 8, "INH": 2})`: unconnected neurons without a system directory, on every backend."""

import numpy as np
import pytest

from livn.backends import installed_backends
from livn.env import Env
from livn.errors import InvalidArgumentError
from livn.system import UNCONNECTED_SPACING, System


def test_unconnected_culture_layout():
    system = System.unconnected({"EXC": 8, "INH": 2})
    assert system.uri is None and system.projections == {}
    assert system.population_ranges == {"EXC": (0, 8), "INH": (8, 2)}
    xyz = system.neuron_coordinates
    assert np.array_equal(xyz[:, 0], np.arange(10))
    # a 4 x 4 grid (ceil(sqrt(10)) = 4), neighbours one spacing apart
    assert np.isclose(xyz[1, 1] - xyz[0, 1], UNCONNECTED_SPACING) and np.isclose(xyz[4, 2] - xyz[0, 2], UNCONNECTED_SPACING)
    assert System.unconnected(64).population_ranges == {"EXC": (0, 64)}


@pytest.mark.parametrize("neurons", [0, -3, True, 2.5, {}, {"EXC": 0}, {"EXC": 1.5}, "EXC"])
def test_bad_unconnected_cultures_are_refused(neurons):
    with pytest.raises(InvalidArgumentError, match="neurons must be"):
        System.unconnected(neurons)
    if not isinstance(neurons, str):  # a string is a directory path to Env
        with pytest.raises(InvalidArgumentError):
            Env(neurons)


@pytest.mark.parametrize("backend", installed_backends())
def test_unconnected_neurons_fire_alone_on_every_backend(backend):
    """Each neuron is driven only by its own current: a neuron above rheobase fires, one below does not."""
    env = Env({"EXC": 8, "INH": 2}, backend=backend).init()
    assert env.io.num_channels == 16
    env.record_spikes()
    env.record_voltage(population="INH")
    current = np.zeros((50, 10))
    current[:, [2, 9]] = 1.0  # nA, far above rheobase (0.38 nA for regular spiking)
    it, t, iv, v = env.run(50, current)
    assert set(it.tolist()) == {2, 9}
    assert np.array_equal(iv, [8, 9]) and v.shape == (2, 500)
    if backend == "brian2":
        return
    reference = Env({"EXC": 8, "INH": 2}, backend="brian2").init().record_spikes()
    expected = reference.run(50, current)  # float32 diffrax drifts from float64 over longer drives
    assert np.array_equal(it, expected.it) and np.allclose(t, expected.t)
