"""Electrode stimulation: pulses, biphasic pulses and pulse trains, turned into electrode input arrays.

Electrode inputs are `[rows, n_channels]` electrode currents in uA, row k delivered during
[k, k + 1) * step ms of the window. The step is 1 ms (the rows livn has always taken) or a
multiple of the integration step (0.1 ms) that divides 1 ms: 0.5, 0.2 or 0.1 ms, fine enough
for the sub-millisecond biphasic pulses that stimulators deliver.

**Sign convention.** Positive electrode current depolarises the neurons near the electrode.
Stimulators call that the cathodic phase (the electrode draws current from the tissue next to
it, lowering the extracellular potential there, which depolarises nearby membranes), so in livn's arrays the cathodic phase of a
biphasic pulse is positive and the anodic phase negative. A cathodic-first pulse therefore
starts with its positive phase.

Stimuli:
- `Pulse`: a rectangular monophasic pulse (either sign). On the 1 ms grid its times are rounded
  to whole ms, as they always were (`pulse_inputs`); on a finer grid they must lie on the grid.
- `BiphasicPulse`: two opposite phases with an optional interphase gap, charge-balanced by
  default; its charge per phase is in nC (uA * ms).
- `PulseTrain`: one pulse repeated `count` times every `period` ms (or at `rate_hz`).

`electrode_inputs(stimuli, duration, channel_ids, step)` lays any mix of them on a grid; the
times of biphasic pulses and trains must lie on it (an off-grid value is an error, never
silently rounded). Overlapping stimuli add.

Text forms (for the command line; `parse` reads what `to_text` writes):
- `Pulse`: "CHANNEL:AMPLITUDE_uA:START_ms:WIDTH_ms", e.g. "5:20:100:10".
- `BiphasicPulse`: "CHANNEL:AMPLITUDE_uA:START_ms:PHASE_ms[:GAP_ms[:SECOND_AMPLITUDE_uA:SECOND_PHASE_ms]]",
  e.g. "5:20:100:0.2:0.1". A negative amplitude means anodic-first (the first phase is negative
  in livn's sign); the second phase defaults to the first's amplitude and width. Parsed pulses
  are always charge-balanced.
- `PulseTrain`: "PULSE x COUNT @ RATE", where RATE is in Hz ("20", "20Hz") or is a period in ms
  ("50ms"), e.g. "5:20:100:0.2:0.1 x 10 @ 20Hz". The pulse part is a `BiphasicPulse` unless
  `PulseTrain.parse(text, pulse=Pulse)` asks for monophasic pulses.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

import numpy as np

from livn.errors import InvalidArgumentError, describe

#: Integration step of livn's model, ms (`livn.models.culture.CultureModel.dt`).
INTEGRATION_STEP = 0.1
#: The row steps electrode inputs accept, ms: 1 ms and the multiples of the integration step that divide it.
STEPS = (1.0, 0.5, 0.2, 0.1)


@dataclass(frozen=True)
class Pulse:
    """A rectangular current pulse on one electrode.

    `channel` (id), `amplitude` (uA, either sign; positive depolarises), `start` (ms from the
    window start), `width` (ms). On the 1 ms grid, times are rounded to whole ms (`pulse_inputs`);
    on a finer grid (`electrode_inputs(..., step=0.1)`) they must be multiples of the step.
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

    def to_text(self) -> str:
        """The text `Pulse.parse` reads back: "CHANNEL:AMPLITUDE_uA:START_ms:WIDTH_ms"."""
        return ":".join([str(int(self.channel))] + [_text(v) for v in (self.amplitude, self.start, self.width)])


