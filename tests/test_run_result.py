"""RunResult.window / select / concat on hand-built results (pure numpy, no simulation)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from livn.errors import InvalidArgumentError, UnknownNameError
from livn.types import RunResult

DT = 0.5  # ms, voltage sampling interval
RANGES = {"EXC": (0, 4), "INH": (4, 2)}  # gids 0-3 excitatory, 4-5 inhibitory


def make(duration=10.0, dt=DT, carry=True):
    """A 10 ms result: 6 spikes, voltage of gids [1, 4, 5] sampled every 0.5 ms (v[r, k] = 100 r + k)."""
    it = np.array([0, 4, 1, 1, 5, 3], dtype=np.int64)
    t = np.array([0.0, 1.2, 2.5, 5.0, 7.3, 9.9])
    iv = np.array([1, 4, 5], dtype=np.int64)
    n = int(round(duration / dt))
    v = 100.0 * np.arange(3)[:, None] + np.arange(n)[None, :]
    if carry:
        return RunResult(it, t, iv, v, duration=duration, dt=dt)
    return RunResult(it, t, iv, v)


def assert_same(a, b):
    for x, y in zip(a, b):
        if x is None or y is None:
            assert x is None and y is None
        else:
            np.testing.assert_array_equal(x, y)
            assert np.asarray(x).dtype == np.asarray(y).dtype


# -- compatibility -----------------------------------------------------------------------------


def test_still_a_four_field_tuple():
    r = make()
    it, t, iv, v = r
    assert len(r) == 4 and r[0] is it and r[3] is v and r._fields == ("it", "t", "iv", "v")
    assert isinstance(r, tuple)
    plain = RunResult(it, t, iv, v)  # positional construction as the backends do
    assert plain.duration is None and plain.dt is None
    assert r.duration == 10.0 and r.dt == DT
    assert "duration=10.0" in repr(r) and "dt=0.5" in repr(r)
    copy = pickle.loads(pickle.dumps(r))
    assert copy.duration == 10.0 and copy.dt == DT
    assert_same(copy, r)
    changed = r._replace(duration=5.0, t=None)
    assert changed.duration == 5.0 and changed.t is None and changed.dt == DT and r.duration == 10.0
    with pytest.raises(AttributeError):
        r.duration = 3.0


# -- window ------------------------------------------------------------------------------------


def test_window_known_answer():
    w = make().window(2.5, 7.5)
    np.testing.assert_array_equal(w.it, [1, 1, 5])
    np.testing.assert_allclose(w.t, [0.0, 2.5, 4.8])  # re-referenced to start_ms
    np.testing.assert_array_equal(w.iv, [1, 4, 5])
    assert w.v.shape == (3, 10)  # samples at 2.5, 3.0, ..., 7.0 ms
    np.testing.assert_array_equal(w.v[:, 0], [5, 105, 205])  # first sample = state at 2.5 ms
    np.testing.assert_array_equal(w.v[:, -1], [14, 114, 214])
    assert w.duration == 5.0 and w.dt == DT


def test_window_is_half_open_and_explicit_dt():
    r = make(carry=False)
    w = r.window(0, 5, dt=DT)
    np.testing.assert_array_equal(w.it, [0, 4, 1])  # the spike at exactly 5 ms belongs to the next window
    assert w.v.shape == (3, 10)
    w2 = r.window(5, 10, dt=DT)
    np.testing.assert_array_equal(w2.t, [0.0, 2.3, 4.9])


def test_window_stop_off_grid_keeps_samples_before_stop():
    w = make().window(1.0, 2.2)
    assert w.v.shape[1] == 3  # 1.0, 1.5, 2.0
    np.testing.assert_array_equal(w.it, [4])


def test_round_trip_window_concat_is_exact():
    r = make()
    edges = [0.0, 1.5, 2.5, 5.0, 7.5, 10.0]
    parts = [r.window(a, b) for a, b in zip(edges[:-1], edges[1:])]
    back = RunResult.concat(parts)
    assert_same(back, r)
    assert back.duration == 10.0 and back.dt == DT


def test_round_trip_with_backend_like_times():
    rng = np.random.default_rng(0)
    t = np.sort(np.round(rng.uniform(0, 300, 500) / 0.025) * 0.025)
    t = np.round(t, 6)  # as backends report them
    it = rng.integers(0, 50, t.size).astype(np.int64)
    r = RunResult(it, t, None, None, duration=300.0)
    edges = np.round(np.arange(0, 301, 12.3).tolist() + [300.0], 6)
    edges = np.unique(edges)
    parts = [r.window(a, b) for a, b in zip(edges[:-1], edges[1:])]
    back = RunResult.concat(parts, durations=np.diff(edges).tolist())
    assert_same(back, r)


# -- concat ------------------------------------------------------------------------------------


def test_concat_shifts_times_by_window_start():
    a = RunResult(np.array([1]), np.array([3.0]), None, None)
    b = RunResult(np.array([2, 0]), np.array([0.0, 9.0]), None, None)
    c = RunResult(np.array([], dtype=np.int64), np.array([]), None, None)
    joined = RunResult.concat([a, b, c], durations=[5, 10, 2])
    np.testing.assert_array_equal(joined.it, [1, 2, 0])
    np.testing.assert_array_equal(joined.t, [3.0, 5.0, 14.0])
    assert joined.iv is None and joined.v is None and joined.duration == 17.0
    same = RunResult.concat([a, b], durations=10)  # one number: all windows equally long
    np.testing.assert_array_equal(same.t, [3.0, 10.0, 19.0])


def test_concat_voltage_and_sample_count_check():
    iv = np.array([7])
    a = RunResult(None, None, iv, np.array([[1.0, 2.0]]), duration=1.0, dt=DT)
    b = RunResult(None, None, iv, np.array([[3.0, 4.0, 5.0]]), duration=1.5, dt=DT)
    joined = RunResult.concat([a, b])
    np.testing.assert_array_equal(joined.v, [[1, 2, 3, 4, 5]])
    assert joined.it is None and joined.duration == 2.5
    with pytest.raises(InvalidArgumentError, match=r"results\[1\] has 3 voltage samples"):
        RunResult.concat([a, b._replace(duration=None)], durations=[1.0, 1.0])


def test_concat_mismatches_name_the_index():
    r = make()
    with pytest.raises(InvalidArgumentError, match=r"results\[2\].*spikes"):
        RunResult.concat([r, r, r._replace(it=None, t=None)])
    with pytest.raises(InvalidArgumentError, match=r"results\[1\].*same neurons"):
        RunResult.concat([r, r._replace(iv=np.array([1, 4, 6]))])
    with pytest.raises(InvalidArgumentError, match=r"results\[1\].*same neurons"):
        RunResult.concat([r, r._replace(iv=None, v=None)])
    with pytest.raises(InvalidArgumentError, match=r"durations.*results\[0\]"):
        RunResult.concat([make(carry=False), r])
    with pytest.raises(InvalidArgumentError, match=r"durations\[1\] is 5.0 ms but results\[1\]"):
        RunResult.concat([r, r], durations=[10, 5])
    with pytest.raises(InvalidArgumentError, match=r"results\[1\] has spike times .* outside its window"):
        spikes = r._replace(dt=None, v=None, iv=None, duration=None)
        RunResult.concat([spikes.window(0, 5), spikes], durations=[5, 5])
    with pytest.raises(InvalidArgumentError, match=r"results\[1\] has voltage sampled every 0.25 ms"):
        RunResult.concat([r, r._replace(dt=0.25)])


@pytest.mark.parametrize(
    "results, durations, pattern",
    [
        ([], None, "at least one"),
        (None, None, "results must be a list"),
        (RunResult(None, None, None, None), None, "results must be a list"),
        ([RunResult(None, None, None, None), "x"], 1.0, r"results\[1\] must be a RunResult"),
        ([RunResult(None, None, None, None)] * 2, [1.0], "one entry per result"),
        ([RunResult(None, None, None, None)] * 2, -1.0, "positive"),
        ([RunResult(None, None, None, None)] * 2, [1.0, float("nan")], r"durations\[1\]"),
        ([RunResult(None, None, None, None)] * 2, "10", "durations"),
    ],
)
def test_concat_bad_arguments(results, durations, pattern):
    with pytest.raises(InvalidArgumentError, match=pattern):
        RunResult.concat(results, durations=durations)


def test_concat_accepts_plain_tuples_and_all_none():
    joined = RunResult.concat([(None, None, None, None)] * 3, durations=2)
    assert tuple(joined) == (None, None, None, None) and joined.duration == 6.0


# -- select ------------------------------------------------------------------------------------


def test_select_gids():
    s = make().select([1, 5])
    np.testing.assert_array_equal(s.it, [1, 1, 5])
    np.testing.assert_array_equal(s.t, [2.5, 5.0, 7.3])
    np.testing.assert_array_equal(s.iv, [1, 5])
    np.testing.assert_array_equal(s.v[:, 0], [0, 200])
    assert s.duration == 10.0 and s.dt == DT
    one = make().select(3)
    np.testing.assert_array_equal(one.it, [3])
    assert one.iv.size == 0 and one.v.shape == (0, 20)


def test_select_population_with_ranges_system_or_env():
    class System:
        population_ranges = RANGES

    class Env:
        system = System()

    for source in (RANGES, System(), Env()):
        inh = make().select(population="INH", populations=source)
        np.testing.assert_array_equal(inh.it, [4, 5])
        np.testing.assert_array_equal(inh.iv, [4, 5])
    both = make().select(population=["EXC", "INH"], populations=RANGES)
    assert_same(both, make())
    exc = make().select(population=["EXC"], populations=RANGES)
    np.testing.assert_array_equal(exc.it, [0, 1, 1, 3])
    np.testing.assert_array_equal(exc.v, make().v[:1])


def test_select_bad_arguments():
    r = make()
    with pytest.raises(UnknownNameError, match=r"'GLIA'.*known populations: \['EXC', 'INH'\]"):
        r.select(population="GLIA", populations=RANGES)
    with pytest.raises(InvalidArgumentError, match="exactly one of gids and population"):
        r.select()
    with pytest.raises(InvalidArgumentError, match="exactly one of gids and population"):
        r.select([1], population="EXC", populations=RANGES)
    with pytest.raises(InvalidArgumentError, match="needs populations"):
        r.select(population="EXC")
    with pytest.raises(InvalidArgumentError, match="populations must be"):
        r.select(population="EXC", populations=42)
    with pytest.raises(InvalidArgumentError, match="population must be a population name"):
        r.select(population=3, populations=RANGES)
    for bad in ([0.5], [[1, 2]], [-1], "a", True):
        with pytest.raises(InvalidArgumentError, match="gids"):
            r.select(bad)


# -- window arguments and None fields ----------------------------------------------------------


@pytest.mark.parametrize(
    "start, stop, kwargs, pattern",
    [
        (-1, 5, {}, "start_ms must be >= 0"),
        (5, 5, {}, "stop_ms must be greater than start_ms"),
        (0, 11, {}, "stop_ms must be <= the result's duration 10.0 ms"),
        (float("nan"), 5, {}, "start_ms must be a finite number of ms"),
        (0, "5", {}, "stop_ms must be a finite number of ms; got '5'"),
        (0.25, 5, {}, r"start_ms must be a multiple of the voltage sampling interval dt = 0.5 ms"),
        (0, 5, {"dt": 0}, "dt must be a positive number of ms"),
    ],
)
def test_window_bad_arguments(start, stop, kwargs, pattern):
    with pytest.raises(InvalidArgumentError, match=pattern):
        make().window(start, stop, **kwargs)


def test_window_with_voltage_needs_dt():
    with pytest.raises(InvalidArgumentError, match=r"dt \(the voltage sampling interval, ms\) is needed"):
        make(carry=False).window(0, 5)


def test_none_fields():
    empty = RunResult(None, None, None, None)
    w = empty.window(1, 3)  # no voltage: no dt needed, any start
    assert tuple(w) == (None, None, None, None) and w.duration == 2.0
    assert tuple(empty.select([1, 2])) == (None, None, None, None)
    spikes_only = make()._replace(iv=None, v=None, dt=None).window(0.3, 3)
    np.testing.assert_array_equal(spikes_only.it, [4, 1])
    np.testing.assert_allclose(spikes_only.t, [0.9, 2.2])
    assert spikes_only.iv is None and spikes_only.v is None
    voltage_only = make()._replace(it=None, t=None).select(population="INH", populations=RANGES)
    assert voltage_only.it is None and voltage_only.t is None
    np.testing.assert_array_equal(voltage_only.iv, [4, 5])


def test_empty_window_has_empty_arrays():
    w = make().window(8.0, 9.5)  # no spikes here
    assert w.it.dtype == np.int64 and w.it.size == 0 and w.t.size == 0 and w.v.shape == (3, 3)


def test_window_dt_must_agree_with_carried_dt():
    with pytest.raises(InvalidArgumentError, match="dt is 0.25 ms but this result was sampled every 0.5 ms"):
        make().window(0, 5, dt=0.25)
    assert make().window(0, 5, dt=0.5).v.shape == (3, 10)
