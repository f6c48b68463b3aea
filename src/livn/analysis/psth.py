"""Peri-stimulus time histograms (PSTHs): spikes binned in time around each stimulus.

```python
from livn.analysis import psth, channel_psth

edges, rate, counts = psth(it, t, stimulus_times_ms=[100, 600, 1100], window=(-50, 200), bin_ms=5)
per_channel = channel_psth(cit, ct, [100, 600, 1100])   # cit, ct from MEA.channel_recording
```

Times are ms (spike times and stimulus times in the same frame, e.g. ms from the
window start as `Env.run` returns them), rates Hz. A bin k holds the spikes with
`edges[k] <= t - stimulus < edges[k + 1]`. Trials may overlap; a spike then counts in each.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from livn.analysis import _arguments as check
from livn.errors import InvalidArgumentError


class PSTH(NamedTuple):
    """A PSTH; unpacks as `edges, rate, counts`.

    - `edges`: `[n_bins + 1]` bin edges, ms relative to stimulus onset.
    - `rate`: `[n_bins]` Hz: the mean over trials of the spikes in the bin divided by the bin
      width, per neuron when `gids` were given (mean over those neurons), else of all spikes pooled.
    - `counts`: `[n_trials, n_bins]` spikes per trial and bin (int64), trials in the order of the stimuli.
    """

    edges: np.ndarray
    rate: np.ndarray
    counts: np.ndarray


class ChannelPSTH(NamedTuple):
    """A PSTH per recording channel; unpacks as `channel_ids, edges, rate, counts`.

    - `channel_ids`: `[n_channels]` channel ids, ascending; row i of `rate` and `counts` is channel i.
    - `edges`: `[n_bins + 1]` ms relative to stimulus onset.
    - `rate`: `[n_channels, n_bins]` Hz, the channel's multi-unit rate (all spikes it recorded).
    - `counts`: `[n_channels, n_trials, n_bins]` spikes (int64).
    """

    channel_ids: np.ndarray
    edges: np.ndarray
    rate: np.ndarray
    counts: np.ndarray


def _bins(window, bin_ms) -> tuple[np.ndarray, float]:
    start, stop = check.time_window(window, "window")
    bin_ms = check.positive_ms(bin_ms, "bin_ms")
    n_bins = int(round((stop - start) / bin_ms))
    if n_bins < 1 or not math.isclose(n_bins * bin_ms, stop - start, rel_tol=1e-9, abs_tol=1e-9):
        raise InvalidArgumentError(
            f"window {window!r} (ms) must be a whole number of bins of bin_ms={bin_ms} ms"
        )
    return start + bin_ms * np.arange(n_bins + 1), bin_ms


def _trial_counts(times: np.ndarray, stimuli: np.ndarray, edges: np.ndarray, bin_ms: float) -> np.ndarray:
    """`[n_trials, n_bins]` spike counts of `times` (ms) around each stimulus (ms)."""
    n_bins = len(edges) - 1
    times = np.sort(times)
    lo = np.searchsorted(times, stimuli + edges[0], side="left")
    hi = np.searchsorted(times, stimuli + edges[-1], side="left")
    lengths = hi - lo
    trial = np.repeat(np.arange(len(stimuli)), lengths)
    offsets = np.cumsum(lengths) - lengths
    index = np.repeat(lo, lengths) + (np.arange(lengths.sum()) - np.repeat(offsets, lengths))
    relative = times[index] - stimuli[trial] - edges[0]
    # a small guard keeps a spike that sits on a bin edge (up to rounding) in the bin it opens
    which = np.clip(np.floor(relative / bin_ms + 1e-9).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(trial * n_bins + which, minlength=len(stimuli) * n_bins)
    return counts.reshape(len(stimuli), n_bins).astype(np.int64)


def psth(it, t, stimulus_times_ms, window=(-50.0, 200.0), bin_ms: float = 1.0, gids=None) -> PSTH:
    """Peri-stimulus time histogram of neuron spikes.

    **Arguments**

    - `it`, `t`: spike gids and times (ms), as `Env.run` returns them.
    - `stimulus_times_ms`: stimulus onsets (ms, same frame as `t`), one trial each.
    - `window`: (start, stop) ms relative to each onset; a whole number of bins.
    - `bin_ms`: bin width (ms).
    - `gids`: only these neurons' spikes; the rate is then per neuron. `None`: all spikes,
      and the rate is that of all spikes pooled (divide by the number of neurons for a per-neuron rate).

    **Returns**: `PSTH(edges, rate, counts)`: edges ms, rate Hz, counts `[n_trials, n_bins]`.
    """
    it, t = check.spikes(it, t)
    stimuli = check.times_ms(stimulus_times_ms, "stimulus_times_ms")
    edges, bin_ms = _bins(window, bin_ms)
    neurons = 1
    if gids is not None:
        gids = check.gid_selection(gids)
        t = t[np.isin(it, gids)]
        neurons = len(gids)
    counts = _trial_counts(t, stimuli, edges, bin_ms)
    rate = counts.mean(axis=0) / (bin_ms / 1000.0) / neurons
    return PSTH(edges, rate, counts)


def channel_psth(cit, ct, stimulus_times_ms, window=(-50.0, 200.0), bin_ms: float = 1.0) -> ChannelPSTH:
    """Peri-stimulus time histogram of each recording channel's spikes.

    **Arguments**

    - `cit`, `ct`: channel id -> spike gids and times (ms), from `MEA.channel_recording`.
    - `stimulus_times_ms`, `window`, `bin_ms`: as in `psth` (ms).

    **Returns**: `ChannelPSTH(channel_ids, edges, rate, counts)`; rate Hz per channel.
    """
    channel_ids, _, times = check.channel_spikes(cit, ct)
    stimuli = check.times_ms(stimulus_times_ms, "stimulus_times_ms")
    edges, bin_ms = _bins(window, bin_ms)
    counts = np.stack([_trial_counts(times[int(c)], stimuli, edges, bin_ms) for c in channel_ids])
    rate = counts.mean(axis=1) / (bin_ms / 1000.0)
    return ChannelPSTH(channel_ids, edges, rate, counts)
