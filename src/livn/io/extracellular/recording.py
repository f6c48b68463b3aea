"""What the electrodes of an MEA record as voltage: extracellular traces in uV.

Each channel c is sampled at `fs_hz` on the absolute grid of times k / fs_hz (s) since the
culture's t = 0, and records

    trace_c(t) = clip(spikes_c(t) + lfp_c(t) + noise_c(t) + artifact_c(t), +-amplifier_range_uv)

which is then set to 0 around electrode stimulation when blanking is on.

**Point-source law.** A current I (nA) leaving a point into a homogeneous medium of
conductivity sigma (S/m) sets the potential V = I / (4 pi sigma r) at distance r (um);
in uV, V = 1000 I / (4 pi sigma max(r, r_min)), where r_min (`min_distance_um`, 10 um) keeps
a neuron on top of an electrode finite (`point_source_uv`). A single soma is treated as a
monopole, as in the simplest forward models: real cells return the current through their
dendrites, so real fields fall off faster than 1/r far from the soma.

**Spikes.** Every spike of neuron n at time t_s adds A_cn * w(t - t_s) to every channel c,
with the amplitude A_cn = point_source_uv(`spike_current_na`, r_cn) (6 nA: 159 uV at 10 um,
16 uV at 100 um, 3 uV at 500 um, with sigma = 0.3 S/m) and the waveform (`spike_template`)

    b(tau; t_p, s) = (tau / t_p)^k exp(k (1 - tau / t_p)),   k = (t_p / s)^2     (tau > 0; 0 otherwise)
    w(tau) = [-b(tau; trough_ms, trough_width_ms)
              + repolarisation_ratio * b(tau; repolarisation_ms, repolarisation_width_ms)] / N

for 0 <= tau < `waveform_ms` and 0 elsewhere. Each bump is a gamma-shaped pulse that is exactly
0 at the spike time (so the waveform is causal), peaks at t_p with value 1 and has a width
(standard deviation) of about s. N makes the trough exactly -1. The defaults give a sharp
trough at 0.4 ms (full width at half minimum 0.15 ms) and a positive repolarisation phase
peaking at 0.8 ms at 0.31 of the trough's size (full width at half maximum 0.55 ms), back
within 0.1 % of 0 by 2 ms;
cutting it at 3 ms drops less than 1e-6 of the trough. It is sampled exactly at each spike's
offset from the sample grid (spikes are on the 0.1 ms integration grid, samples on 1 / fs).

**Local field potential** (when `lfp`): the weighted-sum proxy of Mazzoni et al. (2015,
PLoS Comput Biol 11:e1004584), computed from the AMPA and GABA_A currents (nA) of the
excitatory neurons, each weighted by the point-source law to each channel:

    P_c(t) = -lfp_scale * sum_n point_source_uv(|I_AMPA,n(t - lfp_delay_ms)| - lfp_gaba_ratio |I_GABA,n(t)|, r_cn)

with the paper's 6 ms delay and ratio 1.65. The proxy fixes the shape of the field, not its
scale or sign. The sign here makes excitatory synaptic input (an inward current, a current
sink near the cells) a negative field, the polarity of the spike's own trough. `lfp_scale`
(0.1) stands for the cancellation between each cell's synaptic sinks and its return
currents, which a point neuron cannot resolve; it gives fields in the tens of uV, the size of
field potentials recorded from cultures on MEAs: on S2 (80 excitatory neurons over
400 x 400 um, seed 1, model defaults) 1 s of bursting activity gives 60-110 uV peak to peak
(standard deviation 5-7 uV, mean -0.4 uV) on the 16 electrodes. The currents arrive every `lfp_dt_ms` (0.5 ms) and are interpolated linearly to the
sample grid one current sample late (P at t - lfp_dt_ms), so that each window needs only its
own currents; currents before t = 0 count as 0. The proxy keeps its slow components (there is
no high-pass filter), like a DC-coupled amplifier.

**Noise.** Gaussian white noise, independent per channel, band-passed by a Butterworth filter
(`noise_band_hz`, 300-6000 Hz, `noise_filter_order` 3 per edge) and scaled by the filter's
noise gain (the energy of its impulse response) so its RMS is `noise_uv`. The filter is
run in for as long as its impulse response lasts before t = 0, so the noise is stationary from
the first sample. The same seed gives the same noise.

**Stimulation artifacts.** Electrode e passing I_e(t) uA adds, on channel c, the point-source
potential -point_source_uv(1000 I_e, d_ce) (d_ce the electrode distance; r_min for e itself),
negative for livn's positive (cathodic) current, which draws current out of the medium. It is
passed through a first-order recovery with time constant `artifact_decay_ms` (1 ms), the
charging and discharging of the electrode interface and amplifier input: sample by sample,
y_k = a y_(k-1) + (1 - a) x_k with a = exp(-1 / (fs tau)). With the defaults, 1 uA on an
electrode gives -26.5 mV there and -1.3 mV at 200 um, so the amplifier saturates: every trace
clips at +-`amplifier_range_uv` (5 mV). With `blanking_ms` set, all channels read 0 from each
stimulation's onset until `blanking_ms` after its end (a stimulation is a run of rows with
any non-zero current), as rigs blank their amplifiers; the recording lists the blanked samples.

**Windows.** `ExtracellularRecorder.record` synthesises one window after another; waveform
tails, the noise filter, the LFP history and the artifact recovery carry over, so a recording
made in windows equals one made at once (to float32 rounding). Traces stay in memory, or with
`file=` stream to an HDF5 file (`ExtracellularFile`), one flushed window at a time, with
memory that does not grow with the recording's length.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from livn.errors import InvalidArgumentError, RecordingError, describe
from livn.io.mea import MEA, check_neuron_coordinates
from livn.stimulation import ElectrodeStimulation
from livn.types import TIME_DECIMALS, SynapticCurrents

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


# -- one window of recording ----------------------------------------------------------------


class ExtracellularRecording:
    """What the electrodes recorded over one window: traces (uV) and every neuron's spikes.

    **Arguments** (to build one from arrays; recorders make them for you)

    - `traces`: `[n_channels, n_samples]` voltage, uV (stored as float32).
    - `fs_hz`: sampling rate, Hz.
    - `channel_ids`: `[n_channels]` int channel ids, one per row.
    - `start_ms`: the window's start, ms since the culture's t = 0.
    - `first_sample`: absolute index k (time k / fs_hz s since t = 0) of the first sample;
      default: the first grid sample at or after `start_ms`.
    - `duration`: the window's length, ms; default: `n_samples / fs_hz`.
    - `spike_gids`, `spike_times`: ground truth, every neuron's spikes in the window (int gids,
      ms from the window start); default none.
    - `settings`: the `ExtracellularSettings` that made it (default: the defaults at `fs_hz`).
    - `blanked`: `[n, 2]` int sample ranges [start, stop) (relative to the first sample) that
      were blanked; default none.

    Attributes: the above, plus `n_samples`, `file` (the HDF5 file holding the traces when they
    were streamed to disk, else None). `traces` reads a file-backed recording's file on each use.
    """

    def __init__(self, traces, fs_hz, channel_ids, *, start_ms: float = 0.0, first_sample=None, duration=None,
                 spike_gids=None, spike_times=None, settings: ExtracellularSettings | None = None, blanked=None):
        fs_hz = _number("fs_hz", fs_hz, "Hz", minimum=0.0, strict=True)
        channel_ids = _channel_ids(channel_ids)
        traces = np.asarray(traces)
        if traces.ndim != 2 or traces.shape[0] != channel_ids.size or not np.issubdtype(traces.dtype, np.number):
            raise InvalidArgumentError(
                f"traces must be [n_channels = {channel_ids.size}, n_samples] numbers in uV; got {describe(traces)}"
            )
        start_ms = _number("start_ms", start_ms, "ms", minimum=0.0)
        per_ms = fs_hz / 1000
        if first_sample is None:
            first_sample = _sample_index(start_ms, per_ms)
        if isinstance(first_sample, bool) or not isinstance(first_sample, Integral) or first_sample < 0:
            raise InvalidArgumentError(f"first_sample must be a non-negative integer; got {describe(first_sample)}")
        if duration is None:
            duration = (int(first_sample) + traces.shape[1]) / per_ms - start_ms
        duration = _number("duration", duration, "ms", minimum=0.0, strict=True)
        settings = ExtracellularSettings(fs_hz=fs_hz) if settings is None else settings
        if not isinstance(settings, ExtracellularSettings) or settings.fs_hz != fs_hz:
            raise InvalidArgumentError(f"settings must be ExtracellularSettings at fs_hz = {fs_hz:g}; got {describe(settings)}")
        gids, times = _spikes(spike_gids, spike_times, duration)
        self._init(fs_hz, channel_ids, start_ms, duration, int(first_sample), traces.shape[1], gids, times, settings,
                   _intervals(blanked, traces.shape[1]), traces=traces.astype(np.float32, copy=False))

    @classmethod
    def open(cls, path) -> "ExtracellularRecording":
        """The recording in a file an `ExtracellularRecorder` streamed to (see `read_recording`)."""
        return read_recording(path)

    def _init(self, fs_hz, channel_ids, start_ms, duration, first_sample, n_samples, gids, times, settings,
              blanked, *, traces=None, source=None):
        self.fs_hz = fs_hz
        self.channel_ids = channel_ids
        self.start_ms = start_ms
        self.duration = duration
        self.first_sample = first_sample
        self.n_samples = n_samples
        self.spike_gids = gids
        self.spike_times = times
        self.settings = settings
        self.blanked = blanked
        self._traces = traces
        self._source = source  # (ExtracellularFile or path, generation) for file-backed recordings

    @classmethod
    def _make(cls, fs_hz, channel_ids, start_ms, duration, first_sample, n_samples, gids, times, settings, blanked,
              *, traces=None, source=None) -> "ExtracellularRecording":
        recording = cls.__new__(cls)
        recording._init(fs_hz, channel_ids, start_ms, duration, first_sample, n_samples, gids, times, settings,
                        blanked, traces=traces, source=source)
        return recording

    # -- traces --------------------------------------------------------------------------------

    @property
    def file(self) -> Path | None:
        """The HDF5 file holding the traces when they were streamed to disk, else None."""
        if self._source is None:
            return None
        holder = self._source[0]
        return holder.path if isinstance(holder, ExtracellularFile) else Path(holder)

    @property
    def traces(self) -> np.ndarray:
        """`[n_channels, n_samples]` float32 voltage, uV (read from the file when file-backed)."""
        return self.read()

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples [`start`, `stop`) (indices from the first sample) as a `[n_channels, k]` float32 array, uV."""
        stop = self.n_samples if stop is None else stop
        for name, value in (("start", start), ("stop", stop)):
            if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value <= self.n_samples:
                raise InvalidArgumentError(
                    f"{name} must be a sample index from 0 to n_samples = {self.n_samples}; got {describe(value)}"
                )
        if stop < start:
            raise InvalidArgumentError(f"stop ({stop}) must not come before start ({start})")
        if self._traces is not None:
            return self._traces[:, start:stop]
        holder, generation = self._source
        first = self.first_sample + int(start)
        if isinstance(holder, ExtracellularFile):
            return holder.read(first, self.first_sample + int(stop), generation)
        return _read_closed_file(holder, first, self.first_sample + int(stop))

    def sample_times(self) -> np.ndarray:
        """Time of each sample, ms from the window's start (float64 `[n_samples]`)."""
        absolute = (self.first_sample + np.arange(self.n_samples)) * (1000.0 / self.fs_hz)
        return absolute - self.start_ms

    def blanked_mask(self) -> np.ndarray:
        """`[n_samples]` booleans: True where the traces were blanked (set to 0) around stimulation."""
        mask = np.zeros(self.n_samples, dtype=bool)
        for first, stop in self.blanked:
            mask[first:stop] = True
        return mask

    # -- cutting and joining -------------------------------------------------------------------

    def window(self, start_ms: float, stop_ms: float) -> "ExtracellularRecording":
        """The part in [`start_ms`, `stop_ms`) ms from this window's start: the samples on the absolute
        grid in that span and the spikes in it (times then from `start_ms`). File-backed stays file-backed."""
        start_ms = _number("start_ms", start_ms, "ms", minimum=0.0)
        stop_ms = _number("stop_ms", stop_ms, "ms")
        if not start_ms < stop_ms <= self.duration + 1e-9:
            raise InvalidArgumentError(
                f"window needs 0 <= start_ms < stop_ms <= duration ({self.duration} ms); got {start_ms}, {stop_ms}"
            )
        per_ms = self.fs_hz / 1000
        new_start = round(self.start_ms + start_ms, TIME_DECIMALS)
        first = min(max(_sample_index(new_start, per_ms), self.first_sample), self.first_sample + self.n_samples)
        stop = min(max(_sample_index(self.start_ms + stop_ms, per_ms), first), self.first_sample + self.n_samples)
        i0, i1 = first - self.first_sample, stop - self.first_sample
        keep = (self.spike_times >= start_ms) & (self.spike_times < stop_ms)
        times = np.round(self.spike_times[keep] - start_ms, TIME_DECIMALS)
        blanked = np.clip(self.blanked - i0, 0, i1 - i0)
        blanked = blanked[blanked[:, 1] > blanked[:, 0]]
        traces = None if self._traces is None else self._traces[:, i0:i1]
        return self._make(self.fs_hz, self.channel_ids, new_start, round(stop_ms - start_ms, TIME_DECIMALS), first,
                          stop - first, self.spike_gids[keep], times, self.settings, blanked, traces=traces,
                          source=self._source)

    @classmethod
    def concat(cls, parts) -> "ExtracellularRecording":
        """Consecutive windows joined into one.

        Parts must share the sampling rate, channels and settings, and each must start where the
        one before ends (in samples and in ms). Parts that are all backed by the same open file
        (one recorder's windows, or one file read back) stay file-backed; otherwise the traces are loaded and joined in memory.
        """
        parts = list(parts) if not isinstance(parts, ExtracellularRecording) else None
        if not parts or not all(isinstance(p, ExtracellularRecording) for p in parts):
            raise InvalidArgumentError("concat needs a non-empty list of ExtracellularRecording")
        first = parts[0]
        offsets = [0.0]
        for i, (before, part) in enumerate(zip(parts, parts[1:]), start=1):
            if part.fs_hz != first.fs_hz or not np.array_equal(part.channel_ids, first.channel_ids) \
                    or part.settings != first.settings:
                raise InvalidArgumentError(
                    f"parts[{i}] has another sampling rate, channels or settings than parts[0]; concat joins one recording's windows"
                )
            if part.first_sample != before.first_sample + before.n_samples or \
                    abs(part.start_ms - (before.start_ms + before.duration)) > 1e-6:
                raise InvalidArgumentError(
                    f"parts[{i}] starts at sample {part.first_sample} ({part.start_ms} ms) but parts[{i - 1}] ends at "
                    f"sample {before.first_sample + before.n_samples} ({before.start_ms + before.duration} ms); "
                    "concat joins consecutive windows"
                )
            offsets.append(round(part.start_ms - first.start_ms, TIME_DECIMALS))
        n_samples = sum(p.n_samples for p in parts)
        gids = np.concatenate([p.spike_gids for p in parts])
        times = np.concatenate([np.round(p.spike_times + o, TIME_DECIMALS) for p, o in zip(parts, offsets)])
        sample_offsets = np.cumsum([0] + [p.n_samples for p in parts[:-1]])
        blanked = _merge(np.concatenate([p.blanked + o for p, o in zip(parts, sample_offsets)]))
        duration = round(parts[-1].start_ms + parts[-1].duration - first.start_ms, TIME_DECIMALS)
        sources = {_source_key(p._source) for p in parts}
        if len(sources) == 1 and None not in sources:
            return cls._make(first.fs_hz, first.channel_ids, first.start_ms, duration, first.first_sample, n_samples,
                             gids, times, first.settings, blanked, source=first._source)
        traces = np.concatenate([p.read() for p in parts], axis=1)
        return cls._make(first.fs_hz, first.channel_ids, first.start_ms, duration, first.first_sample, n_samples,
                         gids, times, first.settings, blanked, traces=traces)

    def __repr__(self) -> str:
        where = f"file {str(self.file)!r}" if self._source is not None else "in memory"
        return (f"ExtracellularRecording({len(self.channel_ids)} channels, {self.n_samples} samples at "
                f"{self.fs_hz:g} Hz from {self.start_ms:g} ms for {self.duration:g} ms, "
                f"{len(self.spike_gids)} spikes, {where})")


