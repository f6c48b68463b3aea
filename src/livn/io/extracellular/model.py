"""The physics of an extracellular recording: its settings, the point-source law, the spike
waveform and the noise filter (see `livn.io.extracellular` for the equations)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from livn.errors import InvalidArgumentError, describe
from livn.types import TIME_DECIMALS

#: Times are kept to 1e-6 ms (`TIME_DECIMALS`); a time within half of that (plus rounding) of a
#: grid point counts as that grid point.
_TIME_TOLERANCE_MS = 0.5 * 10.0 ** -TIME_DECIMALS + 1e-12
#: Sub-streams of the seed (noise now; others later).
_NOISE_STREAM = 0x5E


# -- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtracellularSettings:
    """The physics of an extracellular recording (see the module's documentation for the equations).

    - `fs_hz`: sampling rate, Hz (25 kHz as on common MEA amplifiers).
    - `noise_uv`: RMS of the band-limited recording noise, uV (0 for none).
    - `noise_band_hz`: (low, high) edges of the noise band, Hz, with 0 < low < high < fs_hz / 2
      (default: 300 Hz to 6 kHz, or to 0.4 fs_hz when that is lower, e.g. 4 kHz at 10 kHz).
    - `noise_filter_order`: order of the Butterworth band-pass per edge.
    - `lfp`: add the local field potential proxy (needs the excitatory neurons' synaptic currents).
    - `conductivity`: extracellular conductivity sigma, S/m.
    - `min_distance_um`: distance below which the point-source law is capped, um.
    - `spike_current_na`: peak transmembrane current of a spike, nA (sets the spike amplitude).
    - `trough_ms`, `trough_width_ms`: time after the spike and width of the negative trough, ms.
    - `repolarisation_ms`, `repolarisation_width_ms`, `repolarisation_ratio`: time, width (ms) and
      height (fraction of the trough) of the positive repolarisation phase.
    - `waveform_ms`: length of the waveform, ms (0 after it).
    - `lfp_dt_ms`: sampling interval of the synaptic currents for the LFP, ms.
    - `lfp_delay_ms`: delay of the AMPA term, ms (a multiple of `lfp_dt_ms`).
    - `lfp_gaba_ratio`: weight of the GABA term relative to the AMPA term.
    - `lfp_scale`: dimensionless scale of the LFP proxy.
    - `artifact_decay_ms`: time constant of the recovery from a stimulation artifact, ms.
    - `amplifier_range_uv`: the amplifier saturates at +- this, uV.
    - `blanking_ms`: None (no blanking), or ms after each stimulation's end until which every
      channel reads 0 (blanking starts at the stimulation's onset).

    `to_dict()` / `from_dict()` round-trip through JSON.
    """

    fs_hz: float = 25000.0
    noise_uv: float = 5.0
    noise_band_hz: tuple | None = None
    noise_filter_order: int = 3
    lfp: bool = True
    conductivity: float = 0.3
    min_distance_um: float = 10.0
    spike_current_na: float = 6.0
    trough_ms: float = 0.4
    trough_width_ms: float = 0.065
    repolarisation_ms: float = 0.8
    repolarisation_width_ms: float = 0.25
    repolarisation_ratio: float = 0.3
    waveform_ms: float = 3.0
    lfp_dt_ms: float = 0.5
    lfp_delay_ms: float = 6.0
    lfp_gaba_ratio: float = 1.65
    lfp_scale: float = 0.1
    artifact_decay_ms: float = 1.0
    amplifier_range_uv: float = 5000.0
    blanking_ms: float | None = None

    def __post_init__(self):
        positive = {
            "fs_hz": "Hz", "conductivity": "S/m", "min_distance_um": "um", "trough_ms": "ms",
            "trough_width_ms": "ms", "repolarisation_ms": "ms", "repolarisation_width_ms": "ms",
            "waveform_ms": "ms", "lfp_dt_ms": "ms", "artifact_decay_ms": "ms", "amplifier_range_uv": "uV",
        }
        non_negative = {"noise_uv": "uV", "spike_current_na": "nA", "repolarisation_ratio": "(a fraction)",
                        "lfp_delay_ms": "ms", "lfp_gaba_ratio": "(a ratio)", "lfp_scale": "(a scale)"}
        for name, unit in positive.items():
            self._set(name, _number(name, getattr(self, name), unit, minimum=0.0, strict=True))
        for name, unit in non_negative.items():
            self._set(name, _number(name, getattr(self, name), unit, minimum=0.0))
        if not isinstance(self.lfp, (bool, np.bool_)):
            raise InvalidArgumentError(f"lfp must be True or False; got {describe(self.lfp)}")
        self._set("lfp", bool(self.lfp))
        order = self.noise_filter_order
        if isinstance(order, bool) or not isinstance(order, Integral) or not 1 <= order <= 10:
            raise InvalidArgumentError(f"noise_filter_order must be an integer from 1 to 10; got {describe(order)}")
        self._set("noise_filter_order", int(order))
        nyquist = self.fs_hz / 2
        if self.noise_band_hz is None:  # the spike band, its top below Nyquist at low sampling rates
            self._set("noise_band_hz", (300.0, min(6000.0, 0.4 * self.fs_hz)))
        band = _pair("noise_band_hz", self.noise_band_hz)
        if not 0 < band[0] < band[1] < nyquist:
            raise InvalidArgumentError(
                f"noise_band_hz must be (low, high) Hz with 0 < low < high < fs_hz / 2 = {nyquist:g} Hz; "
                f"got {self.noise_band_hz}"
            )
        self._set("noise_band_hz", band)
        if self.repolarisation_ms <= self.trough_ms:
            raise InvalidArgumentError(
                f"repolarisation_ms must come after trough_ms ({self.trough_ms} ms); got {self.repolarisation_ms}"
            )
        if self.waveform_ms <= self.repolarisation_ms or self.waveform_ms * self.fs_hz / 1000 < 2:
            raise InvalidArgumentError(
                f"waveform_ms must be longer than repolarisation_ms ({self.repolarisation_ms} ms) and span at "
                f"least 2 samples at {self.fs_hz:g} Hz; got {self.waveform_ms}"
            )
        steps = self.lfp_delay_ms / self.lfp_dt_ms
        if abs(steps - round(steps)) > 1e-9:
            raise InvalidArgumentError(
                f"lfp_delay_ms must be a whole multiple of lfp_dt_ms ({self.lfp_dt_ms} ms); got {self.lfp_delay_ms}"
            )
        if self.blanking_ms is not None:
            self._set("blanking_ms", _number("blanking_ms", self.blanking_ms, "ms (or None for no blanking)",
                                             minimum=0.0))

    def _set(self, name, value):
        object.__setattr__(self, name, value)

    @property
    def sample_ms(self) -> float:
        """Interval between samples, ms."""
        return 1000.0 / self.fs_hz

    def to_dict(self) -> dict:
        """The settings as a JSON-serialisable dict."""
        data = dataclasses.asdict(self)
        data["noise_band_hz"] = list(self.noise_band_hz)
        return data

    @classmethod
    def from_dict(cls, data) -> "ExtracellularSettings":
        """Settings from `to_dict()`'s form (a dict, or its JSON text)."""
        if isinstance(data, (str, bytes)):
            data = json.loads(data)
        if not isinstance(data, dict):
            raise InvalidArgumentError(f"settings must be a dict from ExtracellularSettings.to_dict(); got {describe(data)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgumentError(f"unknown extracellular settings {unknown}; known: {sorted(known)}")
        data = dict(data)
        if "noise_band_hz" in data and isinstance(data["noise_band_hz"], list):
            data["noise_band_hz"] = tuple(data["noise_band_hz"])
        return cls(**data)


def _number(name, value, unit, *, minimum=None, strict=False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be a finite number of {unit}; got {describe(value)}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise InvalidArgumentError(f"{name} must be {relation} {minimum:g} {unit}; got {describe(value)}")
    return float(value)


def _pair(name, value) -> tuple:
    try:
        low, high = value
        return (_number(name, low, "Hz"), _number(name, high, "Hz"))
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be a (low, high) pair of Hz; got {describe(value)}") from None


# -- physics ---------------------------------------------------------------------------------


def point_source_uv(current_na, distance_um, conductivity: float = 0.3, min_distance_um: float = 10.0) -> np.ndarray:
    """Potential of a point current source in a homogeneous medium: 1000 I / (4 pi sigma max(r, r_min)).

    **Arguments**

    - `current_na`: current leaving the source, nA (array-like; broadcasts with `distance_um`).
    - `distance_um`: distance from the source, um (>= 0).
    - `conductivity`: sigma, S/m (> 0).
    - `min_distance_um`: r_min, um (> 0): closer points get the potential at r_min.

    **Returns**: the potential, uV (float array).
    """
    sigma = _number("conductivity", conductivity, "S/m", minimum=0.0, strict=True)
    r_min = _number("min_distance_um", min_distance_um, "um", minimum=0.0, strict=True)
    current = np.asarray(current_na, dtype=float)
    distance = np.asarray(distance_um, dtype=float)
    if not np.all(np.isfinite(current)):
        raise InvalidArgumentError(f"current_na must be finite nA; got {describe(current_na)}")
    if not np.all(np.isfinite(distance)) or np.any(distance < 0):
        raise InvalidArgumentError(f"distance_um must be finite distances >= 0 um; got {describe(distance_um)}")
    return 1000.0 * current / (4.0 * math.pi * sigma * np.maximum(distance, r_min))


def _bump(tau, at, width):
    """(tau / at)^k exp(k (1 - tau / at)), k = (at / width)^2, for tau > 0; 0 otherwise. Peak 1 at `at`."""
    k = (at / width) ** 2
    x = np.asarray(tau, dtype=float) / at
    out = np.zeros_like(x)
    positive = x > 0
    out[positive] = np.exp(k * (np.log(x[positive]) + 1.0 - x[positive]))
    return out


def _unnormalised_template(tau, settings):
    return -_bump(tau, settings.trough_ms, settings.trough_width_ms) + settings.repolarisation_ratio * _bump(
        tau, settings.repolarisation_ms, settings.repolarisation_width_ms)


_NORMALISERS: dict = {}


def _template_normaliser(settings) -> float:
    """-min over tau of the unnormalised waveform (found to 1e-12 ms around the trough)."""
    key = (settings.trough_ms, settings.trough_width_ms, settings.repolarisation_ms,
           settings.repolarisation_width_ms, settings.repolarisation_ratio)
    if key not in _NORMALISERS:
        from scipy import optimize

        low = max(settings.trough_ms - 4 * settings.trough_width_ms, settings.trough_ms / 4)
        high = settings.trough_ms + 4 * settings.trough_width_ms
        found = optimize.minimize_scalar(lambda t: float(_unnormalised_template(np.array([t]), settings)[0]),
                                         bounds=(low, high), method="bounded", options={"xatol": 1e-12})
        _NORMALISERS[key] = -float(found.fun)
    return _NORMALISERS[key]


def spike_template(tau_ms, settings: ExtracellularSettings | None = None) -> np.ndarray:
    """The extracellular spike waveform w(tau) (see the module's documentation), trough -1.

    **Arguments**

    - `tau_ms`: times after the spike, ms (array-like; any values: 0 before the spike and
      from `settings.waveform_ms` on).
    - `settings`: `ExtracellularSettings` (default: the defaults).

    **Returns**: float array shaped like `tau_ms`, dimensionless (multiply by an amplitude in uV).
    """
    settings = ExtracellularSettings() if settings is None else settings
    if not isinstance(settings, ExtracellularSettings):
        raise InvalidArgumentError(f"settings must be an ExtracellularSettings; got {describe(settings)}")
    tau = np.asarray(tau_ms, dtype=float)
    if np.any(np.isnan(tau)):
        raise InvalidArgumentError(f"tau_ms must not contain NaN; got {describe(tau_ms)}")
    inside = (tau >= 0) & (tau < settings.waveform_ms)
    out = np.zeros(tau.shape)
    out[inside] = _unnormalised_template(tau[inside], settings) / _template_normaliser(settings)
    return out


def noise_filter(settings: ExtracellularSettings):
    """The noise band-pass and its noise gain.

    **Returns**: `(sos, gain, settle)`: the Butterworth band-pass as second-order sections
    (`scipy.signal.sosfilt`), the variance it gives unit-variance white noise (the energy of its
    impulse response, by Parseval) and the number of samples after which its impulse response
    has lost all but 1e-12 of that energy (how long it must run in to be stationary).
    """
    from scipy import signal

    sos = signal.butter(settings.noise_filter_order, settings.noise_band_hz, btype="bandpass",
                        fs=settings.fs_hz, output="sos")
    length = int(math.ceil(settings.fs_hz * 20 / settings.noise_band_hz[0]))
    while True:
        impulse = np.zeros(length)
        impulse[0] = 1.0
        energy = np.cumsum(signal.sosfilt(sos, impulse) ** 2)
        if energy[-1] - energy[length // 2] <= 1e-12 * energy[-1]:
            break
        length *= 2
    settle = int(np.searchsorted(energy, energy[-1] * (1 - 1e-12))) + 1
    return sos, float(energy[-1]), settle


def _sample_index(time_ms: float, per_ms: float) -> int:
    """The first index k of a grid of `per_ms` points per ms with k / per_ms >= `time_ms`, where a time
    that rounds (to 1e-6 ms) to a grid point counts as on it: windows cut at the same times always
    get the same samples, whether the sample period is a decimal (25 kHz) or not (30 kHz)."""
    x = round(time_ms, TIME_DECIMALS) * per_ms
    nearest = round(x)
    return int(nearest) if abs(x - nearest) <= _TIME_TOLERANCE_MS * per_ms + 1e-9 else int(math.ceil(x))