@dataclass(frozen=True)
class BiphasicPulse:
    """A biphasic current pulse on one electrode, as stimulators deliver it.

    **Arguments**

    - `channel`: electrode (channel) id.
    - `amplitude`: magnitude of the first phase, uA (> 0).
    - `start`: onset of the first phase, ms from the window start (>= 0).
    - `phase_width`: width of the first phase, ms (> 0).
    - `interphase_gap`: time between the phases, ms (>= 0; default 0).
    - `cathodic_first`: True (default) for a cathodic (depolarising, positive in livn's arrays)
      first phase followed by an anodic (negative) one; False for the reverse.
    - `second_amplitude`: magnitude of the second phase, uA (> 0; default: `amplitude`).
    - `second_width`: width of the second phase, ms (> 0; default: `phase_width`).
    - `charge_balanced`: True (default) requires both phases to carry the same charge,
      `amplitude * phase_width == second_amplitude * second_width` to 1e-9 relative.

    Defaults are filled in on construction, so `second_amplitude` and `second_width` always
    hold numbers afterwards.
    """

    channel: int
    amplitude: float
    start: float
    phase_width: float
    interphase_gap: float = 0.0
    cathodic_first: bool = True
    second_amplitude: float | None = None
    second_width: float | None = None
    charge_balanced: bool = True

    def __post_init__(self):
        def keep(name, value):
            object.__setattr__(self, name, value)

        keep("channel", _channel(self.channel, "channel"))
        keep("amplitude", _real(self.amplitude, "amplitude", "uA", "> 0"))
        keep("start", _real(self.start, "start", "ms", ">= 0"))
        keep("phase_width", _real(self.phase_width, "phase_width", "ms", "> 0"))
        keep("interphase_gap", _real(self.interphase_gap, "interphase_gap", "ms", ">= 0"))
        keep("cathodic_first", _flag(self.cathodic_first, "cathodic_first"))
        keep("charge_balanced", _flag(self.charge_balanced, "charge_balanced"))
        second_amplitude = self.amplitude if self.second_amplitude is None else self.second_amplitude
        second_width = self.phase_width if self.second_width is None else self.second_width
        keep("second_amplitude", _real(second_amplitude, "second_amplitude", "uA", "> 0"))
        keep("second_width", _real(second_width, "second_width", "ms", "> 0"))
        first, second = self.charge_per_phase
        if self.charge_balanced and not math.isclose(first, second, rel_tol=1e-9, abs_tol=0.0):
            raise InvalidArgumentError(
                f"charge_balanced: an unbalanced biphasic pulse asked to be charge-balanced: the first phase carries "
                f"{first:g} nC ({self.amplitude:g} uA x {self.phase_width:g} ms), the second {second:g} nC "
                f"({self.second_amplitude:g} uA x {self.second_width:g} ms); make second_amplitude x second_width "
                "equal amplitude x phase_width, or pass charge_balanced=False"
            )

    @property
    def charge_per_phase(self) -> tuple[float, float]:
        """Charge of the first and of the second phase, nC (uA * ms), both as magnitudes."""
        return self.amplitude * self.phase_width, self.second_amplitude * self.second_width

    @property
    def net_charge(self) -> float:
        """Charge of both phases together in livn's sign (positive = cathodic), nC; 0 when balanced."""
        first, second = self.charge_per_phase
        return (first - second) * (1.0 if self.cathodic_first else -1.0)

    @property
    def width(self) -> float:
        """Time from the first phase's onset to the second phase's end, ms."""
        return self.phase_width + self.interphase_gap + self.second_width

    @property
    def end(self) -> float:
        """End of the second phase, ms from the window start."""
        return self.start + self.width

    def phases(self) -> list[tuple[float, float, float]]:
        """The two phases as `(start ms, width ms, current uA)`, current in livn's sign."""
        sign = 1.0 if self.cathodic_first else -1.0
        second_start = self.start + self.phase_width + self.interphase_gap
        return [(self.start, self.phase_width, sign * self.amplitude),
                (second_start, self.second_width, -sign * self.second_amplitude)]

    @classmethod
    def parse(cls, text: str) -> "BiphasicPulse":
        """Parse "CHANNEL:AMPLITUDE_uA:START_ms:PHASE_ms[:GAP_ms[:SECOND_AMPLITUDE_uA:SECOND_PHASE_ms]]".

        E.g. "5:20:100:0.2:0.1" (cathodic-first, 20 uA, 0.2 ms phases 0.1 ms apart, at 100 ms).
        A negative amplitude means anodic-first. The pulse is charge-balanced.
        """
        parts = str(text).strip().split(":")
        try:
            if len(parts) not in (4, 5, 7):
                raise ValueError
            channel = int(parts[0])
            amplitude, start, phase, *rest = (float(p) for p in parts[1:])
        except ValueError:
            raise InvalidArgumentError(
                f"biphasic stimulation {text!r} must read CHANNEL:AMPLITUDE_uA:START_ms:PHASE_ms[:GAP_ms"
                "[:SECOND_AMPLITUDE_uA:SECOND_PHASE_ms]], e.g. '5:20:100:0.2:0.1'"
            ) from None
        gap = rest[0] if rest else 0.0
        second_amplitude, second_width = (rest[1], rest[2]) if len(rest) == 3 else (None, None)
        return cls(channel, abs(amplitude), start, phase, gap, cathodic_first=not amplitude < 0,
                   second_amplitude=second_amplitude, second_width=second_width)

    def to_text(self) -> str:
        """The text `BiphasicPulse.parse` reads back (for charge-balanced pulses)."""
        amplitude = self.amplitude if self.cathodic_first else -self.amplitude
        fields = [str(self.channel), _text(amplitude), _text(self.start), _text(self.phase_width),
                  _text(self.interphase_gap)]
        if self.second_amplitude != self.amplitude or self.second_width != self.phase_width:
            fields += [_text(self.second_amplitude), _text(self.second_width)]
        return ":".join(fields)