def _source_key(source):
    """What makes two file-backed recordings read the same samples: the same open file (and reset
    generation), or the same path; None for in-memory recordings."""
    if source is None:
        return None
    holder, generation = source
    return (id(holder), generation) if isinstance(holder, ExtracellularFile) else (str(Path(holder).resolve()), 0)


def _channel_ids(channel_ids) -> np.ndarray:
    ids = np.asarray(channel_ids)
    if ids.ndim != 1 or ids.size == 0 or not (np.issubdtype(ids.dtype, np.integer) or (
            np.issubdtype(ids.dtype, np.floating) and np.all(ids == np.round(ids)))):
        raise InvalidArgumentError(f"channel_ids must be a non-empty 1-d array of int ids; got {describe(channel_ids)}")
    return ids.astype(np.int64)


def _spikes(spike_gids, spike_times, duration):
    """Ground-truth spikes as (int64 gids, float64 ms), sorted by time then gid, checked to lie in the window."""
    gids = np.zeros(0, np.int64) if spike_gids is None else np.asarray(spike_gids)
    times = np.zeros(0) if spike_times is None else np.asarray(spike_times, dtype=float)
    if gids.ndim != 1 or times.ndim != 1 or gids.shape != times.shape:
        raise InvalidArgumentError(
            f"spike_gids and spike_times must be 1-d arrays of the same length; got {describe(gids)} and {describe(times)}"
        )
    if gids.size and not (np.issubdtype(gids.dtype, np.integer) or np.all(gids == np.round(gids))):
        raise InvalidArgumentError(f"spike_gids must be integer neuron ids; got {describe(spike_gids)}")
    if not np.all(np.isfinite(times)) or (times.size and (times.min() < 0 or times.max() >= duration + 1e-9)):
        raise InvalidArgumentError(
            f"spike_times must be finite ms in the window [0, {duration}) ms; got "
            f"{times.min() if times.size else ''} to {times.max() if times.size else ''}"
        )
    gids = gids.astype(np.int64)
    order = np.lexsort((gids, times))
    return gids[order], times[order]


