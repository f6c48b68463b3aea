"""Long-term plasticity (STDP) on the diffrax backend: real, noise-free simulations of small cultures.

Cross-backend agreement with brian2 is in tests/conformance.py; here are the diffrax
backend's own concerns: both delivery paths (event by event and over every synapse),
arrival-list overflow, batches under jit/vmap, copies, checkpoints, gradients, and
weights or rules that change while spikes are in flight.
"""

import dataclasses

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from livn.backends import _diffrax_core as core  # noqa: E402
from livn.backends.base import PLASTICITY  # noqa: E402
from livn.env import Env  # noqa: E402
from livn.errors import CheckpointError, InvalidArgumentError  # noqa: E402
from livn.models.plasticity import STDP, InhibitorySTDP, lower_plasticity, stdp_window  # noqa: E402

#: A 1 ms row of this current (nA) makes a resting regular-spiking neuron fire exactly once.
PULSE_NA = 6.0


def x64():
    enable_x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64
    return enable_x64(True)


@pytest.fixture(scope="module")
def two_neurons(tmp_path_factory):
    """Two excitatory neurons 30 um apart and one synapse 0 -> 1."""
    from livn import neuroh5
    from livn.io import MEA

    directory = tmp_path_factory.mktemp("systems") / "two"
    directory.mkdir()
    neuroh5.write_cells(directory / "cells.h5", {"EXC": np.array([[20.0, 50.0, 0.0], [50.0, 50.0, 0.0]])})
    neuroh5.write_connections(
        directory / "connections.h5", {"EXC": 2}, {("EXC", "EXC"): (np.array([0]), np.array([1]), np.array([30.0]))}
    )
    MEA.grid(100.0, 100.0, 2, 2).save(directory / "mea.json")
    return str(directory)


def event_driven(env, capacity: int = 1):
    """Make `env`'s forward runs deliver event by event, one neuron's spikes at a time."""
    backend = env.backend
    backend.event_simulator = core.Simulator(backend.lowered.model, backend.dt, event_capacity=capacity)
    backend.plastic_event_simulator = backend.event_simulator
    return env


def over_every_synapse(env):
    """Make `env`'s forward runs deliver over every synapse in every step (the path of gradient runs)."""
    backend = env.backend
    backend.event_simulator = backend.plastic_event_simulator = backend.simulator
    return env


def culture(directory, seed=1, events=None, defaults=False, **options):
    """A noise-free diffrax Env, with the model's default weights if `defaults`.

    `events`: None (the backend's own choice of delivery), True or False (see above).
    """
    env = Env(directory, seed=seed, backend="diffrax", backend_options=options).init()
    if defaults:
        env.apply_model_defaults()
    env.set_noise(0.0, 0.0)
    if events is None:
        return env
    return event_driven(env) if events else over_every_synapse(env)


def listed(state, step):
    """The plastic synapses listed as arriving in each of the next steps from `step`, as sets."""
    arrivals, count = np.asarray(state.plastic.arrivals), np.asarray(state.plastic.arrival_count)
    length = len(count)
    return [set(arrivals[(step + r) % length, : count[(step + r) % length]].tolist()) for r in range(length)]


def set_rules(env, rules):
    env.backend.set_plasticity(lower_plasticity(env.backend.lowered, rules))


def assert_each_trial_is_a_single_run(env, duration, stimulus, results, weights, initial):
    """Trial b of a batch (or copy b) has the spikes and final weights (nS) of a single run of `stimulus[b]`
    from the same state, with the weights reset to `initial` before each."""
    for b in range(len(results)):
        single = env.run(duration, stimulus[b])
        np.testing.assert_array_equal(results[b].it, single.it)
        np.testing.assert_allclose(weights[b], env.backend.synapse_weights(), rtol=1e-12)
        env.clear()
        env.backend.set_synapse_weights(initial)