@dataclass(frozen=True)
class PulseTrain:
    """One pulse repeated `count` times at a fixed period.

    **Arguments**

    - `pulse`: a `Pulse` or `BiphasicPulse`; its `start` is the onset of the first repeat (ms).
    - `count`: number of pulses (>= 1).
    - `period`: time between onsets, ms (> 0), or
    - `rate_hz`: pulses per second, Hz (> 0); give one of `period` and `rate_hz` (both
      only if they agree). Both hold numbers after construction.

    A pulse wider than its period is an error (pulses of one train never overlap).
    """

    pulse: Pulse | BiphasicPulse
    count: int
    period: float | None = None
    rate_hz: float | None = None

    def __post_init__(self):
        if not isinstance(self.pulse, (Pulse, BiphasicPulse)):
            raise InvalidArgumentError(f"pulse must be a Pulse or a BiphasicPulse; got {describe(self.pulse)}")
        if isinstance(self.pulse, Pulse):
            _real(self.pulse.width, "pulse.width", "ms", "> 0")
            _real(self.pulse.start, "pulse.start", "ms", ">= 0")
        if isinstance(self.count, (bool, np.bool_)) or not isinstance(self.count, (int, np.integer)) \
                or self.count < 1:
            raise InvalidArgumentError(f"count must be a whole number of pulses >= 1; got {describe(self.count)}")
        object.__setattr__(self, "count", int(self.count))
        if self.period is None and self.rate_hz is None:
            raise InvalidArgumentError("a PulseTrain needs period (ms) or rate_hz (Hz); got neither")
        period = None if self.period is None else _real(self.period, "period", "ms", "> 0")
        rate = None if self.rate_hz is None else _real(self.rate_hz, "rate_hz", "Hz", "> 0")
        if period is not None and rate is not None and not math.isclose(period, 1000.0 / rate, rel_tol=1e-9):
            raise InvalidArgumentError(
                f"period ({period:g} ms) and rate_hz ({rate:g} Hz, a period of {1000.0 / rate:g} ms) disagree; "
                "give one of them"
            )
        object.__setattr__(self, "period", 1000.0 / rate if period is None else period)
        object.__setattr__(self, "rate_hz", 1000.0 / period if rate is None else rate)
        if self.pulse.width > self.period * (1 + 1e-9):
            raise InvalidArgumentError(
                f"period: a pulse wider than its period: the pulse lasts {self.pulse.width:g} ms, the period is "
                f"{self.period:g} ms ({self.rate_hz:g} Hz); shorten the pulse or lower the rate"
            )

    @property
    def onsets(self) -> np.ndarray:
        """Onsets of the pulses, ms from the window start, `[count]`."""
        return self.pulse.start + self.period * np.arange(self.count)

    @property
    def end(self) -> float:
        """End of the last pulse, ms from the window start."""
        return float(self.onsets[-1]) + self.pulse.width

    def pulses(self) -> list:
        """The train's pulses, each a copy of `pulse` at its onset."""
        return [dataclasses.replace(self.pulse, start=float(onset)) for onset in self.onsets]

    _SYNTAX = re.compile(r"^(?P<pulse>[^x@]+?)\s*x\s*(?P<count>[0-9]+)\s*@\s*(?P<value>[-+0-9.e]+)\s*(?P<unit>hz|ms)?$",
                         re.IGNORECASE)

    @classmethod
    def parse(cls, text: str, pulse: type = BiphasicPulse) -> "PulseTrain":
        """Parse "PULSE x COUNT @ RATE": RATE in Hz ("20" or "20Hz") or a period in ms ("50ms").

        E.g. "5:20:100:0.2:0.1 x 10 @ 20Hz". `pulse` is the class that reads the PULSE part
        (`BiphasicPulse`, the default, or `Pulse`).
        """
        if pulse not in (Pulse, BiphasicPulse):
            raise InvalidArgumentError(f"pulse must be the class Pulse or BiphasicPulse; got {describe(pulse)}")
        match = cls._SYNTAX.match(str(text).strip())
        try:
            if match is None:
                raise ValueError
            value = float(match["value"])
        except ValueError:
            raise InvalidArgumentError(
                f"pulse train {text!r} must read 'PULSE x COUNT @ RATE' with RATE in Hz ('20', '20Hz') or a period "
                "in ms ('50ms'), e.g. '5:20:100:0.2:0.1 x 10 @ 20Hz'"
            ) from None
        one = pulse.parse(match["pulse"])
        if (match["unit"] or "hz").lower() == "ms":
            return cls(one, int(match["count"]), period=value)
        return cls(one, int(match["count"]), rate_hz=value)

    def to_text(self) -> str:
        """The text `PulseTrain.parse` reads back (pass `pulse=Pulse` for a monophasic train)."""
        return f"{self.pulse.to_text()} x {self.count} @ {_text(self.period)}ms"


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
        first, last = _whole_ms_rows(pulse, rows)
        inputs[first:last, channel_ids.index(pulse.channel)] += pulse.amplitude
    return inputs