def _intervals(blanked, n_samples) -> np.ndarray:
    if blanked is None:
        return np.zeros((0, 2), np.int64)
    array = np.asarray(blanked)
    if array.size == 0:
        return np.zeros((0, 2), np.int64)
    if array.ndim != 2 or array.shape[1] != 2 or not np.issubdtype(array.dtype, np.integer) or np.any(array < 0) \
            or np.any(array[:, 1] < array[:, 0]) or np.any(array > n_samples):
        raise InvalidArgumentError(
            f"blanked must be [n, 2] int sample ranges [start, stop) within [0, {n_samples}]; got {describe(blanked)}"
        )
    return _merge(array.astype(np.int64))


def _merge(intervals) -> np.ndarray:
    """Sorted, non-overlapping, non-touching [start, stop) ranges covering the same samples."""
    intervals = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    intervals = intervals[intervals[:, 1] > intervals[:, 0]]
    if len(intervals) < 2:
        return intervals
    intervals = intervals[np.argsort(intervals[:, 0], kind="stable")]
    merged = [list(intervals[0])]
    for first, stop in intervals[1:]:
        if first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([first, stop])
    return np.asarray(merged, dtype=np.int64)


# -- streaming to disk ----------------------------------------------------------------------

#: What the `format` attribute of a livn extracellular file says.
FILE_FORMAT = "livn.extracellular"
FILE_FORMAT_VERSION = 1


