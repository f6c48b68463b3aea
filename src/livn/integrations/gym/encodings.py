"""Encodings: how an agent's action becomes a stimulation pattern on the electrodes.

**The protocol.** An encoding is any object with

- `action_space`: a `gymnasium.spaces.Space`, the agent's action space in `LivnGym`;
- `__call__(action, duration, channel_ids) -> inputs`: the electrode currents for one
  step's culture window, `[T, len(channel_ids)]` uA with 1 ms per row and
  `1 <= T <= ceil(duration)` (rows after T are zero), columns in the order of `channel_ids`.

`duration` is the window in ms and `channel_ids` the MEA's channel ids (`MEA.channel_ids`).
A plain function with an `action_space` attribute qualifies; `Encoding` is a convenient base.

Shipped encodings take normalised actions in [-1, 1] per dimension (the convention of
continuous-control agents such as SAC) and clip actions outside it:

- `PulseEncoding`: one pulse of fixed width; the action picks channel, onset and amplitude.
- `ChannelAmplitudeEncoding`: a current on each of several channels, the action sets each amplitude.
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces

from livn.errors import InvalidArgumentError, describe
from livn.stimulation import Pulse, pulse_inputs

#: Channel ids of the standard 4 x 4 MEA of the predefined systems.
STANDARD_CHANNELS = tuple(range(16))


class Encoding:
    """Base class of encodings; subclasses set `action_space` and implement `__call__`."""

    action_space: spaces.Space

    def __call__(self, action, duration: float, channel_ids) -> np.ndarray:
        raise NotImplementedError

    def _normalised(self, action) -> np.ndarray:
        """The action as a float array of the action space's shape, clipped to [-1, 1]."""
        array = np.asarray(action, dtype=float)
        if array.shape != self.action_space.shape or not np.all(np.isfinite(array)):
            raise InvalidArgumentError(
                f"action must be a finite array of shape {self.action_space.shape} in [-1, 1]; got {describe(action)}"
            )
        return np.clip(array, -1.0, 1.0)


def _check_amplitude(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be a finite number of uA; got {describe(value)}")
    return float(value)


def check_channels(channels, name: str = "channels") -> tuple[int, ...]:
    """Validate a non-empty sequence of distinct, non-negative, whole channel ids."""
    try:
        values = list(channels)
        ids = tuple(int(c) for c in values)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be a sequence of channel ids; got {describe(channels)}") from None
    if not ids or len(set(ids)) != len(ids) or any(c < 0 for c in ids) or any(c != x for c, x in zip(ids, values)):
        raise InvalidArgumentError(f"{name} must be distinct, non-negative channel ids; got {describe(channels)}")
    return ids


def _check_window(duration, channel_ids) -> tuple[float, list[int]]:
    if isinstance(duration, bool) or not isinstance(duration, (int, float, np.integer, np.floating)) or not (
        math.isfinite(duration) and duration > 0
    ):
        raise InvalidArgumentError(f"duration must be a positive number of ms; got {describe(duration)}")
    return float(duration), [int(c) for c in channel_ids]


class PulseEncoding(Encoding):
    """One rectangular pulse per step: the action chooses its channel, onset and amplitude.

    **Arguments**

    - `width`: pulse width, ms (rounded to whole ms by `livn.stimulation.pulse_inputs`).
    - `amplitude`: `(low, high)` amplitude range, uA.
    - `channels`: the channel ids the pulse may go to (default: every MEA channel, in MEA order).

    **Action space**: `Box(-1, 1, (3,))`: `(channel, onset, amplitude)`, each mapped linearly:
    `channel` in [-1, 1] splits into equal bins, one per channel (-1 the first, 1 the last);
    `onset` -1 is the window start and 1 the latest onset `duration - width` ms;
    `amplitude` -1 is `low` and 1 is `high` uA.
    """

    def __init__(self, width: float = 10.0, amplitude: tuple[float, float] = (0.0, 20.0), channels=None):
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not (math.isfinite(width) and width >= 1):
            raise InvalidArgumentError(f"width must be a number of ms >= 1; got {describe(width)}")
        try:
            low, high = amplitude
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"amplitude must be a (low, high) pair of uA; got {describe(amplitude)}") from None
        low, high = _check_amplitude("amplitude low", low), _check_amplitude("amplitude high", high)
        if low > high:
            raise InvalidArgumentError(f"amplitude must have low <= high; got ({low}, {high}) uA")
        self.width = float(width)
        self.amplitude = (low, high)
        self.channels = None if channels is None else check_channels(channels)
        self.action_space = spaces.Box(-1.0, 1.0, (3,), np.float32)

    def pulse(self, action, duration: float, channel_ids) -> Pulse:
        """The `Pulse` (channel, uA, onset ms, width ms) that `action` asks for in a `duration` ms window."""
        a = self._normalised(action)
        duration, channel_ids = _check_window(duration, channel_ids)
        if self.width > duration:
            raise InvalidArgumentError(f"the pulse width {self.width} ms does not fit a {duration} ms window")
        channels = list(channel_ids) if self.channels is None else list(self.channels)
        index = min(int((a[0] + 1.0) / 2.0 * len(channels)), len(channels) - 1)
        onset = float(round((a[1] + 1.0) / 2.0 * (duration - self.width)))
        low, high = self.amplitude
        return Pulse(channels[index], low + (a[2] + 1.0) / 2.0 * (high - low), onset, self.width)

    def __call__(self, action, duration: float, channel_ids) -> np.ndarray:
        """`[ceil(duration), n_channels]` electrode currents, uA, holding the one pulse."""
        return pulse_inputs([self.pulse(action, duration, channel_ids)], duration, channel_ids)

    def __repr__(self) -> str:
        return f"PulseEncoding(width={self.width}, amplitude={self.amplitude}, channels={self.channels})"


