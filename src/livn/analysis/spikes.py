"""Statistics of recorded culture activity: firing rates, irregularity, network bursts.

All functions take spikes as `it` (gids) and `t` (ms) arrays, as `Env.run` returns them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from livn.errors import InvalidArgumentError, describe


def _check_spikes(it, t, num_neurons: int, duration: float):
    it = np.asarray([] if it is None else it)
    t = np.asarray([] if t is None else t, dtype=float)
    if it.ndim != 1 or it.shape != t.shape:
        raise InvalidArgumentError(f"it and t must be 1-d arrays of equal length; got it {describe(it)}, t {describe(t)}")
    if not isinstance(num_neurons, (int, np.integer)) or num_neurons <= 0:
        raise InvalidArgumentError(f"num_neurons must be a positive integer; got {describe(num_neurons)}")
    if not isinstance(duration, (int, float, np.integer, np.floating)) or not math.isfinite(duration) or duration <= 0:
        raise InvalidArgumentError(f"duration must be a positive number of ms; got {describe(duration)}")
    if it.size and (it.min() < 0 or it.max() >= num_neurons):
        raise InvalidArgumentError(f"it holds gids outside [0, {num_neurons - 1}]")
    return it.astype(np.int64), t


def firing_rates(it, t, num_neurons: int, duration: float) -> np.ndarray:
    """Per-neuron firing rate (Hz) over `duration` ms, indexed by gid."""
    it, t = _check_spikes(it, t, num_neurons, duration)
    return np.bincount(it, minlength=num_neurons) / (duration / 1000.0)


def isi_cv(it, t, num_neurons: int, duration: float, min_spikes: int = 5) -> float:
    """Mean coefficient of variation of inter-spike intervals over neurons with >= `min_spikes` spikes.

    About 1 for Poisson-like irregular firing, 0 for clock-like firing; NaN if no
    neuron fired `min_spikes` times.
    """
    it, t = _check_spikes(it, t, num_neurons, duration)
    order = np.lexsort((t, it))
    it, t = it[order], t[order]
    boundaries = np.flatnonzero(np.diff(it)) + 1
    cvs = []
    for times in np.split(t, boundaries):
        if len(times) >= min_spikes:
            isi = np.diff(times)
            if isi.mean() > 0:
                cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def network_bursts(
    it, t, num_neurons: int, duration: float,
    min_fraction: float = 0.25, window: float = 50.0, bin_size: float = 5.0, min_gap: float = 100.0,
) -> np.ndarray:
    """Network bursts: periods in which many neurons fire together.

    A time bin of `bin_size` ms belongs to a burst when at least `min_fraction` of
    all neurons fire within the `window` ms starting at that bin. Burst periods
    closer than `min_gap` ms are merged.

    **Returns**: `[n_bursts, 2]` array of (start, end) times in ms.
    """
    it, t = _check_spikes(it, t, num_neurons, duration)
    if not 0 < min_fraction <= 1:
        raise InvalidArgumentError(f"min_fraction must be in (0, 1]; got {min_fraction}")
    n_bins = max(1, math.ceil(duration / bin_size))
    if it.size == 0:
        return np.zeros((0, 2))
    bins = np.minimum((t / bin_size).astype(np.int64), n_bins - 1)
    width = max(1, int(round(window / bin_size)))
    # For each window start k, count neurons with a spike in bins [k, k + width).
    # A neuron counts once per window: use its first spike bin per "window block".
    last_bin = np.full(num_neurons, -(10**9))
    order = np.argsort(bins, kind="stable")
    active_from = np.zeros(n_bins + width + 1, dtype=np.int64)
    for neuron, b in zip(it[order], bins[order]):
        # this spike keeps the neuron active for window starts b - width + 1 .. b,
        # minus the starts already covered by its previous spike
        start = max(b - width + 1, last_bin[neuron] + 1, 0)
        if start <= b:
            active_from[start] += 1
            active_from[b + 1] -= 1
            last_bin[neuron] = b
    participation = np.cumsum(active_from)[:n_bins] / num_neurons
    in_burst = participation >= min_fraction
    if not in_burst.any():
        return np.zeros((0, 2))
    edges = np.diff(np.concatenate([[0], in_burst.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) + width - 1  # the last window reaches width - 1 bins further
    merged = [[starts[0], ends[0]]]
    for s, e in zip(starts[1:], ends[1:]):
        if (s - merged[-1][1]) * bin_size < min_gap:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    # Trim each period to the first and last spike inside it (the window leads by up to `window` ms).
    times = np.sort(t)
    bursts = []
    for s, e in merged:
        lo, hi = np.searchsorted(times, [s * bin_size, min((e + 1) * bin_size, duration)])
        if hi > lo:
            bursts.append([times[lo], times[hi - 1]])
    return np.asarray(bursts, dtype=float).reshape(-1, 2)


@dataclass(frozen=True)
class ActivitySummary:
    """Summary statistics of one recording."""

    num_neurons: int
    duration: float  # ms
    num_spikes: int
    mean_rate: float  # Hz, over all neurons
    active_fraction: float  # neurons with at least one spike
    isi_cv: float  # mean ISI coefficient of variation
    num_bursts: int
    burst_rate: float  # bursts per minute
    fraction_in_bursts: float  # spikes inside network bursts

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(it, t, num_neurons: int, duration: float, **burst_options) -> ActivitySummary:
    """Rates, irregularity and network bursts of a recording of `duration` ms."""
    it, t = _check_spikes(it, t, num_neurons, duration)
    bursts = network_bursts(it, t, num_neurons, duration, **burst_options)
    inside = np.zeros(t.shape, dtype=bool)
    for start, end in bursts:
        inside |= (t >= start) & (t <= end)
    return ActivitySummary(
        num_neurons=int(num_neurons),
        duration=float(duration),
        num_spikes=int(it.size),
        mean_rate=float(it.size / num_neurons / (duration / 1000.0)),
        active_fraction=float(np.unique(it).size / num_neurons),
        isi_cv=isi_cv(it, t, num_neurons, duration),
        num_bursts=int(len(bursts)),
        burst_rate=float(len(bursts) / (duration / 60000.0)),
        fraction_in_bursts=float(inside.mean()) if inside.size else 0.0,
    )


def matched_spikes(it_a, t_a, it_b, t_b, tolerance: float = 0.5) -> int:
    """Number of spikes of recording A paired one-to-one with a spike of the same neuron in B within `tolerance` ms.

    Spikes are paired greedily in time order per neuron; use it to compare two
    backends or two runs spike for spike.
    """
    it_a, it_b = np.asarray(it_a, dtype=np.int64), np.asarray(it_b, dtype=np.int64)
    t_a, t_b = np.asarray(t_a, dtype=float), np.asarray(t_b, dtype=float)
    if it_a.shape != t_a.shape or it_b.shape != t_b.shape:
        raise InvalidArgumentError("each recording needs equally long it and t arrays")
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise InvalidArgumentError(f"tolerance must be a non-negative number of ms; got {describe(tolerance)}")
    matched = 0
    for gid in np.intersect1d(it_a, it_b):
        a, b = np.sort(t_a[it_a == gid]), np.sort(t_b[it_b == gid])
        i = j = 0
        while i < len(a) and j < len(b):
            if abs(a[i] - b[j]) <= tolerance:
                matched, i, j = matched + 1, i + 1, j + 1
            elif a[i] < b[j]:
                i += 1
            else:
                j += 1
    return matched
