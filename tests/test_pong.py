"""livn/Pong-S2-v0: Pong after DishBrain, the culture moving the paddle (livn.integrations.gym.pong)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import livn.integrations.gym  # noqa: F401  (registers livn/...)
from livn.errors import InvalidArgumentError, UnknownNameError
from livn.integrations.gym.pong import (
    HIT,
    MISS,
    MOTOR_CHANNELS,
    SENSORY_CHANNELS,
    Feedback,
    PongEnv,
    PongGame,
    decode_motor,
    hit_feedback_inputs,
    miss_feedback_inputs,
    place_index,
    sensory_inputs,
    sensory_rate,
)

CHANNELS = tuple(range(16))
UP, DOWN = MOTOR_CHANNELS


@pytest.fixture(scope="module")
def pong():
    """One registered Pong culture for the module (building S2 takes seconds); tests reset it."""
    env = gym.make("livn/Pong-S2-v0", seed=3, miss_feedback=Feedback(200, 50.0, 20.0))
    yield env.unwrapped
    env.close()


class Recorder:
    """Wraps the culture's `cell_stimulus` to keep every tick's electrode inputs (uA)."""

    def __init__(self, pong, monkeypatch):
        self.inputs = []
        original = pong.culture.cell_stimulus

        def record(inputs):
            self.inputs.append(np.array(inputs))
            return original(inputs)

        monkeypatch.setattr(pong.culture, "cell_stimulus", record)


def put_ball(pong, x, y, vx=-1.0, vy=0.0, paddle=0.5):
    pong.game.ball = np.array([x, y, vx, vy])
    pong.game.paddle_y = paddle


# -- the pieces --------------------------------------------------------------------------------------


def test_sensory_encoding_place_and_rate():
    # place: the ball's height picks the k-th of the eight sensory electrodes (0, 4, 1, 5, 2, 6, 3, 7)
    assert [place_index(y, 8) for y in (0.0, 0.124, 0.126, 0.5, 0.99, 1.0)] == [0, 0, 1, 4, 7, 7]
    # rate: 40 Hz at the paddle, 4 Hz at the far wall, linear between
    assert sensory_rate(0.0) == 40.0 and sensory_rate(1.0) == 4.0 and sensory_rate(0.5) == 22.0
    for (x, y), channel, rate in [((0.0, 0.05), 0, 40.0), ((1.0, 0.3), 1, 4.0), ((0.5, 0.9), 7, 22.0),
                                  ((0.25, 0.6), 2, 31.0)]:
        inputs, phase, chosen, r = sensory_inputs(x, y, 1000, 0.0, CHANNELS, SENSORY_CHANNELS)
        assert chosen == channel and r == rate
        pulsed = np.flatnonzero(inputs.any(axis=0))
        assert pulsed.tolist() == [channel]  # only the place-coded electrode
        assert set(np.unique(inputs[:, channel])) == {0.0, 10.0}  # 1 ms pulses of 10 uA
        assert abs((inputs[:, channel] > 0).sum() - rate) <= 1  # 1000 ms at `rate` Hz
    # the phase carries over ticks: 50 ticks of 20 ms give the same pulses as one 1 s window
    whole, _, _, _ = sensory_inputs(0.8, 0.6, 1000, 0.0, CHANNELS, SENSORY_CHANNELS)
    phase, ticks = 0.0, []
    for _ in range(50):
        tick, phase, _, _ = sensory_inputs(0.8, 0.6, 20, phase, CHANNELS, SENSORY_CHANNELS)
        ticks.append(tick)
    assert np.array_equal(np.concatenate(ticks), whole)


def test_motor_decoding_moves_the_paddle_the_right_way():
    spikes = {c: [] for c in CHANNELS}
    for c in UP:
        spikes[c] = [1.0, 2.0]  # 8 up
    spikes[DOWN[0]] = [3.0, 4.0, 5.0]  # 3 down
    spikes[0] = [1.0] * 50  # sensory channels do not count
    assert decode_motor(spikes, UP, DOWN, gain=0.001, max_step=0.04) == (8, 3, pytest.approx(0.005))
    assert decode_motor(spikes, UP, DOWN, gain=0.01, max_step=0.04)[2] == 0.04  # clipped
    assert decode_motor(spikes, DOWN, UP, gain=0.01, max_step=0.04)[2] == -0.04  # roles swapped: down
    assert decode_motor({c: [] for c in CHANNELS}, UP, DOWN, 0.01, 0.04) == (0, 0, 0.0)
    game = PongGame(paddle_length=0.3)
    game.move_paddle(0.04)
    assert game.paddle_y == pytest.approx(0.54)
    game.move_paddle(-1.0)
    assert game.paddle_y == pytest.approx(0.15)  # stays inside the box


def test_game_hits_and_misses():
    rng = np.random.default_rng(0)
    game = PongGame(ball_speed=1.0, paddle_length=0.3, tick=20)
    game.paddle_y, game.ball = 0.5, np.array([0.01, 0.6, -1.0, 0.0])
    assert game.advance(0.0, rng) == HIT and game.ball[2] > 0 and game.ball[0] >= 0
    game.ball = np.array([0.01, 0.9, -1.0, 0.0])
    assert game.advance(0.0, rng) == MISS
    assert game.ball[0] == 0.5 and game.ball[2] < 0  # relaunched toward the paddle
    game.ball = np.array([0.5, 0.99, 0.0, 1.0])
    game.advance(0.0, rng)
    assert game.ball[1] == pytest.approx(0.99) and game.ball[3] < 0  # bounced off the top wall


def test_feedback_trains():
    hit = hit_feedback_inputs(Feedback(100, 100.0, 10.0), CHANNELS, SENSORY_CHANNELS)
    assert hit.shape == (100, 16)
    rows = np.flatnonzero(hit.any(axis=1))
    assert rows.tolist() == list(range(0, 100, 10))  # 100 Hz for 100 ms
    assert np.all(hit[rows][:, list(SENSORY_CHANNELS)] == 10.0)  # all sensory electrodes at once
    assert not hit[:, [c for c in CHANNELS if c not in SENSORY_CHANNELS]].any()
    miss = miss_feedback_inputs(Feedback(4000, 5.0, 20.0), CHANNELS, SENSORY_CHANNELS, np.random.default_rng(1))
    assert miss.shape == (4000, 16)
    assert miss.sum() == 20 * 20.0  # 5 Hz for 4 s, 20 uA
    assert not miss[:, [c for c in CHANNELS if c not in SENSORY_CHANNELS]].any()
    other = miss_feedback_inputs(Feedback(4000, 5.0, 20.0), CHANNELS, SENSORY_CHANNELS, np.random.default_rng(2))
    assert not np.array_equal(miss, other)  # random times and electrodes
    assert len(np.unique(np.nonzero(miss)[1])) > 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"feedback": "loud"}, "feedback"),
        ({"control": "joystick"}, "control"),
        ({"seed": -1}, "seed"),
        ({"tick": 2.5}, "tick"),
        ({"tick": 0}, "tick"),
        ({"ball_speed": -1.0}, "ball_speed"),
        ({"ball_speed": 50.0}, "ball_speed"),
        ({"paddle_length": 2.0}, "paddle_length"),
        ({"rate_range": (40.0, 4.0)}, "rate_range"),
        ({"sensory_amplitude": float("nan")}, "sensory_amplitude"),
        ({"sensory_channels": [0, 0, 1]}, "repeats"),
        ({"sensory_channels": [0, 99]}, "99"),
        ({"motor_channels": ([8, 9], [9, 10])}, "share"),
        ({"motor_channels": ([0, 8], [10, 11])}, "share"),
        ({"motor_channels": [8, 9]}, "motor_channels"),
        ({"hit_feedback": (100, -5, 10)}, "rate"),
        ({"miss_feedback": "loud"}, "miss_feedback"),
        ({"plasticity": "yes"}, "plasticity"),
        ({"max_steps": 0}, "max_steps"),
        ({"backend": "nest"}, "backend"),
        ({"env": "culture"}, "env"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_built(kwargs, match, monkeypatch):
    import livn.integrations.gym.pong as module

    def no_build(*args, **kw):  # nothing may be built for a bad argument
        raise AssertionError("an Env was built")

    monkeypatch.setattr(module, "Env", type("NoEnv", (), {"__init__": no_build}))
    with pytest.raises(InvalidArgumentError, match=match):
        PongEnv(**kwargs)


def test_unknown_system_is_refused():
    with pytest.raises(UnknownNameError, match="S99"):
        gym.make("livn/Pong-S2-v0", system="S99")


# -- the environment -------------------------------------------------------------------------------


def test_check_env_passes(pong):
    assert pong.action_space == gym.spaces.Discrete(1)
    check_env(pong, skip_render_check=True)


def test_sensory_stimulation_follows_the_ball(pong, monkeypatch):
    pong.reset(seed=0)
    recorder = Recorder(pong, monkeypatch)
    put_ball(pong, 0.9, 0.7, vx=0.0)  # far from the paddle: 7.6 Hz on the 6th electrode (channel 6)
    pong.motor_gain = 0.0
    try:
        infos = [pong.step(0)[-1] for _ in range(7)]  # 140 ms
    finally:
        pong.motor_gain = 0.01
    assert {info["sensory_channel"] for info in infos} == {6}
    assert infos[0]["sensory_rate"] == pytest.approx(4 + 36 * 0.1)
    delivered = np.concatenate(recorder.inputs)
    assert np.flatnonzero(delivered.any(axis=0)).tolist() == [6]
    assert (delivered[:, 6] > 0).sum() == 1  # 7.6 Hz: one pulse in 140 ms (at 132 ms)
    put_ball(pong, 0.001, 0.05, vx=0.0)  # at the paddle: 39.96 Hz on channel 0
    pong._phase = 0.0
    recorder.inputs.clear()
    pong.motor_gain = 0.0
    try:
        for _ in range(10):
            pong.step(0)
    finally:
        pong.motor_gain = 0.01
    delivered = np.concatenate(recorder.inputs)
    assert np.flatnonzero(delivered.any(axis=0)).tolist() == [0]
    assert (delivered[:, 0] == 10.0).sum() == 7  # 200 ms at 39.96 Hz, the first pulse after 25 ms


def test_the_culture_moves_the_paddle(pong, monkeypatch):
    """Spikes injected into the up (down) region move the paddle up (down)."""
    pong.reset(seed=0)
    put_ball(pong, 0.8, 0.5, vx=1.0)
    for region, sign in ((UP, 1), (DOWN, -1)):
        before = pong.game.paddle_y
        fake = {c: np.array([1.0, 2.0]) if c in region else np.zeros(0) for c in CHANNELS}
        monkeypatch.setattr(pong.culture, "channel_recording", lambda it, t, fake=fake: ({}, fake))
        observation, _, _, _, info = pong.step(0)
        assert info["motor_counts"] == ((8, 0) if sign > 0 else (0, 8))
        assert info["paddle_move"] == pytest.approx(sign * 0.04)
        assert observation[4] == pytest.approx(before + sign * 0.04)


def test_hit_feedback_is_predictable_stimulation(pong, monkeypatch):
    pong.reset(seed=0)
    put_ball(pong, 0.01, 0.5)
    pong.motor_gain = 0.0
    recorder = Recorder(pong, monkeypatch)
    try:
        _, reward, _, _, info = pong.step(0)
        assert reward == 1.0 and info["event"] == HIT and info["hits"] == 1 and info["rally_hits"] == 1
        for _ in range(5):  # 100 ms of feedback in five 20 ms ticks; the game goes on
            _, _, _, _, info = pong.step(0)
            assert not info["paused"] and info["sensory_channel"] is None
        pong.step(0)
    finally:
        pong.motor_gain = 0.01
    feedback = np.concatenate(recorder.inputs[1:6])
    assert np.array_equal(feedback, hit_feedback_inputs(Feedback(100, 100.0, 10.0), CHANNELS, SENSORY_CHANNELS))
    assert recorder.inputs[6].sum() <= 10.0  # back to sensory pulses (at most one per tick here)


def test_miss_feedback_is_unpredictable_and_pauses_the_game(pong, monkeypatch):
    pong.reset(seed=0)
    put_ball(pong, 0.01, 0.95)
    recorder = Recorder(pong, monkeypatch)
    observation, reward, _, _, info = pong.step(0)
    assert reward == -1.0 and info["event"] == MISS and info["rally_lengths"] == (0,) and info["misses"] == 1
    assert observation[5] == 1.0  # paused
    ball, paddle = observation[:4].copy(), observation[4]
    for _ in range(10):  # the fixture's miss feedback: 200 ms at 50 Hz, 20 uA
        observation, _, _, _, info = pong.step(0)
        assert info["paused"] and info["event"] is None
        assert np.array_equal(observation[:4], ball) and observation[4] == paddle  # frozen
    assert observation[5] == 0.0
    feedback = np.concatenate(recorder.inputs[1:11])
    assert feedback.sum() == 10 * 20.0
    assert not feedback[:, [c for c in CHANNELS if c not in SENSORY_CHANNELS]].any()
    assert np.all((feedback > 0).sum(axis=1) <= 2)  # pulses on single electrodes, not all at once
    _, _, _, _, info = pong.step(0)
    assert not info["paused"] and info["sensory_channel"] is not None  # play resumes


@pytest.mark.parametrize("mode", ["silent", "none"])
def test_control_modes(pong, monkeypatch, mode):
    pong.reset(seed=0)
    pong.feedback = mode
    recorder = Recorder(pong, monkeypatch)
    try:
        put_ball(pong, 0.01, 0.5)
        _, reward, _, _, _ = pong.step(0)  # a hit: no feedback in either mode
        assert reward == 1.0
        put_ball(pong, 0.01, 0.95)
        observation, reward, _, _, _ = pong.step(0)  # a miss
        assert reward == -1.0
        paused = observation[5] == 1.0
        _, _, _, _, info = pong.step(0)
    finally:
        pong.feedback = "full"
    sensory = [c for c in SENSORY_CHANNELS]
    assert recorder.inputs[1][:, sensory].sum() <= 10.0  # after the hit: sensory pulses, no 100 Hz train
    if mode == "silent":
        assert paused and info["paused"] and not recorder.inputs[2].any()  # a pause without stimulation
    else:
        assert not paused and not info["paused"] and info["sensory_channel"] is not None  # next ball at once


def test_seeded_sessions_are_reproducible_and_play_equals_steps(pong):
    """reset(seed) restores the culture (weights included); play(d) is d / tick steps, spike for spike."""

    def session():
        pong.reset(seed=11)
        put_ball(pong, 0.05, 0.5)  # a hit in the 3rd tick, then the hit feedback
        return [pong.step(0) for _ in range(12)]

    first = session()
    weights = pong.culture.synaptic_weights().weight.copy()
    assert not np.array_equal(weights, pong._initial_weights)  # plasticity changed them
    second = session()
    for a, b in zip(first, second):
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4] and a[4] == b[4]
    assert any(step[4]["event"] == HIT for step in first)
    assert np.array_equal(pong.culture.synaptic_weights().weight, weights)

    pong.reset(seed=11)
    put_ball(pong, 0.05, 0.5)
    summary = pong.play(12 * pong.tick)
    assert summary["hits"] == first[-1][4]["hits"] and summary["t"] == first[-1][4]["t"]
    assert np.allclose([move for _, _, move in pong.trace],
                       [step[4]["paddle_move"] for step in first if not step[4]["paused"]])
    assert np.array_equal(pong._observation(), first[-1][0])
    assert np.array_equal(pong.culture.synaptic_weights().weight, weights)


def test_agent_and_random_control(pong):
    """An agent's action moves the paddle; a random paddle moves without the culture's say."""
    agent = PongEnv(env=pong.culture, control="agent", plasticity=False)  # the module's culture, played otherwise
    assert agent.action_space == gym.spaces.Discrete(3)
    agent.reset(seed=0)
    agent.game.ball = np.array([0.8, 0.5, 1.0, 0.0])
    assert agent.step(1)[0][4] == pytest.approx(0.54) and agent.step(2)[0][4] == pytest.approx(0.5)
    with pytest.raises(InvalidArgumentError, match="action"):
        agent.step(3)
    with pytest.raises(InvalidArgumentError, match="agent"):
        agent.play(100)
    chance = PongEnv(env=pong.culture, control="random", plasticity=False)
    chance.reset(seed=0)
    moves = [chance.step(0)[-1]["paddle_move"] for _ in range(5)]
    assert len(set(moves)) == 5 and max(abs(m) for m in moves) <= 0.04


def test_the_experiment_runs_at_a_tiny_size(tmp_path):
    """examples/plasticity/pong.py computes its numbers and figures (not the size of any effect)."""
    from _examples import load_example

    experiment = load_example("plasticity/pong.py")
    out = experiment.main(system="S1", seeds=(1,), conditions=("no_plasticity",), duration_s=2.0, window_s=1.0,
                          chance_ticks=5000, figures=str(tmp_path))
    row = out["conditions"]["no_plasticity"]
    assert set(row) >= {"early", "late", "seeds", "weight_change"} and row["weight_change"] == 0.0
    assert 0.0 <= out["chance"]["uniform"]["hit_fraction"] <= 1.0
    assert {p.name for p in tmp_path.iterdir()} == {"pong_rallies.png", "pong_timecourse.png"}
    with pytest.raises(ValueError, match="window_s"):
        experiment.main(duration_s=2.0, window_s=5.0)
