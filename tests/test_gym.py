"""LivnGym: the Gymnasium API, encodings and decodings, registration, the culture as actuator."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import livn.integrations.gym  # noqa: F401  (registers livn/...)
from livn.env import Env
from livn.errors import InvalidArgumentError, NotInitializedError
from livn.integrations.gym import (
    ChannelAmplitudeEncoding,
    ChannelRateDecoding,
    ChannelResponse,
    ChannelVoteDecoding,
    FirstSpikeDecoding,
    LivnGym,
    LivnVectorEnv,
    PulseEncoding,
)
from livn.stimulation import Pulse

CHANNELS = list(range(16))
PENDULUM_ACTIONS = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)


def response(times: dict, duration: float = 100.0) -> ChannelResponse:
    """A ChannelResponse with the given spike times (ms) per channel, every other channel silent."""
    channel_times = {c: np.asarray(times.get(c, []), dtype=float) for c in CHANNELS}
    channel_gids = {c: np.zeros(len(t), dtype=np.int64) for c, t in channel_times.items()}
    return ChannelResponse(np.zeros(0, np.int64), np.zeros(0), channel_gids, channel_times, tuple(CHANNELS), duration)


# -- encodings ----------------------------------------------------------------------------------


def test_pulse_encoding_maps_the_corners_of_its_action_space():
    encoding = PulseEncoding(width=10, amplitude=(2.0, 20.0))
    assert encoding.action_space == gym.spaces.Box(-1, 1, (3,), np.float32)
    assert encoding.pulse([-1, -1, 1], 100, CHANNELS) == Pulse(0, 20.0, 0.0, 10.0)
    assert encoding.pulse([1, 1, -1], 100, CHANNELS) == Pulse(15, 2.0, 90.0, 10.0)
    assert encoding.pulse([0.0, 0.0, 0.0], 100, CHANNELS) == Pulse(8, 11.0, 45.0, 10.0)
    inputs = encoding([-1, 1, 1], 100, CHANNELS)
    assert inputs.shape == (100, 16)
    assert np.all(inputs[90:, 0] == 20.0) and inputs[:90].sum() == 0 and inputs[:, 1:].sum() == 0
    # actions beyond the box are clipped; only these channels may be chosen
    restricted = PulseEncoding(channels=[3, 7])
    assert restricted.pulse([5.0, -1, 1], 50, CHANNELS).channel == 7
    assert restricted.pulse([-0.01, -1, 1], 50, CHANNELS).channel == 3


def test_channel_amplitude_encoding_sets_each_channel():
    encoding = ChannelAmplitudeEncoding(channels=[2, 5], max_amplitude=4.0, start=10, width=20)
    assert encoding.action_space == gym.spaces.Box(-1, 1, (2,), np.float32)
    inputs = encoding([0.5, -1.0], 50, CHANNELS)
    assert inputs.shape == (50, 16)
    assert np.all(inputs[10:30, 2] == 2.0) and np.all(inputs[10:30, 5] == -4.0)
    assert np.abs(inputs).sum() == 20 * 6.0
    whole = ChannelAmplitudeEncoding()([1.0] * 16, 30, CHANNELS)
    assert np.all(whole == 1.0)


@pytest.mark.parametrize(
    "make, call",
    [
        (lambda: PulseEncoding(), lambda e: e([0, 0], 100, CHANNELS)),
        (lambda: PulseEncoding(), lambda e: e([0, np.nan, 0], 100, CHANNELS)),
        (lambda: PulseEncoding(width=50), lambda e: e([0, 0, 0], 20, CHANNELS)),
        (lambda: PulseEncoding(width=0), None),
        (lambda: PulseEncoding(amplitude=(5, 1)), None),
        (lambda: ChannelAmplitudeEncoding(channels=[1, 1]), None),
        (lambda: ChannelAmplitudeEncoding(max_amplitude=-1), None),
        (lambda: ChannelAmplitudeEncoding(channels=[20]), lambda e: e([0.1], 10, CHANNELS)),
        (lambda: ChannelAmplitudeEncoding(start=30), lambda e: e([0.1] * 16, 20, CHANNELS)),
    ],
)
def test_encodings_reject_bad_arguments(make, call):
    with pytest.raises(InvalidArgumentError):
        encoding = make()
        call(encoding)


# -- decodings ----------------------------------------------------------------------------------


def test_first_spike_decoding_maps_latency_to_the_action_range():
    decoding = FirstSpikeDecoding(PENDULUM_ACTIONS)
    assert decoding(response({3: [0.0, 50.0]})) == pytest.approx([2.0])
    assert decoding(response({3: [25.0, 50.0]})) == pytest.approx([1.0])
    assert decoding(response({3: [100.0]})) == pytest.approx([-2.0])
    # the most active channel counts, not the earliest
    assert decoding(response({3: [75.0, 80.0, 90.0], 4: [0.0]})) == pytest.approx([-1.0])
    assert decoding(response({})) == pytest.approx([0.0])
    assert FirstSpikeDecoding(PENDULUM_ACTIONS, silent=-2.0)(response({})) == pytest.approx([-2.0])
    assert FirstSpikeDecoding(PENDULUM_ACTIONS, channels=[4])(response({3: [0.0, 1.0], 4: [50.0]})) == pytest.approx([0.0])
    assert decoding(response({3: [10.0]})).dtype == np.float32


def test_channel_rate_decoding_is_a_clipped_linear_map():
    decoding = ChannelRateDecoding.push_pull(PENDULUM_ACTIONS, [0, 1], [8, 9], full_scale_rate=100.0)
    assert decoding(response({})) == pytest.approx([0.0])
    # 10 spikes in 100 ms on channel 0 = 100 Hz; group mean 50 Hz -> half of full scale -> +1
    assert decoding(response({0: np.arange(10.0)})) == pytest.approx([1.0])
    assert decoding(response({8: np.arange(10.0), 9: np.arange(10.0)})) == pytest.approx([-2.0])
    assert decoding(response({0: np.arange(40.0), 1: np.arange(40.0)})) == pytest.approx([2.0])  # clipped
    general = ChannelRateDecoding(gym.spaces.Box(-10, 10, (2,)), [0, 5], weights=[[0.1, 0.0], [0.0, -0.1]], bias=[1, 2])
    assert general(response({0: [1.0, 2.0], 5: [3.0]}, duration=200.0)) == pytest.approx([2.0, 1.5])


def test_channel_vote_decoding_picks_the_most_active_group():
    decoding = ChannelVoteDecoding(gym.spaces.Discrete(2), [[0, 1], [8, 9]])
    assert decoding(response({0: [5.0], 9: [1.0, 2.0]})) == 1
    assert decoding(response({0: [5.0, 6.0], 9: [1.0]})) == 0
    assert decoding(response({0: [5.0], 9: [1.0]})) == 1  # tie: earliest first spike
    assert decoding(response({})) == 0
    assert ChannelVoteDecoding(gym.spaces.Discrete(2, start=1), [[0], [8]], silent=2)(response({})) == 2


@pytest.mark.parametrize(
    "make",
    [
        lambda: FirstSpikeDecoding(gym.spaces.Box(-1, 1, (2,))),
        lambda: FirstSpikeDecoding(gym.spaces.Discrete(3)),
        lambda: FirstSpikeDecoding(PENDULUM_ACTIONS, silent=5.0),
        lambda: ChannelRateDecoding(PENDULUM_ACTIONS, [0, 1], weights=[[1.0]]),
        lambda: ChannelRateDecoding(gym.spaces.Box(-np.inf, np.inf, (1,)), [0], weights=[[1.0]]),
        lambda: ChannelRateDecoding.push_pull(PENDULUM_ACTIONS, [0], [1], full_scale_rate=0),
        lambda: ChannelVoteDecoding(gym.spaces.Discrete(3), [[0], [1]]),
        lambda: ChannelVoteDecoding(gym.spaces.Discrete(2), [[0], [1]], silent=7),
        lambda: FirstSpikeDecoding(PENDULUM_ACTIONS)("not a response"),
        lambda: FirstSpikeDecoding(PENDULUM_ACTIONS, channels=[40])(response({})),
    ],
)
def test_decodings_reject_bad_arguments(make):
    with pytest.raises(InvalidArgumentError):
        make()


# -- LivnGym on a real culture --------------------------------------------------------------------


def culture(s1_dir, backend: str) -> Env:
    return Env(s1_dir, backend=backend).init().apply_model_defaults()


def pendulum_gym(s1_dir, backend: str, duration: float = 20.0) -> LivnGym:
    return LivnGym(
        gym.make("Pendulum-v1"), culture(s1_dir, backend), ChannelAmplitudeEncoding(),
        ChannelRateDecoding.push_pull(PENDULUM_ACTIONS, range(8), range(8, 16)), duration=duration,
    )


@pytest.mark.parametrize("backend", ["brian2", "diffrax"])
def test_env_checker_passes(s1_dir, backend):
    check_env(pendulum_gym(s1_dir, backend), skip_render_check=True)


@pytest.mark.parametrize("backend", ["brian2", "diffrax"])
def test_stimulated_side_decodes_to_the_expected_torque_sign(s1_dir, backend):
    rl_env = pendulum_gym(s1_dir, backend, duration=50.0)
    rl_env.reset(seed=0)
    first_half = np.array([1.0] * 8 + [-1.0] * 8, dtype=np.float32)
    for action, sign in ((first_half, 1.0), (-first_half, -1.0), (first_half, 1.0)):
        _, _, _, _, info = rl_env.step(action)
        assert np.sign(info["task_action"][0]) == sign, info["channel_rates"]
        it, t = info["spikes"]
        assert len(it) == len(t) > 0 and np.all((t >= 0) & (t < 50.0))
        assert info["channel_rates"].shape == (16,)


def test_reset_keeps_the_culture_unless_told_or_seeded(s1_dir):
    rl_env = pendulum_gym(s1_dir, "diffrax")
    rl_env.reset(seed=3)
    assert rl_env.env.t == 0
    rl_env.step(rl_env.action_space.sample())
    rl_env.reset()
    assert rl_env.env.t == pytest.approx(20.0)  # memory kept
    rl_env.step(rl_env.action_space.sample())
    rl_env.reset(options={"clear_culture": True})
    assert rl_env.env.t == 0
    rl_env.step(rl_env.action_space.sample())
    rl_env.reset(seed=4, options={"clear_culture": False})
    assert rl_env.env.t == pytest.approx(20.0)
    with pytest.raises(InvalidArgumentError):
        rl_env.reset(options={"clear_culture": "yes"})


def test_livn_gym_rejects_bad_arguments(s1_dir):
    env = culture(s1_dir, "diffrax")
    task = gym.make("Pendulum-v1")
    decoding = ChannelRateDecoding.push_pull(PENDULUM_ACTIONS, [0], [8])
    with pytest.raises(InvalidArgumentError, match="task expects"):
        LivnGym(task, env, PulseEncoding(), ChannelVoteDecoding(gym.spaces.Discrete(2), [[0], [8]]))
    with pytest.raises(NotInitializedError):
        LivnGym(task, Env(s1_dir, backend="diffrax"), PulseEncoding(), decoding)
    with pytest.raises(InvalidArgumentError, match="duration"):
        LivnGym(task, env, PulseEncoding(), decoding, duration=0.5)
    with pytest.raises(InvalidArgumentError, match="encoding"):
        LivnGym(task, env, lambda a, d, c: None, decoding)
    with pytest.raises(InvalidArgumentError, match="benchmark"):
        LivnGym("Pendulum-v1", env, PulseEncoding(), decoding)
    with pytest.raises(InvalidArgumentError, match="key"):
        LivnGym(task, env, PulseEncoding(), decoding, unroll="mask")
    with pytest.raises(InvalidArgumentError, match="diffrax"):
        LivnGym(task, Env(s1_dir, backend="brian2").init(), PulseEncoding(), decoding, key=0)
    rl_env = LivnGym(task, env, PulseEncoding(), decoding, duration=20)
    rl_env.reset(seed=0)
    with pytest.raises(InvalidArgumentError, match="action"):
        rl_env.step(np.zeros(2))


def test_custom_callables_follow_the_protocol(s1_dir):
    """A user's own encoding and decoding: plain functions with an action_space."""

    def stimulate_channel_5(action, duration, channel_ids):
        inputs = np.zeros((int(duration), len(channel_ids)))
        inputs[:10, list(channel_ids).index(5)] = 20.0 * float(action)
        return inputs

    stimulate_channel_5.action_space = gym.spaces.Discrete(2)

    def spiked(response):
        return np.int64(response.channel_counts.sum() > 0)

    spiked.action_space = gym.spaces.Discrete(2)
    rl_env = LivnGym(gym.make("CartPole-v1"), culture(s1_dir, "diffrax"), stimulate_channel_5, spiked, duration=30)
    rl_env.reset(seed=1, options={"clear_culture": True})
    assert rl_env.step(1)[4]["task_action"] == 1


def test_registered_environments():
    pendulum = gym.make("livn/Pendulum-S1-v0", backend="diffrax", duration=20)
    assert isinstance(pendulum.unwrapped, LivnGym)
    assert pendulum.action_space.shape == (16,) and pendulum.observation_space.shape == (3,)
    cartpole = gym.make("livn/CartPole-S1-v0", backend="diffrax", duration=20)
    observation, _ = cartpole.reset(seed=0)
    _, reward, _, _, info = cartpole.step(cartpole.action_space.sample())
    assert reward == 1.0 and info["task_action"] in (0, 1)
    car = gym.make("livn/MountainCarContinuous-S1-v0", backend="diffrax", duration=20)
    car.reset(seed=0)
    assert car.step(np.array([0.0, -1.0, 1.0], np.float32))[4]["task_action"].shape == (1,)
    vector = gym.make_vec("livn/Pendulum-S1-v0", num_envs=2, duration=20)
    assert isinstance(vector, LivnVectorEnv) and vector.action_space.shape == (2, 16)
    with pytest.raises(gym.error.Error):
        gym.make("livn/Pendulum-S9-v0")