def s1_inputs(duration=400):
    """Electrode inputs [duration, 16] (uA) that make S1 fire in bouts."""
    inputs = np.zeros((duration, 16))
    inputs[30:60, 3] = 15.0
    inputs[150:180, 10] = 15.0
    inputs[250:350, 6] = 8.0
    return inputs


def test_capability_is_declared(two_neurons):
    env = culture(two_neurons)
    assert PLASTICITY in env.backend.capabilities
    assert env.backend.synapse_weights().dtype == np.float64


@pytest.mark.parametrize("events", [False, True], ids=["dense", "events"])
@pytest.mark.parametrize("dependence", ["additive", "multiplicative"])
def test_pairing_protocol_gives_the_analytic_window(two_neurons, events, dependence):
    """One pre/post pair per offset changes w by exactly `stdp_window(t_post - t_pre_arrival)` (float64)."""
    rule = STDP(a_plus=0.01, a_minus=0.012, tau_plus=16.8, tau_minus=33.7, w_max=16.0,  # steps far above rounding
                weight_dependence=dependence)
    with x64():
        env = culture(two_neurons, events=events).set_weights({"EXC_EXC": 4.0}).record_spikes()
        backend = env.backend
        set_rules(env, {"EXC_EXC": rule})
        delay = backend.lowered.delay_steps[0] * backend.dt
        dts, changes = [], []
        for offset in [-30, -10, -2, 0, 1, 2, 10, 30]:
            env.clear()
            backend.set_synapse_weights(np.array([4.0]))
            stimulus = np.zeros((100, 2))
            stimulus[40, 0] = PULSE_NA
            stimulus[40 + offset, 1] = PULSE_NA
            it, t, _, _ = env.run(100, stimulus)
            assert sorted(it.tolist()) == [0, 1], f"offset {offset} ms: spikes {it} at {t}"
            dts.append(t[it == 1][0] - (t[it == 0][0] + delay))
            changes.append(backend.synapse_weights()[0] - 4.0)
    dts, changes = np.array(dts), np.array(changes)
    assert (dts > 0).sum() >= 3 and (dts < 0).sum() >= 3
    np.testing.assert_allclose(changes, stdp_window(dts, rule, w=4.0), rtol=1e-9, atol=1e-12)


