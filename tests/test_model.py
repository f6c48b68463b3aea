"""The culture model against answers that follow from its equations alone.

Every backend's simulation of the equations (rest, forward Euler, firing and rates against
an independent solver) is checked in tests/conformance.py."""

import numpy as np
import pytest

from livn.env import Env
from livn.models import CultureModel

MODEL = CultureModel()


def test_resting_potential_and_rheobase_of_regular_spiking():
    # 0.04 v^2 + 4.8 v + 140 = 0 has roots -70 and -50 mV; the stable one is -70 mV.
    assert MODEL.resting_potential(0.2) == pytest.approx(-70.0)
    # a < b: rest loses stability at the Hopf point v = (a - 5)/0.08 = -62.25 mV, where
    # I/C = -(0.04 v^2 + 4.8 v + 140) = 3.7975 mV/ms, i.e. 0.37975 nA on 0.1 nF (the saddle-node would need 0.4 nA).
    assert MODEL.rheobase(0.02, 0.2) == pytest.approx(0.37975)
    # a > b: saddle-node, (5 - b)^2 = 0.16 (140 + I/C).
    assert MODEL.rheobase(0.3, 0.2) == pytest.approx(((4.8**2) / 0.16 - 140) * 0.1)


def test_neuron_parameters_are_reproducible_and_heterogeneous():
    ranges = {"EXC": (0, 50), "INH": (50, 10)}
    p1 = MODEL.neuron_parameters(ranges, seed=3)
    p2 = MODEL.neuron_parameters(ranges, seed=3)
    p3 = MODEL.neuron_parameters(ranges, seed=4)
    np.testing.assert_array_equal(p1["c"], p2["c"])
    assert not np.array_equal(p1["c"], p3["c"])
    # regular spiking: c in [-65, -50] mV, d in [2, 8]; fast spiking: a in [0.02, 0.1]
    assert np.all((p1["c"][:50] >= -65) & (p1["c"][:50] <= -50)) and np.ptp(p1["c"][:50]) > 5
    assert np.all((p1["d"][:50] >= 2) & (p1["d"][:50] <= 8))
    assert np.all((p1["a"][50:] >= 0.02) & (p1["a"][50:] <= 0.1))


def test_defaults_give_culture_like_spontaneous_activity(s2_dir):
    """Irregular firing at a few Hz with recurring network bursts (in vitro cultures, S2 and larger)."""
    from livn.analysis import summarize

    env = Env(s2_dir, seed=21).init().apply_model_defaults().record_spikes()
    env.run(500)  # let the onset transient pass
    it, t, _, _ = env.run(6000)
    summary = summarize(it, t, env.num_neurons, 6000)
    assert 0.5 <= summary.mean_rate <= 5.0
    assert summary.isi_cv > 0.8
    assert summary.num_bursts >= 2
    assert 0.2 < summary.fraction_in_bursts < 0.95