def electrode_inputs(stimuli, duration: float, channel_ids, step: float = 1.0) -> np.ndarray:
    """Electrode inputs for a list of stimuli on a grid of `step` ms.

    **Arguments**

    - `stimuli`: list of `Pulse`, `BiphasicPulse` and `PulseTrain` (overlapping stimuli add up).
    - `duration`: length of the window, ms (> 0).
    - `channel_ids`: the MEA's channel ids, in column order.
    - `step`: ms per row: 1 (default) or 0.5, 0.2, 0.1 (multiples of the 0.1 ms integration
      step that divide 1 ms).

    A lone `Pulse` on the 1 ms grid is rounded to whole ms exactly as `pulse_inputs` does.
    Everything else (biphasic pulses, trains, and pulses on a finer grid) must have its
    onsets, widths, gaps and periods on the grid: an off-grid value is an error that names it
    and the step that would hold it. Every stimulus must end within the window.

    **Returns**: `[ceil(duration / step), n_channels]` electrode currents in uA (positive
    depolarises), row k delivered during [k, k + 1) * `step` ms.
    """
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, float, np.integer, np.floating)) \
            or not any(math.isclose(step, s, rel_tol=1e-9) for s in STEPS):
        raise InvalidArgumentError(
            f"step must be one of {list(STEPS)} ms (1 ms, or a multiple of the integration step "
            f"{INTEGRATION_STEP} ms that divides 1 ms); got {describe(step)}"
        )
    step = min(STEPS, key=lambda s: abs(s - step))
    if isinstance(duration, (bool, np.bool_)) or not isinstance(duration, (int, float, np.integer, np.floating)) \
            or not math.isfinite(duration) or duration <= 0:
        raise InvalidArgumentError(f"duration must be a positive number of ms; got {describe(duration)}")
    duration = float(duration)
    try:
        channel_ids = [int(c) for c in channel_ids]
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"channel_ids must be a list of channel ids; got {describe(channel_ids)}") from None
    if not channel_ids:
        raise InvalidArgumentError("channel_ids must name at least one channel")
    if isinstance(stimuli, (Pulse, BiphasicPulse, PulseTrain)) or not hasattr(stimuli, "__iter__"):
        raise InvalidArgumentError(
            f"stimuli must be a list of Pulse, BiphasicPulse and PulseTrain; got {describe(stimuli)}"
        )
    stimuli = list(stimuli)
    rows = math.ceil(duration / step - 1e-9)
    segments = []  # (first row, number of rows, current uA, column) of every phase; all checked before any is laid
    for i, stimulus in enumerate(stimuli):
        where = f"stimuli[{i}]"
        if not isinstance(stimulus, (Pulse, BiphasicPulse, PulseTrain)):
            raise InvalidArgumentError(f"{where} must be a Pulse, BiphasicPulse or PulseTrain; got {describe(stimulus)}")
        inner = stimulus.pulse if isinstance(stimulus, PulseTrain) else stimulus
        if inner.channel not in channel_ids:
            raise InvalidArgumentError(f"{where}.channel {inner.channel} is not on this MEA; channels: {channel_ids}")
        column = channel_ids.index(inner.channel)
        if isinstance(stimulus, Pulse) and step == 1.0:  # today's 1 ms rows: rounded to whole ms
            _check_pulse(stimulus, duration, where)
            first, last = _whole_ms_rows(stimulus, rows)
            segments.append((first, last - first, stimulus.amplitude, column))
            continue
        if isinstance(inner, Pulse):
            _check_pulse(inner, duration if inner is stimulus else math.inf, where)
        phases = _grid_phases(stimulus, step, where)
        end = max(first + length for first, length, _ in phases)
        if end * step > duration + 1e-9:
            raise InvalidArgumentError(
                f"{where} ends at {end * step:g} ms, after the end of the window ({duration:g} ms); "
                "move it earlier or lengthen duration"
            )
        segments += [(first, length, current, column) for first, length, current in phases]
    inputs = np.zeros((rows, len(channel_ids)))
    for first, length, current, column in segments:
        inputs[first:first + length, column] += current
    return inputs


