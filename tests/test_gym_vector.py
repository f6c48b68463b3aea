"""Vector environments: AsyncVectorEnv of LivnGyms (brian2, one process per culture) and
LivnVectorEnv (diffrax, copies of one culture in one compiled call) reproduce single envs."""

from __future__ import annotations

import functools

import gymnasium as gym
import jax
import numpy as np
import pytest

import livn.integrations.gym  # noqa: F401  (registers livn/...)
from livn.env import Env
from livn.errors import InvalidArgumentError
from livn.integrations.gym import ChannelAmplitudeEncoding, ChannelRateDecoding, LivnVectorEnv
from livn.integrations.gym.registration import make_livn_gym

WINDOW = 20.0
STEPS = 12  # with max_episode_steps=5 below: autoresets happen inside the comparison


def actions(num_envs: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (STEPS, num_envs, 16)).astype(np.float32)


def single_trajectory(make, seed: int, steps: np.ndarray) -> np.ndarray:
    """Observations and rewards of one LivnGym driven like a NEXT_STEP-autoreset vector env."""
    rl_env = make()
    rl_env.reset(seed=seed)
    rows, done = [], False
    for action in steps:
        if done:
            obs, _ = rl_env.reset()
            reward, done = 0.0, False
        else:
            obs, reward, terminated, truncated, _ = rl_env.step(action)
            done = terminated or truncated
        rows.append(np.append(obs, reward))
    return np.array(rows)


def vector_trajectory(vector_env, seed: int, steps: np.ndarray) -> np.ndarray:
    vector_env.reset(seed=seed)
    rows = []
    for action in steps:
        obs, reward, _, _, info = vector_env.step(action)
        rows.append(np.concatenate([obs, reward[:, None]], axis=1))
    return np.array(rows).transpose(1, 0, 2)  # [env, step, obs + reward]


def test_batched_diffrax_vector_env_matches_single_envs():
    count = 3
    vector_env = gym.make_vec("livn/Pendulum-S1-v0", num_envs=count, duration=WINDOW,
                              task_kwargs={"max_episode_steps": 5})
    assert isinstance(vector_env, LivnVectorEnv)
    steps = actions(count)
    batched = vector_trajectory(vector_env, 7, steps)
    for b in range(count):
        make = functools.partial(
            make_livn_gym, "Pendulum-v1", backend="diffrax", duration=WINDOW, task_kwargs={"max_episode_steps": 5},
            key=jax.random.fold_in(jax.random.PRNGKey(123), b),
        )
        np.testing.assert_array_equal(single_trajectory(make, 7 + b, steps[:, b]), batched[b])
    # the copies' cultures differ (own noise keys), and the culture moved the pendulum
    assert not np.array_equal(batched[0], batched[1])


def test_async_brian2_vector_env_matches_single_envs():
    """Each worker its own process and culture; worker 1 (task seed 11 + 1) is checked (brian2 builds are slow)."""
    count = 2
    make = functools.partial(make_livn_gym, "Pendulum-v1", backend="brian2", duration=WINDOW,
                             task_kwargs={"max_episode_steps": 3})
    vector_env = gym.vector.AsyncVectorEnv([make] * count, context="spawn")
    try:
        steps = actions(count, seed=1)[:8]
        batched = vector_trajectory(vector_env, 11, steps)
    finally:
        vector_env.close()
    np.testing.assert_array_equal(single_trajectory(make, 12, steps[:, 1]), batched[1])
    assert not np.array_equal(batched[0], batched[1])


def test_vector_env_reset_options_and_info():
    vector_env = gym.make_vec("livn/Pendulum-S1-v0", num_envs=2, duration=WINDOW)
    vector_env.reset(seed=0)
    _, _, _, _, info = vector_env.step(vector_env.action_space.sample())
    assert info["channel_rates"].shape == (2, 16) and info["_channel_rates"].all()
    it, t = info["spikes"][0]
    assert len(it) == len(t)
    # clearing one copy's culture: its next window equals a fresh copy's first window
    steps = np.zeros((2, 16), np.float32)
    vector_env.reset(seed=0)
    first = vector_env.step(steps)[4]["spikes"]
    vector_env.step(steps)
    vector_env.reset(options={"reset_mask": np.array([True, False]), "clear_culture": True})
    again = vector_env.step(steps)[4]["spikes"]
    np.testing.assert_array_equal(first[0][1], again[0][1])
    with pytest.raises(InvalidArgumentError):
        vector_env.reset(options={"reset_mask": [True, False]})
    with pytest.raises(InvalidArgumentError):
        vector_env.reset(seed=[1, 2, 3])


def test_vector_env_needs_diffrax(s1_dir):
    env = Env(s1_dir, backend="brian2").init()
    decoding = ChannelRateDecoding.push_pull(gym.spaces.Box(-2.0, 2.0, (1,), np.float32), [0], [8])
    with pytest.raises(InvalidArgumentError, match="diffrax"):
        LivnVectorEnv([gym.make("Pendulum-v1")], env, ChannelAmplitudeEncoding(), decoding)
    with pytest.raises(InvalidArgumentError, match="keys"):
        LivnVectorEnv([gym.make("Pendulum-v1")] * 2, Env(s1_dir, backend="diffrax").init(), ChannelAmplitudeEncoding(),
                      decoding, keys=np.zeros((3, 2), np.uint32))
    with pytest.raises(InvalidArgumentError, match="benchmarks"):
        LivnVectorEnv([], Env(s1_dir, backend="diffrax").init(), ChannelAmplitudeEncoding(), decoding)


def test_env_copies_match_single_runs_and_check_arguments(s1_dir):
    env = Env(s1_dir, backend="diffrax").init().apply_model_defaults()
    env.record_spikes()
    inputs = np.zeros((2, 30, 16))
    inputs[0, :, :8] = 1.0
    stimulus = env.cell_stimulus(inputs)
    keys = jax.numpy.stack([jax.random.PRNGKey(1), jax.random.PRNGKey(2)])
    copies = env.copy_states(2)
    results, copies = env.run_copies(30, copies, stimulus, keys)
    results2, _ = env.run_copies(30, copies, stimulus, keys)
    for b in range(2):
        single = Env(s1_dir, backend="diffrax").init().apply_model_defaults()
        single.record_spikes()
        for batched in (results[b], results2[b]):
            it, t, _, _ = single.run(30, stimulus[b], key=keys[b])
            np.testing.assert_array_equal(it, batched.it)
            np.testing.assert_array_equal(t, batched.t)
    assert env.t == 0  # the Env's own culture did not move
    cleared = env.select_copies(np.array([True, False]), env.copy_states(2), copies)
    again, _ = env.run_copies(30, cleared, stimulus, keys)
    np.testing.assert_array_equal(again[0].t, results[0].t)
    with pytest.raises(InvalidArgumentError, match="whole number"):
        env.run_copies(30.5, copies, stimulus, keys)
    with pytest.raises(InvalidArgumentError, match="shape"):
        env.run_copies(30, copies, stimulus[:1], keys)
    with pytest.raises(InvalidArgumentError, match="keys"):
        env.run_copies(30, copies, stimulus, keys[:1])
    with pytest.raises(InvalidArgumentError, match="copies"):
        env.copy_states(0)
    with pytest.raises(InvalidArgumentError, match="which"):
        env.select_copies(np.array([1, 0]), copies, copies)
    with pytest.raises(InvalidArgumentError, match="diffrax"):
        Env(s1_dir, backend="brian2").init().copy_states(2)
