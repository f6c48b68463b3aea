"""Power spectra and band power of extracellular traces (the local field potential's rhythms).

```python
from livn.analysis import band_power, power_spectrum

powers = band_power(result.extracellular)          # {"delta": [n_channels] uV^2, ...}
powers = band_power(traces, fs_hz=25000.0)          # traces [n_channels, samples] uV
freqs, psd = power_spectrum(traces, fs_hz=25000.0)  # Hz, [n_channels, n_freqs] uV^2/Hz
```

Welch's method through Elephant (`elephant.spectral.welch_psd` on a Neo `AnalogSignal`):
Hann-windowed segments of `1 / resolution_hz` s (or the whole trace when shorter),
half overlapping, each segment's mean removed. The power in a band is the spectral
density summed over the frequencies `low <= f < high` times the frequency step, so a
sinusoid of amplitude A (uV) inside a band contributes A^2 / 2 uV^2 to it. Needs the
`analysis` extra (`pip install 'livn[analysis]'`).
"""

from __future__ import annotations

import math

import numpy as np

from livn.errors import InvalidArgumentError, describe, require_module

#: the classical LFP/EEG bands, Hz (low inclusive, high exclusive)
BANDS = {"delta": (1.0, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0), "gamma": (30.0, 100.0)}

_FEATURE = "power spectra (Welch's method)"


def _signal(traces, fs_hz) -> tuple[np.ndarray, float]:
    """`[n_channels, samples]` uV and the sampling rate (Hz), from an array or a recording."""
    if hasattr(traces, "traces") and hasattr(traces, "fs_hz"):
        recorded = float(traces.fs_hz)
        if fs_hz is not None and not math.isclose(float(fs_hz), recorded):
            raise InvalidArgumentError(
                f"fs_hz={fs_hz!r} Hz differs from the recording's sampling rate {recorded} Hz; leave fs_hz out"
            )
        fs_hz, traces = recorded, traces.traces
    if fs_hz is None:
        raise InvalidArgumentError("fs_hz (Hz) is needed with a plain array of traces")
    if isinstance(fs_hz, bool) or not isinstance(fs_hz, (int, float, np.integer, np.floating)) \
            or not math.isfinite(fs_hz) or fs_hz <= 0:
        raise InvalidArgumentError(f"fs_hz must be a positive sampling rate in Hz; got {describe(fs_hz)}")
    array = np.asarray(traces)
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < 2 or not np.issubdtype(array.dtype, np.number):
        raise InvalidArgumentError(
            f"traces must be [n_channels, samples] uV with at least 2 samples; got {describe(traces)}"
        )
    if not np.all(np.isfinite(array)):
        raise InvalidArgumentError("traces must be finite (no NaN or infinite samples)")
    return array, float(fs_hz)


def _resolution(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"resolution_hz must be a positive frequency step in Hz; got {describe(value)}")
    return float(value)


def _welch(array: np.ndarray, fs_hz: float, resolution_hz: float) -> tuple[np.ndarray, np.ndarray]:
    neo = require_module("neo", "analysis", _FEATURE)
    quantities = require_module("quantities", "analysis", _FEATURE)
    spectral = require_module("elephant.spectral", "analysis", _FEATURE)
    segment = min(array.shape[1], max(2, int(round(fs_hz / resolution_hz))))
    signal = neo.AnalogSignal(array.T, units="uV", sampling_rate=fs_hz * quantities.Hz)
    freqs, psd = spectral.welch_psd(signal, len_segment=segment, overlap=0.5)
    return np.asarray(freqs.rescale("Hz").magnitude), np.asarray(psd.rescale("uV**2/Hz").magnitude)


def power_spectrum(traces, fs_hz: float | None = None, resolution_hz: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Power spectral density of each channel by Welch's method.

    **Arguments**

    - `traces`: `[n_channels, samples]` (or `[samples]`) uV, or anything with `.traces` and
      `.fs_hz` (an `ExtracellularRecording`).
    - `fs_hz`: sampling rate (Hz); taken from the recording when one is given.
    - `resolution_hz`: frequency step (Hz); segments last `1 / resolution_hz` s, or the whole trace.

    **Returns**: `(freqs, psd)`: `[n_freqs]` Hz and `[n_channels, n_freqs]` uV^2/Hz.
    """
    array, fs_hz = _signal(traces, fs_hz)
    return _welch(array, fs_hz, _resolution(resolution_hz))


def band_power(traces, fs_hz: float | None = None, bands: dict | None = None, resolution_hz: float = 0.5) -> dict:
    """Power of each channel in frequency bands.

    **Arguments**

    - `traces`, `fs_hz`, `resolution_hz`: as in `power_spectrum` (uV, Hz, Hz).
    - `bands`: `{name: (low, high)}` Hz, low inclusive, high exclusive, high <= fs_hz / 2;
      default `BANDS` (delta 1-4, theta 4-8, alpha 8-13, beta 13-30, gamma 30-100 Hz).

    **Returns**: `{name: [n_channels] power in uV^2}` in the order of `bands`.
    """
    array, fs_hz = _signal(traces, fs_hz)
    resolution_hz = _resolution(resolution_hz)
    bands = BANDS if bands is None else bands
    if not isinstance(bands, dict) or not bands:
        raise InvalidArgumentError(f"bands must be a non-empty dict of name -> (low, high) Hz; got {describe(bands)}")
    checked = {}
    for name, band in bands.items():
        try:
            low, high = (float(v) for v in band)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"band {name!r} must be a (low, high) pair in Hz; got {describe(band)}") from None
        if not (0 <= low < high <= fs_hz / 2):
            raise InvalidArgumentError(
                f"band {name!r} must satisfy 0 <= low < high <= fs_hz / 2 = {fs_hz / 2} Hz; got {band!r}"
            )
        checked[str(name)] = (low, high)
    freqs, psd = _welch(array, fs_hz, resolution_hz)
    step = freqs[1] - freqs[0]
    powers = {}
    for name, (low, high) in checked.items():
        inside = (freqs >= low) & (freqs < high)
        if not inside.any():
            raise InvalidArgumentError(
                f"band {name!r} ({low}-{high} Hz) holds no frequency of a spectrum with {step:g} Hz steps; "
                f"use a longer trace or a finer resolution_hz"
            )
        powers[name] = psd[:, inside].sum(axis=1) * step
    return powers