def _whole_ms_rows(pulse: Pulse, rows: int) -> tuple[int, int]:
    """First and last (exclusive) 1 ms row of a `Pulse`: its times rounded to whole ms, at least one row."""
    first = int(round(pulse.start))
    last = max(first + 1, int(round(pulse.start + pulse.width)))
    return first, min(last, rows)


def _check_pulse(pulse: Pulse, duration: float, where: str) -> None:
    """A `Pulse`'s values: finite, width > 0 ms, within [0, duration] ms."""
    if not (math.isfinite(pulse.amplitude) and math.isfinite(pulse.start) and math.isfinite(pulse.width)):
        raise InvalidArgumentError(f"{where} {pulse} has a non-finite value")
    if pulse.width <= 0 or pulse.start < 0 or pulse.start + pulse.width > duration + 1e-9:
        raise InvalidArgumentError(f"{where} {pulse} must have width > 0 ms and lie within [0, {duration:g}] ms")


def _grid_phases(stimulus, step: float, where: str) -> list[tuple[int, int, float]]:
    """`(first row, number of rows, current uA)` of every phase of a stimulus whose times must lie on the grid."""
    train = isinstance(stimulus, PulseTrain)
    inner = stimulus.pulse if train else stimulus
    prefix = "pulse." if train else ""
    names = ["start", "width"] if isinstance(inner, Pulse) else ["start", "phase_width", "interphase_gap",
                                                                 "second_width"]
    times = {prefix + name: getattr(inner, name) for name in names}
    if train and stimulus.count > 1:
        times["period"] = stimulus.period
    n = {name: _rows(time, step, f"{where}.{name}", list(times.values())) for name, time in times.items()}
    start = n[prefix + "start"]
    if isinstance(inner, Pulse):
        phases = [(start, n[prefix + "width"], inner.amplitude)]
    else:
        (_, _, first_current), (_, _, second_current) = inner.phases()
        second_start = start + n[prefix + "phase_width"] + n[prefix + "interphase_gap"]
        phases = [(start, n[prefix + "phase_width"], first_current),
                  (second_start, n[prefix + "second_width"], second_current)]
    period = n.get("period", 0)
    count = stimulus.count if train else 1
    return [(first + k * period, length, current) for k in range(count) for first, length, current in phases]


def _on_grid(time: float, step: float) -> bool:
    return abs(time - round(time / step) * step) <= 1e-9 + 1e-12 * abs(time)


def _rows(time: float, step: float, name: str, times: list[float]) -> int:
    """`time` (ms) as a whole number of rows of `step` ms, or an error naming it and a step that holds all `times`."""
    if _on_grid(time, step):
        return int(round(time / step))
    fits = [s for s in STEPS if all(_on_grid(t, s) for t in times)]
    advice = (f"use step={fits[0]:g} ms" if fits else
              f"no accepted step ({', '.join(f'{s:g}' for s in STEPS)} ms) holds all of its times; "
              f"make them multiples of the integration step {INTEGRATION_STEP:g} ms")
    raise InvalidArgumentError(
        f"{name} = {time:g} ms is not a multiple of the step {step:g} ms (stimulation is never rounded "
        f"onto the grid); {advice}"
    )


def _real(value, name: str, unit: str, accepted: str) -> float:
    """`value` as a finite float satisfying `accepted` ("> 0" or ">= 0"), else an error naming `name`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or (value <= 0 if accepted == "> 0" else value < 0):
        raise InvalidArgumentError(f"{name} must be a finite number of {unit} {accepted}; got {describe(value)}")
    return float(value)


def _channel(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(f"{name} must be a channel id (an integer); got {describe(value)}")
    return int(value)


def _flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{name} must be True or False; got {describe(value)}")
    return bool(value)


def _text(value: float) -> str:
    """Shortest text that reads back as the same float ("20" for 20.0, "0.1" for 0.1)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


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

    @classmethod
    def from_stimuli(cls, stimuli, duration: float, channel_ids, step: float = 1.0) -> "ElectrodeStimulation":
        """The stimulation of `stimuli` (`Pulse`, `BiphasicPulse`, `PulseTrain`) over `duration` ms on a
        grid of `step` ms (see `electrode_inputs`, which checks the arguments)."""
        currents = electrode_inputs(stimuli, duration, channel_ids, step)
        return cls(currents, min(STEPS, key=lambda s: abs(s - step)), np.asarray([int(c) for c in channel_ids]))

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
