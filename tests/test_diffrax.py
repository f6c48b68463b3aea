"""The diffrax backend's own concerns: gradients, batching, noise keys, event delivery.

What every backend must do, agreement with brian2 included, is in tests/conformance.py."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from livn.env import Env  # noqa: E402
from livn.errors import InvalidArgumentError  # noqa: E402


@pytest.fixture(scope="module")
def s1_diffrax(s1_dir):
    return Env(s1_dir, backend="diffrax").init().apply_model_defaults().record_spikes().record_voltage()


def test_issue_snippet_gives_finite_gradients(s1_diffrax):
    @eqx.filter_jit
    def loss_fn(inputs, env, t_end, key):
        stimulus = env.cell_stimulus(inputs)
        mask, t, gids, v = env.run(t_end, stimulus, unroll="mask", key=key)
        return -jnp.mean(v)

    loss, grads = eqx.filter_value_and_grad(loss_fn)(jnp.zeros([30, 16]), s1_diffrax, 30, s1_diffrax.run_key)
    assert np.isfinite(float(loss)) and grads.shape == (30, 16)
    assert bool(jnp.all(jnp.isfinite(grads))) and float(jnp.abs(grads).max()) > 0
    assert s1_diffrax.t == 0  # a traced run does not advance the culture


def test_voltage_gradient_matches_finite_differences(s1_dir):
    """jax.grad of a voltage loss against central differences, in float64 so both are precise."""
    enable_x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64
    with enable_x64(True):
        env = Env(s1_dir, backend="diffrax").init().apply_model_defaults().record_voltage()
        env.set_noise(0.0, 0.0)  # a smooth, subthreshold loss: exact up to the solver
        base = np.full((20, 16), 0.01)  # uA; ~0.15 nA per neuron, below the 0.38 nA threshold

        @jax.jit  # traced: a pure function of the inputs, from the culture's current state (t = 0)
        def loss(inputs):
            _, _, _, v = env.run(20, env.cell_stimulus(inputs), unroll="mask", key=env.run_key)
            return jnp.mean(v)

        mask = jax.jit(lambda x: env.run(20, env.cell_stimulus(x), unroll="mask")[0])(base)
        assert float(mask.sum()) == 0  # no spike: the loss is smooth around `base`
        grad = np.asarray(jax.grad(loss)(jnp.asarray(base)))
        assert grad.dtype == np.float64
        for row, channel in [(2, 0), (5, 3), (10, 7), (15, 12), (18, 15)]:
            eps = 1e-4
            plus, minus = base.copy(), base.copy()
            plus[row, channel] += eps
            minus[row, channel] -= eps
            numeric = (float(loss(jnp.asarray(plus))) - float(loss(jnp.asarray(minus)))) / (2 * eps)
            assert grad[row, channel] == pytest.approx(numeric, rel=1e-2)


def test_batched_trials_equal_single_trials(s1_dir):
    env = Env(s1_dir, seed=9, backend="diffrax").init().apply_model_defaults().record_spikes()
    rng = np.random.default_rng(0)
    inputs = rng.uniform(0, 10, (3, 100, 16))
    stimulus = np.asarray(env.cell_stimulus(inputs))
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    batch = env.run(100, stimulus, key=keys)
    assert len(batch) == 3 and env.t == 0
    for b in range(3):
        single = env.run(100, stimulus[b], key=keys[b])
        env.clear()
        np.testing.assert_array_equal(batch[b].it, single.it)
        np.testing.assert_allclose(batch[b].t, single.t)
    masks = env.run(100, stimulus, key=keys, unroll="mask")[0]
    assert masks.shape == (3, 11, 1000)


def test_event_driven_delivery_equals_delivery_over_every_synapse(s2_dir):
    """Forward runs send spikes event by event (in groups of K); results must equal the dense path."""
    env = Env(s2_dir, seed=2, backend="diffrax").init().apply_model_defaults()
    inputs = np.zeros((1500, 16))
    inputs[700:702] = 100.0  # uA on every electrode: dozens of neurons spike in the same step
    stimulus = np.asarray(env.cell_stimulus(inputs))
    _, events, v_events = env.backend.simulate(1500.0, stimulus)
    _, dense, v_dense = env.backend.simulate(1500.0, stimulus, events=False)
    assert float(events.sum()) > 200
    assert int(events.sum(axis=1).max()) > 16
    np.testing.assert_array_equal(np.asarray(events), np.asarray(dense))
    np.testing.assert_array_equal(np.asarray(v_events), np.asarray(v_dense))


def test_bad_noise_keys_are_rejected_before_jax_sees_them(s1_dir):
    """A key that is not JAX key data of the right shape is our error, not JAX's TypeError."""
    env = Env(s1_dir, backend="diffrax").init()
    for key in ("abc", np.zeros(3, np.uint32), np.zeros(2), np.zeros((4, 2), np.uint32)):
        with pytest.raises(InvalidArgumentError, match="key must be JAX random key data"):
            env.run(5, key=key)
    batch = np.zeros((4, 5, env.num_neurons))
    results = env.run(5, batch, key=np.zeros((4, 2), np.uint32))  # one key per trial is fine
    assert len(results) == 4
    with pytest.raises(InvalidArgumentError, match=r"\[3, 2\]"):
        env.run(5, np.zeros((3, 5, env.num_neurons)), key=np.zeros((4, 2), np.uint32))


