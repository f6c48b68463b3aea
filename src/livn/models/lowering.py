"""Lowering: (system, model, seed) -> one plain description of the network that every backend translates.

Everything a simulator needs to know about a culture, as numpy arrays and
numbers, is decided here once: the per-neuron Izhikevich parameters and the
initial state, which neurons make depressing (AMPA) synapses, and every synapse
with its projection, its receptor and its axonal delay in integration steps.
A backend only translates this description into its simulator; it never reads
the system or the model's parameter tables itself, so every backend gets the
same numbers by construction.

Delays. The axonal delay `synaptic_delay + distance / conduction_velocity` (ms)
is rounded to the nearest integration step, halves rounded up, and at least one
step (`delay_in_steps`). Delays that fall on a half step in decimal arithmetic
(e.g. 0.55 ms at dt = 0.1 ms, which is 5.499999... or 5.500000...1 in binary
floating point) round up whatever the binary representation: a delay within
1e-9 steps below a half step counts as on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from livn.errors import InvalidArgumentError, describe
from livn.models.culture import CultureModel, projection_name

#: Receptor codes of `LoweredNetwork.receptor`, by index.
RECEPTORS = ("AMPA", "GABA_A")
#: Tolerance (in steps) under which a delay counts as falling exactly on a half step.
HALF_STEP_TOLERANCE = 1e-9


def delay_in_steps(delay_ms, dt: float) -> np.ndarray:
    """Delays (ms) as whole integration steps: nearest step, halves up, at least one step.

    **Arguments**: `delay_ms`, array of delays in ms; `dt`, the integration step in ms.

    **Returns**: int64 array of steps.
    """
    steps = np.asarray(delay_ms, dtype=float) / dt
    return np.maximum(1, np.floor(steps + 0.5 + HALF_STEP_TOLERANCE)).astype(np.int64)


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class LoweredNetwork:
    """The whole network as plain arrays: what every backend translates.

    Neurons are indexed by gid. Synapses are listed projection by projection (in
    `projections` order), each sorted by (target, source).

    - `system_name`, `seed`: where it came from; `model`: the `CultureModel` (its
      constants: capacitance, receptors, time constants, v_peak, dt).
    - `population_ranges`: `{population: (first gid, count)}` in gid order.
    - `a`, `b` (dimensionless), `c` (mV), `d` (mV/ms): Izhikevich parameters per neuron.
    - `v_init` (mV), `u_init` (mV/ms): the state at t = 0 (every neuron at rest).
    - `excitatory`: bool per neuron, True where its synapses act through AMPA and depress.
    - `projections`: projection names ("PRE_POST") that have at least one synapse.
    - `pre`, `post`: int64 gids per synapse; `projection`: int64 index into `projections`;
      `receptor`: int8 index into `RECEPTORS`; `delay_steps`: int64 axonal delay in steps (>= 1).
    """

    system_name: str
    seed: int
    model: CultureModel = field(repr=False)
    population_ranges: dict
    a: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    c: np.ndarray = field(repr=False)
    d: np.ndarray = field(repr=False)
    v_init: np.ndarray = field(repr=False)
    u_init: np.ndarray = field(repr=False)
    excitatory: np.ndarray = field(repr=False)
    projections: tuple
    pre: np.ndarray = field(repr=False)
    post: np.ndarray = field(repr=False)
    projection: np.ndarray = field(repr=False)
    receptor: np.ndarray = field(repr=False)
    delay_steps: np.ndarray = field(repr=False)

    @property
    def dt(self) -> float:
        """Integration step, ms."""
        return self.model.dt

    @property
    def num_neurons(self) -> int:
        return int(self.a.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.pre.shape[0])

    @property
    def max_delay_steps(self) -> int:
        """Longest axonal delay in steps (0 without synapses)."""
        return int(self.delay_steps.max()) if self.num_edges else 0

    def edges_of(self, projection: str) -> slice:
        """The synapses of one projection, as a slice of the edge arrays."""
        index = self.projections.index(projection)
        where = np.flatnonzero(self.projection == index)
        return slice(int(where[0]), int(where[-1]) + 1)

    def receptor_of(self, projection: str) -> str:
        """"AMPA" or "GABA_A": the receptor of every synapse of `projection`."""
        return RECEPTORS[int(self.receptor[self.edges_of(projection).start])]

    def fingerprint(self) -> str:
        """SHA-256 over every array and number above: equal exactly when two lowerings are equal."""
        digest = hashlib.sha256()
        digest.update(repr((self.system_name, self.seed, self.model, self.population_ranges, self.projections)).encode())
        for name in ("a", "b", "c", "d", "v_init", "u_init", "excitatory", "pre", "post", "projection", "receptor",
                     "delay_steps"):
            array = getattr(self, name)
            digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()


def lower(system, model: CultureModel, seed: int) -> LoweredNetwork:
    """Lower a culture into the description every backend translates.

    **Arguments**

    - `system`: a `livn.system.System` (populations, coordinates, projections).
    - `model`: the `CultureModel`.
    - `seed`: non-negative integer; draws the per-neuron parameters.

    **Returns**: the `LoweredNetwork`.
    """
    if not isinstance(model, CultureModel):
        raise InvalidArgumentError(f"model must be a livn.models.CultureModel; got {describe(model)}")
    ranges = dict(system.population_ranges)
    params = model.neuron_parameters(ranges, seed)
    v_init, u_init = model.initial_state(params)
    n = sum(count for _, count in ranges.values())
    excitatory = np.zeros(n, bool)
    for population, (start, count) in ranges.items():
        excitatory[start : start + count] = model.receptor_of(population) == "AMPA"

    names, pre, post, projection, receptor, delays = [], [], [], [], [], []
    for (p, q), edges in system.projections.items():
        if edges.num_edges == 0:
            continue
        names.append(projection_name(p, q))
        pre.append(np.asarray(edges.source, np.int64))
        post.append(np.asarray(edges.target, np.int64))
        projection.append(np.full(edges.num_edges, len(names) - 1, np.int64))
        receptor.append(np.full(edges.num_edges, RECEPTORS.index(model.receptor_of(p)), np.int8))
        delays.append(delay_in_steps(model.axonal_delay(edges.distance), model.dt))

    def cat(parts, dtype):
        return _readonly(np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype))

    return LoweredNetwork(
        system_name=system.name,
        seed=int(seed),
        model=model,
        population_ranges=ranges,
        a=_readonly(params["a"]),
        b=_readonly(params["b"]),
        c=_readonly(params["c"]),
        d=_readonly(params["d"]),
        v_init=_readonly(np.asarray(v_init, float)),
        u_init=_readonly(np.asarray(u_init, float)),
        excitatory=_readonly(excitatory),
        projections=tuple(names),
        pre=cat(pre, np.int64),
        post=cat(post, np.int64),
        projection=cat(projection, np.int64),
        receptor=cat(receptor, np.int8),
        delay_steps=cat(delays, np.int64),
    )