class ExtracellularFile:
    """An HDF5 file that an `ExtracellularRecorder` streams its windows to.

    Layout (all appended and flushed window by window):
    - `traces`: float32 `[samples, channels]` in uV, time-major like NWB's ElectricalSeries,
      chunked; attributes `fs_hz`, `unit` ("uV"), `channel_ids`, `first_sample` (0: sample k is at
      k / fs_hz s since the culture's t = 0).
    - `spikes/gids` (int64) and `spikes/times_ms` (float64, ms since t = 0): ground truth.
    - `blanked`: int64 `[n, 2]` blanked sample ranges [start, stop) (absolute sample indices).
    - `windows/end_ms` (float64, ms since t = 0) and `windows/counts` (int64 `[n, 3]`: samples,
      spikes and blanked ranges written up to the end of each window).
    - root attributes: `format`, `format_version`, `settings` (JSON), `channel_ids`, `fs_hz`,
      `unit`, `mea` (JSON, if given), `seed`, `livn_version`.

    The file is written in HDF5's single-writer/multiple-reader (SWMR) mode with the latest file
    format: readers (`read_recording`) can open it while it is written, and if the writing
    process dies (even by kill -9) the file stays readable with every window whose `windows` row
    was flushed; a window is committed by writing that row after its data. Such a file is still
    marked open for writing, so plain `h5py.File(path)` refuses it; `read_recording` (which
    opens it in SWMR read mode) or `h5clear -s` gets at it. An existing `path` is never
    overwritten (an error says so).
    """

    def __init__(self, path, settings: ExtracellularSettings, channel_ids, *, mea: MEA | None = None,
                 seed: int | None = None):
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidArgumentError(f"file must be a path (str or os.PathLike); got {describe(path)}")
        path = Path(path)
        if not isinstance(settings, ExtracellularSettings):
            raise InvalidArgumentError(f"settings must be an ExtracellularSettings; got {describe(settings)}")
        channel_ids = _channel_ids(channel_ids)
        if path.exists():
            raise InvalidArgumentError(f"file {str(path)!r} already exists; give a new path (livn never overwrites a recording)")
        if not path.parent.is_dir():
            raise InvalidArgumentError(f"file {str(path)!r} is in a directory that does not exist")
        import h5py

        from livn import __version__

        self.path = path
        self.settings = settings
        self.channel_ids = channel_ids
        self.generation = 0  # bumped by truncate(): recordings made before read no more
        n = channel_ids.size
        h5 = h5py.File(path, "w-", libver="latest")
        try:
            h5.attrs.update(format=FILE_FORMAT, format_version=FILE_FORMAT_VERSION, fs_hz=settings.fs_hz, unit="uV",
                            channel_ids=channel_ids, settings=json.dumps(settings.to_dict()),
                            livn_version=__version__)
            if mea is not None:
                h5.attrs["mea"] = json.dumps(mea.to_dict())
            if seed is not None:
                h5.attrs["seed"] = int(seed)
            rows = int(min(65536, max(1024, (1 << 20) // (4 * n))))
            traces = h5.create_dataset("traces", shape=(0, n), maxshape=(None, n), chunks=(rows, n), dtype="f4")
            traces.attrs.update(fs_hz=settings.fs_hz, unit="uV", channel_ids=channel_ids, first_sample=0)
            h5.create_dataset("spikes/gids", shape=(0,), maxshape=(None,), chunks=(65536,), dtype="i8")
            h5.create_dataset("spikes/times_ms", shape=(0,), maxshape=(None,), chunks=(65536,), dtype="f8")
            h5.create_dataset("blanked", shape=(0, 2), maxshape=(None, 2), chunks=(4096, 2), dtype="i8")
            h5.create_dataset("windows/end_ms", shape=(0,), maxshape=(None,), chunks=(4096,), dtype="f8")
            h5.create_dataset("windows/counts", shape=(0, 3), maxshape=(None, 3), chunks=(4096, 3), dtype="i8")
            h5.swmr_mode = True
        except BaseException:
            h5.close()
            path.unlink(missing_ok=True)
            raise
        self._h5 = h5

    @property
    def is_open(self) -> bool:
        return self._h5 is not None

    def append(self, traces, spike_gids, spike_times_ms, end_ms: float, blanked) -> None:
        """Append one window: `traces` `[n_channels, k]` uV, its spikes (gids; ms since t = 0), the
        window's end (ms since t = 0) and its blanked ranges (absolute samples); then flush."""
        if self._h5 is None:
            raise RecordingError(f"the extracellular file {str(self.path)!r} is closed")
        h5 = self._h5
        data = {"traces": np.asarray(traces, dtype=np.float32).T, "spikes/gids": np.asarray(spike_gids, np.int64),
                "spikes/times_ms": np.asarray(spike_times_ms, float), "blanked": np.asarray(blanked, np.int64)}
        for name, values in data.items():
            dataset = h5[name]
            old = dataset.shape[0]
            if len(values):
                dataset.resize(old + len(values), axis=0)
                dataset[old:] = values
        h5.flush()
        counts = [h5["traces"].shape[0], h5["spikes/gids"].shape[0], h5["blanked"].shape[0]]
        for name, row in (("windows/end_ms", float(end_ms)), ("windows/counts", counts)):
            dataset = h5[name]
            dataset.resize(dataset.shape[0] + 1, axis=0)
            dataset[-1] = row
        h5.flush()

    def read(self, first: int, stop: int, generation: int | None = None) -> np.ndarray:
        """Samples [`first`, `stop`) (absolute indices) as `[n_channels, k]` float32, uV."""
        if generation is not None and generation != self.generation:
            raise RecordingError(
                f"the recorder writing {str(self.path)!r} was reset to t = 0 since this recording was made; "
                "its samples were discarded"
            )
        if self._h5 is None:
            return _read_closed_file(self.path, first, stop)
        return np.ascontiguousarray(self._h5["traces"][first:stop].T)

    def truncate(self) -> None:
        """Discard everything written (the recorder went back to t = 0)."""
        if self._h5 is None:
            raise RecordingError(f"the extracellular file {str(self.path)!r} is closed")
        for name in ("traces", "spikes/gids", "spikes/times_ms", "blanked", "windows/end_ms", "windows/counts"):
            self._h5[name].resize(0, axis=0)
        self._h5.flush()
        self.generation += 1

    def close(self) -> None:
        """Flush and close the file (idempotent). File-backed recordings then reopen it to read."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __repr__(self) -> str:
        return f"ExtracellularFile({str(self.path)!r}, {'open' if self._h5 is not None else 'closed'})"


def _open_for_reading(path):
    import h5py

    try:
        return h5py.File(path, "r", swmr=True)
    except FileNotFoundError:
        raise RecordingError(f"the extracellular file {str(path)!r} no longer exists") from None


def _read_closed_file(path, first: int, stop: int) -> np.ndarray:
    with _open_for_reading(path) as h5:
        return np.ascontiguousarray(h5["traces"][first:stop].T)


def read_recording(path) -> ExtracellularRecording:
    """Open a file an `ExtracellularRecorder` streamed to (also one whose writer was killed, or is
    still writing) as one file-backed recording from t = 0 over every committed window.

    **Arguments**: `path` of the HDF5 file.

    **Returns**: an `ExtracellularRecording` (traces read lazily, uV; spikes in memory).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"path must be a file path; got {describe(path)}")
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"path {str(path)!r} is not a file")
    with _open_for_reading(path) as h5:
        if h5.attrs.get("format") != FILE_FORMAT:
            raise InvalidArgumentError(f"{str(path)!r} is not a livn extracellular file (no format={FILE_FORMAT!r})")
        settings = ExtracellularSettings.from_dict(json.loads(h5.attrs["settings"]))
        channel_ids = np.asarray(h5.attrs["channel_ids"], dtype=np.int64)
        ends, counts = h5["windows/end_ms"][:], h5["windows/counts"][:]
        committed = min(len(ends), len(counts))
        if committed == 0:
            samples = spikes = blanks = 0
            duration = None
        else:
            samples, spikes, blanks = (int(c) for c in counts[committed - 1])
            duration = float(ends[committed - 1])
        gids = h5["spikes/gids"][:spikes]
        times = h5["spikes/times_ms"][:spikes]
        blanked = _merge(h5["blanked"][:blanks])
    if duration is None:
        raise InvalidArgumentError(f"{str(path)!r} holds no complete window yet")
    order = np.lexsort((gids, times))
    return ExtracellularRecording._make(settings.fs_hz, channel_ids, 0.0, duration, 0, samples, gids[order],
                                        times[order], settings, blanked, source=(str(path), 0))


# -- the recorder ---------------------------------------------------------------------------


class ExtracellularRecorder:
    """Synthesises an MEA's extracellular traces window by window, from t = 0 on.

    **Arguments**

    - `settings`: `ExtracellularSettings`.
    - `mea`: the `MEA` (its electrodes are the channels).
    - `neuron_coordinates`: `[n_neurons, 4]` rows of (gid, x, y, z), um.
    - `lfp_gids`: the neurons whose synaptic currents make the LFP (the excitatory population);
      None with `settings.lfp` means every neuron. Ignored without `settings.lfp`.
    - `seed`: non-negative integer; the same seed gives the same noise.
    - `file`: None (traces in memory) or a new HDF5 path to stream windows to (`ExtracellularFile`).

    `record(...)` synthesises the next window; `reset()` goes back to t = 0 (emptying the file);
    `close()` closes the file. Attributes: `settings`, `mea`, `channel_ids`, `t` (ms recorded so
    far), `file` (the `ExtracellularFile` or None).
    """

    def __init__(self, settings: ExtracellularSettings, mea: MEA, neuron_coordinates, lfp_gids=None, seed: int = 0,
                 *, file=None):
        if not isinstance(settings, ExtracellularSettings):
            raise InvalidArgumentError(f"settings must be an ExtracellularSettings; got {describe(settings)}")
        if not isinstance(mea, MEA):
            raise InvalidArgumentError(f"mea must be a livn.io.MEA; got {describe(mea)}")
        coords = check_neuron_coordinates(neuron_coordinates)
        gids = coords[:, 0]
        if coords.shape[0] == 0 or np.any(gids != np.round(gids)) or np.any(gids < 0) or len(np.unique(gids)) != len(gids):
            raise InvalidArgumentError(
                "neuron_coordinates must have at least one row and distinct non-negative integer gids in column 0"
            )
        if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
            raise InvalidArgumentError(f"seed must be a non-negative integer; got {describe(seed)}")
        if file is not None and not isinstance(file, (str, os.PathLike)):
            raise InvalidArgumentError(f"file must be None or a path (str or os.PathLike); got {describe(file)}")
        gids = gids.astype(np.int64)
        order = np.argsort(gids)
        self._sorted_gids, self._rows_by_gid = gids[order], order
        if settings.lfp:
            lfp = gids if lfp_gids is None else np.asarray(lfp_gids)
            if lfp.ndim != 1 or lfp.size == 0 or not np.issubdtype(lfp.dtype, np.integer) or len(np.unique(lfp)) != lfp.size:
                raise InvalidArgumentError(f"lfp_gids must be a non-empty 1-d array of distinct int gids; got {describe(lfp_gids)}")
            self._lfp_gids = np.sort(lfp.astype(np.int64))
            lfp_rows = self._rows_of(self._lfp_gids, "lfp_gids")
        self.settings = settings
        self.mea = mea
        self.channel_ids = mea.channel_ids.astype(np.int64)
        self._seed = int(seed)
        s = settings
        distances = mea.distances(coords)  # [channels, neurons], um
        self._amplitude = point_source_uv(s.spike_current_na, distances, s.conductivity, s.min_distance_um)
        if s.lfp:
            self._lfp_weights = -s.lfp_scale * point_source_uv(1.0, distances[:, lfp_rows], s.conductivity,
                                                                s.min_distance_um)  # uV per nA
            self._lfp_delay = int(round(s.lfp_delay_ms / s.lfp_dt_ms))
        electrodes = mea.distances(mea.electrode_coordinates)  # [recording, stimulating]
        self._artifact_gain = -point_source_uv(1000.0, electrodes, s.conductivity, s.min_distance_um)  # uV per uA
        self._waveform_samples = int(math.ceil(s.waveform_ms * s.fs_hz / 1000))
        self._carry_samples = self._waveform_samples + 3
        if s.noise_uv > 0:
            self._noise_sos, gain, self._noise_settle = noise_filter(s)
            self._noise_scale = s.noise_uv / math.sqrt(gain)
        self.file = None if file is None else ExtracellularFile(file, s, self.channel_ids, mea=mea, seed=seed)
        self.reset()

    def _rows_of(self, gids, name) -> np.ndarray:
        """Rows of `neuron_coordinates` for `gids`; an error names unknown gids."""
        where = np.searchsorted(self._sorted_gids, gids)
        where = np.minimum(where, len(self._sorted_gids) - 1)
        unknown = self._sorted_gids[where] != gids
        if np.any(unknown):
            raise InvalidArgumentError(f"{name} contains gids {np.unique(gids[unknown])[:10].tolist()} that have no "
                                       "neuron coordinates")
        return self._rows_by_gid[where]

    @property
    def t(self) -> float:
        """Time recorded so far, ms since t = 0."""
        return self._t_ms

    def reset(self) -> None:
        """Back to t = 0: no waveform tails, the seed's noise again, no LFP history, no artifact; the
        file (if any) is emptied, and its earlier file-backed recordings can no longer be read."""
        n = len(self.channel_ids)
        self._t_ms = 0.0
        self._next_sample = 0
        self._carry = np.zeros((n, self._carry_samples))
        if self.settings.noise_uv > 0:
            from scipy import signal

            self._rng = np.random.default_rng(np.random.SeedSequence([self._seed, _NOISE_STREAM]))
            state = np.zeros((self._noise_sos.shape[0], n, 2))
            _, self._noise_state = signal.sosfilt(self._noise_sos, self._white(self._noise_settle), axis=-1, zi=state)
        if self.settings.lfp:
            self._ampa_history = np.zeros((n, self._lfp_delay))
            self._proxy_history = np.zeros((n, 2))
        self._artifact_state = np.zeros((n, 1))
        self._blank_until_ms = -math.inf
        if self.file is not None and self.file.is_open:
            self.file.truncate()

    def close(self) -> None:
        """Close the file, if any (recordings read it again by path)."""
        if self.file is not None:
            self.file.close()

    def _white(self, count: int) -> np.ndarray:
        """`[n_channels, count]` unit Gaussian noise, drawn time-major so windows do not change it."""
        return self._rng.standard_normal((count, len(self.channel_ids))).T

    # -- one window ----------------------------------------------------------------------------

    def record(self, duration_ms: float, spike_gids, spike_times_ms, currents: SynapticCurrents | None = None,
               stimulation: ElectrodeStimulation | None = None) -> ExtracellularRecording:
        """Synthesise the next window.

        **Arguments**

        - `duration_ms`: the window's length, ms.
        - `spike_gids`, `spike_times_ms`: every neuron's spikes in the window (int gids; ms from the
          window's start, in [0, duration_ms)).
        - `currents`: the LFP neurons' `SynapticCurrents` (nA) every `settings.lfp_dt_ms` ms, one
          sample per grid time k * dt in the window (needed when `settings.lfp`, else ignored).
        - `stimulation`: the `ElectrodeStimulation` (uA) delivered in the window, or None.

        **Returns**: the window's `ExtracellularRecording` (file-backed when streaming to a file).
        """
        s = self.settings
        duration = _number("duration_ms", duration_ms, "ms", minimum=0.0, strict=True)
        gids, times = _spikes(spike_gids, spike_times_ms, duration)
        rows = self._rows_of(gids, "spike_gids")
        start = self._t_ms
        end = round(start + duration, TIME_DECIMALS)
        per_ms = s.fs_hz / 1000
        first, stop = self._next_sample, _sample_index(end, per_ms)
        ampa = gaba = None
        if s.lfp:
            ampa, gaba, m0 = self._check_currents(currents, start, end)
        stimulation = self._check_stimulation(stimulation, duration)
        if self.file is not None and not self.file.is_open:
            raise RecordingError(f"the recorder's file {str(self.file.path)!r} is closed")

        n = stop - first
        k = first + np.arange(n)
        trace = self._spike_part(n, first, rows, np.round(start + times, TIME_DECIMALS))
        if s.lfp:
            trace += self._lfp_part(k, ampa, gaba, m0)
        if s.noise_uv > 0:
            trace += self._noise_part(n)
        trace += self._artifact_part(k, start, stimulation)
        np.clip(trace, -s.amplifier_range_uv, s.amplifier_range_uv, out=trace)
        blanked = self._blank(trace, first, stop, start, end, stimulation)
        traces = trace.astype(np.float32)

        absolute_times = np.round(start + times, TIME_DECIMALS)
        self._t_ms, self._next_sample = end, stop
        relative_blanks = blanked - first
        if self.file is not None:
            self.file.append(traces, gids, absolute_times, end, blanked)
            return ExtracellularRecording._make(s.fs_hz, self.channel_ids, start, duration, first, n, gids, times, s,
                                                relative_blanks, source=(self.file, self.file.generation))
        return ExtracellularRecording._make(s.fs_hz, self.channel_ids, start, duration, first, n, gids, times, s,
                                            relative_blanks, traces=traces)

    def _check_currents(self, currents, start, end):
        s = self.settings
        if not isinstance(currents, SynapticCurrents):
            raise InvalidArgumentError(
                f"currents must be the LFP neurons' livn.types.SynapticCurrents when settings.lfp is on; got "
                f"{describe(currents)}"
            )
        if not math.isclose(float(currents.dt), s.lfp_dt_ms, rel_tol=1e-9):
            raise InvalidArgumentError(f"currents.dt must be settings.lfp_dt_ms = {s.lfp_dt_ms} ms; got {currents.dt}")
        per_ms = 1.0 / s.lfp_dt_ms
        m0, m1 = _sample_index(start, per_ms), _sample_index(end, per_ms)
        gids = np.asarray(currents.gids)
        ampa, gaba = np.asarray(currents.ampa, dtype=float), np.asarray(currents.gaba, dtype=float)
        expected = (len(self._lfp_gids), m1 - m0)
        if gids.ndim != 1 or not np.array_equal(np.sort(gids), self._lfp_gids):
            raise InvalidArgumentError(
                f"currents.gids must be the recorder's {len(self._lfp_gids)} lfp_gids; got {describe(gids)}"
            )
        for name, array in (("ampa", ampa), ("gaba", gaba)):
            if array.shape != expected:
                raise InvalidArgumentError(
                    f"currents.{name} must be [{expected[0]} neurons, {expected[1]} samples] nA (one per multiple of "
                    f"{s.lfp_dt_ms} ms in [{start}, {end}) ms); got {describe(array)}"
                )
            if not np.all(np.isfinite(array)):
                raise InvalidArgumentError(f"currents.{name} contain NaN or infinite values")
        order = np.argsort(gids)
        return ampa[order], gaba[order], m0

    def _check_stimulation(self, stimulation, duration):
        if stimulation is None:
            return None
        if not isinstance(stimulation, ElectrodeStimulation):
            raise InvalidArgumentError(
                f"stimulation must be a livn.stimulation.ElectrodeStimulation or None; got {describe(stimulation)}"
            )
        missing = np.setdiff1d(stimulation.channel_ids, self.channel_ids)
        if missing.size:
            raise InvalidArgumentError(
                f"stimulation channels {missing.tolist()} are not on the MEA; its channels: {self.channel_ids.tolist()}"
            )
        if stimulation.duration > duration + 1e-9:
            raise InvalidArgumentError(
                f"stimulation covers {stimulation.duration} ms, longer than the window's {duration} ms"
            )
        column_of = {int(c): i for i, c in enumerate(self.channel_ids)}
        return stimulation, np.array([column_of[int(c)] for c in stimulation.channel_ids], dtype=np.int64)

    def _spike_part(self, n, first, rows, spike_ms):
        """Every spike's waveform on every channel: `[n_channels, n]` uV, with the tails of earlier windows
        added and this window's tails kept for the next."""
        s = self.settings
        buffer = np.zeros((len(self.channel_ids), n + self._carry_samples))
        if len(rows):
            sample_ms = s.sample_ms
            k0 = np.floor(spike_ms / sample_ms).astype(np.int64)
            k = k0[:, None] + np.arange(self._waveform_samples + 2)
            waveform = spike_template(k * sample_ms - spike_ms[:, None], s)  # [spikes, offsets]
            index = k - first
            keep = (index >= 0) & (waveform != 0)
            index, waveform = index[keep], waveform[keep]
            which = np.broadcast_to(np.arange(len(rows))[:, None], keep.shape)[keep]
            for c in range(len(self.channel_ids)):
                weights = self._amplitude[c, rows][which] * waveform
                buffer[c] += np.bincount(index, weights=weights, minlength=buffer.shape[1])[: buffer.shape[1]]
        buffer[:, : self._carry_samples] += self._carry
        self._carry = buffer[:, n:].copy()
        return buffer[:, :n]

    def _lfp_part(self, k, ampa, gaba, m0):
        """The LFP proxy at samples `k` (absolute): `[n_channels, len(k)]` uV."""
        s = self.settings
        a = self._lfp_weights @ np.abs(ampa)  # [channels, current samples]
        g = self._lfp_weights @ np.abs(gaba)
        delay = self._lfp_delay
        history = np.concatenate([self._ampa_history, a], axis=1)  # index i <-> current sample m0 - delay + i
        proxy = history[:, : a.shape[1]] - s.lfp_gaba_ratio * g
        proxies = np.concatenate([self._proxy_history, proxy], axis=1)  # index i <-> m0 - 2 + i
        u = k * s.sample_ms / s.lfp_dt_ms - 1.0  # one current sample late
        j = np.floor(u)
        fraction = u - j
        i = np.clip(j.astype(np.int64) - (m0 - 2), 0, proxies.shape[1] - 2)
        if delay:
            self._ampa_history = history[:, -delay:]
        self._proxy_history = proxies[:, -2:]
        return proxies[:, i] * (1.0 - fraction) + proxies[:, i + 1] * fraction

    def _noise_part(self, n):
        from scipy import signal

        filtered, self._noise_state = signal.sosfilt(self._noise_sos, self._white(n), axis=-1, zi=self._noise_state)
        return filtered * self._noise_scale

    def _artifact_part(self, k, start, stimulation):
        """Point-source artifacts of the electrode currents through the first-order recovery, uV."""
        n = len(k)
        if stimulation is None and not np.any(self._artifact_state):
            return np.zeros((len(self.channel_ids), n))
        from scipy import signal

        s = self.settings
        source = np.zeros((len(self.channel_ids), n))
        if stimulation is not None:
            stim, columns = stimulation
            row = np.floor((k * s.sample_ms - start) / stim.step + 1e-9).astype(np.int64)
            inside = (row >= 0) & (row < stim.currents.shape[0])
            source[:, inside] = self._artifact_gain[:, columns] @ stim.currents[row[inside]].T
        a = math.exp(-s.sample_ms / s.artifact_decay_ms)
        out, self._artifact_state = signal.lfilter([1.0 - a], [1.0, -a], source, axis=-1, zi=self._artifact_state)
        return out

    def _blank(self, trace, first, stop, start, end, stimulation) -> np.ndarray:
        """Zero the samples from each stimulation's onset to `blanking_ms` after its end (all channels).

        **Returns**: `[n, 2]` blanked absolute sample ranges [start, stop) within this window."""
        s = self.settings
        if s.blanking_ms is None:
            return np.zeros((0, 2), np.int64)
        spans = []  # (onset, end + blanking) in ms since t = 0
        if self._blank_until_ms > start:
            spans.append((start, self._blank_until_ms))
        if stimulation is not None:
            stim = stimulation[0]
            active = np.concatenate([[False], np.any(stim.currents != 0, axis=1), [False]])
            edges = np.flatnonzero(np.diff(active.astype(np.int8)))
            for onset, offset in zip(edges[::2], edges[1::2]):
                spans.append((round(start + onset * stim.step, TIME_DECIMALS),
                              round(start + offset * stim.step + s.blanking_ms, TIME_DECIMALS)))
        per_ms = s.fs_hz / 1000
        ranges = []
        for onset, until in spans:
            a = min(max(_sample_index(onset, per_ms), first), stop)
            b = min(max(_sample_index(until, per_ms), a), stop)
            if b > a:
                trace[:, a - first: b - first] = 0.0
                ranges.append((a, b))
            self._blank_until_ms = max(self._blank_until_ms, until)
        return _merge(ranges)

    def __repr__(self) -> str:
        where = f"file {str(self.file.path)!r}" if self.file is not None else "in memory"
        return (f"ExtracellularRecorder({len(self.channel_ids)} channels at {self.settings.fs_hz:g} Hz, "
                f"t = {self._t_ms:g} ms, {where})")
