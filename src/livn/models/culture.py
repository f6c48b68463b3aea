"""The culture model: one definition of the dynamics that every backend translates.

Neurons are Izhikevich (2003) point neurons; synapses are conductance-based with
exponential decay and reversal potentials; excitatory synapses depress
(Tsodyks-Markram resource model); spikes travel with an axonal delay that grows
with soma distance; every neuron receives an Ornstein-Uhlenbeck background
current. In the units livn uses (ms, mV, nA, nS, nF):

    dv/dt  = 0.04 v^2 + 5 v + 140 - u + (I_syn + I_noise + I_stim) / C        [mV/ms]
    du/dt  = a (b v - u)
    I_syn  = 1e-3 * (g_AMPA (E_AMPA - v) + g_GABA (E_GABA - v))               [nA; g in nS]
    dg/dt  = -g / tau_receptor                                                (per receptor)
    dI_noise = (mu - I_noise) / tau_noise dt + sigma sqrt(2 / tau_noise) dW   [nA]
    if v >= v_peak:  v <- c,  u <- u + d

A spike of neuron i reaches neuron j after `delay_ij = synaptic_delay +
distance_ij / conduction_velocity` and increments the receptor conductance of j
by `w_ij * x_i` (excitatory, depressing) or `w_ij` (inhibitory). The release
resource x_i of an excitatory terminal recovers as dx/dt = (1 - x) / tau_rec and
drops to x (1 - U) after each spike it transmits. Because all spikes of a neuron
reach a given synapse with the same delay, x can equally be tracked per neuron
at spike emission or per synapse at spike arrival: both give the same numbers.

Long-term plasticity (spike-timing-dependent, inhibitory and homeostatic) is
off until `Env.enable_plasticity` turns it on; its equations are in
`livn.models.plasticity`.

Per-neuron heterogeneity follows Izhikevich (2003): each neuron draws r ~ U(0, 1)
and each of a, b, c, d is `base + spread * r**power`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from livn.errors import InvalidArgumentError, UnknownNameError, describe
from livn.models.plasticity import default_rules

#: Receptor a presynaptic population's synapses act through, by population name.
RECEPTOR_OF_POPULATION = {"EXC": "AMPA", "INH": "GABA_A"}


@dataclass(frozen=True)
class Heterogeneous:
    """A neuron parameter `base + spread * r**power` with r ~ U(0, 1) per neuron."""

    base: float
    spread: float = 0.0
    power: float = 1.0

    def sample(self, r: np.ndarray) -> np.ndarray:
        return self.base + self.spread * r**self.power


@dataclass(frozen=True)
class NeuronType:
    """Izhikevich parameters of one cell class (dimensionless a, b; c in mV; d in mV/ms)."""

    name: str
    a: Heterogeneous
    b: Heterogeneous
    c: Heterogeneous
    d: Heterogeneous


REGULAR_SPIKING = NeuronType(
    "regular spiking",
    a=Heterogeneous(0.02),
    b=Heterogeneous(0.2),
    c=Heterogeneous(-65.0, 15.0, 2.0),
    d=Heterogeneous(8.0, -6.0, 2.0),
)

FAST_SPIKING = NeuronType(
    "fast spiking",
    a=Heterogeneous(0.02, 0.08, 1.0),
    b=Heterogeneous(0.25, -0.05, 1.0),
    c=Heterogeneous(-65.0),
    d=Heterogeneous(2.0),
)


@dataclass(frozen=True)
class Receptor:
    """A synaptic receptor: reversal potential (mV) and conductance decay time constant (ms)."""

    reversal_potential: float
    time_constant: float


@dataclass(frozen=True)
class CultureModel:
    """Parameters of the culture dynamics (see the module docstring for the equations).

    Units: capacitance nF, potentials mV, times ms, conductances nS, currents nA,
    distances um, velocities um/ms.
    """

    neuron_types: dict = field(default_factory=lambda: {"EXC": REGULAR_SPIKING, "INH": FAST_SPIKING})
    membrane_capacitance: float = 0.1
    v_peak: float = 30.0
    receptors: dict = field(
        default_factory=lambda: {"AMPA": Receptor(0.0, 5.0), "GABA_A": Receptor(-75.0, 10.0)}
    )
    depression_fraction: float = 0.4  # U: fraction of the resource used by one spike
    depression_recovery: float = 2000.0  # tau_rec, ms
    synaptic_delay: float = 0.5  # ms
    conduction_velocity: float = 300.0  # um/ms (0.3 m/s, unmyelinated axons)
    noise_time_constant: float = 5.0  # ms
    #: Default synaptic weights (peak conductance, nS) by "PRE_POST" projection.
    default_weights: dict = field(
        default_factory=lambda: {"EXC_EXC": 8.0, "EXC_INH": 3.0, "INH_EXC": 3.0, "INH_INH": 4.0}
    )
    default_noise_mean: float = 0.0  # nA
    default_noise_std: float = 0.15  # nA
    #: Integration step of the backends, ms.
    dt: float = 0.1
    #: Long-term plasticity rules `Env.enable_plasticity()` uses by default, by projection
    #: (`livn.models.plasticity`; off until enabled).
    plasticity_rules: dict = field(default_factory=default_rules)

    # -- neurons ------------------------------------------------------------------

    def neuron_type(self, population: str) -> NeuronType:
        """The cell class of `population` (e.g. "EXC" -> regular spiking)."""
        if population not in self.neuron_types:
            raise UnknownNameError(
                f"population {population!r} has no neuron type in this model; "
                f"known populations: {sorted(self.neuron_types)}"
            )
        return self.neuron_types[population]

    def neuron_parameters(self, population_ranges: dict, seed: int) -> dict:
        """Per-neuron Izhikevich parameters, drawn reproducibly from `seed`.

        **Arguments**

        - `population_ranges`: population name -> (first gid, count).
        - `seed`: integer seed; the same seed gives the same parameters on every backend.

        **Returns**

        dict with `a`, `b`, `c` (mV), `d` (mV/ms): float arrays indexed by gid.
        """
        _check_seed(seed)
        n = sum(count for _, count in population_ranges.values())
        params = {key: np.zeros(n) for key in ("a", "b", "c", "d")}
        for index, (population, (start, count)) in enumerate(population_ranges.items()):
            kind = self.neuron_type(population)
            rng = np.random.default_rng(np.random.SeedSequence([seed, 17, index]))
            r = rng.random(count)
            for key in params:
                params[key][start : start + count] = getattr(kind, key).sample(r)
        return params

    @staticmethod
    def resting_potential(b):
        """Stable resting potential (mV) of an unstimulated neuron with recovery sensitivity `b`.

        The fixed point of dv/dt = du/dt = 0 with u = b v: the lower root of
        0.04 v^2 + (5 - b) v + 140 = 0.
        """
        b = np.asarray(b, dtype=float)
        return (-(5.0 - b) - np.sqrt((5.0 - b) ** 2 - 4 * 0.04 * 140.0)) / (2 * 0.04)

    def initial_state(self, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """State every backend starts from (t = 0): each neuron at rest, `(v, u)` in mV and mV/ms.

        `params` is `neuron_parameters(...)`; v is `resting_potential(b)` and u = b v.
        """
        v = self.resting_potential(params["b"])
        return v, params["b"] * v

    def rheobase(self, a, b):
        """Smallest constant injected current (nA) that makes a resting neuron with parameters `a`, `b` fire.

        The resting state v_e (the lower root of 0.04 v^2 + (5 - b) v + 140 + I/C = 0,
        with u = b v) rises with I and becomes unstable either where the trace of the
        Jacobian vanishes (Andronov-Hopf, 0.08 v + 5 = a) or where it merges with the
        saddle (saddle-node, 0.08 v + 5 = b), whichever comes first:
        v_th = (min(a, b) - 5) / 0.08 and I = -C (0.04 v_th^2 + (5 - b) v_th + 140).
        For regular spiking (a = 0.02, b = 0.2) this is 0.38 nA.
        """
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        v_th = (np.minimum(a, b) - 5.0) / 0.08
        return -(0.04 * v_th**2 + (5.0 - b) * v_th + 140.0) * self.membrane_capacitance

    def membrane_derivatives(self, v, u, a, b, current):
        """Right-hand side of the membrane equations, for numpy or JAX arrays.

        **Arguments**: `v` (mV), `u` (mV/ms), `a`, `b`, total input `current` (nA).

        **Returns**: `(dv/dt, du/dt)` in mV/ms and mV/ms^2.
        """
        dv = 0.04 * v * v + 5.0 * v + 140.0 - u + current / self.membrane_capacitance
        du = a * (b * v - u)
        return dv, du

    # -- synapses -------------------------------------------------------------------

    def receptor_of(self, population: str) -> str:
        """Receptor that synapses made by `population` act through."""
        if population not in RECEPTOR_OF_POPULATION:
            raise UnknownNameError(
                f"population {population!r} has no receptor; known presynaptic populations: "
                f"{sorted(RECEPTOR_OF_POPULATION)}"
            )
        return RECEPTOR_OF_POPULATION[population]

    def axonal_delay(self, distance):
        """Delay (ms) of a spike between somata `distance` um apart."""
        return self.synaptic_delay + np.asarray(distance, dtype=float) / self.conduction_velocity

    def with_changes(self, **changes) -> "CultureModel":
        """A copy of the model with some parameters replaced."""
        return dataclasses.replace(self, **changes)


def projection_name(pre: str, post: str) -> str:
    """Key of a projection in weight dicts, e.g. ("EXC", "INH") -> "EXC_INH"."""
    return f"{pre}_{post}"


def check_weights(weights, known: list[str]) -> dict:
    """Validate a {projection name: weight (nS)} dict against the `known` projection names."""
    if not isinstance(weights, dict):
        raise InvalidArgumentError(f"weights must be a dict of projection name -> nS; got {describe(weights)}")
    checked = {}
    for key, value in weights.items():
        name = projection_name(*key) if isinstance(key, tuple) else key
        if name not in known:
            raise UnknownNameError(f"unknown projection {key!r} in weights; known projections: {known}")
        if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value) or value < 0:
            raise InvalidArgumentError(
                f"weight of projection {name!r} must be a finite conductance >= 0 nS; got {describe(value)}"
            )
        checked[name] = float(value)
    return checked


def _check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgumentError(f"seed must be a non-negative integer; got {describe(seed)}")
