"""brian2 translation of the lowered culture network (`livn.models.lowering`).

The network is built once per `Brian2Backend`; every `run` continues it. Brian2
objects live in a private `Network` with their own clock and random state, so
several backends in one process do not disturb each other or numpy's global
random generator. brian2 is imported, and its preferences set, when the first
backend is built (`LIVN_BRIAN2_TARGET` chooses cython or numpy code generation).
The backend trusts its arguments: `livn.env.Env` validates them.

The network is built by `culture_namespace`, `build_neurons`, `build_synapses` and
`stimulus_table`, which the compiled path (`livn.backends.brian2_compiled`, brian2's
cpp_standalone device) builds it with too: the equations, the clock and the synapses are
defined here only.

Stimulus rows of `stimulus_step` ms become a TimedArray of that dt, read at every step.
Synaptic currents are recorded, only while asked for, by a StateMonitor of v and the two
conductances on the voltage's sampling grid; the currents 1e-3 g (E - v) (nA) are computed
from it after each run.
"""

from __future__ import annotations

import functools

import numpy as np

from livn import settings
from livn.backends.base import CHECKPOINT, COMPILED, PLASTICITY, STIMULUS_STEP, Backend
from livn.errors import CheckpointError, UnknownNameError
from livn.types import RunResult, SynapticCurrents

#: brian2 code generation targets livn accepts through LIVN_BRIAN2_TARGET ("numpy" needs no compiler).
CODE_TARGETS = ("cython", "numpy")

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

#: Synaptic weights are held as plain numbers of nS (`w_unit` = 1 nS), so that weights set from
#: Python and read back are exactly the numbers given.
DEPRESSING_SYNAPSE = """
w : 1 (constant)
dx/dt = (1 - x)/tau_rec : 1 (event-driven)
"""

#: What a synapse adds for long-term plasticity (`livn.models.plasticity`): event-driven traces
#: and the per-synapse coefficients of the update equations (zero where a synapse is not plastic).
PLASTIC_VARIABLES = """
dapre/dt = -apre/tau_apre : 1 (event-driven)
dapost/dt = -apost/tau_apost : 1 (event-driven)
tau_apre : second (constant)
tau_apost : second (constant)
w_max : 1 (constant)
pre_offset : 1 (constant)
pre_w : 1 (constant)
pre_c : 1 (constant)
post_w : 1 (constant)
post_c : 1 (constant)
plastic : 1 (constant)
"""
#: Weight updates (plastic = 0 leaves w exactly as it is). On a presynaptic arrival the conductance
#: uses w before the update; brian2 runs every on_pre pathway before every on_post one in a step.
ON_PRE_PLASTIC = "apre += 1\nw = w + plastic*(clip(w + pre_offset + (pre_w*w + pre_c)*apost, 0*w_max, w_max) - w)"
ON_POST_PLASTIC = "apost += 1\nw = w + plastic*(clip(w + (post_w*w + post_c)*apre, 0*w_max, w_max) - w)"
#: `PlasticSynapses` coefficient -> (brian2 variable, unit name or None).
PLASTIC_COEFFICIENTS = {
    "tau_pre": ("tau_apre", "ms"), "tau_post": ("tau_apost", "ms"), "w_max": ("w_max", None),
    "pre_offset": ("pre_offset", None), "pre_w": ("pre_w", None), "pre_c": ("pre_c", None),
    "post_w": ("post_w", None), "post_c": ("post_c", None),
}

b2 = None  # brian2, imported by _brian2() when the first backend is built

#: brian2's Cython code draws random numbers from buffers it mallocs (see its cython_generator);
#: a device random state holds their addresses, so checkpoints hold their contents instead.
RANDOM_BUFFERS = ("rand", "randn")


def _brian2():
    """Import brian2 and set livn's preferences (once, when a backend is built)."""
    global b2
    if b2 is None:
        target = settings.brian2_target()
        if target not in CODE_TARGETS:
            raise UnknownNameError(
                f"{settings.BRIAN2_TARGET}={target!r} is not a brian2 target livn supports; use one of {CODE_TARGETS}"
            )
        import brian2

        brian2.prefs.logging.file_log = False
        brian2.prefs.logging.std_redirection = False
        # An Env built and dropped without running is normal here; brian2 would warn about its objects.
        brian2.BrianLogger.suppress_name("unused_brian_object")
        b2 = brian2
    b2.prefs.codegen.target = settings.brian2_target()
    return b2


