"""Recruitment curves: how many spikes a stimulus evokes, against its amplitude.

```python
from livn.analysis import recruitment_curve, channel_recruitment_curves

stimuli = [(2.0, 100.0), (4.0, 600.0), (8.0, 1100.0), ...]   # (amplitude uA, onset ms)
curve = recruitment_curve(it, t, stimuli)
curve.threshold, curve.sigmoid.x50                            # uA
curves = channel_recruitment_curves(cit, ct, stimuli)         # channel id -> curve
```

The response of one trial is its spikes in `response_window` (ms after onset) minus its
spikes in `baseline_window` (ms, usually before onset) scaled to the response window's
length: the evoked spikes above the ongoing activity. Stimuli on different electrodes are
separate curves: call once per stimulating electrode with that electrode's stimuli.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from livn.analysis import _arguments as check
from livn.errors import InvalidArgumentError, describe


@dataclass(frozen=True)
class SigmoidFit:
    """A logistic curve `bottom + (top - bottom) / (1 + exp(-(amplitude - x50) / width))`.

    `bottom`, `top`: responses far below and far above `x50` (spikes per trial; `top < bottom`
    for a falling curve); `x50`: the amplitude halfway between them (uA); `width`: the
    amplitude change (uA, > 0) from `x50` to 73 % of the way from bottom to top.
    """

    bottom: float
    top: float
    x50: float
    width: float

    def __call__(self, amplitude) -> np.ndarray:
        """The fitted response (spikes) at `amplitude` (uA, scalar or array)."""
        from scipy.special import expit

        return self.bottom + (self.top - self.bottom) * expit((np.asarray(amplitude, dtype=float) - self.x50) / self.width)


@dataclass(frozen=True)
class RecruitmentCurve:
    """Evoked spikes against stimulus amplitude.

    - `amplitudes`: `[k]` distinct amplitudes, ascending (uA).
    - `trials`: `[k]` trials per amplitude.
    - `response`, `response_se`: `[k]` mean baseline-subtracted response (spikes per trial)
      and its standard error (sample std / sqrt(trials); 0 for a single trial).
    - `baseline`, `baseline_se`: mean and standard error over all trials of the baseline
      spikes scaled to the response window (spikes).
    - `threshold`: the smallest amplitude (uA) whose mean response exceeds 0 and `criterion`
      standard errors of the difference, sqrt(baseline_se^2 + response_se^2), else None (so one
      trial with a spontaneous burst in it does not make an amplitude count as evoked).
    - `sigmoid`: `SigmoidFit` to the per-trial responses, or None (fewer than 4 amplitudes,
      a flat curve, a fit that did not converge, or one whose rise lies outside the amplitudes tested).
    """

    amplitudes: np.ndarray
    trials: np.ndarray
    response: np.ndarray
    response_se: np.ndarray
    baseline: float
    baseline_se: float
    threshold: float | None
    sigmoid: SigmoidFit | None


def _stimuli(stimuli) -> tuple[np.ndarray, np.ndarray]:
    try:
        array = np.asarray(stimuli, dtype=float)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0 or not np.all(np.isfinite(array)):
        raise InvalidArgumentError(
            f"stimuli must be a non-empty list of finite (amplitude uA, onset ms) pairs; got {describe(stimuli)}"
        )
    return array[:, 0], array[:, 1]


def _windows(response_window, baseline_window) -> tuple[tuple[float, float], tuple[float, float], float]:
    response = check.time_window(response_window, "response_window")
    baseline = check.time_window(baseline_window, "baseline_window")
    return response, baseline, (response[1] - response[0]) / (baseline[1] - baseline[0])


def _criterion(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidArgumentError(f"criterion must be a non-negative number of standard errors; got {describe(value)}")
    return float(value)


def recruitment_from_counts(amplitudes, response_spikes, baseline_spikes, scale: float, criterion: float = 2.0) -> RecruitmentCurve:
    """A recruitment curve from per-trial spike counts.

    **Arguments**

    - `amplitudes`: `[n_trials]` stimulus amplitudes (uA).
    - `response_spikes`: `[n_trials]` spikes in each trial's response window.
    - `baseline_spikes`: `[n_trials]` spikes in each trial's baseline window.
    - `scale`: response window length over baseline window length (> 0).
    - `criterion`: standard errors (of the baseline and the response together) that a mean
      response must exceed to count as evoked (the threshold rule).

    **Returns**: `RecruitmentCurve`.
    """
    amplitudes = np.asarray(amplitudes, dtype=float)
    response_spikes = np.asarray(response_spikes, dtype=float)
    baseline_spikes = np.asarray(baseline_spikes, dtype=float)
    if amplitudes.ndim != 1 or amplitudes.size == 0 or not np.all(np.isfinite(amplitudes)):
        raise InvalidArgumentError(f"amplitudes must be a non-empty 1-d array of finite uA; got {describe(amplitudes)}")
    for name, counts in (("response_spikes", response_spikes), ("baseline_spikes", baseline_spikes)):
        if counts.shape != amplitudes.shape or not np.all(np.isfinite(counts)) or np.any(counts < 0):
            raise InvalidArgumentError(
                f"{name} must be {amplitudes.size} non-negative spike counts, one per trial; got {describe(counts)}"
            )
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise InvalidArgumentError(f"scale must be a positive ratio of window lengths; got {describe(scale)}")
    criterion = _criterion(criterion)

    baseline = baseline_spikes * scale
    net = response_spikes - baseline
    baseline_se = float(baseline.std(ddof=1) / math.sqrt(baseline.size)) if baseline.size > 1 else 0.0
    values = np.unique(amplitudes)
    trials = np.array([np.count_nonzero(amplitudes == a) for a in values], dtype=np.int64)
    response = np.array([net[amplitudes == a].mean() for a in values])
    response_se = np.array([
        net[amplitudes == a].std(ddof=1) / math.sqrt(n) if n > 1 else 0.0 for a, n in zip(values, trials)
    ])
    above = np.flatnonzero((response > 0) & (response > criterion * np.sqrt(baseline_se**2 + response_se**2)))
    return RecruitmentCurve(
        amplitudes=values,
        trials=trials,
        response=response,
        response_se=response_se,
        baseline=float(baseline.mean()),
        baseline_se=baseline_se,
        threshold=float(values[above[0]]) if above.size else None,
        sigmoid=fit_sigmoid(amplitudes, net) if values.size >= 4 and np.ptp(response) > 0 else None,
    )


def fit_sigmoid(amplitudes, responses) -> SigmoidFit | None:
    """Least-squares logistic fit (`scipy.optimize.curve_fit`) of responses against amplitudes.

    **Arguments**: `amplitudes` (uA) and `responses` (spikes), one per trial, at least 4 distinct amplitudes.

    **Returns**: `SigmoidFit`, or None when the fit does not converge, gives non-finite values, or
    does not rise within the amplitudes tested (`x50` outside them, or `width` wider than their
    range: a curve that has not saturated leaves its top and midpoint unknown).
    """
    from scipy.optimize import curve_fit
    from scipy.special import expit

    x = np.asarray(amplitudes, dtype=float)
    y = np.asarray(responses, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InvalidArgumentError(
            f"amplitudes and responses must be finite 1-d arrays of equal length; got {describe(x)}, {describe(y)}"
        )
    values = np.unique(x)
    if values.size < 4:
        raise InvalidArgumentError(f"a sigmoid needs responses at 4 or more distinct amplitudes; got {values.size}")

    def logistic(a, bottom, top, x50, width):
        return bottom + (top - bottom) * expit((a - x50) / width)

    means = np.array([y[x == v].mean() for v in values])
    bottom, top = float(means.min()), float(means.max())
    if means[0] > means[-1]:
        bottom, top = top, bottom
    halfway = np.flatnonzero((means - bottom) / (top - bottom) >= 0.5) if top != bottom else np.array([0])
    start = [bottom, top, float(values[halfway[0]]), float(np.ptp(values)) / 8 or 1.0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (bottom, top, x50, width), _ = curve_fit(logistic, x, y, p0=start, maxfev=5000)
    except (RuntimeError, ValueError, FloatingPointError):
        return None
    if not all(math.isfinite(v) for v in (bottom, top, x50, width)) or width == 0:
        return None
    if width < 0:  # the same curve with a positive width
        bottom, top, width = top, bottom, -width
    if not values[0] <= x50 <= values[-1] or width > np.ptp(values):
        return None  # the curve does not rise within the amplitudes tested: top and x50 are guesses
    return SigmoidFit(float(bottom), float(top), float(x50), float(width))


def recruitment_curve(
    it, t, stimuli, response_window=(0.0, 50.0), baseline_window=(-100.0, 0.0), gids=None, criterion: float = 2.0
) -> RecruitmentCurve:
    """Recruitment curve of the culture's spikes (or of the neurons `gids`).

    **Arguments**

    - `it`, `t`: spike gids and times (ms), as `Env.run` returns them.
    - `stimuli`: `[(amplitude uA, onset ms), ...]`, one trial each (onsets in the frame of `t`).
    - `response_window`: (start, stop) ms after onset in which spikes count as the response.
    - `baseline_window`: (start, stop) ms relative to onset for the ongoing activity.
    - `gids`: only these neurons' spikes; `None`: all.
    - `criterion`: standard errors of the difference for the threshold rule (see `RecruitmentCurve`).

    **Returns**: `RecruitmentCurve` (responses in spikes per trial, amplitudes uA).
    """
    it, t = check.spikes(it, t)
    amplitudes, onsets = _stimuli(stimuli)
    response, baseline, scale = _windows(response_window, baseline_window)
    if gids is not None:
        t = t[np.isin(it, check.gid_selection(gids))]
    return _curve(np.sort(t), amplitudes, onsets, response, baseline, scale, _criterion(criterion))


def channel_recruitment_curves(
    cit, ct, stimuli, response_window=(0.0, 50.0), baseline_window=(-100.0, 0.0), criterion: float = 2.0
) -> dict[int, RecruitmentCurve]:
    """Recruitment curve of each recording channel's spikes.

    **Arguments**: `cit`, `ct` (channel id -> spike gids, times ms, from `MEA.channel_recording`);
    `stimuli`, `response_window`, `baseline_window`, `criterion` as in `recruitment_curve`.

    **Returns**: `{channel id: RecruitmentCurve}`.
    """
    channel_ids, _, times = check.channel_spikes(cit, ct)
    amplitudes, onsets = _stimuli(stimuli)
    response, baseline, scale = _windows(response_window, baseline_window)
    criterion = _criterion(criterion)
    return {
        int(c): _curve(np.sort(times[int(c)]), amplitudes, onsets, response, baseline, scale, criterion)
        for c in channel_ids
    }


def _curve(sorted_times, amplitudes, onsets, response, baseline, scale, criterion) -> RecruitmentCurve:
    evoked = check.window_counts(sorted_times, onsets + response[0], onsets + response[1])
    ongoing = check.window_counts(sorted_times, onsets + baseline[0], onsets + baseline[1])
    return recruitment_from_counts(amplitudes, evoked, ongoing, scale, criterion)
