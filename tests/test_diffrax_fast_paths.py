"""The diffrax backend's fast paths change no number: its normal draws are JAX's, ring buffers
indexed by the window-relative step give the runs of the absolute indexing, and spikes are found
as `np.nonzero` finds them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from livn.backends import _diffrax_core as core
from livn.backends._noise import standard_normal, threefry2x32
from livn.env import Env


@pytest.mark.parametrize("shape", [(10, 11), (1, 1), (7,), (3, 5, 2), (10, 1000)])
def test_normal_draws_equal_jax_random_normal(shape):
    for seed in (0, 1, 2**31 - 1):
        key = jax.random.fold_in(jax.random.PRNGKey(seed), 12345)
        np.testing.assert_array_equal(np.asarray(standard_normal(key, shape)),
                                      np.asarray(jax.random.normal(key, shape, jnp.float32)))


def test_normal_draws_equal_jax_under_vmap_of_rows_and_copies():
    """The backend's use: per copy a key, per 1 ms row `fold_in(key, row)`, both vmapped."""
    keys = jax.vmap(lambda b: jax.random.fold_in(jax.random.PRNGKey(5), b))(jnp.arange(8))

    def draws(sample):
        return jax.jit(jax.vmap(lambda key: jax.vmap(
            lambda row: sample(jax.random.fold_in(key, row), (10, 11), jnp.float32))(jnp.arange(50))))(keys)

    np.testing.assert_array_equal(np.asarray(draws(standard_normal)), np.asarray(draws(jax.random.normal)))


def test_threefry_known_answer():
    """Threefry-2x32, 20 rounds: the known-answer vector of Salmon et al. (Random123), key and counter all ones."""
    ones = np.uint32(0xFFFFFFFF)
    x0, x1 = threefry2x32(jnp.uint32(ones), jnp.uint32(ones), jnp.uint32(ones), jnp.uint32(ones))
    assert (int(x0), int(x1)) == (0x1CB996FC, 0xBB002BE7)


def test_other_keys_and_dtypes_fall_back_to_jax():
    typed = jax.random.key(3)
    np.testing.assert_array_equal(np.asarray(standard_normal(typed, (4, 4))), np.asarray(jax.random.normal(typed, (4, 4))))
    key = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(np.asarray(standard_normal(key, (4, 4), jnp.bfloat16)),
                                  np.asarray(jax.random.normal(key, (4, 4), jnp.bfloat16)))


@pytest.fixture(scope="module")
def s1_busy(s1_dir):
    """S1 with its default weights and noise, 37.3 ms into a run (mid-row, spikes in flight)."""
    env = Env(s1_dir, backend="diffrax", seed=3).init()
    env.apply_model_defaults()
    env.record_spikes()
    env.run(37.3)
    return env


def test_rotated_rings_give_the_runs_of_absolute_indexing(s1_busy):
    backend = s1_busy.backend
    steps = 4003  # not a multiple of the ring length, from a step that is not either
    assert int(backend.state.step) % backend.network.buffer_length
    offset = int(backend.state.step) % core.noise_row_steps(backend.dt)
    stimulus = jnp.asarray(np.random.default_rng(1).uniform(0, 0.4, (401, s1_busy.num_neurons)), jnp.float32)
    runs = [core._run_compiled(backend.event_simulator, backend.network, backend.state, stimulus, backend.run_key,
                               steps, 10, offset, True, True, None, rotate) for rotate in (True, False)]
    (state_a, spikes_a, v_a), (state_b, spikes_b, v_b) = runs
    assert int(np.asarray(spikes_a).sum()) > 20
    np.testing.assert_array_equal(np.asarray(spikes_a), np.asarray(spikes_b))
    np.testing.assert_array_equal(np.asarray(v_a), np.asarray(v_b))
    for a, b in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_copies_at_different_steps_equal_their_single_runs(s1_busy):
    """Copies whose clocks differ by whole ms (different ring rows) each give the single run of their state."""
    env = s1_busy
    backend = env.backend
    single_states = [backend.state]
    for _ in range(2):
        env.run(3.0)
        single_states.append(backend.state)
    states = jax.tree.map(lambda *leaves: jnp.stack(leaves), *single_states)
    stimulus = np.random.default_rng(2).uniform(0, 0.4, (3, 50, env.num_neurons)).astype(np.float32)
    keys = jnp.stack([jax.random.fold_in(backend.run_key, b) for b in range(3)])
    offset = int(single_states[0].step) % core.noise_row_steps(backend.dt)
    final, spikes, _ = core._run_copies(backend.event_simulator, backend.network, states, jnp.asarray(stimulus), keys,
                                        500, 10, offset, False, True)
    for b, state in enumerate(single_states):
        _, alone, _ = core._run_compiled(backend.event_simulator, backend.network, state, jnp.asarray(stimulus[b]),
                                         keys[b], 500, 10, offset, False, True, None, False)
        np.testing.assert_array_equal(np.asarray(spikes[b]), np.asarray(alone))


@pytest.mark.parametrize("shape,density", [((50000, 11), 0.001), ((1000, 100), 0.05), ((7, 3), 0.5), ((0, 5), 0.1),
                                           ((13, 1), 0.3), ((9, 9), 0.0), ((4, 4), 1.0)])
def test_sparse_nonzero_is_numpy_nonzero(shape, density):
    from livn._arrays import sparse_nonzero

    mask = np.random.default_rng(0).random(shape) < density
    for a, b in zip(np.nonzero(mask), sparse_nonzero(mask)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    for a, b in zip(np.nonzero(mask.astype(np.float32)), sparse_nonzero(mask.astype(np.float32))):
        np.testing.assert_array_equal(a, b)
