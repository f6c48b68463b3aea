"""Synchrony between spike trains: the spike time tiling coefficient (Cutts & Eglen 2014, J Neurosci 34:14288).

```python
from livn.analysis import spike_time_tiling, sttc_matrix, channel_sttc_matrix

spike_time_tiling(times_a, times_b, duration=1000, dt_ms=5)  # -1 .. 1; 1 for identical trains
gids, sttc = sttc_matrix(it, t, duration=1000)               # [n, n] over neurons
channels, sttc = channel_sttc_matrix(cit, ct, duration=1000) # [n, n] over recording channels
```

The coefficient is computed by Elephant
(`elephant.spike_train_correlation.spike_time_tiling_coefficient`) on Neo `SpikeTrain`s
spanning [0, duration] ms; it is NaN when either train is empty. It is not confounded by
firing rates: two independent trains score about 0 whatever their rates. Needs the
`analysis` extra (`pip install 'livn[analysis]'`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from livn.analysis import _arguments as check
from livn.errors import InvalidArgumentError, require_module

_FEATURE = "the spike time tiling coefficient"


class PairwiseSTTC(NamedTuple):
    """Spike time tiling coefficients of every pair; unpacks as `ids, sttc`.

    - `ids`: `[n]` gids or channel ids, ascending; row and column i belong to `ids[i]`.
    - `sttc`: `[n, n]` symmetric, in [-1, 1]; the diagonal is 1 for a train with spikes;
      rows and columns of empty trains are NaN.
    """

    ids: np.ndarray
    sttc: np.ndarray


def _spike_train(times: np.ndarray, duration: float, name: str):
    neo = require_module("neo", "analysis", _FEATURE)
    if times.size and (times.min() < 0 or times.max() > duration):
        raise InvalidArgumentError(
            f"{name} must lie in [0, duration={duration}] ms; got times in [{times.min()}, {times.max()}] ms"
        )
    return neo.SpikeTrain(np.sort(times), units="ms", t_start=0.0, t_stop=duration)


def _tiling(train_a, train_b, dt_ms: float) -> float:
    quantities = require_module("quantities", "analysis", _FEATURE)
    correlation = require_module("elephant.spike_train_correlation", "analysis", _FEATURE)
    return float(correlation.spike_time_tiling_coefficient(train_a, train_b, dt=dt_ms * quantities.ms))


def spike_time_tiling(times_a, times_b, duration: float, dt_ms: float = 5.0) -> float:
    """Spike time tiling coefficient of two spike trains.

    **Arguments**

    - `times_a`, `times_b`: spike times (ms) in [0, `duration`].
    - `duration`: the recording's length (ms).
    - `dt_ms`: the synchrony window (ms): spikes within +-dt_ms of each other count as coincident.

    **Returns**: the coefficient, in [-1, 1] (NaN if a train is empty).
    """
    times_a = check.times_ms(times_a, "times_a", allow_empty=True)
    times_b = check.times_ms(times_b, "times_b", allow_empty=True)
    duration = check.positive_ms(duration, "duration")
    dt_ms = check.positive_ms(dt_ms, "dt_ms")
    train_a = _spike_train(times_a, duration, "times_a")
    train_b = _spike_train(times_b, duration, "times_b")
    return _tiling(train_a, train_b, dt_ms)


def _matrix(ids: np.ndarray, trains: list, dt_ms: float) -> PairwiseSTTC:
    n = len(ids)
    sttc = np.full((n, n), np.nan)
    for i in range(n):
        if len(trains[i]) == 0:
            continue
        for j in range(i, n):
            if len(trains[j]):
                sttc[i, j] = sttc[j, i] = _tiling(trains[i], trains[j], dt_ms)
    return PairwiseSTTC(ids, sttc)


def sttc_matrix(it, t, duration: float, gids=None, dt_ms: float = 5.0) -> PairwiseSTTC:
    """Spike time tiling coefficients between every pair of neurons.

    **Arguments**

    - `it`, `t`: spike gids and times (ms from the window start), as `Env.run` returns them.
    - `duration`: the recording's length (ms); every spike lies in [0, duration].
    - `gids`: the neurons (rows); `None`: those that spiked.
    - `dt_ms`: the synchrony window (ms).

    **Returns**: `PairwiseSTTC(ids, sttc)` with `sttc` `[n, n]`.
    """
    it, t = check.spikes(it, t)
    duration = check.positive_ms(duration, "duration")
    dt_ms = check.positive_ms(dt_ms, "dt_ms")
    ids = np.unique(it) if gids is None else check.gid_selection(gids)
    order = np.argsort(it, kind="stable")
    it, t = it[order], t[order]
    first, last = np.searchsorted(it, ids, side="left"), np.searchsorted(it, ids, side="right")
    trains = [_spike_train(t[a:b], duration, "t") for a, b in zip(first, last)]
    return _matrix(ids, trains, dt_ms)


def channel_sttc_matrix(cit, ct, duration: float, dt_ms: float = 5.0) -> PairwiseSTTC:
    """Spike time tiling coefficients between every pair of recording channels (multi-unit spikes).

    **Arguments**: `cit`, `ct` (channel id -> spike gids, times ms, from `MEA.channel_recording`);
    `duration` (ms) and `dt_ms` (ms) as in `sttc_matrix`.

    **Returns**: `PairwiseSTTC(ids, sttc)` over channel ids.
    """
    channel_ids, _, times = check.channel_spikes(cit, ct)
    duration = check.positive_ms(duration, "duration")
    dt_ms = check.positive_ms(dt_ms, "dt_ms")
    trains = [_spike_train(times[int(c)], duration, f"ct[{int(c)}]") for c in channel_ids]
    return _matrix(channel_ids, trains, dt_ms)
