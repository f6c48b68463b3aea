"""The culture model against answers that follow from its equations alone."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

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


def _single_neuron_env(directory, seed=5):
    env = Env(directory, seed=seed).init()
    env.record_spikes()
    env.record_voltage(dt=0.1)
    return env


def test_no_input_stays_at_rest(single_neuron_dir):
    env = _single_neuron_env(single_neuron_dir)
    it, t, iv, v = env.run(200)
    assert len(it) == 0
    np.testing.assert_allclose(v, -70.0, atol=1e-6)


def test_step_current_fires_exactly_when_the_equations_do(single_neuron_dir):
    # Near threshold (subcritical Hopf, bistable) a step from rest may fire a single onset
    # spike or none: the simulation must agree with the equations solved independently.
    env = _single_neuron_env(single_neuron_dir)
    params = MODEL.neuron_parameters(env.system.population_ranges, env.seed)
    a, b, c, d = (params[k][0] for k in "abcd")
    fired = {}
    for current in (0.1, 0.25, 0.30, 0.37, 0.40):
        env.clear()
        it, *_ = env.run(1000, np.full((1000, 1), current))
        reference = _reference_spike_times(a, b, c, d, current, 1000.0)
        assert (len(it) > 0) == (len(reference) > 0), current
        fired[current] = len(it) > 0
    assert not fired[0.1] and fired[0.40]


def _reference_spike_times(a, b, c, d, current_nA, duration):
    """Spike times (ms) of the Izhikevich equations under constant current, by a tight adaptive solver."""
    drive = current_nA / MODEL.membrane_capacitance

    def rhs(_, y):
        v, u = y
        return [0.04 * v * v + 5 * v + 140 - u + drive, a * (b * v - u)]

    def peak(_, y):
        return y[0] - MODEL.v_peak

    peak.terminal, peak.direction = True, 1
    t0, y = 0.0, [MODEL.resting_potential(b), b * MODEL.resting_potential(b)]
    spikes = []
    while t0 < duration:
        sol = solve_ivp(rhs, (t0, duration), y, events=peak, rtol=1e-10, atol=1e-10, max_step=0.5)
        if sol.status != 1:
            break
        t0 = sol.t_events[0][0]
        spikes.append(t0)
        y = [c, sol.y_events[0][0][1] + d]
    return np.array(spikes)


@pytest.mark.parametrize("current", [0.6, 1.0, 2.0])
def test_regular_spiking_rate_matches_the_equations(single_neuron_dir, current):
    env = _single_neuron_env(single_neuron_dir)
    params = MODEL.neuron_parameters(env.system.population_ranges, env.seed)
    a, b, c, d = (params[k][0] for k in "abcd")
    duration = 2000.0
    it, t, _, _ = env.run(duration, np.full((int(duration), 1), current))
    reference = _reference_spike_times(a, b, c, d, current, duration)
    assert len(reference) > 5
    # Steady-state rate (after adaptation settles): last half of the run.
    simulated_rate = np.sum(t >= duration / 2) / (duration / 2000)
    reference_rate = np.sum(reference >= duration / 2) / (duration / 2000)
    assert simulated_rate == pytest.approx(reference_rate, rel=0.05, abs=1.0)
    # The first spike (latency from rest) agrees within a few integration steps.
    assert t[0] == pytest.approx(reference[0], abs=1.0)


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
