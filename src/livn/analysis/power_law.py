"""Discrete power laws fitted by maximum likelihood (Clauset, Shalizi & Newman 2009, SIAM Review 51:661).

`P(x) = x^-alpha / zeta(alpha, x_min)` for integers `x >= x_min`, where `zeta` is the Hurwitz
zeta function. For a given `x_min` the exponent maximises the likelihood (a bounded
one-dimensional search); `x_min` itself is either fixed or the candidate whose fit lies
closest to the data by the Kolmogorov-Smirnov distance (section 3.3 of the paper).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from livn.errors import InvalidArgumentError, describe

#: the fewest values at or above x_min that a fit (or a candidate x_min) may use
MIN_TAIL = 10


@dataclass(frozen=True)
class PowerLawFit:
    """A discrete power law `P(x) ~ x^-exponent` for integers `x >= x_min`.

    - `exponent`: the maximum-likelihood exponent alpha (> 1).
    - `exponent_se`: its standard error, `(alpha - 1) / sqrt(n_tail)` (Clauset et al. eq. 3.2;
      exact for large samples).
    - `x_min`: the smallest value the law describes (fixed by the caller, or fitted).
    - `n_tail`: how many values are `>= x_min` (the values fitted).
    - `ks_distance`: the largest gap between the fitted and the empirical distribution
      functions over the tail (0 to 1; small is a close fit).
    """

    exponent: float
    exponent_se: float
    x_min: int
    n_tail: int
    ks_distance: float


def _exponent(log_sum: float, n: int, x_min: int, max_exponent: float) -> float:
    from scipy.optimize import minimize_scalar
    from scipy.special import zeta

    def negative_log_likelihood(alpha):
        return n * math.log(zeta(alpha, x_min)) + alpha * log_sum

    result = minimize_scalar(negative_log_likelihood, bounds=(1.0 + 1e-6, max_exponent), method="bounded",
                             options={"xatol": 1e-7})
    return float(result.x)


def _ks_distance(tail: np.ndarray, alpha: float, x_min: int) -> float:
    from scipy.special import zeta

    values, counts = np.unique(tail, return_counts=True)
    empirical = np.cumsum(counts) / tail.size  # P(X <= value)
    # between observed values the empirical CDF is flat while the model's rises, so also look
    # just below each observed value (value - 1) where the model is highest before the next jump
    below = values - 1
    empirical_below = np.concatenate([[0.0], empirical[:-1]])
    norm = zeta(alpha, x_min)
    model = 1.0 - zeta(alpha, values + 1.0) / norm
    model_below = 1.0 - zeta(alpha, below + 1.0) / norm
    gaps = np.abs(empirical - model)
    gaps_below = np.where(below >= x_min, np.abs(empirical_below - model_below), 0.0)
    return float(max(gaps.max(), gaps_below.max()))


def power_law_fit(values, x_min: int | None = None, max_exponent: float = 10.0) -> PowerLawFit:
    """Fit a discrete power law to positive integers (avalanche sizes or durations).

    **Arguments**

    - `values`: positive integers (e.g. spikes per avalanche, bins per avalanche).
    - `x_min`: the smallest value the law describes; `None` fits it: every distinct value
      that leaves at least `MIN_TAIL` (10) values at or above it is tried, and the one with
      the smallest Kolmogorov-Smirnov distance wins.
    - `max_exponent`: the upper end of the exponent search (> 1).

    **Returns**: `PowerLawFit`.
    """
    array = np.asarray(values)
    if (array.ndim != 1 or not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array))
            or np.any(array != np.round(array)) or (array.size and array.min() < 1)):
        raise InvalidArgumentError(f"values must be a 1-d array of positive integers; got {describe(values)}")
    if isinstance(max_exponent, bool) or not isinstance(max_exponent, (int, float)) or not 1 < max_exponent < 100:
        raise InvalidArgumentError(f"max_exponent must be a number in (1, 100); got {describe(max_exponent)}")
    array = np.sort(array.astype(np.int64))
    if x_min is not None:
        if isinstance(x_min, bool) or not isinstance(x_min, (int, np.integer)) or x_min < 1:
            raise InvalidArgumentError(f"x_min must be a positive integer or None (fit it); got {describe(x_min)}")
        candidates = [int(x_min)]
    else:
        distinct = np.unique(array)
        tail_sizes = array.size - np.searchsorted(array, distinct, side="left")
        candidates = [int(v) for v, n in zip(distinct, tail_sizes) if n >= MIN_TAIL]
    best = None
    for candidate in candidates:
        tail = array[np.searchsorted(array, candidate, side="left"):]
        if tail.size < MIN_TAIL or np.unique(tail).size < 2:
            continue
        alpha = _exponent(float(np.log(tail).sum()), tail.size, candidate, float(max_exponent))
        distance = _ks_distance(tail, alpha, candidate)
        if best is None or distance < best.ks_distance:
            best = PowerLawFit(alpha, (alpha - 1.0) / math.sqrt(tail.size), candidate, int(tail.size), distance)
    if best is None:
        raise InvalidArgumentError(
            f"a power law needs at least {MIN_TAIL} values, not all equal, at or above x_min "
            f"({'fitted' if x_min is None else x_min}); got {array.size} values"
        )
    return best