class ChannelAmplitudeEncoding(Encoding):
    """A constant current on each chosen channel; the action sets each channel's amplitude.

    **Arguments**

    - `channels`: channel ids, one per action dimension (default: the 16 channels of the standard MEA).
    - `max_amplitude`: uA at action 1; action -1 gives `-max_amplitude` (negative currents
      hyperpolarise the neurons near the electrode), 0 gives no stimulation.
    - `start`: ms from the window start at which the current switches on.
    - `width`: how long it stays on, ms (default: to the end of the window).

    **Action space**: `Box(-1, 1, (len(channels),))`, amplitude `action * max_amplitude` uA per channel.
    """

    def __init__(self, channels=STANDARD_CHANNELS, max_amplitude: float = 1.0, start: float = 0.0,
                 width: float | None = None):
        self.channels = check_channels(channels)
        self.max_amplitude = _check_amplitude("max_amplitude", max_amplitude)
        if self.max_amplitude <= 0:
            raise InvalidArgumentError(f"max_amplitude must be positive, uA; got {max_amplitude}")
        for name, value in (("start", start), ("width", width)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0):
                raise InvalidArgumentError(f"{name} must be a non-negative number of ms; got {describe(value)}")
        if width is not None and width < 1:
            raise InvalidArgumentError(f"width must be at least 1 ms (the stimulus resolution); got {width}")
        self.start = float(start)
        self.width = None if width is None else float(width)
        self.action_space = spaces.Box(-1.0, 1.0, (len(self.channels),), np.float32)

    def __call__(self, action, duration: float, channel_ids) -> np.ndarray:
        """`[ceil(duration), n_channels]` electrode currents, uA."""
        amplitudes = self._normalised(action) * self.max_amplitude
        duration, channel_ids = _check_window(duration, channel_ids)
        width = duration - self.start if self.width is None else self.width
        if width <= 0:
            raise InvalidArgumentError(f"the current starting at {self.start} ms does not fit a {duration} ms window")
        pulses = [Pulse(c, float(a), self.start, width) for c, a in zip(self.channels, amplitudes)]
        return pulse_inputs(pulses, duration, channel_ids)

    def __repr__(self) -> str:
        return (f"ChannelAmplitudeEncoding(channels={self.channels}, max_amplitude={self.max_amplitude}, "
                f"start={self.start}, width={self.width})")
