"""Plasticity through the Env: rules checked before anything runs, weights as a table, recording,
normalization, homeostatic scaling, inhibitory STDP, and the model's rule definitions.

Cross-backend agreement, the pairing-protocol window, save_system and checkpoints are in the
conformance suite (`tests/conformance.py`), run for every backend.
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance import PAIR_PULSE_NA, PAIR_RULE, pairing_protocol, s1_stimulation

from livn.env import Env
from livn.errors import InvalidArgumentError, UnknownNameError
from livn.models import STDP, InhibitorySTDP, SynapticScaling, lower, lower_plasticity, stdp_window
from livn.models.culture import CultureModel
from livn.system import System


@pytest.fixture
def s1_env(s1_dir):
    env = Env(s1_dir, seed=3).init().apply_model_defaults().record_spikes()
    env.set_noise(0.0, 0.0)
    return env


def _fail_if_the_backend_runs(env) -> None:
    def run(*args, **kwargs):
        raise AssertionError("the backend ran although the arguments were bad")

    env.backend.run = run


def test_bad_plasticity_arguments_are_refused_before_anything_changes(s1_env):
    env = s1_env
    _fail_if_the_backend_runs(env)
    cases = [
        ({"EXC_EXC": {"a_plus": 0.1}, "NOPE_EXC": {}}, UnknownNameError, "NOPE_EXC"),
        ({"a_pluss": 0.1}, UnknownNameError, "a_pluss"),
        ({"EXC_EXC": {"tau_plus": -5.0}}, InvalidArgumentError, "tau_plus"),
        ({"tau_minus": 0.0}, InvalidArgumentError, "tau_minus"),
        ({"w_max": 0.0}, InvalidArgumentError, "w_max"),
        ({"EXC_EXC": {"w_max": -1.0}}, InvalidArgumentError, "w_max"),
        ({"INH_EXC": STDP()}, InvalidArgumentError, "GABA_A"),
        ({"EXC_EXC": InhibitorySTDP()}, InvalidArgumentError, "AMPA"),
        ({"EXC_EXC": {"rule": "hebb"}}, UnknownNameError, "hebb"),
        ({"weight_dependence": "log"}, InvalidArgumentError, "weight_dependence"),
        ("stdp", InvalidArgumentError, "plasticity parameters"),
    ]
    for params, error, text in cases:
        with pytest.raises(error, match=text):
            env.enable_plasticity(params)
        assert env.plasticity is None
    with pytest.raises(InvalidArgumentError, match="scaling"):
        env.enable_plasticity(scaling={"target_rate": 5})
    for bad in (0, -1.0, 2.5, float("nan"), "10"):
        with pytest.raises(InvalidArgumentError, match="dt"):
            env.record_weights(bad)
    with pytest.raises(UnknownNameError, match="NOPE"):
        env.record_weights(10, synapses="NOPE")
    with pytest.raises(InvalidArgumentError, match="synapse"):
        env.record_weights(10, synapses=np.array([10**6]))
    with pytest.raises(InvalidArgumentError, match="target"):
        env.normalize_weights(-1.0)
    with pytest.raises(InvalidArgumentError, match="weights must be"):
        env.set_synaptic_weights(np.ones(3))
    with pytest.raises(InvalidArgumentError, match="weights must be"):
        env.set_synaptic_weights(-np.ones(len(env.synaptic_weights().weight)))
    assert env.t == 0 and env.recorded_weights is None


def test_rule_parameters_per_projection_and_for_all(s1_env):
    env = s1_env
    env.enable_plasticity({"a_plus": 0.01})
    assert set(env.plasticity) == {"EXC_EXC", "EXC_INH"}
    assert env.plasticity["EXC_EXC"].a_plus == 0.01 and env.plasticity["EXC_INH"].w_max == 6.0
    env.enable_plasticity({"EXC_INH": {"w_max": 5.0}, ("INH", "EXC"): {"rule": "inhibitory_stdp", "eta": 0.02}})
    assert set(env.plasticity) == {"EXC_INH", "INH_EXC"}
    assert env.plasticity["EXC_INH"] == STDP(w_max=5.0)
    assert env.plasticity["INH_EXC"] == InhibitorySTDP(eta=0.02)
    env.disable_plasticity()
    assert env.plasticity is None


def test_synaptic_weights_table_follows_the_system(s1_env, s1_dir):
    env = s1_env
    table = env.synaptic_weights()
    system = System(s1_dir)
    assert len(table.pre) == sum(p.num_edges for p in system.projections.values())
    for (pre, post), projection in system.projections.items():
        rows = table.projection == f"{pre}_{post}"
        np.testing.assert_array_equal(table.pre[rows], projection.source)
        np.testing.assert_array_equal(table.post[rows], projection.target)
        assert np.all(table.weight[rows] == CultureModel().default_weights[f"{pre}_{post}"])


def test_plasticity_off_leaves_weights_and_spikes_alone(s1_dir):
    """Disabled rules change nothing: the spikes are those of an Env that never had plasticity."""
    inputs = s1_stimulation(300)
    plain = Env(s1_dir, seed=3).init().apply_model_defaults().record_spikes().set_noise(0.0, 0.0)
    expected = plain.run(300, plain.cell_stimulus(inputs))
    env = Env(s1_dir, seed=3).init().apply_model_defaults().record_spikes().set_noise(0.0, 0.0)
    env.enable_plasticity().disable_plasticity()
    result = env.run(300, env.cell_stimulus(inputs))
    np.testing.assert_array_equal(result.it, expected.it)
    np.testing.assert_array_equal(result.t, expected.t)
    np.testing.assert_array_equal(env.synaptic_weights().weight, plain.synaptic_weights().weight)


def test_recorded_weights_sample_on_the_grid_and_equal_the_final_weights(s1_env):
    env = s1_env
    env.enable_plasticity({"a_plus": 0.02, "a_minus": 0.021})
    env.record_weights(25, synapses="EXC_EXC")
    inputs = s1_stimulation(300)
    plain = Env(env.system, seed=3).init().apply_model_defaults().record_spikes().set_noise(0.0, 0.0)
    plain.enable_plasticity({"a_plus": 0.02, "a_minus": 0.021})
    whole = plain.run(300, plain.cell_stimulus(inputs))
    first = env.run(110, env.cell_stimulus(inputs)[:110])
    second = env.run(190, env.cell_stimulus(inputs)[110:])
    recording = env.recorded_weights
    np.testing.assert_array_equal(recording.t, np.arange(0, 301, 25))
    table = env.synaptic_weights()
    rows = recording.synapses
    assert np.all(table.projection[rows] == "EXC_EXC")
    np.testing.assert_array_equal(recording.weights[:, -1], table.weight[rows])
    assert np.any(recording.weights[:, -1] != recording.weights[:, 0])
    # Splitting a run for sampling changes nothing: same spikes and weights as one run.
    joined = first.concat([first, second])
    np.testing.assert_array_equal(joined.it, whole.it)
    np.testing.assert_allclose(joined.t, whole.t, atol=1e-6)
    np.testing.assert_array_equal(table.weight, plain.synaptic_weights().weight)
    env.clear()
    np.testing.assert_array_equal(env.recorded_weights.t, [0.0])


def test_normalize_weights_sets_each_neurons_summed_input(s1_env):
    env = s1_env
    env.enable_plasticity()
    env.normalize_weights(20.0)
    table = env.synaptic_weights()
    for projection in ("EXC_EXC", "EXC_INH"):
        rows = table.projection == projection
        sums = np.bincount(table.post[rows], table.weight[rows])
        np.testing.assert_allclose(sums[np.unique(table.post[rows])], 20.0, rtol=1e-12)
    assert np.all(table.weight[table.projection == "INH_EXC"] == 3.0)  # not plastic: untouched


def test_synaptic_scaling_moves_weights_toward_the_target_rate(s1_dir):
    """Above the target rate, scaling shrinks the plastic excitatory inputs of the neurons that fire; silent ones grow."""
    env = Env(s1_dir, seed=3).init().apply_model_defaults().record_spikes(population="EXC")
    env.set_noise(0.0, 0.0)
    rule = STDP(a_plus=0.0, a_minus=0.0, w_max=16.0)  # timing rule inert: only scaling acts
    scaling = SynapticScaling(target_rate=2.0, period=500.0, gain=0.5)
    env.enable_plasticity({"EXC_EXC": rule}, scaling=scaling)
    inputs = s1_stimulation(500)
    before = env.synaptic_weights().weight
    result = env.run(500, env.cell_stimulus(inputs))
    after = env.synaptic_weights()
    counts = np.bincount(result.it, minlength=env.num_neurons)
    factors = scaling.factors(counts)
    rows = after.projection == "EXC_EXC"
    expected = np.clip(before[rows] * factors[after.post[rows]], 0, 16.0)
    np.testing.assert_allclose(after.weight[rows], expected, rtol=1e-12)
    assert np.any(factors < 1) and np.any(after.weight[rows] < before[rows])
    np.testing.assert_array_equal(after.weight[~rows], before[~rows])
    assert set(result.it.tolist()) <= set(env.system.gids_of("EXC").tolist())  # the user's recording is kept


def test_inhibitory_stdp_potentiates_inhibition_onto_a_neuron_firing_above_target(tmp_path):
    """Vogels et al. (2011): inhibitory weights onto a neuron firing above rho_0 grow; below it they shrink."""
    from livn import neuroh5
    from livn.io import MEA

    xyz = np.array([[20.0, 50.0, 0.0], [50.0, 50.0, 0.0]])
    neuroh5.write_cells(tmp_path / "cells.h5", {"EXC": xyz[:1], "INH": xyz[1:]})
    neuroh5.write_connections(tmp_path / "connections.h5", {"EXC": 1, "INH": 1},
                              {("INH", "EXC"): (np.array([1]), np.array([0]), np.array([30.0]))})
    MEA.grid(100.0, 100.0, 2, 2).save(tmp_path / "mea.json")
    changes = {}
    for drive in (0.5, 0.0):  # nA into the EXC neuron: fires tonically, or only when the INH cell lets it
        env = Env(str(tmp_path), seed=1).init().set_weights({"INH_EXC": 2.0}).record_spikes().set_noise(0.0, 0.0)
        env.enable_plasticity({"INH_EXC": InhibitorySTDP(eta=0.01, tau=20.0, target_rate=5.0, w_max=30.0)})
        stimulus = np.zeros((1000, 2))
        stimulus[:, 0] = drive
        stimulus[::50, 1] = PAIR_PULSE_NA  # the interneuron fires at 20 Hz
        env.run(1000, stimulus)
        changes[drive] = env.synaptic_weights().weight[0] - 2.0
    assert changes[0.5] > 0 > changes[0.0]


def test_pairing_protocol_on_brian2_matches_the_window_for_multiplicative_stdp(pair_dir):
    """Weight-dependent STDP: potentiation scales with w_max - w and depression with w."""
    rule = STDP(a_plus=0.05, a_minus=0.06, tau_plus=20.0, tau_minus=20.0, w_max=10.0, weight_dependence="multiplicative")
    env = Env(pair_dir, seed=1).init().set_weights({"EXC_EXC": 4.0}).record_spikes().set_noise(0.0, 0.0)
    env.enable_plasticity({"EXC_EXC": rule})
    weights, expected = [], []
    for offset in (5, -5, 20, -20):
        w = env.synaptic_weights().weight[0]
        dts, changes = pairing_protocol(env, [offset])
        weights.append(changes[0])
        expected.append(float(stdp_window(dts[0], rule, w=w)))
    np.testing.assert_allclose(weights, expected, rtol=1e-9)


def test_lowered_coefficients_follow_the_rule_table(s1_dir):
    system = System(s1_dir)
    lowered = lower(system, CultureModel(), seed=1)
    rules = {"EXC_EXC": PAIR_RULE, "INH_EXC": InhibitorySTDP(eta=0.01, tau=10.0, target_rate=4.0, w_max=20.0)}
    plastic = lower_plasticity(lowered, rules)
    ee, ie = lowered.edges_of("EXC_EXC"), lowered.edges_of("INH_EXC")
    assert plastic.plastic[ee].all() and plastic.plastic[ie].all() and not plastic.plastic[lowered.edges_of("EXC_INH")].any()
    assert np.all(plastic.post_c[ee] == PAIR_RULE.a_plus * 16.0) and np.all(plastic.pre_c[ee] == -PAIR_RULE.a_minus * 16.0)
    assert np.allclose(plastic.pre_offset[ie], -0.01 * 20.0 * 2 * 4.0e-3 * 10.0)
    assert not plastic.plastic.flags.writeable
