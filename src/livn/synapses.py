"""Synaptic weights as data: the table users read, selections, normalization, scaling, recording, saving.

Every function here works on plain arrays in the lowered network's synapse
order (projection by projection, each sorted by target then source), the order
`Env.synaptic_weights()` returns; `livn.env.Env` calls them and the backends
only read and write the weight array. Weights are peak conductances in nS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from livn.errors import InvalidArgumentError, UnknownNameError, describe


class SynapticWeights(NamedTuple):
    """Every synapse of a culture with its weight: arrays of equal length, one entry per synapse.

    - `pre`, `post`: int64 presynaptic and postsynaptic gids.
    - `projection`: projection name of each synapse ("PRE_POST", numpy str array).
    - `weight`: float64 peak conductance, nS.
    """

    pre: np.ndarray
    post: np.ndarray
    projection: np.ndarray
    weight: np.ndarray


def weight_table(lowered, weights: np.ndarray) -> SynapticWeights:
    """`SynapticWeights` of a `LoweredNetwork` with `weights` (nS, edge order)."""
    names = np.asarray(lowered.projections if lowered.projections else ("",))
    return SynapticWeights(
        pre=np.asarray(lowered.pre, np.int64).copy(),
        post=np.asarray(lowered.post, np.int64).copy(),
        projection=names[lowered.projection] if lowered.num_edges else np.zeros(0, dtype=names.dtype),
        weight=np.asarray(weights, np.float64).copy(),
    )


def select_synapses(lowered, synapses) -> np.ndarray:
    """Indices (edge order) of the synapses named by `synapses`.

    `synapses` is None (every synapse), a projection name or list of names, or an
    array of synapse indices (rows of `Env.synaptic_weights()`).
    """
    e = lowered.num_edges
    if synapses is None:
        return np.arange(e, dtype=np.int64)
    names = [synapses] if isinstance(synapses, str) else synapses
    if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
        unknown = [n for n in names if n not in lowered.projections]
        if unknown:
            raise UnknownNameError(
                f"unknown projection(s) {unknown}; this culture's projections with synapses are {list(lowered.projections)}"
            )
        return np.flatnonzero(np.isin(lowered.projection, [lowered.projections.index(n) for n in names]))
    indices = np.asarray(synapses)
    if indices.ndim != 1 or indices.size == 0 or not np.issubdtype(indices.dtype, np.integer) \
            or indices.min() < 0 or indices.max() >= e:
        raise InvalidArgumentError(
            f"synapses must be None, a projection name or list of names, or a non-empty 1-d array of synapse "
            f"indices in [0, {e - 1}] (rows of env.synaptic_weights()); got {describe(synapses)}"
        )
    return indices.astype(np.int64)


def check_weight_array(weights, num_edges: int) -> np.ndarray:
    """`weights` as float64 `[num_edges]` nS, finite and >= 0, or an `InvalidArgumentError`."""
    try:
        array = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"weights must be a numeric array of nS; got {describe(weights)}") from None
    if array.shape != (num_edges,) or not np.all(np.isfinite(array)) or np.any(array < 0):
        raise InvalidArgumentError(
            f"weights must be {num_edges} finite values >= 0 nS, one per synapse in the order of "
            f"env.synaptic_weights(); got {describe(weights)}"
        )
    return array


def normalized(weights: np.ndarray, post: np.ndarray, which: np.ndarray, target: float) -> np.ndarray:
    """Weights with those in `which` (bool per synapse) scaled, per postsynaptic neuron, to sum to `target` nS.

    Neurons whose selected inputs sum to zero keep them. No clipping: the sum is exactly
    the target (to rounding) afterwards.
    """
    out = np.array(weights, dtype=np.float64)
    if not np.any(which):
        return out
    n = int(post.max()) + 1
    sums = np.bincount(post[which], weights=out[which], minlength=n)
    factor = np.ones(n)
    np.divide(target, sums, out=factor, where=sums > 0)
    out[which] = out[which] * factor[post[which]]
    return out


def scaled(weights: np.ndarray, post: np.ndarray, which: np.ndarray, factors: np.ndarray,
           w_max: np.ndarray) -> np.ndarray:
    """Weights with those in `which` multiplied by their postsynaptic neuron's factor, clipped to [0, w_max] (nS)."""
    out = np.array(weights, dtype=np.float64)
    out[which] = np.clip(out[which] * factors[post[which]], 0.0, w_max[which])
    return out


