"""brian2 translation of `livn.models.CultureModel`.

The network is built once per `Brian2Backend`; every `run` continues it. Brian2
objects live in a private `Network` with their own clocks and random state, so
several backends in one process do not disturb each other or numpy's global
random generator. The backend trusts its arguments: `livn.env.Env` validates them.
"""

from __future__ import annotations

import os

import numpy as np

import brian2 as b2
from brian2 import ms, mV, nA, nF, nS

from livn.errors import UnknownNameError
from livn.models import CultureModel, projection_name
from livn.types import RunResult

b2.prefs.logging.file_log = False
b2.prefs.logging.std_redirection = False
#: brian2 code generation targets livn accepts through LIVN_BRIAN2_TARGET ("numpy" needs no compiler).
CODE_TARGETS = ("cython", "numpy")
_target = os.environ.get("LIVN_BRIAN2_TARGET", "cython")
if _target not in CODE_TARGETS:
    raise UnknownNameError(f"LIVN_BRIAN2_TARGET={_target!r} is not a brian2 target livn supports; use one of {CODE_TARGETS}")
b2.prefs.codegen.target = _target

NEURON_EQUATIONS = """
dv/dt = (0.04*v**2/mV + 5*v + 140*mV - u)/ms + (I_syn + I_noise + I_stim)/C_m : volt
du/dt = a*(b*v - u)/ms : volt
I_syn = g_ampa*(E_ampa - v) + g_gaba*(E_gaba - v) : amp
dg_ampa/dt = -g_ampa/tau_ampa : siemens
dg_gaba/dt = -g_gaba/tau_gaba : siemens
dI_noise/dt = (noise_mean - I_noise)/tau_noise + noise_std*sqrt(2/tau_noise)*xi : amp
I_stim = livn_stimulus(t - stimulus_onset, i) : amp
a : 1 (constant)
b : 1 (constant)
c : volt (constant)
d : volt (constant)
noise_mean : amp (shared)
noise_std : amp (shared)
stimulus_onset : second (shared)
"""

DEPRESSING_SYNAPSE = """
w : siemens (constant)
dx/dt = (1 - x)/tau_rec : 1 (event-driven)
"""


def _rows_bucket(rows: int) -> int:
    """Stimulus rows padded to a power of two, so brian2 compiles few TimedArray variants."""
    return 1 << max(4, int(rows).bit_length())