def test_jax_stimulus_is_checked_by_value_outside_jit(s1_dir):
    env = Env(s1_dir, backend="diffrax").init()
    with pytest.raises(InvalidArgumentError, match="NaN"):
        env.run(10, jnp.full((10, 11), jnp.nan))
    assert env.t == 0


# -- stimulus rows finer than 1 ms -----------------------------------------------------------------


def test_fine_rows_of_batches_copies_and_unrolled_runs_repeat_coarse_rows(s1_dir):
    """A stimulus given at 0.1 or 0.5 ms rows, each 1 ms row repeated, is the same stimulus on every path:
    batched trials, copies and unrolled runs, also for a window that starts between two 1 ms rows."""
    env = Env(s1_dir, seed=4, backend="diffrax").init().apply_model_defaults().record_spikes().record_voltage()
    backend = env.backend
    coarse = np.asarray(env.cell_stimulus(np.random.default_rng(1).uniform(0, 6, (2, 30, 16))))
    keys = jax.random.split(jax.random.PRNGKey(2), 2)
    env.run(0.3)  # the windows below start 3 steps into a noise row
    for step in (0.1, 0.5):
        fine = np.repeat(coarse, int(round(1 / step)), axis=1)
        for a, b in zip(env.run(30, coarse, key=keys), env.run(30, fine, key=keys, stimulus_step=step)):
            assert len(a.it) > 0
            np.testing.assert_array_equal(a.it, b.it)
            np.testing.assert_array_equal(a.v, b.v)
        masks = [env.run(30, s, unroll="mask", **kw)[0] for s, kw in ((coarse, {}), (fine, {"stimulus_step": step}))]
        np.testing.assert_array_equal(np.asarray(masks[0]), np.asarray(masks[1]))
        copies = backend.initial_states(2)
        a, _ = backend.run_copies(30, copies, coarse, keys)
        b, _ = backend.run_copies(30, copies, fine, keys, stimulus_step=step)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.t, y.t)
    assert env.t == pytest.approx(0.3)  # batches (unrolled or not) and copies leave the culture as it was


def test_gradient_of_a_coarse_row_is_the_sum_over_its_fine_rows(s1_dir):
    """Chain rule: a 1 ms row drives the same steps as its ten 0.1 ms rows together."""
    env = Env(s1_dir, seed=4, backend="diffrax").init().apply_model_defaults().record_voltage()

    def loss(stimulus, step):
        _, _, _, v = env.run(20, stimulus, unroll="mask", key=env.run_key, stimulus_step=step)
        return jnp.mean(v[:, 5:] ** 2)

    base = np.full((20, env.num_neurons), 0.05)
    coarse = np.asarray(jax.grad(loss)(jnp.asarray(base), 1.0))
    fine = np.asarray(jax.grad(loss)(jnp.asarray(np.repeat(base, 10, axis=0)), 0.1))
    assert np.abs(coarse).max() > 0 and np.abs(fine[-1]).max() == 0  # the last step's input reaches no sample
    np.testing.assert_allclose(fine.reshape(20, 10, -1).sum(axis=1), coarse, rtol=1e-4, atol=1e-6 * np.abs(coarse).max())


def test_a_pulse_on_the_integration_grid_moves_the_next_sample_by_dt_times_its_current(s1_dir):
    """Forward Euler: a current I (nA) in 0.1 ms row k changes v only from sample k + 1 on, there by dt I / C (mV)."""
    env = Env(s1_dir, backend="diffrax").init().record_voltage()  # no weights, no noise
    pulse = np.zeros((100, env.num_neurons))
    pulse[37, 3] = 2.0
    _, _, _, rest = env.run(10, np.zeros_like(pulse), stimulus_step=0.1)
    env.clear()
    _, _, _, v = env.run(10, pulse, stimulus_step=0.1)
    change = v - rest
    np.testing.assert_array_equal(change[:, :38], 0.0)
    np.testing.assert_array_equal(np.delete(change, 3, axis=0), 0.0)
    assert change[3, 38] == pytest.approx(0.1 * 2.0 / env.model.membrane_capacitance, rel=1e-4)