@dataclass
class WeightRecording:
    """Weights sampled during runs (`Env.record_weights`).

    - `dt`: sampling interval, ms.
    - `synapses`: int64 indices of the recorded synapses (rows of `Env.synaptic_weights()`).
    - `t`: float64 `[samples]` simulated time of each sample, ms since t = 0.
    - `weights`: float64 `[len(synapses), samples]` nS.
    """

    dt: float
    synapses: np.ndarray
    _times: list = field(default_factory=list, repr=False)
    _samples: list = field(default_factory=list, repr=False)

    def add(self, t: float, weights: np.ndarray) -> None:
        self._times.append(float(t))
        self._samples.append(np.asarray(weights, np.float64)[self.synapses].copy())

    @property
    def t(self) -> np.ndarray:
        return np.asarray(self._times, dtype=np.float64)

    @property
    def weights(self) -> np.ndarray:
        if not self._samples:
            return np.zeros((len(self.synapses), 0))
        return np.stack(self._samples, axis=1)

    def reset(self) -> None:
        self._times.clear()
        self._samples.clear()


def check_sampling_interval(dt, what: str) -> float:
    """A positive whole number of ms (runs are split at these times, on the 1 ms stimulus grid)."""
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)) or not math.isfinite(dt) \
            or dt < 1 or abs(dt - round(dt)) > 1e-9:
        raise InvalidArgumentError(f"{what} must be a positive whole number of ms; got {describe(dt)}")
    return float(round(dt))


def segment_boundaries(start: float, duration: float, intervals: list[float]) -> list[float]:
    """Times (ms, absolute) in (start, start + duration] at which a run is split: every multiple of
    each interval in that range, and the end."""
    end = start + duration
    points = {round(end, 9)}
    for interval in intervals:
        k = math.floor(start / interval + 1e-9) + 1
        while k * interval < end - 1e-9:
            points.add(round(k * interval, 9))
            k += 1
    return sorted(points)


def on_grid(t: float, interval: float) -> bool:
    """True when `t` (ms) is a multiple of `interval` (ms)."""
    return abs(t / interval - round(t / interval)) < 1e-9


# -- a system directory with learned weights -------------------------------------------------------


def write_system(path, system, lowered, weights: np.ndarray, mea, settings: dict, overwrite: bool) -> Path:
    """Write a new system directory: `system`'s cells and synapses with per-synapse `weights` (nS).

    **Arguments**

    - `path`: the directory to create; an existing one is replaced only with `overwrite=True`
      (otherwise `FileExistsError`, from `livn._files.atomic_directory`).
    - `system`: the `livn.system.System` whose cells and synapses are copied.
    - `lowered`: its `LoweredNetwork` (gives the synapse order of `weights`).
    - `weights`: float64 `[num_edges]` nS.
    - `mea`: the `livn.io.MEA` to write as `mea.json`.
    - `settings`: `{"weights": {projection: nS}, "noise": {"mean": nA, "std": nA}}`, written as
      `tuned.json`, so that `Env.apply_model_defaults()` on the new system restores the noise.

    **Returns**: the directory's path. Written under a temporary name and renamed into place.
    """
    from livn import neuroh5
    from livn import system_directory as layout
    from livn._files import atomic_directory, write_json

    path = Path(path).expanduser()
    ranges = system.population_ranges
    coordinates = {name: system.neuron_coordinates[start : start + count, 1:] for name, (start, count) in ranges.items()}
    projections = {}
    for (pre, post), edges in system.projections.items():
        name = f"{pre}_{post}"
        learned = None
        if name in lowered.projections:
            learned = weights[lowered.edges_of(name)]
        projections[(pre, post)] = (edges.source, edges.target, edges.distance, learned)
    previous = dict((system.metadata or {}).get("config") or {})
    config = {**previous, "name": path.name, "seed": (system.metadata or {}).get("seed", previous.get("seed", 0)),
              "derived_from": system.name, "learned_weights": True}
    with atomic_directory(path, overwrite=overwrite) as build:
        neuroh5.write_cells(build / layout.CELLS_FILE, coordinates)
        neuroh5.write_connections(build / layout.CONNECTIONS_FILE, {k: c for k, (_, c) in ranges.items()}, projections)
        mea.save(build / layout.MEA_FILE)
        write_json(build / layout.TUNED_FILE, settings)
        layout.write_metadata(build, config, [layout.CELLS_FILE, layout.CONNECTIONS_FILE, layout.MEA_FILE,
                                              layout.TUNED_FILE])
    return path