def _rows_bucket(rows: int) -> int:
    """Stimulus rows padded to a power of two, so brian2 compiles few TimedArray variants."""
    return 1 << max(4, int(rows).bit_length())


# -- the network, built the same way for the runtime backend and the compiled path -------------------


def culture_namespace(model) -> dict:
    """The model's constants as brian2 quantities, under the names the equations use (no stimulus yet)."""
    ms, mV = b2.ms, b2.mV
    receptors = model.receptors
    return {
        "C_m": model.membrane_capacitance * b2.nF,
        "E_ampa": receptors["AMPA"].reversal_potential * mV,
        "E_gaba": receptors["GABA_A"].reversal_potential * mV,
        "tau_ampa": receptors["AMPA"].time_constant * ms,
        "tau_gaba": receptors["GABA_A"].time_constant * ms,
        "tau_noise": model.noise_time_constant * ms,
        "tau_rec": model.depression_recovery * ms,
        "U_dep": model.depression_fraction,
        "v_peak": model.v_peak * mV,
        "w_unit": 1.0 * b2.nS,
    }


def build_neurons(network, clock):
    """The culture's `NeuronGroup` ("livn_neurons") on `clock`, at the lowered network's initial state."""
    mV = b2.mV
    neurons = b2.NeuronGroup(
        network.num_neurons, NEURON_EQUATIONS, threshold="v >= v_peak", reset="v = c; u += d", method="euler",
        clock=clock, name="livn_neurons",
    )
    neurons.a = network.a
    neurons.b = network.b
    neurons.c = network.c * mV
    neurons.d = network.d * mV
    neurons.v = network.v_init * mV
    neurons.u = network.u_init * mV
    return neurons


def build_synapses(network, neurons, clock, name: str, plastic: bool = False):
    """The brian2 `Synapses` of projection `name` ("livn_<name>"): depressing AMPA or plain GABA_A, plastic
    or not, weights 0 nS."""
    edges = network.edges_of(name)
    excitatory = network.receptor_of(name) == "AMPA"
    model = DEPRESSING_SYNAPSE if excitatory else "w : 1 (constant)\n"
    on_pre = "g_ampa_post += w*x*w_unit\nx = x*(1 - U_dep)" if excitatory else "g_gaba_post += w*w_unit"
    extra = {}
    if plastic:
        model = model.replace("w : 1 (constant)", "w : 1") + PLASTIC_VARIABLES
        on_pre += "\n" + ON_PRE_PLASTIC
        extra["on_post"] = ON_POST_PLASTIC
    syn = b2.Synapses(neurons, neurons, model, on_pre=on_pre, method="exact", clock=clock, name=f"livn_{name}", **extra)
    syn.connect(i=network.pre[edges], j=network.post[edges])
    # whole steps: brian2's queue rounds delay / dt to the nearest step, which is then exact
    syn.delay = network.delay_steps[edges] * network.dt * b2.ms
    if excitatory:
        syn.x = 1.0
    if plastic:
        syn.tau_apre = syn.tau_apost = 1 * b2.ms  # placeholders until rules are set
    return syn


def monitor_timing(clock, step: float, dt: float) -> dict:
    """StateMonitor timing for samples every `dt` ms on the grid of multiples of dt since t = 0: the
    network's `clock` (integration step `step` ms) when dt is the step, else a clock of its own."""
    return {"clock": clock} if abs(dt - step) < 1e-12 else {"dt": dt * b2.ms}


def stimulus_table(stimulus: np.ndarray | None, num_neurons: int, step: float = STIMULUS_STEP, rows: int | None = None):
    """The TimedArray "livn_stimulus" the neurons read at every step: `stimulus` ([T, n] nA, rows of `step`
    ms) padded with zero rows to `rows` (default: T's power-of-two bucket, `_rows_bucket`), so that the
    current is zero after the stimulus ends (a TimedArray holds its last row)."""
    count = 0 if stimulus is None else stimulus.shape[0]
    padded = np.zeros((_rows_bucket(count) if rows is None else rows, num_neurons))
    if stimulus is not None:
        padded[:count] = stimulus
    return b2.TimedArray(padded * b2.nA, dt=step * b2.ms, name="livn_stimulus")