class Brian2Backend:
    """A culture network in brian2 (runtime mode, Cython code generation by default)."""

    name = "brian2"

    def __init__(self, system, model: CultureModel, seed: int):
        self.system = system
        self.model = model
        self.seed = int(seed)
        self.dt = model.dt
        n = system.num_neurons
        self.num_neurons = n
        params = model.neuron_parameters(system.population_ranges, self.seed)

        receptors = model.receptors
        self._namespace = {
            "C_m": model.membrane_capacitance * nF,
            "E_ampa": receptors["AMPA"].reversal_potential * mV,
            "E_gaba": receptors["GABA_A"].reversal_potential * mV,
            "tau_ampa": receptors["AMPA"].time_constant * ms,
            "tau_gaba": receptors["GABA_A"].time_constant * ms,
            "tau_noise": model.noise_time_constant * ms,
            "tau_rec": model.depression_recovery * ms,
            "U_dep": model.depression_fraction,
            "v_peak": model.v_peak * mV,
        }
        self._set_stimulus(None)
        dt = self.dt * ms
        # One clock for every object: brian2's loop is markedly slower with several clocks.
        self.clock = b2.Clock(dt=dt, name="livn_clock*")
        neurons = b2.NeuronGroup(
            n,
            NEURON_EQUATIONS,
            threshold="v >= v_peak",
            reset="v = c; u += d",
            method="euler",
            clock=self.clock,
            name="livn_neurons",
        )
        neurons.a = params["a"]
        neurons.b = params["b"]
        neurons.c = params["c"] * mV
        neurons.d = params["d"] * mV
        v_rest, u_rest = model.initial_state(params)
        neurons.v = v_rest * mV
        neurons.u = u_rest * mV
        self.neurons = neurons

        self.synapses = {}
        for (pre, post), projection in system.projections.items():
            if len(projection.source) == 0:
                continue
            receptor = model.receptor_of(pre)
            key = projection_name(pre, post)
            if receptor == "AMPA":
                syn = b2.Synapses(
                    neurons, neurons, DEPRESSING_SYNAPSE,
                    on_pre="g_ampa_post += w*x\nx = x*(1 - U_dep)",
                    method="exact", clock=self.clock, name=f"livn_{key}",
                )
            else:
                syn = b2.Synapses(
                    neurons, neurons, "w : siemens (constant)",
                    on_pre="g_gaba_post += w", clock=self.clock, name=f"livn_{key}",
                )
            syn.connect(i=np.asarray(projection.source), j=np.asarray(projection.target))
            syn.delay = model.axonal_delay(projection.distance) * ms
            if receptor == "AMPA":
                syn.x = 1.0
            self.synapses[key] = syn

        self.network = b2.Network(neurons, *self.synapses.values(), name="livn_network")
        self.spike_monitor = None
        self.voltage_monitor = None
        self._stored = False
        self._weights = {key: 0.0 for key in self.synapses}
        self._noise = (0.0, 0.0)

        # Private random stream: seeded once, saved and swapped in around every run.
        outer = b2.get_device().get_random_state()
        b2.get_device().seed(self.seed)
        state = b2.get_device().get_random_state()
        # The state holds raw pointers to brian2's buffers of pre-drawn random numbers; right after
        # seeding they are still the caller's. Zero them so that this network allocates its own
        # buffers instead of refilling (and so corrupting) the caller's.
        for name in ("rand_buffer", "randn_buffer", "rand_buffer_index", "randn_buffer_index"):
            state[name] = np.zeros_like(state[name])
        self._initial_random_state = state
        self._random_state = self._initial_random_state
        b2.get_device().set_random_state(outer)

    # -- parameters ---------------------------------------------------------------

    @property
    def t(self) -> float:
        """Simulated time since the start (or the last `clear`), ms."""
        return float(self.network.t / ms)

    def set_weights(self, weights: dict) -> None:
        """Set synaptic weights (nS) by projection name; projections without edges are ignored."""
        for key, value in weights.items():
            if key in self.synapses:
                self.synapses[key].w = value * nS
                self._weights[key] = value

    def set_noise(self, mean: float, std: float) -> None:
        """Set the background current's mean and standard deviation, nA."""
        self.neurons.noise_mean = mean * nA
        self.neurons.noise_std = std * nA
        if self.t == 0:
            self.neurons.I_noise = mean * nA
        self._noise = (mean, std)

    # -- recording ------------------------------------------------------------------

    def record_spikes(self) -> None:
        if self.spike_monitor is None:
            self.spike_monitor = b2.SpikeMonitor(self.neurons, name="livn_spikes")
            self.network.add(self.spike_monitor)
            self._stored = False

    def record_voltage(self, gids: np.ndarray, dt: float) -> None:
        if self.voltage_monitor is not None:
            self.network.remove(self.voltage_monitor)
        timing = {"clock": self.clock} if abs(dt - self.dt) < 1e-12 else {"dt": dt * ms}
        self.voltage_monitor = b2.StateMonitor(
            self.neurons, "v", record=np.asarray(gids, dtype=int), name="livn_voltage", **timing
        )
        self.network.add(self.voltage_monitor)
        self._stored = False

    # -- running --------------------------------------------------------------------

    def _set_stimulus(self, stimulus: np.ndarray | None) -> None:
        n = self.system.num_neurons
        rows = 0 if stimulus is None else stimulus.shape[0]
        padded = np.zeros((_rows_bucket(rows), n))
        if stimulus is not None:
            padded[:rows] = stimulus
        self._namespace["livn_stimulus"] = b2.TimedArray(padded * nA, dt=1 * ms, name="livn_stimulus")

    def run(self, duration: float, stimulus: np.ndarray | None) -> RunResult:
        """Advance the network by `duration` ms; `stimulus` is `[T, n]` nA at 1 ms per row, or None."""
        if not self._stored:
            # Only reached at t = 0 (Env allows recording changes only there).
            self.network.store("initial")
            self._stored = True
        t0 = self.t
        self._set_stimulus(stimulus)
        self.neurons.stimulus_onset = t0 * ms
        device = b2.get_device()
        outer = device.get_random_state()
        device.set_random_state(self._random_state)
        try:
            self.network.run(duration * ms, namespace=self._namespace, report=None)
        finally:
            self._random_state = device.get_random_state()
            device.set_random_state(outer)
        return self._collect(t0)

    def _collect(self, t0: float) -> RunResult:
        it = t = iv = v = None
        if self.spike_monitor is not None:
            mon = self.spike_monitor
            it = np.asarray(mon.i[:], dtype=np.int64).copy()
            t = np.round(np.asarray(mon.t[:] / ms) - t0, 6)
            mon.resize(0)
            mon.variables["N"].set_value(0)
        if self.voltage_monitor is not None:
            mon = self.voltage_monitor
            iv = np.asarray(mon.record, dtype=np.int64).copy()
            v = np.asarray(mon.v[:] / mV).copy()
            mon.resize(0)
        return RunResult(it, t, iv, v)

    def clear(self) -> None:
        """Back to t = 0: initial state, no pending spikes, the seed's random stream."""
        if self._stored:
            self.network.restore("initial")
        self._random_state = self._initial_random_state
        self.set_weights(dict(self._weights))
        self.set_noise(*self._noise)
