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