class Brian2Backend(Backend):
    """The culture network in brian2 (runtime mode, Cython code generation by default)."""

    name = "brian2"
    simulator_module = "brian2"
    extra = None
    capabilities = frozenset({CHECKPOINT, PLASTICITY, COMPILED})

    def __init__(self, network, **options):
        super().__init__(network, **options)
        _brian2()
        self._namespace = culture_namespace(network.model)
        self._set_stimulus(None)
        # One clock for every object: brian2's loop is markedly slower with several clocks.
        self.clock = b2.Clock(dt=self.dt * b2.ms, name="livn_clock*")
        self.neurons = build_neurons(network, self.clock)
        self.synapses = {name: self._make_synapses(name, plastic=False) for name in network.projections}
        #: True once the synapses carry plasticity's traces and pathways (built on the first `set_plasticity`).
        self._plastic_structure = False
        self._plasticity = None  # the PlasticSynapses in force, or None
        self.b2_network = b2.Network(self.neurons, *self.synapses.values(), name="livn_network")
        self.spike_monitor = None
        self.voltage_monitor = None
        #: StateMonitor of v, g_ampa and g_gaba for the synaptic currents (None: not recording them).
        self.currents_monitor = None
        self._last_currents = None  # SynapticCurrents of the last run
        self._stored = False
        self._noise = (0.0, 0.0)

        # Private random stream: seeded once, saved and swapped in around every run.
        device = b2.get_device()
        outer = device.get_random_state()
        device.seed(network.seed)
        state = device.get_random_state()
        # The state holds raw pointers to brian2's buffers of pre-drawn random numbers; right after
        # seeding they are still the caller's. Zero them so that this network allocates its own
        # buffers instead of refilling (and so corrupting) the caller's.
        for key in ("rand_buffer", "randn_buffer", "rand_buffer_index", "randn_buffer_index"):
            state[key] = np.zeros_like(state[key])
        self._initial_random_state = state
        self._random_state = state
        device.set_random_state(outer)

    def _make_synapses(self, name: str, plastic: bool):
        return build_synapses(self.lowered, self.neurons, self.clock, name, plastic)

    # -- parameters ---------------------------------------------------------------

    @property
    def t(self) -> float:
        return float(self.b2_network.t_ * 1e3)

    @property
    def _step(self) -> int:
        return int(round(self.b2_network.t_ * 1e3 / self.dt))

    def set_weights(self, weights: dict) -> None:
        for key, value in weights.items():
            if key in self.synapses:
                self.synapses[key].variables["w"].set_value(float(value))

    def set_noise(self, mean: float, std: float) -> None:
        self.neurons.noise_mean = mean * b2.nA
        self.neurons.noise_std = std * b2.nA
        if self.t == 0:
            self.neurons.I_noise = mean * b2.nA
        self._noise = (mean, std)

    # -- recording ------------------------------------------------------------------

    def record_spikes(self, gids) -> None:
        super().record_spikes(gids)
        if self.spike_monitor is None:
            self.spike_monitor = b2.SpikeMonitor(self.neurons, name="livn_spikes")
            self.b2_network.add(self.spike_monitor)
            self._stored = False

    def _sampling(self, dt: float) -> dict:
        return monitor_timing(self.clock, self.dt, dt)

    def record_voltage(self, gids: np.ndarray, dt: float) -> None:
        if self.voltage_monitor is not None:
            self.b2_network.remove(self.voltage_monitor)
        self.voltage_monitor = b2.StateMonitor(
            self.neurons, "v", record=np.asarray(gids, dtype=int), name="livn_voltage", **self._sampling(dt)
        )
        self.b2_network.add(self.voltage_monitor)
        self._stored = False

    def record_synaptic_currents(self, gids: np.ndarray | None, dt: float) -> None:
        """Record v, g_AMPA and g_GABA of `gids` every `dt` ms (a monitor like the voltage's, added only
        while recording); the currents 1e-3 g (E - v) (nA) are computed from them after each run."""
        if self.currents_monitor is not None:
            self.b2_network.remove(self.currents_monitor)
            self.currents_monitor = None
        self._last_currents = None
        if gids is not None:
            self.currents_monitor = b2.StateMonitor(
                self.neurons, ("v", "g_ampa", "g_gaba"), record=np.asarray(gids, dtype=int),
                name="livn_synaptic_currents", **self._sampling(dt),
            )
            self._currents_dt = float(dt)
            self.b2_network.add(self.currents_monitor)
        self._stored = False

    def synaptic_currents(self) -> SynapticCurrents | None:
        return self._last_currents

    # -- running --------------------------------------------------------------------

    def _set_stimulus(self, stimulus: np.ndarray | None, step: float = STIMULUS_STEP) -> None:
        """Put `stimulus` ([T, n] nA, rows of `step` ms) in the TimedArray the neurons read at every step."""
        self._namespace["livn_stimulus"] = stimulus_table(stimulus, self.num_neurons, step)

    def _store_initial(self) -> None:
        if not self._stored:
            # Only reached at t = 0 (Env allows recording changes only there, and loads states after it).
            self.b2_network.store("initial")
            self._stored = True

    def run(self, duration: float, stimulus=None, stimulus_step: float = STIMULUS_STEP, **extra) -> RunResult:
        self._store_initial()
        start = self._step
        self._set_stimulus(stimulus, stimulus_step)
        self.neurons.stimulus_onset = start * self.dt * b2.ms
        device = b2.get_device()
        outer = device.get_random_state()
        device.set_random_state(self._random_state)
        try:
            self.b2_network.run(duration * b2.ms, namespace=self._namespace, report=None)
        finally:
            self._random_state = device.get_random_state()
            device.set_random_state(outer)
        result = self._collect(start)
        self._last_currents = self._collect_currents()
        return result

    def stream(self, duration: float, period: float, schedule: np.ndarray, on_window) -> None:
        """Stream inside one brian2 run: an operation at every window boundary hands the window over.

        brian2's per-`run()` set-up (tens of ms on S2) is paid once per stream, not once per
        window. The operation runs at the start of the first step of each window, so it sees
        every spike of the window before; the rows it changes are written into the stimulus
        array in place, which brian2 reads at every step.
        """
        self._store_initial()
        start = self._step
        steps = int(round(period / self.dt))
        windows = int(round(duration / period))
        self._set_stimulus(schedule)
        values = self._namespace["livn_stimulus"].values  # [padded rows, n] in A, read by brian2 every step
        self.neurons.stimulus_onset = start * self.dt * b2.ms
        seen = {"index": 0, "spikes": 0, "samples": 0, "current_samples": 0}

        def hand_over() -> None:
            index = seen["index"]
            changed = on_window(index, self._window(start + index * steps, seen))
            if changed is not None:
                first, stop = changed
                values[first:stop] = schedule[first:stop] * 1e-9
            seen["index"] = index + 1

        timestep = self.clock.variables["timestep"].get_value()  # brian2's own array, updated in place

        def at_step_start() -> None:
            step = int(timestep[0])
            if step > start and (step - start) % steps == 0:
                hand_over()

        operation = b2.NetworkOperation(at_step_start, when="start", clock=self.clock, name="livn_stream")
        self.b2_network.add(operation)
        device = b2.get_device()
        outer = device.get_random_state()
        device.set_random_state(self._random_state)
        try:
            self.b2_network.run(windows * period * b2.ms, namespace=self._namespace, report=None)
            hand_over()  # the last window
        finally:
            self._random_state = device.get_random_state()
            device.set_random_state(outer)
            self.b2_network.remove(operation)
            self._collect(start)  # empties the monitors, also when a window's hand-over raised
            if self.currents_monitor is not None:
                self.currents_monitor.resize(0)

    def _window(self, start: int, seen: dict) -> RunResult:
        """What the monitors recorded since the last window, as a `RunResult` from step `start`."""
        it = t = iv = v = None
        if self.spike_monitor is not None:
            variables = self.spike_monitor.variables
            count = int(variables["N"].get_value()[0])
            gids = variables["i"].get_value()[seen["spikes"] : count]
            steps = np.rint(variables["t"].get_value()[seen["spikes"] : count] * 1e3 / self.dt)
            it, t = self.spike_result(gids, steps, start)
            seen["spikes"] = count
        if self.voltage_monitor is not None:
            mon = self.voltage_monitor
            samples = int(mon.variables["N"].get_value()[0])
            iv = np.asarray(mon.record, dtype=np.int64).copy()
            v = (mon.variables["v"].get_value()[seen["samples"] : samples] * 1e3).T.copy()
            seen["samples"] = samples
        if self.currents_monitor is not None:  # what synaptic_currents() gives during the hand-over
            first = seen["current_samples"]
            seen["current_samples"] = int(self.currents_monitor.variables["N"].get_value()[0])
            self._last_currents = self._collect_currents(slice(first, seen["current_samples"]), empty=False)
        return RunResult(it, t, iv, v)

    def _collect(self, start: int) -> RunResult:
        it = t = iv = v = None
        if self.spike_monitor is not None:
            mon = self.spike_monitor
            steps = np.rint(np.asarray(mon.t_[:]) * 1e3 / self.dt)
            it, t = self.spike_result(np.asarray(mon.i[:]), steps, start)
            mon.resize(0)
            mon.variables["N"].set_value(0)
        if self.voltage_monitor is not None:
            mon = self.voltage_monitor
            iv = np.asarray(mon.record, dtype=np.int64).copy()
            v = np.asarray(mon.v_[:] * 1e3).copy()
            mon.resize(0)
        return RunResult(it, t, iv, v)

    def _collect_currents(self, samples: slice = slice(None), empty: bool = True) -> SynapticCurrents | None:
        """The recorded `samples` as `SynapticCurrents` (nA): 1e-3 g (E - v) with g in nS and v in mV."""
        mon = self.currents_monitor
        if mon is None:
            return None
        values = {name: mon.variables[name].get_value()[samples].T.copy() for name in ("v", "g_ampa", "g_gaba")}
        if empty:
            mon.resize(0)
        v = values["v"] * 1e3  # mV
        receptors = self.lowered.model.receptors
        e_ampa, e_gaba = (receptors[name].reversal_potential for name in ("AMPA", "GABA_A"))  # mV
        return SynapticCurrents(
            np.asarray(mon.record, dtype=np.int64).copy(), self._currents_dt,
            1e-3 * (values["g_ampa"] * 1e9) * (e_ampa - v), 1e-3 * (values["g_gaba"] * 1e9) * (e_gaba - v),
        )

    def clear(self) -> None:
        weights = self.synapse_weights()
        if self._stored:
            self.b2_network.restore("initial")
        self._random_state = self._initial_random_state
        self.set_synapse_weights(weights)  # learned weights stay
        self.set_noise(*self._noise)
        if self._plastic_structure:
            self._apply_plasticity()

    # -- plasticity -------------------------------------------------------------------

    def synapse_weights(self) -> np.ndarray:
        weights = np.zeros(self.lowered.num_edges)
        for name, syn in self.synapses.items():
            weights[self.lowered.edges_of(name)] = syn.variables["w"].get_value()
        return weights

    def set_synapse_weights(self, weights: np.ndarray) -> None:
        for name, syn in self.synapses.items():
            syn.variables["w"].set_value(np.asarray(weights[self.lowered.edges_of(name)], dtype=float))

    def set_plasticity(self, synapses) -> None:
        if synapses is not None and not self._plastic_structure:
            self._rebuild_plastic()
        self._plasticity = synapses
        if self._plastic_structure:
            self._apply_plasticity()

    def _apply_plasticity(self) -> None:
        """Write the rules' coefficients (zeros when off) into the synapses and zero the traces."""
        rules = self._plasticity
        for name, syn in self.synapses.items():
            edges = self.lowered.edges_of(name)
            for key, (variable, unit) in PLASTIC_COEFFICIENTS.items():
                values = getattr(rules, key)[edges] if rules is not None else np.ones(edges.stop - edges.start)
                scale = 1e-3 if unit == "ms" else 1.0
                syn.variables[variable].set_value(np.asarray(values, dtype=float) * scale)
            plastic = rules.plastic[edges] if rules is not None else np.zeros(edges.stop - edges.start, bool)
            syn.variables["plastic"].set_value(plastic.astype(float))
            syn.variables["apre"].set_value(0.0)
            syn.variables["apost"].set_value(0.0)

    def _rebuild_plastic(self) -> None:
        """Replace the synapses by plastic ones, keeping their state, spikes in flight and the t = 0 snapshot.

        Plastic synapses cost brian2 50-80 % more CPU per run even with no rule in force (traces
        and a postsynaptic pathway; `benchmarks/plasticity_cost.py`, "off" against "off plain" on
        S2 and S3), so they are built only when plasticity is first turned on.
        """
        old = self.synapses
        snapshot = self.b2_network._stored_state.get("initial") if self._stored else None
        now = {name: (syn._full_state(), syn.pre._full_state()) for name, syn in old.items()}
        for syn in old.values():
            self.b2_network.remove(syn)
        new = {}
        for name in old:  # the new objects take the old ones' names
            new[name] = self._make_synapses(name, plastic=True)
        self.synapses = new
        self._plastic_structure = True
        self.b2_network.add(*new.values())
        for name, syn in new.items():
            if snapshot is not None:  # the t = 0 state of the new objects, for clear()
                syn._restore_from_full_state(_present(snapshot[syn.name], syn))
                syn.pre._restore_from_full_state(snapshot[syn.pre.name])
                snapshot[syn.name] = syn._full_state()
                snapshot[syn.pre.name] = syn.pre._full_state()
                snapshot[syn.post.name] = syn.post._full_state()
            state, queue = now[name]
            syn._restore_from_full_state(_present(state, syn))
            syn.pre._restore_from_full_state(queue)

    # -- checkpoints ------------------------------------------------------------------

    def _culture_objects(self) -> dict:
        """The brian2 objects that hold the culture's state (not the monitors), by role."""
        objects = {"clock": self.clock, "neurons": self.neurons}
        for name, syn in self.synapses.items():
            objects[f"synapses {name}"] = syn
            objects[f"pathway {name}"] = syn.pre  # holds the spikes in flight
            if self._plastic_structure:
                objects[f"postsynaptic pathway {name}"] = syn.post
        return objects

    def get_state(self) -> dict:
        """Neuron and synapse variables (weights and plasticity traces included), spikes in flight
        (brian2's queues), the random stream, the step."""
        self.clock._set_t_update_dt(target_t=self.b2_network.t)
        return {
            "step": self._step,
            "plastic": self._plastic_structure,
            "objects": {role: obj._full_state() for role, obj in self._culture_objects().items()},
            "random": _portable_random_state(self._random_state),
        }

    def check_state(self, state) -> None:
        objects = state.get("objects") if isinstance(state, dict) else None
        roles = set(self._culture_objects())
        if isinstance(state, dict) and state.get("plastic") and not self._plastic_structure:
            roles |= {f"postsynaptic pathway {name}" for name in self.synapses}  # set_state builds them
        if not isinstance(objects, dict) or set(objects) != roles or not {"step", "random"} <= set(state):
            raise CheckpointError("the brian2 state does not fit this network (other neurons, synapses or layout)")

    def set_state(self, state: dict) -> None:
        self._store_initial()
        if state.get("plastic") and not self._plastic_structure:
            self._rebuild_plastic()
            self._apply_plasticity()
        for role, obj in self._culture_objects().items():
            obj._restore_from_full_state(state["objects"][role])
        self.b2_network.t_ = state["step"] * self.dt * 1e-3
        _free_random_buffers(self._random_state)
        self._random_state = _device_random_state(state["random"])


