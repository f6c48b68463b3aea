"""Argument checks shared by the culture analyses; each names the argument and what is accepted."""

from __future__ import annotations

import math

import numpy as np

from livn.errors import InvalidArgumentError, describe


def positive_ms(value, name: str) -> float:
    """`value` as a positive, finite float (a length of time in ms)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"{name} must be a positive number of ms; got {describe(value)}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"{name} must be a positive, finite number of ms; got {value!r}")
    return float(value)


def spikes(it, t) -> tuple[np.ndarray, np.ndarray]:
    """Spike gids (int64) and times (ms, float64) as two 1-d arrays of equal length."""
    it = np.asarray([] if it is None else it)
    t = np.asarray([] if t is None else t)
    if it.ndim != 1 or t.ndim != 1 or it.shape != t.shape:
        raise InvalidArgumentError(
            f"it and t must be 1-d arrays of equal length (one gid and one time in ms per spike); "
            f"got it {describe(it)}, t {describe(t)}"
        )
    if it.size and (not np.issubdtype(it.dtype, np.number) or np.any(it != np.round(it)) or it.min() < 0):
        raise InvalidArgumentError(f"it must hold non-negative integer gids; got {describe(it)}")
    if t.size and (not np.issubdtype(t.dtype, np.number) or not np.all(np.isfinite(t))):
        raise InvalidArgumentError(f"t must hold finite spike times in ms; got {describe(t)}")
    return it.astype(np.int64), t.astype(np.float64)


def gid_selection(gids) -> np.ndarray:
    """Unique, sorted non-negative integer gids (non-empty)."""
    array = np.asarray(gids)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer) or array.min() < 0:
        raise InvalidArgumentError(f"gids must be a non-empty 1-d array of non-negative integer gids; got {describe(gids)}")
    if np.unique(array).size != array.size:
        raise InvalidArgumentError("gids must not repeat a gid")
    return np.sort(array.astype(np.int64))


def channel_spikes(cit, ct) -> tuple[np.ndarray, dict, dict]:
    """Channel ids (sorted) and the per-channel gids and times (ms) of `MEA.channel_recording`."""
    if not isinstance(cit, dict) or not isinstance(ct, dict):
        raise InvalidArgumentError(
            f"cit and ct must be the dicts (channel id -> gids, channel id -> times in ms) that "
            f"MEA.channel_recording returns; got {type(cit).__name__} and {type(ct).__name__}"
        )
    if not cit or set(cit) != set(ct):
        raise InvalidArgumentError(
            f"cit and ct must have the same, non-empty set of channel ids; got {sorted(cit)} and {sorted(ct)}"
        )
    gids, times = {}, {}
    for channel in cit:
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)):
            raise InvalidArgumentError(f"channel ids must be integers; got {describe(channel)}")
        try:
            gids[int(channel)], times[int(channel)] = spikes(cit[channel], ct[channel])
        except InvalidArgumentError as error:
            raise InvalidArgumentError(f"channel {channel}: {error}") from None
    return np.array(sorted(gids), dtype=np.int64), gids, times


def time_window(window, name: str) -> tuple[float, float]:
    """A (start, stop) pair of finite ms with start < stop."""
    try:
        start, stop = (float(v) for v in window)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be a (start, stop) pair of ms; got {describe(window)}") from None
    if not (math.isfinite(start) and math.isfinite(stop)) or start >= stop:
        raise InvalidArgumentError(f"{name} must be finite (start, stop) ms with start < stop; got {window!r}")
    return start, stop


def times_ms(values, name: str, allow_empty: bool = False) -> np.ndarray:
    """A 1-d array of finite times in ms."""
    array = np.asarray(values)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)):
        raise InvalidArgumentError(f"{name} must be a 1-d array of finite times in ms; got {describe(values)}")
    if array.size == 0 and not allow_empty:
        raise InvalidArgumentError(f"{name} must hold at least one time (ms)")
    return array.astype(np.float64)


def window_counts(sorted_times: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Spikes with start <= t < stop for each (start, stop) pair; `sorted_times` ascending (ms)."""
    return np.searchsorted(sorted_times, stops, side="left") - np.searchsorted(sorted_times, starts, side="left")