# -- synaptic currents ------------------------------------------------------------------------------


def test_synaptic_currents_are_the_conductances_that_arrive(s1_dir):
    """Noise-free S1 in which one excitatory and one inhibitory neuron spike once each: every neuron's
    AMPA and GABA_A current is 1e-3 g (E - v) with g the weights that arrived after their delays,
    decayed by forward Euler (1 - dt / tau per step). Sampled on the voltage's grid from an odd start."""
    env = Env(s1_dir, backend="diffrax").init().apply_model_defaults().record_spikes().record_voltage(dt=0.2)
    env.set_noise(0.0, 0.0)
    backend, lowered, model = env.backend, env.backend.lowered, env.model
    backend.record_synaptic_currents(np.arange(env.num_neurons), 0.2)
    env.run(0.3)
    stimulus = np.zeros((40, env.num_neurons))
    stimulus[2, 0] = stimulus[10, 9] = 5.0  # neuron 0 (EXC) and neuron 9 (INH), once each
    result = env.run(40, stimulus)
    currents = backend.synaptic_currents()
    assert sorted(result.it.tolist()) == [0, 9]
    assert currents.dt == pytest.approx(0.2) and currents.ampa.shape == currents.gaba.shape == result.v.shape
    np.testing.assert_array_equal(currents.gids, np.arange(env.num_neurons))

    dt, start = model.dt, 3  # steps; the window starts at step 3, its first sample is step 4 (0.1 ms in)
    sample_steps = 4 + 2 * np.arange(result.v.shape[1])
    expected = np.zeros((2, env.num_neurons, len(sample_steps)))
    weights = np.asarray(backend.network.weights)
    taus = [model.receptors[name].time_constant for name in ("AMPA", "GABA_A")]
    for gid, t in zip(result.it, result.t):
        arrival = start + int(round(t / dt)) + lowered.delay_steps  # the spike's step plus each delay
        for e in np.flatnonzero(lowered.pre == gid):
            after = sample_steps > arrival[e]
            r = lowered.receptor[e]
            expected[r, lowered.post[e], after] += weights[e] * (1 - dt / taus[r]) ** (
                sample_steps[after] - 1 - arrival[e])
    reversal = [model.receptors[name].reversal_potential for name in ("AMPA", "GABA_A")]
    for r, recorded in enumerate((currents.ampa, currents.gaba)):
        assert expected[r].max() > 0
        np.testing.assert_allclose(recorded, 1e-3 * expected[r] * (reversal[r] - result.v), rtol=1e-4, atol=1e-7)


def test_synaptic_currents_of_split_windows_equal_one_run(s1_dir):
    """Windows of 12.5, 18.6 and 28.9 ms sample the currents (every 0.3 ms) exactly where one 60 ms run does."""
    env = Env(s1_dir, seed=5, backend="diffrax").init().apply_model_defaults().record_voltage(dt=0.3)
    env.backend.record_synaptic_currents(np.array([1, 4, 8]), 0.3)
    stimulus = np.zeros((600, env.num_neurons))  # 0.1 ms rows, so that every window starts on a row
    stimulus[50:500] = 1.0
    whole = env.run(60, stimulus, stimulus_step=0.1)
    one = env.backend.synaptic_currents()
    env.clear()
    parts = []
    for first, stop in ((0, 125), (125, 311), (311, 600)):
        part = env.run((stop - first) / 10, stimulus[first:stop], stimulus_step=0.1)
        parts.append((part.v, env.backend.synaptic_currents()))
    np.testing.assert_array_equal(np.concatenate([v for v, _ in parts], axis=1), whole.v)
    assert np.abs(one.ampa).max() > 0 and np.abs(one.gaba).max() > 0
    for name in ("ampa", "gaba"):
        joined = np.concatenate([getattr(c, name) for _, c in parts], axis=1)
        assert joined.shape == getattr(one, name).shape == (3, whole.v.shape[1])
        np.testing.assert_array_equal(joined, getattr(one, name))


def test_synaptic_currents_only_for_single_forward_runs(s1_dir):
    env = Env(s1_dir, backend="diffrax").init().apply_model_defaults()
    backend = env.backend
    assert backend.synaptic_currents() is None
    backend.record_synaptic_currents(np.array([0, 2]), 0.1)
    env.run(5)
    assert backend.synaptic_currents().ampa.shape == (2, 50)
    env.run(5, np.zeros((2, 5, env.num_neurons)))
    assert backend.synaptic_currents() is None  # batched
    env.run(5)
    env.run(5, unroll="mask")
    assert backend.synaptic_currents() is None  # unrolled
    backend.record_synaptic_currents(None, 0.1)
    env.run(5)
    assert backend.synaptic_currents() is None
