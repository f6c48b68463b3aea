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