def _present(state: dict, group) -> dict:
    """The entries of a brian2 full state that `group` has (a plain synapse's state into a plastic one)."""
    return {key: value for key, value in state.items() if key in group.variables}


# -- random buffers in checkpoints -------------------------------------------------------------------


def _buffer_size() -> int:
    from brian2.codegen.generators.cython_generator import _BUFFER_SIZE

    return _BUFFER_SIZE


@functools.lru_cache(maxsize=1)
def _libc():
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def _portable_random_state(state: dict) -> dict:
    """A device random state with the contents of brian2's random buffers instead of their addresses."""
    import ctypes

    portable = {"numpy_state": state["numpy_state"]}
    for name in RANDOM_BUFFERS:
        address = int(np.asarray(state[f"{name}_buffer"]).ravel()[0])
        index = int(np.asarray(state[f"{name}_buffer_index"]).ravel()[0])
        values = np.zeros(0)
        if address and index:  # index 0: the next draw refills the buffer anyway
            values = np.ctypeslib.as_array((ctypes.c_double * _buffer_size()).from_address(address)).copy()
        portable[f"{name}_index"] = index if values.size else 0
        portable[f"{name}_values"] = values
    return portable


def _device_random_state(portable: dict) -> dict:
    """The device random state for `portable`: buffers malloc'ed anew (brian2 frees them when it refills)."""
    import ctypes

    state = {"numpy_state": portable["numpy_state"]}
    for name in RANDOM_BUFFERS:
        values = np.ascontiguousarray(portable[f"{name}_values"], dtype=np.float64)
        address = 0
        if values.size:
            address = _libc().malloc(values.nbytes)
            ctypes.memmove(address, values.ctypes.data, values.nbytes)
        state[f"{name}_buffer"] = np.array([address], dtype=np.intp)
        state[f"{name}_buffer_index"] = np.array([portable[f"{name}_index"] if address else 0], dtype=np.int32)
    return state


def _free_random_buffers(state: dict) -> None:
    """Free the buffers of a device random state this backend alone holds (before replacing it)."""
    libc = None
    for name in RANDOM_BUFFERS:
        address = int(np.asarray(state[f"{name}_buffer"]).ravel()[0])
        if address:
            libc = libc or _libc()
            libc.free(address)