def test_event_delivery_and_list_overflow_equal_delivery_over_every_synapse(s2_dir):
    """Forward runs on S2 (event by event, also with lists so short that they overflow) equal the dense path."""
    inputs = np.zeros((300, 16))
    inputs[20:60, 3] = 15.0
    inputs[120:200, 6] = 10.0
    rules = {"EXC_EXC": STDP(a_plus=0.02, a_minus=0.021), "EXC_INH": STDP(a_plus=0.02, a_minus=0.021, w_max=6.0),
             "INH_EXC": InhibitorySTDP(eta=0.05)}
    results = {}
    with x64():
        for mode in ("dense", "events", "overflow"):
            env = Env(s2_dir, seed=2, backend="diffrax",
                      backend_options={"arrival_capacity": 32} if mode == "overflow" else {}).init()
            env.apply_model_defaults().set_noise(0.0, 0.0)
            env.record_spikes()
            set_rules(env, rules)
            backend = env.backend
            if mode == "dense":
                over_every_synapse(env)
            result = env.run(300, env.cell_stimulus(inputs))
            results[mode] = (result, backend.synapse_weights())
    lowered = backend.lowered
    # The short lists did overflow: some step had more plastic arrivals than 32.
    result = results["events"][0]
    plastic = np.asarray(backend.network.plasticity.plastic)
    steps = np.round(result.t / lowered.dt).astype(int)
    arrivals = np.zeros(steps.max() + lowered.max_delay_steps + 2, int)
    for gid, step in zip(result.it, steps):
        edges = np.flatnonzero((lowered.pre == gid) & plastic)
        np.add.at(arrivals, step + 1 + lowered.delay_steps[edges], 1)  # sent in the step after the spike
    assert arrivals.max() > 32 and len(result.it) > 100
    dense_result, dense_weights = results["dense"]
    assert np.any(dense_weights != backend.synapse_weights_of(backend.initial_states(1))[0])
    for mode in ("events", "overflow"):
        result, weights = results[mode]
        np.testing.assert_array_equal(result.it, dense_result.it)
        np.testing.assert_array_equal(result.t, dense_result.t)
        np.testing.assert_allclose(weights, dense_weights, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("events", [False, True], ids=["dense", "events"])
def test_batch_under_jit_and_vmap_gives_each_trials_weights(s1_dir, events):
    """A batch of B stimuli evolves B sets of weights, each equal to a single run's; the culture is not advanced."""
    with x64():
        env = culture(s1_dir, seed=3, events=events, defaults=True).record_spikes()
        backend = env.backend
        set_rules(env, {"EXC_EXC": STDP(a_plus=0.02, a_minus=0.021)})
        initial = backend.synapse_weights()
        rng = np.random.default_rng(0)
        inputs = rng.uniform(0, 12, (3, 150, 16)) * (rng.uniform(size=(3, 1, 16)) < 0.3)
        stimulus = np.asarray(env.cell_stimulus(inputs))
        batch = env.run(150, stimulus)
        assert env.t == 0 and np.array_equal(backend.synapse_weights(), initial)
        trial_weights = backend.synapse_weights_of(backend.trial_states)
        assert trial_weights.shape == (3, backend.lowered.num_edges)
        assert_each_trial_is_a_single_run(env, 150, stimulus, batch, trial_weights, initial)
        assert len({tuple(np.round(w, 9)) for w in trial_weights}) == 3  # different stimuli, different learning


@pytest.mark.parametrize("events", [None, False], ids=["default", "dense"])
def test_copies_carry_their_own_weights(s1_dir, events):
    with x64():
        env = culture(s1_dir, seed=3, events=events, defaults=True).record_spikes()
        backend = env.backend
        stale = env.copy_states(2)  # made before the rules: refused below
        set_rules(env, {"EXC_EXC": STDP(a_plus=0.02, a_minus=0.021)})
        initial = backend.synapse_weights()
        inputs = np.zeros((2, 100, 16))
        inputs[0, 20:50, 3] = 15.0
        inputs[1, 20:50, 10] = 15.0
        stimulus = np.asarray(env.cell_stimulus(inputs))
        with pytest.raises(InvalidArgumentError, match="copy_states"):
            env.run_copies(100, stale, stimulus)
        copies = env.copy_states(2)
        results, copies = env.run_copies(100, copies, stimulus)
        weights = backend.synapse_weights_of(copies.state)
        assert_each_trial_is_a_single_run(env, 100, stimulus, results, weights, initial)
        assert not np.allclose(weights[0], weights[1])


@pytest.mark.parametrize("events", [False, True], ids=["dense", "events"])
def test_checkpoint_continues_identically(s1_dir, events):
    env = culture(s1_dir, seed=7, events=events, defaults=True).record_spikes()
    backend = env.backend
    set_rules(env, {"EXC_EXC": STDP(a_plus=0.02, a_minus=0.021), "INH_EXC": InhibitorySTDP(eta=0.05)})
    stimulus = np.asarray(env.cell_stimulus(s1_inputs(300)))
    env.run(165, stimulus[:165])  # the second bout: spikes in flight at the checkpoint
    state = backend.get_state()
    assert state["plastic"]["arrival_count"].sum() + np.count_nonzero(state["in_flight"]) > 0
    whole = env.run(135, stimulus[165:])
    final = backend.synapse_weights()
    assert np.any(state["weights"] != final)

    again = culture(s1_dir, seed=7, events=events, defaults=True).record_spikes()
    set_rules(again, {"EXC_EXC": STDP(a_plus=0.02, a_minus=0.021), "INH_EXC": InhibitorySTDP(eta=0.05)})
    again.backend.check_state(state)
    again.backend.set_state(state)
    continued = again.run(135, stimulus[165:])
    np.testing.assert_array_equal(continued.it, whole.it)
    np.testing.assert_array_equal(continued.t, whole.t)
    np.testing.assert_array_equal(again.backend.synapse_weights(), final)

    broken = dict(state, plastic=dict(state["plastic"], w=state["plastic"]["w"][:-1]))
    with pytest.raises(CheckpointError):
        again.backend.check_state(broken)


def test_clear_and_turning_rules_off_keep_the_weights(s1_dir):
    env = culture(s1_dir, seed=3, defaults=True).record_spikes()
    backend = env.backend
    stimulus = np.asarray(env.cell_stimulus(s1_inputs(200)))
    set_rules(env, {"EXC_EXC": STDP(a_plus=0.02, a_minus=0.021)})
    env.run(200, stimulus)
    learned = backend.synapse_weights()
    env.clear()
    assert env.t == 0 and np.array_equal(backend.synapse_weights(), learned)
    assert not np.any(np.asarray(backend.state.plastic.a_pre)) and not np.any(np.asarray(backend.state.plastic.a_post))
    backend.set_plasticity(None)
    assert backend.state.plastic is None and np.array_equal(backend.synapse_weights(), learned)
    env.run(200, stimulus)
    assert np.array_equal(backend.synapse_weights(), learned)  # no rules: no change
    env.set_weights({"EXC_EXC": 5.0})  # per projection: every synapse of it
    lowered = backend.lowered
    weights = backend.synapse_weights()
    assert np.all(weights[lowered.edges_of("EXC_EXC")] == 5.0)
    others = np.ones(lowered.num_edges, bool)
    others[lowered.edges_of("EXC_EXC")] = False
    np.testing.assert_array_equal(weights[others], learned[others])


def test_gradients_flow_with_plasticity_on(s1_dir):
    """run(unroll="mask") under jit and grad: finite gradients of a voltage loss, also w.r.t. the weights."""
    env = culture(s1_dir, seed=3, defaults=True).record_voltage()
    backend = env.backend
    set_rules(env, {"EXC_EXC": STDP(a_plus=0.02, a_minus=0.021)})

    @jax.jit
    def loss(inputs):
        _, _, _, v = env.run(60, env.cell_stimulus(inputs), unroll="mask", key=env.run_key)
        return jnp.mean(v)

    inputs = np.zeros((60, 16))
    inputs[5:40, 3] = 15.0
    grad = jax.grad(loss)(jnp.asarray(inputs))
    assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.abs(grad).max()) > 0
    assert env.t == 0

    def weight_loss(w):
        state = dataclasses.replace(backend.state, plastic=dataclasses.replace(backend.state.plastic, w=w))
        final, _, v = core._run_compiled(backend.simulator, backend.network, state, jnp.asarray(
            env.cell_stimulus(inputs), core._float_dtype()), env.run_key, 600, 10, 0, True, False)
        return jnp.mean(v) + jnp.sum(final.plastic.w)

    w_grad = jax.grad(weight_loss)(backend.state.plastic.w)
    assert bool(jnp.all(jnp.isfinite(w_grad))) and float(jnp.abs(w_grad).max()) > 0


