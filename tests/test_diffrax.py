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


def test_fine_rows_of_batches_and_copies_repeat_coarse_rows(s1_dir):
    """A stimulus given at 0.1 ms rows, each 1 ms row repeated ten times, is the same stimulus for batched
    trials and copies, also for windows that start between two 1 ms rows (unrolled runs: the gradient test)."""
    env = Env(s1_dir, seed=4, backend="diffrax").init().apply_model_defaults().record_spikes().record_voltage()
    backend = env.backend
    coarse = np.asarray(env.cell_stimulus(np.random.default_rng(1).uniform(0, 6, (2, 20, 16))))
    fine = np.repeat(coarse, 10, axis=1)
    keys = jax.random.split(jax.random.PRNGKey(2), 2)
    env.run(0.3)  # the windows below start 3 steps into a noise row
    for a, b in zip(env.run(20, coarse, key=keys), env.run(20, fine, key=keys, stimulus_step=0.1)):
        assert len(a.it) > 0
        np.testing.assert_array_equal(a.it, b.it)
        np.testing.assert_array_equal(a.v, b.v)
    copies = backend.initial_states(2)
    copies = eqx.tree_at(lambda s: s.step, copies, copies.step + 3)
    a, _ = backend.run_copies(20, copies, coarse, keys)
    b, _ = backend.run_copies(20, copies, fine, keys, stimulus_step=0.1)
    for x, y in zip(a, b):
        assert len(x.it) > 0
        np.testing.assert_array_equal(x.t, y.t)
    assert env.t == pytest.approx(0.3)  # batches and copies leave the culture as it was


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


# -- synaptic currents ------------------------------------------------------------------------------


def test_synaptic_currents_only_for_single_forward_runs(s1_dir):
    """Single forward runs record them without changing the run; batched and unrolled runs leave
    `synaptic_currents()` None. (The values are checked for every backend in tests/conformance.py.)"""
    env = Env(s1_dir, backend="diffrax").init().apply_model_defaults().record_voltage()
    backend = env.backend
    stimulus = np.full((5, env.num_neurons), 2.0)
    plain = env.run(5, stimulus)
    assert backend.synaptic_currents() is None
    backend.record_synaptic_currents(np.array([0, 2]), 0.1)
    env.clear()
    recorded = env.run(5, stimulus)
    np.testing.assert_array_equal(recorded.v, plain.v)
    assert backend.synaptic_currents().ampa.shape == (2, 50)
    env.run(5, np.zeros((2, 5, env.num_neurons)))
    assert backend.synaptic_currents() is None  # batched
    env.run(5, stimulus)
    env.run(5, stimulus, unroll="mask")
    assert backend.synaptic_currents() is None  # unrolled
    backend.record_synaptic_currents(None, 0.1)
    env.run(5, stimulus)
    assert backend.synaptic_currents() is None
