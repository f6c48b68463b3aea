"""Building electrode input arrays (uA per channel, 1 ms per row) from stimulation pulses."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from livn.errors import InvalidArgumentError, describe


@dataclass(frozen=True)
class Pulse:
    """A rectangular current pulse on one electrode.

    `channel` (id), `amplitude` (uA, either sign), `start` (ms from the window start),
    `width` (ms). Times are rounded to whole ms, the resolution of electrode inputs.
    """

    channel: int
    amplitude: float
    start: float
    width: float

    @classmethod
    def parse(cls, text: str) -> "Pulse":
        """Parse "CHANNEL:AMPLITUDE_uA:START_ms:WIDTH_ms", e.g. "5:20:100:10"."""
        parts = str(text).split(":")
        try:
            if len(parts) != 4:
                raise ValueError
            channel, amplitude, start, width = int(parts[0]), float(parts[1]), float(parts[2]), float(parts[3])
        except ValueError:
            raise InvalidArgumentError(
                f"stimulation {text!r} must read CHANNEL:AMPLITUDE_uA:START_ms:WIDTH_ms, e.g. '5:20:100:10'"
            ) from None
        return cls(channel, amplitude, start, width)


def pulse_inputs(pulses, duration: float, channel_ids) -> np.ndarray:
    """Electrode inputs for a list of `Pulse`s.

    **Arguments**

    - `pulses`: iterable of `Pulse` (overlapping pulses on one channel add up).
    - `duration`: length of the window, ms.
    - `channel_ids`: the MEA's channel ids, in column order.

    **Returns**: `[ceil(duration), n_channels]` electrode currents in uA, 1 ms per row.
    """
    if not isinstance(duration, (int, float)) or not math.isfinite(duration) or duration <= 0:
        raise InvalidArgumentError(f"duration must be a positive number of ms; got {describe(duration)}")
    channel_ids = [int(c) for c in channel_ids]
    rows = math.ceil(duration - 1e-9)
    inputs = np.zeros((rows, len(channel_ids)))
    for pulse in pulses:
        if pulse.channel not in channel_ids:
            raise InvalidArgumentError(f"pulse channel {pulse.channel} is not on this MEA; channels: {channel_ids}")
        if not (math.isfinite(pulse.amplitude) and math.isfinite(pulse.start) and math.isfinite(pulse.width)):
            raise InvalidArgumentError(f"pulse {pulse} has a non-finite value")
        if pulse.width <= 0 or pulse.start < 0 or pulse.start + pulse.width > duration + 1e-9:
            raise InvalidArgumentError(
                f"pulse {pulse} must have width > 0 ms and lie within [0, {duration}] ms"
            )
        first = int(round(pulse.start))
        last = max(first + 1, int(round(pulse.start + pulse.width)))
        inputs[first:min(last, rows), channel_ids.index(pulse.channel)] += pulse.amplitude
    return inputs


#: Column order of a stimulation's `features` rows (the dataset's `features` column).
FEATURE_COLUMNS = ("channel", "amplitude_uA", "start_ms", "width_ms")


def pulses_to_features(pulses) -> np.ndarray:
    """The `features` array of a stimulation: one row per `Pulse`, columns `FEATURE_COLUMNS`.

    **Returns**: `[n_pulses, 4]` float32 (channel id, amplitude uA, start ms, width ms);
    `[0, 4]` for no pulses. This is the layout of a dataset sample's `features`.
    """
    rows = []
    for pulse in pulses:
        if not isinstance(pulse, Pulse):
            raise InvalidArgumentError(f"pulses must be livn.stimulation.Pulse objects; got {describe(pulse)}")
        rows.append((pulse.channel, pulse.amplitude, pulse.start, pulse.width))
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURE_COLUMNS))


def pulses_from_features(features) -> list[Pulse]:
    """Inverse of `pulses_to_features`: `[n_pulses, 4]` rows (channel, uA, ms, ms) -> `Pulse`s."""
    array = np.asarray(features, dtype=float)
    if array.size == 0:
        return []
    if array.ndim != 2 or array.shape[1] != len(FEATURE_COLUMNS) or not np.all(np.isfinite(array)):
        raise InvalidArgumentError(
            f"features must be finite rows of {FEATURE_COLUMNS}, shape [n_pulses, 4]; got shape {array.shape}"
        )
    if np.any(array[:, 0] != np.round(array[:, 0])):
        raise InvalidArgumentError(f"features' channel column must hold whole channel ids; got {array[:, 0]}")
    return [Pulse(int(c), float(a), float(s), float(w)) for c, a, s, w in array]
