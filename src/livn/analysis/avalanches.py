"""Neuronal avalanches (Beggs & Plenz 2003, J Neurosci 23:11167).

```python
from livn.analysis import avalanches, channel_avalanches

found = avalanches(it, t, duration=10_000)       # population spikes, bin = mean inter-spike interval
found.branching_ratio, found.size_fit.exponent   # ~1 and ~1.5 in a critical culture
channel_avalanches(cit, ct, duration=10_000)     # electrodes, as on an MEA
```

Events are binned at `bin_ms` (default: the mean interval between consecutive events,
pooled over the culture, as in the paper). An avalanche is a run of consecutive bins
holding events, with an empty bin before and after it. Its size is the number of events
in it, its duration the number of its bins. Runs that touch the first or the last bin of
the recording are dropped: the recording's edges may have cut them.

The branching ratio sigma is the mean, over every bin of every avalanche, of the events
in the next bin over the events in that bin (descendants per ancestor; the bin after an
avalanche's last holds none). A branching process with m descendants per event on average
gives sigma = m: 1 at criticality, below 1 when activity dies out.

Sizes and durations are fitted with discrete power laws (`livn.analysis.power_law_fit`);
`x_min` is fitted by default (Clauset et al. 2009) or fixed by the caller (e.g. 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from livn.analysis import _arguments as check
from livn.analysis.power_law import MIN_TAIL, PowerLawFit, power_law_fit
from livn.errors import InvalidArgumentError, describe


@dataclass(frozen=True)
class Avalanches:
    """Neuronal avalanches of one recording.

    - `bin_ms`: the bin width used (ms).
    - `sizes`: `[n]` events per avalanche (spikes, or active electrode-bins for `channel_avalanches`).
    - `durations`: `[n]` bins per avalanche; `durations_ms` in ms.
    - `branching_ratio`: sigma, descendants per ancestor (NaN without avalanches).
    - `size_fit`, `duration_fit`: `PowerLawFit` of sizes and durations, or None when fewer than
      10 values (or all equal) lie at or above x_min.
    """

    bin_ms: float
    sizes: np.ndarray
    durations: np.ndarray
    branching_ratio: float
    size_fit: PowerLawFit | None
    duration_fit: PowerLawFit | None

    @property
    def durations_ms(self) -> np.ndarray:
        """Avalanche durations in ms (bins times `bin_ms`)."""
        return self.durations * self.bin_ms


def mean_interevent_interval(times) -> float:
    """Mean interval (ms) between consecutive events of the pooled, sorted `times` (ms); needs 2 events."""
    times = np.sort(check.times_ms(times, "times"))
    if times.size < 2 or times[-1] == times[0]:
        raise InvalidArgumentError(
            f"the mean inter-event interval needs two events at different times; got {times.size} events"
        )
    return float((times[-1] - times[0]) / (times.size - 1))


def avalanches(it, t, bin_ms: float | None = None, duration: float | None = None, x_min: int | None = None) -> Avalanches:
    """Neuronal avalanches of the population's spikes.

    **Arguments**

    - `it`, `t`: spike gids and times (ms from the window start), as `Env.run` returns them.
    - `bin_ms`: bin width (ms); `None`: the mean inter-spike interval of the pooled spikes.
    - `duration`: the recording's length (ms); bins then cover [0, duration). `None`: they
      start at the first spike and end with the last.
    - `x_min`: the power laws' x_min (positive integer), or `None` to fit it.

    **Returns**: `Avalanches`, sizes in spikes.
    """
    _, t = check.spikes(it, t)
    _check_x_min(x_min)
    bin_ms, duration, origin = _binning(t, bin_ms, duration)
    bins = np.floor((t - origin) / bin_ms).astype(np.int64)
    return _from_bins(bins, bin_ms, duration, x_min)


def channel_avalanches(cit, ct, bin_ms: float | None = None, duration: float | None = None,
                       x_min: int | None = None) -> Avalanches:
    """Neuronal avalanches of the electrodes, as recorded on an MEA.

    An electrode is active in a bin when it recorded at least one spike there; an event is
    one active electrode in one bin, so sizes count active electrodes summed over the bins.

    **Arguments**: `cit`, `ct` (channel id -> spike gids, times ms, from `MEA.channel_recording`);
    `bin_ms` (default: mean interval between consecutive spikes pooled over channels),
    `duration` and `x_min` as in `avalanches`.

    **Returns**: `Avalanches`, sizes in active electrodes.
    """
    channel_ids, _, times = check.channel_spikes(cit, ct)
    _check_x_min(x_min)
    pooled = np.concatenate([times[int(c)] for c in channel_ids])
    bin_ms, duration, origin = _binning(pooled, bin_ms, duration)
    # one event per channel per bin in which that channel saw a spike
    active = [np.unique(np.floor((times[int(c)] - origin) / bin_ms).astype(np.int64)) for c in channel_ids]
    bins = np.concatenate(active) if active else np.zeros(0, dtype=np.int64)
    return _from_bins(bins, bin_ms, duration, x_min)


def _check_x_min(x_min) -> None:
    if x_min is not None and (isinstance(x_min, bool) or not isinstance(x_min, (int, np.integer)) or x_min < 1):
        raise InvalidArgumentError(f"x_min must be a positive integer or None (fit it); got {describe(x_min)}")


def _binning(times: np.ndarray, bin_ms, duration) -> tuple[float, float | None, float]:
    if bin_ms is None:
        if np.unique(times).size < 2:
            raise InvalidArgumentError(
                f"bin_ms=None takes the mean inter-event interval, which needs events at two or more times; "
                f"got {times.size} events; pass bin_ms (ms)"
            )
        bin_ms = mean_interevent_interval(times)
    bin_ms = check.positive_ms(bin_ms, "bin_ms")
    if duration is not None:
        duration = check.positive_ms(duration, "duration")
        if times.size and (times.min() < 0 or times.max() >= duration):
            raise InvalidArgumentError(
                f"spike times must lie in [0, duration={duration}) ms; got [{times.min()}, {times.max()}]"
            )
    origin = 0.0 if duration is not None or times.size == 0 else float(times.min())
    return bin_ms, duration, origin


def _from_bins(bins, bin_ms, duration, x_min) -> Avalanches:
    """Avalanches from the bin index of every event (bin 0 opens the recording)."""
    occupied, events = np.unique(bins, return_counts=True)
    if occupied.size == 0:
        return Avalanches(bin_ms, np.zeros(0, np.int64), np.zeros(0, np.int64), math.nan, None, None)
    last_bin = math.ceil(duration / bin_ms) - 1 if duration is not None else int(occupied[-1])
    # runs of consecutive occupied bins
    breaks = np.flatnonzero(np.diff(occupied) > 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [occupied.size]])
    keep = (occupied[starts] > 0) & (occupied[stops - 1] < last_bin)
    inside = np.repeat(keep, stops - starts)  # occupied bins that belong to a kept avalanche
    starts, stops = starts[keep], stops[keep]
    cumulative = np.concatenate([[0], np.cumsum(events)])
    sizes = cumulative[stops] - cumulative[starts]
    durations = (stops - starts).astype(np.int64)
    # descendants per ancestor: events in bin k + 1 over events in bin k, the bin after the last holding none
    following = np.zeros(occupied.size)
    consecutive = np.diff(occupied) == 1
    following[:-1][consecutive] = events[1:][consecutive]
    ratios = following[inside] / events[inside]
    sigma = float(ratios.mean()) if ratios.size else math.nan
    return Avalanches(
        bin_ms=bin_ms,
        sizes=sizes.astype(np.int64),
        durations=durations,
        branching_ratio=sigma,
        size_fit=_fit(sizes, x_min),
        duration_fit=_fit(durations, x_min),
    )


def _fit(values: np.ndarray, x_min) -> PowerLawFit | None:
    if values.size < MIN_TAIL:
        return None
    try:
        return power_law_fit(values, x_min=x_min)
    except InvalidArgumentError:
        return None