def in_flight_scenario(directory, backend, events=False):
    """Noise-free S1 whose weights are set and whose rules are turned on and off while spikes are in flight.

    Returns `(results of 20 ms windows, weights learned, final weights)`.
    """
    env = Env(directory, seed=3, backend=backend).init().record_spikes()
    env.set_noise(0.0, 0.0)
    if backend == "diffrax":
        event_driven(env) if events else over_every_synapse(env)
    stimulus = np.asarray(env.cell_stimulus(s1_inputs(300)))
    results, learned = [], None
    for start in range(0, 300, 20):  # equal windows: one compilation per structure
        if start == 160:  # inside the second bout: spikes in flight from here on
            env.set_weights({"EXC_EXC": 10.0, "INH_EXC": 5.0})
            rules = {"EXC_EXC": STDP(a_plus=0.02, a_minus=0.021)}
            env.backend.set_plasticity(lower_plasticity(env.backend.lowered, rules))
        if start == 180:
            env.backend.set_synapse_weights(env.backend.synapse_weights() * 0.9)
            before = env.backend.synapse_weights()
        if start == 260:
            learned = env.backend.synapse_weights()
            assert np.sum(learned != before) > 0
            env.backend.set_plasticity(None)
        results.append(env.run(20, stimulus[start:start + 20]))
    return results, learned, env.backend.synapse_weights()


