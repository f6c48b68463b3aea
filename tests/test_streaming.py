"""Closed-loop streaming (`Env.stream`) on every installed backend: open-loop equivalence, latency, errors."""

import time

import numpy as np
import pytest

from livn.backends import installed_backends
from livn.env import Env
from livn.errors import InvalidArgumentError
from livn.streaming import ControllerError, MeasuredLatency, RandomLatency

BACKENDS = installed_backends()


def feedback(window):
    """Stimulate channel 3 for the coming 5 ms while the culture is quiet, otherwise nothing."""
    count = sum(len(times) for times in window.channels[1].values())
    inputs = np.zeros((5, 16))
    inputs[:, 3] = 3.0 if count < 3 else 0.0
    return inputs if window.index % 3 else None


def culture(directory, backend):
    env = Env(directory, backend=backend).init().apply_model_defaults().record_spikes()
    return env.record_voltage(gids=[0, 4], dt=0.5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_streaming_gives_the_spikes_of_the_same_stimuli_delivered_open_loop(s1_dir, backend):
    env = culture(s1_dir, backend)
    env.run(20)  # streams continue from wherever the culture is
    streamed = env.stream(200, 5, feedback)
    assert env.t == pytest.approx(220)
    assert streamed.delivered.shape == (200, 16) and streamed.delivered.any()
    assert len(streamed.decisions) == 40 and len(streamed.iteration_ms) == 40
    it, t, iv, v = streamed.result
    assert streamed.result.duration == 200 and v.shape == (2, 400)

    reference = culture(s1_dir, backend)
    reference.run(20)
    open_loop = reference.run(200, reference.cell_stimulus(streamed.delivered))
    assert len(it) > 0
    assert np.array_equal(it, open_loop.it) and np.array_equal(t, open_loop.t)
    assert np.array_equal(v, open_loop.v)


@pytest.mark.parametrize("backend", BACKENDS)
def test_windows_reach_the_controller_with_their_spikes(s1_dir, backend):
    env = culture(s1_dir, backend)
    windows = []
    streamed = env.stream(60, 10, lambda window: windows.append(window))
    assert [w.start for w in windows] == [0, 10, 20, 30, 40, 50]
    assert all(w.duration == 10 and (w.t is None or np.all((w.t >= 0) & (w.t < 10))) for w in windows)
    times = np.concatenate([w.t + w.start for w in windows])
    assert np.allclose(times, streamed.result.t)
    assert not streamed.delivered.any()


def test_latency_decides_when_a_decision_takes_effect(s1_dir):
    """A decision made from data up to t applies from t + latency, rounded up to the 1 ms grid."""
    def one_pulse(window):
        return np.full((2, 16), 1.0) if window.index == 1 else None  # decided at 20 ms

    for latency, first_row in ((None, 30), (0, 20), (3.2, 24), (12, 32)):
        env = culture(s1_dir, "brian2")
        streamed = env.stream(50, 10, one_pulse, latency=latency)
        rows = np.flatnonzero(streamed.delivered[:, 0])
        assert rows.tolist() == [first_row, first_row + 1], latency
        decision = streamed.decisions[1]
        assert decision["decided_at"] == 20 and decision["effect_at"] == first_row

    env = culture(s1_dir, "brian2")
    late = env.stream(30, 10, lambda w: np.ones((5, 16)), latency=15)  # the last ones fall past the end
    assert [d["dropped_rows"] for d in late.decisions] == [0, 5, 5]


def test_random_and_measured_latencies(s1_dir):
    first, again = RandomLatency("uniform", seed=4, low=1, high=6), RandomLatency("uniform", seed=4, low=1, high=6)
    draws = [first(0.0) for _ in range(3)]
    assert draws == [again(0.0) for _ in range(3)] and len(set(draws)) == 3 and all(1 <= d <= 6 for d in draws)
    assert RandomLatency("gamma", seed=1, mean=2, std=1)(0.0) > 0

    def slow(window):
        time.sleep(0.004)
        return np.ones((1, 16))

    env = culture(s1_dir, "brian2")
    streamed = env.stream(30, 10, slow, latency="measured")
    for decision in streamed.decisions:
        assert decision["latency"] == pytest.approx(decision["controller_ms"]) and decision["latency"] >= 4
    assert MeasuredLatency(extra=2.0)(1.5) == 3.5


def test_realtime_pacing_records_deadline_misses(s1_dir):
    env = culture(s1_dir, "brian2")
    began = time.perf_counter()
    paced = env.stream(100, 10, lambda w: None, realtime=True)
    assert time.perf_counter() - began >= 0.095  # 100 simulated ms took at least 100 wall ms
    assert paced.deadline_misses == [] or all(late > 0 for _, late in paced.deadline_misses)

    def too_slow(window):
        time.sleep(0.02)  # 20 ms of work per 10 ms window

    late = env.stream(30, 10, too_slow, realtime=True)
    assert [t for t, _ in late.deadline_misses] == [10, 20, 30]
    assert all(lateness > 0 for _, lateness in late.deadline_misses)


@pytest.mark.parametrize("bad, message", [
    (lambda w: np.ones((5, 3)), r"shape \[rows, 16\]"),
    (lambda w: np.full((5, 16), np.nan), "NaN"),
    (lambda w: "stimulate", r"shape \[rows, 16\]"),
])
def test_a_controller_that_returns_nonsense_stops_the_stream_keeping_what_was_recorded(s1_dir, bad, message):
    env = culture(s1_dir, "brian2")
    with pytest.raises(ControllerError, match=message) as caught:
        env.stream(50, 10, lambda w: None if w.index < 2 else bad(w))
    partial = caught.value.partial
    assert partial.result.duration == 30 and len(partial.decisions) == 2


def test_a_controller_that_raises_is_reported_with_the_window(s1_dir):
    def broken(window):
        if window.index == 1:
            raise KeyError("channel 99")
        return None

    env = culture(s1_dir, "brian2")
    with pytest.raises(ControllerError, match="KeyError at window 1") as caught:
        env.stream(40, 10, broken)
    assert caught.value.partial.result.duration == 20


def test_bad_stream_arguments_are_refused_before_anything_runs(s1_dir):
    env = culture(s1_dir, "brian2")
    for kwargs, message in (
        ({"duration": 50, "period": 2.5}, "multiple of the stimulus grid"),
        ({"duration": 52, "period": 5}, "whole number of periods"),
        ({"duration": -5, "period": 5}, "duration must be"),
        ({"duration": 50, "period": 5, "controller": 3}, "controller must be callable"),
        ({"duration": 50, "period": 5, "latency": -1}, "latency must be"),
        ({"duration": 50, "period": 5, "latency": "fast"}, "latency must be"),
        ({"duration": 50, "period": 5, "realtime": "yes"}, "realtime must be"),
    ):
        arguments = {"controller": lambda w: None, **kwargs}
        with pytest.raises(InvalidArgumentError, match=message):
            env.stream(**arguments)
        assert env.t == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_open_loop_inputs_are_delivered_and_decisions_add_to_them(s1_dir, backend):
    protocol = np.zeros((100, 16))
    protocol[40:45, 2] = 5.0  # a protocol's pulse, uA
    env = culture(s1_dir, backend)
    streamed = env.stream(100, 10, lambda w: np.full((3, 16), 0.5) if w.index == 2 else None, latency=8, inputs=protocol)
    expected = protocol.copy()
    expected[38:41] += 0.5  # decided at 30 ms, effective at 38 ms
    np.testing.assert_array_equal(streamed.delivered, expected)
    reference = culture(s1_dir, backend)
    open_loop = reference.run(100, reference.cell_stimulus(expected))
    np.testing.assert_array_equal(streamed.result.it, open_loop.it)
    with pytest.raises(InvalidArgumentError, match=r"inputs must be"):
        env.stream(10, 10, lambda w: None, inputs=np.ones((20, 16)))
