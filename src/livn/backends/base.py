"""The backend contract: what every simulator translation of the culture model provides.

A backend is built from a `livn.models.LoweredNetwork` (the network lowered
once, see `livn.models.lowering`) and translates it into one simulator. It
trusts its arguments: `livn.env.Env` checks them before calling it. What every
backend must do is below (abstract methods); what only some can do is declared
as capabilities, and `Env` and the layers above it look at those, never at the
backend's name. `tests/conformance.py` is the executable form of this contract:
a new backend passes by subclassing its test class.

Capabilities (class attribute `capabilities`):

| capability | what the backend then accepts |
| --- | --- |
| `batch` | `run(duration, stimulus [B, T, n])`: B independent trials in one call |
| `noise_keys` | `run(..., key=...)` and the `run_key` attribute: noise drawn from a JAX key |
| `unroll` | `run(..., unroll="mask")`: dense, differentiable output, also inside jit/grad |
| `copies` | `initial_states`, `run_copies`, `select_copies`: B copies of the culture, each with its own state |
| `mpi` | cells spread over MPI ranks; every method is collective (SPMD) |
| `checkpoint` | `get_state` / `set_state`: the whole dynamic state, for `Env.save_state` |
| `plasticity` | `synapse_weights` / `set_synapse_weights` per synapse, and `set_plasticity`: the rules of `livn.models.plasticity` change weights during runs |
| `compiled` | a compiled program for long one-shot windows from t = 0, spikes only (brian2: `livn.backends.brian2_compiled.CompiledCulture`) |

Backend options (`Env(..., backend_options={...})`) are keyword arguments of
the constructor; `options` names and describes the ones a backend takes.

Stimulus rows: `run(duration, stimulus, stimulus_step=...)` takes `[T, n]` injected current
(nA) with rows of `stimulus_step` ms: `STIMULUS_STEP` (1 ms, the default) or any positive
multiple of the integration step that divides 1 ms (0.1 ms for pulses on the integration
grid). Row k is applied during [k, k + 1) * stimulus_step ms of the window.

Synaptic currents (every backend): `record_synaptic_currents(gids, dt)` records, from the
next run on, each neuron's AMPA and GABA_A currents (nA, positive depolarising)

    I_AMPA = 1e-3 g_AMPA (E_AMPA - v),   I_GABA = 1e-3 g_GABA (E_GABA - v)

sampled like the voltage (every dt ms on the grid of multiples of dt since t = 0, sample 0
the state the window starts from); `synaptic_currents()` returns the last run's. They feed
the local field potential of `livn.io.extracellular`.

Units: time ms, injected current nA, voltage mV, conductance nS.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from livn.models.lowering import LoweredNetwork
from livn.models.plasticity import PlasticSynapses
from livn.types import RunResult, SynapticCurrents

BATCH = "batch"
NOISE_KEYS = "noise_keys"
UNROLL = "unroll"
COPIES = "copies"
MPI = "mpi"
CHECKPOINT = "checkpoint"
PLASTICITY = "plasticity"
COMPILED = "compiled"

#: Every capability a backend may declare, with what it means.
CAPABILITIES = {
    BATCH: "run() takes a batch of stimuli [B, T, n] and simulates B independent trials",
    NOISE_KEYS: "run(key=...) draws the background noise from a JAX random key",
    UNROLL: "run(unroll='mask') returns dense, differentiable arrays",
    COPIES: "copy_states/run_copies/select_copies step B copies of the culture, each with its own state",
    MPI: "the cells are spread over MPI ranks; every call is collective",
    CHECKPOINT: "save_state/load_state write and restore the whole dynamic state",
    PLASTICITY: "synaptic weights are read and set per synapse, and STDP rules change them during runs",
    COMPILED: "a compiled, cached program runs long one-shot windows from t = 0 (spikes only; `livn run --compiled`)",
}

#: Time covered by one row of a stimulus array, ms.
STIMULUS_STEP = 1.0


class Backend(abc.ABC):
    """A culture network translated into one simulator.

    **Arguments**

    - `network`: the `LoweredNetwork` to translate.
    - `**options`: backend options, as listed in the class's `options`.

    Subclasses set `name`, `simulator_module` (the Python module that must be installed),
    `extra` (the pip extra that installs it) and `capabilities`, and implement the
    abstract methods. A backend starts with every weight and the noise at zero, at t = 0,
    recording nothing.
    """

    #: Name users select it by (`LIVN_BACKEND`, `Env(backend=...)`).
    name: ClassVar[str]
    #: Top-level module of the simulator, e.g. "brian2".
    simulator_module: ClassVar[str]
    #: The pip extra that installs the simulator (`pip install 'livn[extra]'`), or None.
    extra: ClassVar[str | None] = None
    #: What this backend can do beyond the contract (see `CAPABILITIES`).
    capabilities: ClassVar[frozenset] = frozenset()
    #: Backend options it accepts: option name -> description.
    options: ClassVar[dict] = {}

    def __init__(self, network: LoweredNetwork, **options):
        self.lowered = network
        self.dt = network.dt
        self.num_neurons = network.num_neurons
        #: Gids whose spikes are recorded (None: spikes not recorded).
        self.spike_gids: np.ndarray | None = None

    # -- state and parameters -------------------------------------------------------------

    @property
    @abc.abstractmethod
    def t(self) -> float:
        """Simulated time since t = 0 (start or last `clear`), ms."""

    @abc.abstractmethod
    def set_weights(self, weights: dict) -> None:
        """Set the weight (peak conductance, nS) of every synapse of each named projection.

        `weights` maps projection names of `lowered.projections` to nS; other names are ignored.
        """

    @abc.abstractmethod
    def set_noise(self, mean: float, std: float) -> None:
        """Set the background current's mean and standard deviation (nA); at t = 0 it starts at the mean."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Back to t = 0: initial state, no spikes in flight, the seed's noise. Settings are kept."""

    # -- recording --------------------------------------------------------------------------

    def record_spikes(self, gids: np.ndarray) -> None:
        """Record the spikes of `gids` (sorted int64) from now on."""
        self.spike_gids = np.asarray(gids, dtype=np.int64)

    @abc.abstractmethod
    def record_voltage(self, gids: np.ndarray, dt: float) -> None:
        """Record the membrane potential (mV) of `gids` every `dt` ms (a multiple of the step)."""

    @abc.abstractmethod
    def record_synaptic_currents(self, gids: np.ndarray | None, dt: float) -> None:
        """From the next run on, record the AMPA and GABA_A currents (nA) of `gids` (sorted int64) every
        `dt` ms (a multiple of the step); `gids` None stops recording them."""

    @abc.abstractmethod
    def synaptic_currents(self) -> SynapticCurrents | None:
        """The synaptic currents the last `run` recorded (None when not recording them).

        Under `mpi`, rank 0 gets every recorded gid's rows; the other ranks may get None.
        """

    # -- running ------------------------------------------------------------------------------

    @abc.abstractmethod
    def run(self, duration: float, stimulus=None, stimulus_step: float = STIMULUS_STEP, **extra) -> RunResult:
        """Advance by `duration` ms.

        `stimulus` is None or `[T, n]` injected current in nA, row k applied during
        [k, k + 1) * `stimulus_step` ms of this window (see the module docstring for the
        accepted steps). `extra` holds the arguments of the declared capabilities (`key`,
        `unroll`). Returns a `RunResult` whose spike times and voltage samples are relative
        to the window's start (ms).
        """

    def stream(self, duration: float, period: float, schedule: np.ndarray, on_window) -> None:
        """Simulate `duration` ms in windows of `period` ms, calling `on_window(index, RunResult)` after each.

        `schedule` is `[rows, n]` injected current (nA), one row per `STIMULUS_STEP` ms from the
        stream's start. `on_window` may change rows that lie after the window just simulated
        and returns the half-open range `(first, stop)` of rows it changed, or None. This
        generic version calls `run` once per window; a backend whose `run` has a large fixed
        cost (brian2) streams inside one simulator run instead.
        """
        rows = int(round(period / STIMULUS_STEP))
        for index in range(int(round(duration / period))):
            result = self.run(period, schedule[index * rows : (index + 1) * rows])
            on_window(index, result)

    def abandon_run(self, error: BaseException) -> None:
        """This process will not run because `error` rejected its arguments.

        Collective backends (`mpi`) tell the other ranks, so that they raise too instead
        of waiting; the others have nothing to do.
        """

    # -- plasticity (capability `plasticity`) ------------------------------------------------------
    #
    # Semantics, identical on every backend (`livn.models.plasticity` has the equations). In
    # integration step k (t_k = k dt):
    #   1. the membrane, conductance and noise equations advance one step; 2. threshold: the
    #   neurons with v >= v_peak spike "in step k";
    #   3. arrivals of step k (spikes whose axonal delay ends in step k), synapse by synapse:
    #      the conductance increment uses w before this arrival's update (w x for AMPA, w for
    #      GABA_A); then a_pre <- a_pre exp(-(k - k_pre) dt / tau_pre) + 1 and, with a_post decayed
    #      to step k (without this step's postsynaptic spike),
    #      w <- clip(w + pre_offset + (pre_w w + pre_c) a_post, 0, w_max);
    #   4. postsynaptic spikes of step k, for every plastic synapse onto a neuron that spiked:
    #      a_post <- a_post exp(-(k - k_post) dt / tau_post) + 1 and, with a_pre decayed to step k
    #      (this step's arrivals included), w <- clip(w + (post_w w + post_c) a_pre, 0, w_max);
    #   5. reset of the neurons that spiked.
    # Only synapses with `plastic` True change. Traces start at 0 when rules are set and after
    # `clear`; `clear` keeps the weights (learned weights are not undone). With the capability,
    # `get_state` includes every synapse's weight and traces.

    def synapse_weights(self) -> np.ndarray:
        """Every synapse's weight, nS: float64 `[num_edges]` in the lowered network's edge order.

        Collective under `mpi`; every rank gets the whole array.
        """
        raise NotImplementedError(f"the {self.name!r} backend does not declare the 'plasticity' capability")

    def set_synapse_weights(self, weights: np.ndarray) -> None:
        """Set every synapse's weight (nS) from float64 `[num_edges]` in edge order (every rank passes all)."""
        raise NotImplementedError(f"the {self.name!r} backend does not declare the 'plasticity' capability")

    def set_plasticity(self, synapses: PlasticSynapses | None) -> None:
        """Turn the lowered rules on (`synapses`; traces start at 0) or off (None; weights stay as they are)."""
        raise NotImplementedError(f"the {self.name!r} backend does not declare the 'plasticity' capability")

    # -- checkpoints (capability `checkpoint`) ---------------------------------------------------

    def get_state(self):
        """The whole dynamic state as a tree of dicts, lists and numpy arrays (collective under `mpi`).

        Under MPI rank 0 gets the whole network's state; other ranks may get None.
        """
        raise NotImplementedError(f"the {self.name!r} backend does not declare the 'checkpoint' capability")

    def check_state(self, state) -> None:
        """Raise `livn.checkpoint.CheckpointError` if `set_state(state)` would refuse `state`; changes nothing.

        Called before anything of the Env is reset, so a refused checkpoint leaves it as it was.
        """

    def set_state(self, state) -> None:
        """Continue from a state that `get_state` of an identical network returned."""
        raise NotImplementedError(f"the {self.name!r} backend does not declare the 'checkpoint' capability")

    @property
    def is_root(self) -> bool:
        """True on the process that writes files (rank 0 under MPI; always True otherwise)."""
        return True

    def barrier(self) -> None:
        """Wait for every rank (collective backends); a no-op otherwise."""

    # -- shared translation helpers ------------------------------------------------------------------

    def spike_result(self, gids, steps, start_step: int) -> tuple:
        """Spikes as `RunResult` fields: `(it, t)` sorted by time then gid, only recorded gids.

        `gids` and `steps` are the neuron and the integration step (since t = 0) of each spike;
        a spike detected in step k is stamped with the step's start time, k dt. Times are ms
        from the window that began at `start_step`, rounded to 1e-6 ms.
        """
        if self.spike_gids is None:
            return None, None
        gids = np.asarray(gids, dtype=np.int64)
        steps = np.asarray(steps, dtype=np.int64)
        if len(self.spike_gids) != self.num_neurons:
            keep = np.isin(gids, self.spike_gids)
            gids, steps = gids[keep], steps[keep]
        order = np.lexsort((gids, steps))
        return gids[order], np.round((steps[order] - start_step) * self.dt, 6)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.lowered.system_name!r}, {self.num_neurons} neurons, t={self.t} ms)"
