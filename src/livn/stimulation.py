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


@dataclass(frozen=True)
class RandomStimulation:
    """A distribution of electrode stimulations: the random pulses of one dataset sample.

    A draw has between 1 and `max_pulses` pulses (uniform). Each pulse goes to a
    channel chosen uniformly from the MEA's channels, with an amplitude uniform
    in `amplitude` (uA, rounded to 0.1 uA), a width uniform over the whole ms in
    `width` (ms), and an onset uniform over the whole ms at which the pulse ends
    within the window. Pulses are sorted by onset, then channel.
    """

    max_pulses: int = 8
    amplitude: tuple[float, float] = (1.0, 10.0)  # uA
    width: tuple[int, int] = (2, 20)  # ms

    def __post_init__(self):
        if isinstance(self.max_pulses, bool) or not isinstance(self.max_pulses, (int, np.integer)) or self.max_pulses < 1:
            raise InvalidArgumentError(f"max_pulses must be a positive integer; got {describe(self.max_pulses)}")
        low, high = _pair(self.amplitude, "amplitude (uA)")
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise InvalidArgumentError(f"amplitude must be a finite (low, high) range in uA; got {self.amplitude}")
        shortest, longest = _pair(self.width, "width (ms)")
        if shortest != int(shortest) or longest != int(longest) or not 1 <= shortest <= longest:
            raise InvalidArgumentError(f"width must be a (shortest, longest) range of whole ms >= 1; got {self.width}")
        object.__setattr__(self, "max_pulses", int(self.max_pulses))
        object.__setattr__(self, "amplitude", (float(low), float(high)))
        object.__setattr__(self, "width", (int(shortest), int(longest)))

    def draw(self, seed: int, duration: float, channel_ids) -> list[Pulse]:
        """The pulses for `seed` in a window of `duration` ms on the given channels.

        The same seed, duration and channels always give the same pulses. Amplitudes,
        onsets and widths are exactly representable in float32, so the `features`
        array (`pulses_to_features`) reproduces the stimulation exactly.
        """
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidArgumentError(f"seed must be a non-negative integer; got {describe(seed)}")
        if not isinstance(duration, (int, float)) or not math.isfinite(duration) or duration < self.width[1]:
            raise InvalidArgumentError(
                f"duration must be at least the longest pulse width ({self.width[1]} ms); got {describe(duration)}"
            )
        channel_ids = np.asarray([int(c) for c in channel_ids])
        if channel_ids.size == 0:
            raise InvalidArgumentError("channel_ids must name at least one channel")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x57]))
        count = int(rng.integers(1, self.max_pulses + 1))
        channels = rng.choice(channel_ids, size=count)
        widths = rng.integers(self.width[0], self.width[1] + 1, size=count)
        starts = np.floor(rng.random(count) * (math.floor(duration) - widths + 1))
        amplitudes = np.round(rng.uniform(*self.amplitude, size=count), 1)
        pulses = [
            Pulse(int(c), float(np.float32(a)), float(s), float(w))
            for c, a, s, w in zip(channels, amplitudes, starts, widths, strict=True)
        ]
        return sorted(pulses, key=lambda p: (p.start, p.channel))

    def to_dict(self) -> dict:
        return {"max_pulses": self.max_pulses, "amplitude": list(self.amplitude), "width": list(self.width)}

    @classmethod
    def from_dict(cls, data: dict) -> "RandomStimulation":
        return cls(int(data["max_pulses"]), tuple(data["amplitude"]), tuple(data["width"]))


def _pair(value, name: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be a (low, high) pair; got {describe(value)}") from None
    return low, high


class ElectrodeStimulation:
    """Electrode currents delivered over one window: what a rig's stimulator log holds.

    **Arguments**

    - `currents`: `[rows, n_channels]` electrode currents in uA, row k delivered during
      [k, k + 1) * `step` ms of the window (livn's sign: positive depolarises the neurons
      near the electrode, i.e. the cathodic phase of a biphasic pulse is positive).
    - `step`: ms per row (1 ms, or a multiple of the integration step that divides 1 ms).
    - `channel_ids`: the MEA's channel ids, one per column.

    `Env.run(..., inputs=...)` stamps one on its result (`RunResult.stimulation`), padded
    with zero rows to the whole window, so `window` and `concat` can cut and join it.
    """

    def __init__(self, currents, step: float, channel_ids):
        currents = np.asarray(currents, dtype=float)
        channel_ids = np.asarray(channel_ids)
        if channel_ids.ndim != 1 or channel_ids.size == 0 or not np.issubdtype(channel_ids.dtype, np.integer):
            raise InvalidArgumentError(f"channel_ids must be a non-empty 1-d array of ints; got {describe(channel_ids)}")
        if currents.ndim != 2 or currents.shape[1] != channel_ids.size:
            raise InvalidArgumentError(
                f"currents must be [rows, {channel_ids.size}] uA (one column per channel); got {describe(currents)}"
            )
        if not np.all(np.isfinite(currents)):
            raise InvalidArgumentError("currents contain NaN or infinite values")
        if isinstance(step, bool) or not isinstance(step, (int, float, np.floating)) or not (
            math.isfinite(step) and step > 0
        ):
            raise InvalidArgumentError(f"step must be a positive number of ms; got {describe(step)}")
        self.currents = currents
        self.step = float(step)
        self.channel_ids = channel_ids.astype(np.int64)

    @property
    def duration(self) -> float:
        """Time the rows cover, ms."""
        return self.currents.shape[0] * self.step

    def _row(self, name: str, time: float) -> int:
        row = round(time / self.step)
        if abs(time / self.step - row) > 1e-6:
            raise InvalidArgumentError(f"{name} must be a multiple of the stimulation step {self.step} ms; got {time}")
        return int(row)

    def window(self, start_ms: float, stop_ms: float) -> "ElectrodeStimulation":
        """The rows in [`start_ms`, `stop_ms`) (ms from this window's start, on the row grid)."""
        first, last = self._row("start_ms", start_ms), self._row("stop_ms", stop_ms)
        return ElectrodeStimulation(self.currents[first:last], self.step, self.channel_ids)

    @classmethod
    def concat(cls, parts) -> "ElectrodeStimulation":
        """Consecutive windows' stimulation joined (same step and channels)."""
        parts = list(parts)
        if not parts or not all(isinstance(p, ElectrodeStimulation) for p in parts):
            raise InvalidArgumentError("concat needs a non-empty list of ElectrodeStimulation")
        first = parts[0]
        for i, p in enumerate(parts):
            if not math.isclose(p.step, first.step) or not np.array_equal(p.channel_ids, first.channel_ids):
                raise InvalidArgumentError(
                    f"parts[{i}] has step {p.step} ms and channels {p.channel_ids.tolist()}; parts[0] has "
                    f"{first.step} ms and {first.channel_ids.tolist()}"
                )
        return cls(np.concatenate([p.currents for p in parts]), first.step, first.channel_ids)

    def __eq__(self, other) -> bool:
        return (isinstance(other, ElectrodeStimulation) and math.isclose(self.step, other.step)
                and np.array_equal(self.channel_ids, other.channel_ids) and np.array_equal(self.currents, other.currents))

    def __repr__(self) -> str:
        return (f"ElectrodeStimulation({self.currents.shape[0]} rows of {self.step:g} ms, "
                f"{len(self.channel_ids)} channels, peak {np.abs(self.currents).max(initial=0):g} uA)")