@pytest.fixture(scope="module")
def brian2_in_flight(s1_dir):
    pytest.importorskip("brian2")
    return in_flight_scenario(s1_dir, "brian2")


@pytest.mark.parametrize("events", [False, True], ids=["dense", "events"])
def test_weights_and_rules_changed_while_spikes_are_in_flight_match_brian2(s1_dir, brian2_in_flight, events):
    """Weights are read at arrival: weights set and rules turned on/off mid-flight agree with brian2 (float64)."""
    reference, reference_learned, reference_final = brian2_in_flight
    with x64():
        results, learned, final = in_flight_scenario(s1_dir, "diffrax", events)
    assert sum(len(r.it) for r in reference[8:]) > 20
    for ours, theirs in zip(results, reference):
        np.testing.assert_array_equal(ours.it, theirs.it)
        np.testing.assert_allclose(ours.t, theirs.t, atol=1e-6)
    np.testing.assert_array_equal(final, learned)  # no rules: no change
    np.testing.assert_allclose(learned, reference_learned, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(final, reference_final, rtol=1e-9, atol=1e-9)


def test_bad_arrival_capacity_is_refused(two_neurons):
    for bad in (0, 33, -32, 32.0, True):
        with pytest.raises(InvalidArgumentError, match="arrival_capacity"):
            Env(two_neurons, backend="diffrax", backend_options={"arrival_capacity": bad}).init()


def test_a_gradient_run_between_forward_runs_continues_the_same_culture(s1_dir):
    """A run(unroll="mask") window (over every synapse, no arrival lists) between event-driven windows
    leaves the arrival lists and gives the spikes and weights of event-driven windows only."""
    rules = {"EXC_EXC": STDP(a_plus=0.02, a_minus=0.021), "INH_EXC": InhibitorySTDP(eta=0.05)}
    with x64():
        runs = {}
        for mixed in (False, True):
            env = culture(s1_dir, seed=3, defaults=True).record_spikes()
            set_rules(env, rules)
            stimulus = np.asarray(env.cell_stimulus(s1_inputs(300)))
            env.run(150, stimulus[:150])
            if mixed:  # inside the bout: spikes in flight at both boundaries
                mask = np.asarray(env.run(20, stimulus[150:170], unroll="mask")[0])
                gids, steps = np.nonzero(mask > 0.5)
                order = np.lexsort((gids, steps))
                middle = (gids[order], steps[order] * env.backend.dt)
            else:
                result = env.run(20, stimulus[150:170])
                middle = (result.it, result.t)
            lists = listed(env.backend.state, 1700)
            last = env.run(130, stimulus[170:])
            runs[mixed] = (middle, lists, last, env.backend.synapse_weights())
    (middle, lists, last, weights), (middle2, lists2, last2, weights2) = runs[False], runs[True]
    assert len(middle[0]) > 0 and len(last.it) > 0 and sum(map(len, lists)) > 0
    assert lists2 == lists
    np.testing.assert_array_equal(middle2[0], middle[0])
    np.testing.assert_allclose(middle2[1], middle[1], atol=1e-6)
    np.testing.assert_array_equal(last2.it, last.it)
    np.testing.assert_allclose(last2.t, last.t, atol=1e-6)
    np.testing.assert_allclose(weights2, weights, rtol=1e-12, atol=1e-12)
