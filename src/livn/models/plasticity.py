"""Long-term synaptic plasticity: the rules, their checks, and their lowering to per-synapse coefficients.

Two spike-timing rules act on individual synapses and one homeostatic rule acts on
a neuron's inputs. Every backend translates the same per-synapse coefficients
(`PlasticSynapses`), so a rule is written once, here.

**Traces.** Each plastic synapse keeps a presynaptic trace `a_pre` and a
postsynaptic trace `a_post` (dimensionless):

    a_pre  -> a_pre  exp(-dt / tau_pre)  between events; a_pre  += 1 when a presynaptic spike arrives
    a_post -> a_post exp(-dt / tau_post) between events; a_post += 1 when the postsynaptic neuron spikes

A presynaptic spike counts when it *arrives* at the synapse (after the axonal
delay); a postsynaptic spike counts in the step it is detected (threshold
crossing, no back-propagation delay). Traces are evaluated exactly between events
(event-driven), with times measured in whole integration steps.

**Updates.** With weight w (peak conductance, nS), clipped to [0, w_max] after every update:

    on a presynaptic arrival:   w += pre_offset + (pre_w * w + pre_c) * a_post      (a_post before this step's spikes)
    on a postsynaptic spike:    w += (post_w * w + post_c) * a_pre                  (a_pre after this step's arrivals)

Within one integration step, arrivals are handled before postsynaptic spikes
(brian2's order: `on_pre` pathways run before `on_post`): a presynaptic spike
that arrives in the step the postsynaptic neuron fires counts as "pre before
post" (potentiation). The conductance an arrival delivers uses the weight
*before* that arrival's own update. Short-term depression is unchanged: the
conductance increment is `w * x` with x the release resource of the terminal.

The rules are these coefficients:

| rule | pre_offset | pre_w | pre_c | post_w | post_c |
|---|---|---|---|---|---|
| `STDP(weight_dependence="additive")` | 0 | 0 | -A- w_max | 0 | A+ w_max |
| `STDP(weight_dependence="multiplicative")` | 0 | -A- | 0 | -A+ | A+ w_max |
| `InhibitorySTDP` (Vogels et al. 2011) | -eta w_max alpha | 0 | eta w_max | 0 | eta w_max |

so that, for one pair with `dt = t_post - t_pre_arrival` (ms), additive STDP changes
the weight by `A+ w_max exp(-dt / tau_plus)` for dt >= 0 and `-A- w_max exp(dt / tau_minus)`
for dt < 0 (`stdp_window`), as in Song, Miller & Abbott (2000). Multiplicative
(weight-dependent) STDP potentiates by `A+ (w_max - w)` and depresses by `A- w`
(van Rossum et al. 2000). Inhibitory STDP (Vogels et al. 2011) is symmetric:
every near-coincidence potentiates by `eta w_max`, and each presynaptic spike
depresses by `eta w_max alpha` with `alpha = 2 rho_0 tau` (rho_0 the target rate),
which drives the postsynaptic rate toward rho_0.

**Synaptic scaling** (`SynapticScaling`, after Turrigiano et al. 1998) is
homeostatic: every `period` ms, all plastic excitatory weights onto neuron j are
multiplied by `1 + gain * (rate_target - rate_j) / rate_target` (clipped to
[0, w_max]), rate_j (Hz) being neuron j's firing rate over that period.
`livn.env.Env` applies it between simulation segments, the same way on every backend.

Units: times ms, weights nS, rates Hz.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from livn.errors import InvalidArgumentError, UnknownNameError, describe

#: How a rule's step size depends on the weight, for `STDP`.
WEIGHT_DEPENDENCES = ("additive", "multiplicative")


def _positive(value, name: str, rule: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgumentError(f"{rule}: {name} must be a finite number {bound}; got {describe(value)}")
    return float(value)


@dataclass(frozen=True)
class STDP:
    """Pair-based spike-timing-dependent plasticity of excitatory (AMPA) synapses.

    - `a_plus`: potentiation per pair at dt = 0, as a fraction of `w_max` (additive) or of
      `w_max - w` (multiplicative); dimensionless, >= 0.
    - `a_minus`: depression per pair at dt = 0-, a fraction of `w_max` (additive) or of `w` (multiplicative).
    - `tau_plus`, `tau_minus`: ms, > 0; time constants of the presynaptic and postsynaptic traces.
    - `w_max`: nS, > 0; weights stay in [0, w_max].
    - `weight_dependence`: "additive" (Song et al. 2000) or "multiplicative" (van Rossum et al. 2000).

    Defaults follow Song, Miller & Abbott (2000): A+ = 0.005, A-/A+ = 1.05, tau = 20 ms.
    """

    a_plus: float = 0.005
    a_minus: float = 0.00525
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    w_max: float = 16.0
    weight_dependence: str = "additive"

    #: Receptors this rule may act on.
    receptors = ("AMPA",)

    def __post_init__(self):
        name = type(self).__name__
        for key in ("a_plus", "a_minus"):
            _positive(getattr(self, key), key, name, allow_zero=True)
        for key in ("tau_plus", "tau_minus", "w_max"):
            _positive(getattr(self, key), key, name)
        if self.weight_dependence not in WEIGHT_DEPENDENCES:
            raise InvalidArgumentError(
                f"{name}: weight_dependence must be one of {WEIGHT_DEPENDENCES}; got {describe(self.weight_dependence)}"
            )

    def coefficients(self) -> dict:
        """The per-synapse coefficients of the update equations (see the module docstring)."""
        if self.weight_dependence == "additive":
            pre_w, pre_c, post_w, post_c = 0.0, -self.a_minus * self.w_max, 0.0, self.a_plus * self.w_max
        else:
            pre_w, pre_c, post_w, post_c = -self.a_minus, 0.0, -self.a_plus, self.a_plus * self.w_max
        return {"tau_pre": self.tau_plus, "tau_post": self.tau_minus, "w_max": self.w_max,
                "pre_offset": 0.0, "pre_w": pre_w, "pre_c": pre_c, "post_w": post_w, "post_c": post_c}


@dataclass(frozen=True)
class InhibitorySTDP:
    """Symmetric plasticity of inhibitory (GABA_A) synapses that balances each neuron at a target rate.

    After Vogels, Sprekeler, Zenke, Clopath & Gerstner (2011).

    - `eta`: learning rate, a fraction of `w_max` per coincidence; dimensionless, >= 0.
    - `tau`: ms, > 0; time constant of both traces.
    - `target_rate`: Hz, >= 0; the postsynaptic rate the rule steers toward (rho_0).
    - `w_max`: nS, > 0.
    """

    eta: float = 0.01
    tau: float = 20.0
    target_rate: float = 5.0
    w_max: float = 30.0

    receptors = ("GABA_A",)

    def __post_init__(self):
        name = type(self).__name__
        _positive(self.eta, "eta", name, allow_zero=True)
        _positive(self.target_rate, "target_rate", name, allow_zero=True)
        _positive(self.tau, "tau", name)
        _positive(self.w_max, "w_max", name)

    @property
    def alpha(self) -> float:
        """Depression per presynaptic spike, in units of eta w_max: 2 rho_0 tau (dimensionless)."""
        return 2.0 * self.target_rate * 1e-3 * self.tau

    def coefficients(self) -> dict:
        step = self.eta * self.w_max
        return {"tau_pre": self.tau, "tau_post": self.tau, "w_max": self.w_max,
                "pre_offset": -step * self.alpha, "pre_w": 0.0, "pre_c": step, "post_w": 0.0, "post_c": step}


@dataclass(frozen=True)
class SynapticScaling:
    """Homeostatic scaling of every plastic excitatory weight onto a neuron toward a target rate.

    - `target_rate`: Hz, > 0.
    - `period`: ms, > 0, a whole number of ms; how often the weights are scaled.
    - `gain`: dimensionless, >= 0; relative change per period per unit of relative rate error.
    """

    target_rate: float = 5.0
    period: float = 1000.0
    gain: float = 0.1

    def __post_init__(self):
        name = type(self).__name__
        _positive(self.target_rate, "target_rate", name)
        _positive(self.period, "period", name)
        _positive(self.gain, "gain", name, allow_zero=True)
        if abs(self.period - round(self.period)) > 1e-9:
            raise InvalidArgumentError(f"{name}: period must be a whole number of ms; got {self.period}")

    def factors(self, counts: np.ndarray) -> np.ndarray:
        """Scaling factor per neuron for `counts` spikes in one period (clipped at 0)."""
        rate = np.asarray(counts, dtype=float) / (self.period * 1e-3)
        return np.maximum(0.0, 1.0 + self.gain * (self.target_rate - rate) / self.target_rate)


#: Rule classes users may name in parameter dicts.
RULES = {"stdp": STDP, "inhibitory_stdp": InhibitorySTDP}


def default_rules() -> dict:
    """The rules `Env.enable_plasticity()` uses by default: additive STDP on EXC->EXC and EXC->INH.

    w_max is twice the model's default weight of each projection (8 nS and 3 nS).
    """
    return {"EXC_EXC": STDP(w_max=16.0), "EXC_INH": STDP(w_max=6.0)}


def stdp_window(dt, rule: STDP, w: float = 0.0) -> np.ndarray:
    """Analytic weight change (nS) of one pre/post pair, `dt = t_post - t_pre_arrival` in ms.

    For additive STDP the change does not depend on w; for multiplicative STDP it is
    evaluated at weight `w` (nS). dt >= 0 potentiates (arrival before or in the step of
    the postsynaptic spike), dt < 0 depresses.
    """
    dt = np.asarray(dt, dtype=float)
    k = rule.coefficients()
    potentiation = (k["post_w"] * w + k["post_c"]) * np.exp(-np.abs(dt) / rule.tau_plus)
    depression = (k["pre_w"] * w + k["pre_c"]) * np.exp(-np.abs(dt) / rule.tau_minus)
    return np.where(dt >= 0, potentiation, depression)


# -- checking what users pass ---------------------------------------------------------------------


def _rule_from(value, projection: str, base):
    """A rule object from a rule, or a dict of parameters (optionally with "rule": "stdp" | "inhibitory_stdp")."""
    if isinstance(value, (STDP, InhibitorySTDP)):
        return value
    if not isinstance(value, dict):
        raise InvalidArgumentError(
            f"plasticity of projection {projection!r} must be an STDP or InhibitorySTDP rule or a dict of its "
            f"parameters; got {describe(value)}"
        )
    value = dict(value)
    kind = value.pop("rule", None)
    if kind is not None:
        if kind not in RULES:
            raise UnknownNameError(f"unknown plasticity rule {kind!r} for {projection!r}; known rules: {sorted(RULES)}")
        cls = RULES[kind]
        base = base if isinstance(base, cls) else cls()
    elif base is None:
        base = STDP()
    names = [f.name for f in dataclasses.fields(base)]
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise UnknownNameError(
            f"unknown parameter(s) {unknown} of {type(base).__name__} for projection {projection!r}; "
            f"its parameters are {names}"
        )
    return dataclasses.replace(base, **value)


def _projection_key(key):
    """A projection named as "PRE_POST" or as a (pre, post) tuple, as its name."""
    if isinstance(key, tuple) and len(key) == 2 and all(isinstance(part, str) for part in key):
        return f"{key[0]}_{key[1]}"
    return key


def check_rules(params, receptors: dict, defaults: dict) -> dict:
    """The rules to apply, `{projection: STDP | InhibitorySTDP}`, from what a user passed.

    **Arguments**

    - `params`: None (the `defaults`), a rule, a dict of rule parameters applied to every
      default projection (e.g. `{"a_plus": 0.01}`), or `{projection: rule or parameter dict}`.
    - `receptors`: `{projection name: "AMPA" | "GABA_A"}` of the projections that have synapses.
    - `defaults`: `{projection: rule}` (the model's `plasticity_rules`).

    Raises `UnknownNameError` for unknown projections or parameters and
    `InvalidArgumentError` for bad values or a rule on a receptor it does not support.
    """
    known = sorted(receptors)
    if params is None:
        rules = {name: rule for name, rule in defaults.items() if name in receptors}
    elif isinstance(params, (STDP, InhibitorySTDP)):
        rules = {name: params for name, rule in defaults.items() if name in receptors}
    elif isinstance(params, dict):
        keys = [_projection_key(k) for k in params]
        if keys and all(isinstance(k, str) and k == k.lower() for k in keys):  # parameter names are lowercase
            rules = {name: _rule_from(params, name, rule) for name, rule in defaults.items() if name in receptors}
        else:
            bad = [k for k in keys if k not in receptors]
            if bad:
                raise UnknownNameError(
                    f"unknown projection(s) {bad} in plasticity parameters; this culture's projections are {known} "
                    "(give either {projection: rule or parameters} or one dict of rule parameters)"
                )
            rules = {name: _rule_from(value, name, defaults.get(name)) for name, value in zip(keys, params.values())}
    else:
        raise InvalidArgumentError(
            "plasticity parameters must be None, an STDP or InhibitorySTDP rule, a dict of rule parameters or "
            f"{{projection: rule or parameters}}; got {describe(params)}"
        )
    for name, rule in rules.items():
        if receptors[name] not in rule.receptors:
            raise InvalidArgumentError(
                f"{type(rule).__name__} acts on {'/'.join(rule.receptors)} synapses, but projection {name!r} is "
                f"{receptors[name]}; use STDP on excitatory (AMPA) and InhibitorySTDP on inhibitory (GABA_A) projections"
            )
    if not rules:
        raise InvalidArgumentError(
            f"no projection to make plastic: this culture's projections are {known} and none was selected"
        )
    return rules


# -- lowering ------------------------------------------------------------------------------------


#: Per-synapse coefficient arrays of `PlasticSynapses`, in this order.
COEFFICIENTS = ("tau_pre", "tau_post", "w_max", "pre_offset", "pre_w", "pre_c", "post_w", "post_c")


@dataclass(frozen=True, eq=False)
class PlasticSynapses:
    """The plasticity rules lowered onto a `LoweredNetwork`'s synapses: what every backend translates.

    - `plastic`: bool per synapse (edge order of the lowered network).
    - `tau_pre`, `tau_post` (ms), `w_max` (nS), `pre_offset` (nS), `pre_w` (1), `pre_c` (nS),
      `post_w` (1), `post_c` (nS): float64 per synapse, the coefficients of the update
      equations in the module docstring; zero (tau: 1 ms) where a synapse is not plastic.
    - `rules`: `{projection: rule}` as given.
    """

    rules: dict
    plastic: np.ndarray = field(repr=False)
    tau_pre: np.ndarray = field(repr=False)
    tau_post: np.ndarray = field(repr=False)
    w_max: np.ndarray = field(repr=False)
    pre_offset: np.ndarray = field(repr=False)
    pre_w: np.ndarray = field(repr=False)
    pre_c: np.ndarray = field(repr=False)
    post_w: np.ndarray = field(repr=False)
    post_c: np.ndarray = field(repr=False)

    @property
    def num_edges(self) -> int:
        return int(self.plastic.shape[0])


def lower_plasticity(network, rules: dict) -> PlasticSynapses:
    """Per-synapse coefficients of `rules` (`{projection: rule}`, from `check_rules`) on `network`."""
    e = network.num_edges
    arrays = {name: np.zeros(e) for name in COEFFICIENTS}
    arrays["tau_pre"][:] = 1.0
    arrays["tau_post"][:] = 1.0
    plastic = np.zeros(e, bool)
    for name, rule in rules.items():
        edges = network.edges_of(name)
        plastic[edges] = True
        for key, value in rule.coefficients().items():
            arrays[key][edges] = value
    for array in (plastic, *arrays.values()):
        array.setflags(write=False)
    return PlasticSynapses(rules=dict(rules), plastic=plastic, **arrays)
