"""Small value types shared by the Env facade and the backends."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class RunResult(NamedTuple):
    """What one `Env.run` window recorded. Unpacks as `it, t, iv, v`.

    - `it`: int64 gids of the neurons that spiked, one entry per spike (None if spikes are not recorded).
    - `t`: spike times in ms from the start of the window, sorted (None if spikes are not recorded).
    - `iv`: int64 gids whose membrane potential was recorded (None if voltage is not recorded).
    - `v`: `[len(iv), n_samples]` membrane potential in mV; sample k is at k * dt ms
      from the window start, the first one being the state the window starts from.
    """

    it: np.ndarray | None
    t: np.ndarray | None
    iv: np.ndarray | None
    v: np.ndarray | None
