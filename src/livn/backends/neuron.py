"""NEURON translation of the lowered culture network, parallel across MPI ranks.

Each neuron is a NEURON point process, `LivnCultureCell`
(`neuron_mechanisms/livn_culture_cell.mod`); all cells of a rank sit in one
section, which only hosts them (its voltage is unused). NEURON has no built-in Izhikevich cell with
conductance synapses, depression and Ornstein-Uhlenbeck noise, so the mechanism
holds the whole neuron and steps it with forward Euler at the model's dt in the
order brian2 uses (conductance arrivals, one Euler step, threshold, reset): a
noise-free run agrees with the brian2 backend spike for spike up to rounding.
The mechanisms are compiled with `nrnivmodl` on first use into a per-version
cache and loaded automatically (see `livn.backends._neuron_build`).

- Integration step k (from t = k dt to (k + 1) dt) runs in the middle of NEURON's
  fixed step, at NEURON time (k + 1/2) dt, where its spikes are sent; a recorded
  spike is stamped with the step's start, k dt, as brian2 stamps it.
- Synapses are NetCons from the presynaptic gid with delay `(D + 1/3) dt` for an
  axonal delay of D = `round(delay / dt)` steps (at least one), so a spike arrives
  at (k + D + 5/6) dt, within the step it belongs to, and every event of a step
  (conductance, depression, plasticity) is handled before the step ends (the .mod
  file explains the timing). Weight vector: w (nS), receptor, x, last arrival,
  then the plasticity fields (`NETCON_FIELDS`). AMPA synapses depress per synapse
  at arrival (Tsodyks-Markram, state in the NetCon), GABA_A synapses do not.
- Long-term plasticity (capability `plasticity`, rules in `livn.models.plasticity`):
  each plastic NetCon keeps its traces and the rule's coefficients in its weight
  vector and is updated at each arrival; a cell that spikes sends itself an event
  that updates every plastic NetCon onto it after the arrivals of that step. Traces
  decay by exp(-(steps elapsed) dt / tau), so a noise-free run learns brian2's
  weights to float tolerance, independently of the number of MPI ranks.
- Background noise: one standard normal per cell and step from the cell's own
  Random123 stream, keyed by (seed, gid).
- Electrode stimulation: the `[T, n]` nA stimulus is injected current, set on
  every cell at each row boundary (rows of `stimulus_step` ms: 1 ms, or down to one
  integration step; the run advances row by row).
- Synaptic currents (`record_synaptic_currents`): while any are recorded, each cell
  computes its AMPA and GABA_A currents of the state at the start of every step
  (mechanism GLOBAL `record_currents`, off otherwise), and Vectors record those of the
  requested gids at every step; they are sampled on the voltage's grid and gathered to
  rank 0 like the voltage.

**MPI.** Under `mpirun` (detected from the launcher's environment, or when
`mpi4py.MPI` is already imported) NEURON is initialised on mpi4py's
`MPI_COMM_WORLD` and gids are dealt round-robin (gid % ranks); a synapse lives
on the rank of its target. Spikes travel between ranks through `ParallelContext`
(exchange every minimum delay). A cell's dynamics depend only on its own
parameters, noise stream and the events it receives, same-step arrivals are
summed exactly (see the .mod file) and each synapse's plasticity only on its own
events, so spikes and weights do not depend on the number of ranks (tested for 1
and 2 ranks). `synapse_weights` gathers every synapse's weight on every rank.
Every rank must call `Env` methods in the same order with the same arguments
(SPMD). `run` returns the whole network's spikes
and voltages on rank 0 and each other rank's local part (its own gids) there.
Arguments are agreed collectively before a run starts: if one rank's arguments
are bad or differ from the others', every rank raises, rank 0 with the rank and
the reason, and nothing hangs.

**Checkpoints** (`Env.save_state` / `load_state`). Each rank saves NEURON's own
`SaveState` (every cell's and synapse's variables, t, the NetCon weight vectors
with the weights, plasticity traces and coefficients, and the event queue: spikes
in flight, received ones included, and the next spike exchange) with what it
lacks: each cell's position in its noise stream, the mechanism's GLOBALs and the
step count; rank 0 gathers the parts into one file. Loading restores each part
after `finitialize` and continues bit for bit as if the run had not stopped. A
checkpoint loads only on as many ranks as saved it (gids are dealt by rank), in
a process whose NEURON numbers the network's NetCons as the saving one did
(NetCons kept alive from an earlier network would shift that: such a load is
refused). Recordings are not part of it.

**One network per process.** NEURON keeps one model per process: building a
second `NeuronBackend` replaces the first, and using the replaced one raises
`NetworkReplacedError`.
"""

from __future__ import annotations

import os
import sys
import time
import zlib

import numpy as np

from livn._mpi import RankFailure, World, is_collective, launched_by_mpi, mark_collective
from livn.backends._neuron_state import NeuronCheckpoints
from livn.backends.base import CHECKPOINT, MPI, PLASTICITY, STIMULUS_STEP, Backend
from livn.errors import LivnError
from livn.models.plasticity import COEFFICIENTS
from livn.types import RunResult, SynapticCurrents

# NEURON itself is imported when the first network is built (MPI must be set up first).
#: Random123 stream id (third key) of the background noise.
NOISE_STREAM = 1
#: Steps added to every NetCon's delay: a spike sent at (k + 1/2) dt arrives at (k + D + 5/6) dt. A third
#: of a step also keeps NEURON's spike exchanges (every (D_min + 1/3) dt) off the middle of a step, where
#: a spike sent just after an exchange would arrive exactly at the next one (see `_build`).
ARRIVAL_OFFSET = 1.0 / 3.0
#: Longest interval between two spike exchanges under MPI, ms (rounded to (whole steps + ARRIVAL_OFFSET) dt).
MAX_EXCHANGE_INTERVAL = 10.0
#: A synapse's NetCon weight vector, as NET_RECEIVE of `LivnCultureCell` names it (see the .mod file).
NETCON_FIELDS = ("weight", "receptor", "x", "last_arrival", "plastic", "a_pre", "a_post", "last_pre", "last_post",
                 *COEFFICIENTS)
#: Field name -> index in the NetCon weight vector.
FIELD = {name: index for index, name in enumerate(NETCON_FIELDS)}
#: Seconds the ranks wait for each other to print an error that all of them raised, before aborting.
EXIT_BARRIER_TIMEOUT = 30.0
#: Seconds between printing an uncaught exception and aborting the MPI job.
ABORT_GRACE = 1.0


class NetworkReplacedError(LivnError, RuntimeError):
    """A NEURON network was used after another one was built in the same process."""


class RankError(RankFailure):
    """An MPI rank failed or disagreed with the others, so no rank ran the simulation."""


# -- NEURON and MPI, once per process ----------------------------------------------------------


class _Runtime:
    """NEURON's `h`, its ParallelContext and (under MPI) mpi4py's COMM_WORLD, started once."""

    def __init__(self):
        comm = None
        if "mpi4py.MPI" in sys.modules or launched_by_mpi():
            library = os.path.join(sys.prefix, "lib", "libmpi.so.12")
            if "MPI_LIB_NRN_PATH" not in os.environ and os.path.exists(library):
                os.environ["MPI_LIB_NRN_PATH"] = library  # the MPICH wheel's; lib/libmpi.so is a stub
            try:
                from mpi4py import MPI
            except ImportError as e:
                raise ImportError(
                    "livn's NEURON backend runs under MPI through mpi4py, which is not installed "
                    "(install it with: pip install 'livn[neuron]')"
                ) from e
            comm = MPI.COMM_WORLD
        os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")
        from neuron import __version__ as neuron_version
        from neuron import h

        if comm is not None and comm.Get_size() > 1:
            h.nrnmpi_init()
        self.h = h
        self.pc = h.ParallelContext()
        self.comm = comm if comm is not None and comm.Get_size() > 1 else None
        self.world = World(self.comm)  # livn's collectives (serial stand-in without MPI)
        self.rank = int(self.pc.id())
        self.size = int(self.pc.nhost())
        expected = 1 if self.comm is None else self.comm.Get_size()
        if self.size != expected:
            raise RankError(
                f"mpi4py sees {expected} ranks but NEURON sees {self.size}: NEURON did not load MPI. "
                f"Set MPI_LIB_NRN_PATH to the MPI library mpi4py uses (now "
                f"{os.environ.get('MPI_LIB_NRN_PATH')!r}) before starting Python."
            )
        self.neuron_version = neuron_version
        self.active = None  # the NeuronBackend that owns NEURON's model now
        if self.comm is not None:
            _abort_on_uncaught_exceptions(self.comm)
        self._load_mechanisms()

    def _load_mechanisms(self) -> None:
        if hasattr(self.h, "LivnCultureCell"):  # e.g. auto-loaded from ./x86_64 by NEURON
            return
        from livn.backends._neuron_build import mechanism_library

        error, library = None, None
        try:
            library = mechanism_library(self.neuron_version)
        except Exception as e:  # noqa: BLE001 - reported to every rank below
            error = e
        self.agree(error, "compiling the NEURON mechanisms")
        self.h.nrn_load_dll(str(library))

    # -- collectives --------------------------------------------------------------------------

    def agree(self, error: BaseException | None, what: str, facts=None) -> list:
        """Collective: every rank reports `error` (or None) and `facts`; raises on every rank if any failed.

        Returns the facts of all ranks (`livn._mpi.World.check`). A rank's own error is
        re-raised as is; the other ranks raise a `RankError` naming every failed rank.
        """
        try:
            return self.world.check(error, facts)
        except RankFailure as failure:
            if type(failure) is not RankFailure:
                raise
            details = "; ".join(f"rank {rank}: {text}" for rank, text in failure.failures)
            raise mark_collective(RankError(
                f"{what} failed on {len(failure.failures)} of {self.size} ranks, so no rank went on: {details}"
            )) from None


def _abort_on_uncaught_exceptions(comm) -> None:
    """After printing an uncaught exception, abort the MPI job unless every rank raised it.

    A rank that dies alone would leave the others waiting for it forever (as
    `python -m mpi4py` does, livn aborts instead). Errors that every rank raises
    together (arguments agreed on collectively) end each rank normally, after a
    barrier: mpirun kills the remaining ranks as soon as one exits with an error,
    so every rank, rank 0 included, must have printed its message first.
    """
    previous = sys.excepthook

    def hook(kind, value, traceback):
        previous(kind, value, traceback)
        sys.stdout.flush()
        sys.stderr.flush()
        if is_collective(value):
            request = comm.Ibarrier()
            deadline = time.monotonic() + EXIT_BARRIER_TIMEOUT
            while not request.Test():
                if time.monotonic() > deadline:  # some rank went on instead of failing
                    comm.Abort(1)
                time.sleep(0.005)
        else:
            time.sleep(ABORT_GRACE)  # let mpirun forward the traceback before it tears the job down
            comm.Abort(1)

    sys.excepthook = hook


_runtime: _Runtime | None = None


def runtime() -> _Runtime:
    """Start NEURON (and MPI under a launcher) once per process."""
    global _runtime
    if _runtime is None:
        _runtime = _Runtime()
    return _runtime


class NeuronBackend(NeuronCheckpoints, Backend):
    """The culture network in NEURON, its gids distributed over the MPI ranks."""

    name = "neuron"
    simulator_module = "neuron"
    extra = "neuron"
    capabilities = frozenset({MPI, CHECKPOINT, PLASTICITY})

    def __init__(self, network):
        super().__init__(network)
        rt = runtime()
        self._rt = rt
        n = self.num_neurons
        self.rank, self.num_ranks = rt.rank, rt.size
        #: Gids simulated on this rank (round-robin over ranks).
        self.local_gids = np.arange(self.rank, n, self.num_ranks, dtype=np.int64)

        if rt.active is not None:
            rt.active._release()
            rt.active = None
        error = None
        try:
            self._build()
        except Exception as e:  # noqa: BLE001 - reported to every rank
            error = e
            rt.pc.gid_clear()  # leave NEURON empty for the next attempt
        rt.agree(error, "building the NEURON network")
        # Collective: the exchange interval is the smallest NetCon delay between ranks, (D_min + 1/3) dt, or
        # less. Exchanges then fall at 0, 1/3 or 2/3 of a step, never at a spike time (a half step), so
        # a spike an exchange just missed arrives at least dt/6 after the next one.
        rt.pc.set_maxstep((round(MAX_EXCHANGE_INTERVAL / self.dt) + ARRIVAL_OFFSET) * self.dt)
        # Checkpoints: NEURON's SaveState, laid out now, before anything is recorded. SaveState also
        # stores Vector recordings by their position in NEURON's list, and reading a state back aborts
        # the process if the loading process records differently; laid out without them (and reused,
        # as the network keeps its structure) it never holds them.
        rt.h.finitialize()  # (collective) SaveState needs an initialised model; run() initialises again
        self._savestate = rt.h.SaveState()
        self._savestate.save()
        rt.active = self
        self._step = 0
        self._needs_init = True
        self._spikes = None  # (times, gids) Vectors of pc.spike_record
        self._voltage = None  # (requested gids, every k steps, {gid: Vector})
        self._currents = None  # (requested gids, every k steps, {gid: (AMPA Vector, GABA_A Vector)})
        self._last_currents = None  # SynapticCurrents of the last run
        self.set_noise(0.0, 0.0)

    def _build(self) -> None:
        h, pc, lowered = self._rt.h, self._rt.pc, self.lowered
        model = lowered.model
        h.dt = self.dt
        receptors = model.receptors
        for name, value in (
            ("capacitance", model.membrane_capacitance),
            ("v_peak", model.v_peak),
            ("e_ampa", receptors["AMPA"].reversal_potential),
            ("e_gaba", receptors["GABA_A"].reversal_potential),
            ("tau_ampa", receptors["AMPA"].time_constant),
            ("tau_gaba", receptors["GABA_A"].time_constant),
            ("tau_noise", model.noise_time_constant),
            ("tau_rec", model.depression_recovery),
            ("release_fraction", model.depression_fraction),
        ):
            setattr(h, f"{name}_LivnCultureCell", value)
        h.record_currents_LivnCultureCell = 0  # a GLOBAL: an earlier network in this process may have set it

        seed_low, seed_high = lowered.seed & 0xFFFFFFFF, (lowered.seed >> 32) & 0xFFFF
        # One section hosts every cell of this rank: the cells do not use its voltage, and one
        # node instead of one per cell saves NEURON's per-node matrix work at every step.
        self._host = h.Section(name="livn_cells")
        self._cells, self._sources = {}, []
        for gid in self.local_gids.tolist():
            cell = h.LivnCultureCell(self._host(0.5))
            cell.a, cell.b, cell.c, cell.d = lowered.a[gid], lowered.b[gid], lowered.c[gid], lowered.d[gid]
            cell.vm_rest, cell.u_rest = lowered.v_init[gid], lowered.u_init[gid]
            cell.noise_stream.set_ids(seed_low, gid, NOISE_STREAM + (seed_high << 16))
            pc.set_gid2node(gid, self.rank)
            source = h.NetCon(cell, None)
            pc.cell(gid, source)
            self._cells[gid] = cell
            self._sources.append(source)
        # Electrode current: each 1 ms row is scattered into the cells' i_stim in one call.
        self._stimulus_targets = h.PtrVector(len(self.local_gids)) if len(self.local_gids) else None
        for index, gid in enumerate(self.local_gids.tolist()):
            self._stimulus_targets.pset(index, self._cells[gid]._ref_i_stim)
        self._stimulus_row = h.Vector(len(self.local_gids))

        self._synapses = {}  # projection name -> NetCons on this rank
        self._netcons = []  # every NetCon on this rank, in the order of self._local_edges
        local_edges = []
        rank, ranks = self.rank, self.num_ranks
        for name in lowered.projections:
            edges = lowered.edges_of(name)
            source, target = lowered.pre[edges], lowered.post[edges]
            local = target % ranks == rank
            receptor = float(lowered.receptor[edges.start])  # 0 AMPA, 1 GABA_A (RECEPTORS order)
            netcons = []
            for pre_gid, post_gid, k in zip(source[local].tolist(), target[local].tolist(),
                                            lowered.delay_steps[edges][local].tolist()):
                netcon = pc.gid_connect(pre_gid, self._cells[post_gid])
                netcon.delay = (k + ARRIVAL_OFFSET) * self.dt  # arrives at (step + 5/6) dt, see the .mod file
                netcon.weight[FIELD["weight"]] = 0.0
                netcon.weight[FIELD["receptor"]] = receptor
                netcon.weight[FIELD["tau_pre"]] = netcon.weight[FIELD["tau_post"]] = 1.0  # not plastic
                netcons.append(netcon)
            self._synapses[name] = netcons
            self._netcons.extend(netcons)
            local_edges.append(edges.start + np.flatnonzero(local))
        #: Edge index (lowered network's order) of each of this rank's NetCons.
        self._local_edges = np.concatenate(local_edges).astype(np.int64) if local_edges else np.zeros(0, np.int64)
        #: Gid of each NetCon's target cell.
        self._local_posts = np.asarray(lowered.post, dtype=np.int64)[self._local_edges]
        # Weights are read and written for every synapse at once through pointers to the NetCons' weight[0].
        self._weight_pointers = h.PtrVector(len(self._netcons)) if self._netcons else None
        for index, netcon in enumerate(self._netcons):
            self._weight_pointers.pset(index, netcon._ref_weight[0])
        self._weight_values = h.Vector(len(self._netcons))

    def _release(self) -> None:
        """Give NEURON's model up (another backend is being built)."""
        self._rt.pc.gid_clear()
        self._synapses, self._sources, self._cells, self._host = {}, [], {}, None
        self._netcons, self._weight_pointers, self._weight_values = [], None, None
        self._savestate = None
        self._stimulus_targets = self._stimulus_row = None
        self._spikes = self._voltage = self._currents = None

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        self._rt.world.barrier()

    def cells_per_rank(self) -> list[int]:
        """Number of cells on each rank (collective under MPI)."""
        count = len(self.local_gids)
        return self._rt.world.allgather(count)

    def _check_active(self) -> None:
        if self._rt.active is not self:
            raise NetworkReplacedError(
                "this NEURON network was replaced by one built later in this process (NEURON holds one "
                "network per process); build a new Env, or use another process"
            )

    # -- parameters ---------------------------------------------------------------------------

    @property
    def t(self) -> float:
        """Simulated time since the start (or the last `clear`), ms."""
        return self._step * self.dt

    def set_weights(self, weights: dict) -> None:
        """Set synaptic weights (nS) by projection name; projections without edges are ignored."""
        self._check_active()
        for key, value in weights.items():
            for netcon in self._synapses.get(key, ()):
                netcon.weight[0] = value

    def set_noise(self, mean: float, std: float) -> None:
        """Set the background current's mean and standard deviation, nA (the same on every rank)."""
        self._check_active()
        h = self._rt.h
        h.noise_mean_LivnCultureCell = mean
        h.noise_std_LivnCultureCell = std
        if self._step == 0:
            self._needs_init = True  # the noise current starts at the mean

    # -- plasticity ---------------------------------------------------------------------------

    def synapse_weights(self) -> np.ndarray:
        """Every synapse's weight, nS, in the lowered network's edge order (collective: every rank gets all)."""
        self._check_active()
        weights = np.zeros(self.lowered.num_edges)
        for edges, part in self._rt.world.allgather((self._local_edges, self._local_weights())):
            weights[edges] = part
        return weights

    def _local_weights(self) -> np.ndarray:
        """The weights (nS) of this rank's NetCons, in the order of `_local_edges` (not collective)."""
        if self._weight_pointers is None:
            return np.zeros(0)
        self._weight_pointers.gather(self._weight_values)
        return _values(self._weight_values)

    def set_synapse_weights(self, weights: np.ndarray) -> None:
        """Set every synapse's weight (nS) from `[num_edges]` in edge order; every rank passes the whole array."""
        self._check_active()
        if self._weight_pointers is not None:
            self._weight_values.from_python(np.ascontiguousarray(weights, dtype=np.float64)[self._local_edges])
            self._weight_pointers.scatter(self._weight_values)

    def set_plasticity(self, synapses) -> None:
        """Turn the lowered rules (`PlasticSynapses`) on, traces at 0, or off (None); weights stay as they are.

        Each rank writes its own synapses' coefficients into their NetCons and tells each of its
        cells how many plastic synapses it receives (a cell without any sends no postsynaptic events).
        """
        self._check_active()
        edges = self._local_edges
        plastic = np.zeros(len(edges), bool) if synapses is None else np.asarray(synapses.plastic)[edges]
        values = {"plastic": plastic.astype(np.float64)}
        for name in COEFFICIENTS:  # where not plastic: zero (tau 1 ms), as lower_plasticity has them
            values[name] = (np.asarray(getattr(synapses, name), dtype=np.float64)[edges] if synapses is not None
                            else np.full(len(edges), 1.0 if name.startswith("tau") else 0.0))
        for name in ("a_pre", "a_post", "last_pre", "last_post"):  # traces start at 0
            values[name] = np.zeros(len(edges))
        indices = [FIELD[name] for name in values]
        rows = np.stack(list(values.values()), axis=1).tolist() if len(edges) else []
        for netcon, row in zip(self._netcons, rows):
            weight = netcon.weight
            for index, value in zip(indices, row):
                weight[index] = value
        inputs = np.bincount(self._local_posts[plastic], minlength=self.num_neurons)
        for gid, cell in self._cells.items():
            cell.plastic_inputs = float(inputs[gid])

    # -- recording ----------------------------------------------------------------------------

    def record_spikes(self, gids) -> None:
        self._check_active()
        super().record_spikes(gids)
        if self._spikes is None:
            h = self._rt.h
            self._spikes = (h.Vector(), h.Vector())
            self._rt.pc.spike_record(-1, *self._spikes)

    def record_voltage(self, gids: np.ndarray, dt: float) -> None:
        self._check_active()
        h = self._rt.h
        gids = np.asarray(gids, dtype=np.int64)
        traces = {}
        for gid in np.unique(gids[gids % self.num_ranks == self.rank]).tolist():
            vector = h.Vector()
            vector.record(self._cells[gid]._ref_vm)
            traces[gid] = vector
        self._voltage = (gids, int(round(dt / self.dt)), traces)
        self._needs_init = True

    def record_synaptic_currents(self, gids: np.ndarray | None, dt: float) -> None:
        """Record the AMPA and GABA_A currents (nA) of `gids` every `dt` ms from the next run on; None stops.

        Collective under MPI in the SPMD sense: every rank calls it with the same arguments.
        """
        self._check_active()
        h = self._rt.h
        self._last_currents = None
        if gids is None:
            self._currents = None
            h.record_currents_LivnCultureCell = 0
            return
        gids = np.asarray(gids, dtype=np.int64)
        traces = {}
        for gid in np.unique(gids[gids % self.num_ranks == self.rank]).tolist():
            pair = (h.Vector(), h.Vector())
            pair[0].record(self._cells[gid]._ref_i_ampa)
            pair[1].record(self._cells[gid]._ref_i_gaba)
            traces[gid] = pair
        self._currents = (gids, int(round(dt / self.dt)), traces)
        h.record_currents_LivnCultureCell = 1
        if self._step == 0:
            self._needs_init = True

    def synaptic_currents(self) -> SynapticCurrents | None:
        """The last run's currents: on rank 0 every recorded gid's, on the other ranks their own gids'."""
        return self._last_currents

    # -- running --------------------------------------------------------------------------------

    def abandon_run(self, error: BaseException) -> None:
        """This rank will not run (its arguments were rejected): tell the other ranks, which then raise too."""
        if self._rt.comm is not None and self._rt.active is self:
            self._rt.agree(error, "checking the arguments of run()")

    def _agree_on_run(self, duration: float, stimulus: np.ndarray | None, stimulus_step: float) -> None:
        error = None
        try:
            self._check_active()
            if stimulus is not None and stimulus.shape[1] != self.num_neurons:
                raise ValueError(f"stimulus has {stimulus.shape[1]} columns, the network {self.num_neurons} neurons")
        except Exception as e:  # noqa: BLE001
            error = e
        if self._rt.comm is None:
            if error is not None:
                raise error
            return
        checksum = None
        if stimulus is not None:
            checksum = (stimulus.shape, zlib.crc32(np.ascontiguousarray(stimulus, dtype=np.float64).data))
        facts = (round(duration / self.dt), checksum, self._step, round(stimulus_step / self.dt))
        every = self._rt.agree(error, "checking the arguments of run()", facts)
        if any(f != every[0] for f in every):
            lines = "; ".join(
                f"rank {rank}: {steps} steps from step {start}, stimulus "
                + ("none" if check is None else f"shape {check[0]} crc32 {check[1]:08x}")
                + f" in rows of {row_steps} steps"
                for rank, (steps, check, start, row_steps) in enumerate(every)
            )
            raise mark_collective(RankError(
                "the ranks called run() with different arguments (every rank must pass the same duration, "
                f"stimulus and stimulus_step); no rank ran: {lines}"
            ))

    def run(self, duration: float, stimulus=None, stimulus_step: float = STIMULUS_STEP, **extra) -> RunResult:
        """Advance the network by `duration` ms; `stimulus` is `[T, n]` nA in rows of `stimulus_step` ms, or None.

        Collective under MPI. Returns the whole network's recording on rank 0 and
        this rank's own gids on the others.
        """
        self._agree_on_run(duration, stimulus, stimulus_step)
        h, pc = self._rt.h, self._rt.pc
        if self._needs_init:
            h.finitialize()
            self._needs_init = False
        start = self._step
        steps = int(round(duration / self.dt))
        end = start + steps
        steps_per_row = int(round(stimulus_step / self.dt))
        if stimulus is not None:
            local = np.ascontiguousarray(stimulus[:, self.local_gids], dtype=np.float64)
            for row in range(local.shape[0]):
                stop = min(start + (row + 1) * steps_per_row, end)
                self._inject(local[row])
                pc.psolve((stop + 0.5) * self.dt)  # (half a step of slack, see below)
                if stop == end:
                    break
            self._inject(np.zeros(len(self.local_gids)))
        if h.t < (end - 0.5) * self.dt:
            # NEURON takes a fixed step only while t + dt stays within the stop time, and its t is a sum
            # of steps whose rounding drifts (+5e-7 ms after 470,000 steps of 0.1 ms): asking for the exact
            # end then skips the last step of a window now and then. Half a step of slack gives exactly
            # the steps asked for, whichever way t drifted.
            pc.psolve((end + 0.5) * self.dt)
        self._step = end
        return self._collect(start, steps)

    def stream(self, duration: float, period: float, schedule: np.ndarray, on_window) -> None:
        """Stream window by window (`run` costs NEURON little); under MPI the controller runs on rank 0.

        Rank 0 hands each window (the whole network's spikes) over and broadcasts the rows it
        changed; if its controller fails, every rank stops with an error instead of waiting.
        """
        if self._rt.comm is None:
            return super().stream(duration, period, schedule, on_window)
        world = self._rt.world
        rows = int(round(period / STIMULUS_STEP))
        for index in range(int(round(duration / period))):
            result = self.run(period, schedule[index * rows : (index + 1) * rows])
            message, error = None, None
            if self.is_root:
                try:
                    changed = on_window(index, result)
                    message = ("rows", changed, None if changed is None else schedule[changed[0] : changed[1]])
                except BaseException as e:  # noqa: BLE001 - the other ranks must hear of it
                    error, message = e, ("error", f"{type(e).__name__}: {e}", None)
            kind, changed, block = world.bcast(message)
            if kind == "error":
                if error is not None:
                    raise mark_collective(error)
                raise mark_collective(RankError(f"the stream stopped on rank 0 at window {index}: {changed}"))
            if changed is not None and not self.is_root:
                schedule[changed[0] : changed[1]] = block

    def _inject(self, currents: np.ndarray) -> None:
        """Set the electrode current (nA) of this rank's cells, in `local_gids` order."""
        if self._stimulus_targets is not None:
            self._stimulus_row.from_python(currents)
            self._stimulus_targets.scatter(self._stimulus_row)

    def _collect(self, start: int, steps: int) -> RunResult:
        it = t = iv = v = None
        rt = self._rt
        if self._spikes is not None:
            times, gids = self._spikes
            step = np.floor(_values(times) / self.dt).astype(np.int64)  # sent in the middle of the step
            local = (_values(gids).astype(np.int64), step)
            times.resize(0)
            gids.resize(0)
            parts = rt.world.gather(local) or [local]  # None on ranks other than 0
            it, t = self.spike_result(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), start)
        if self._voltage is not None:
            requested, every, traces = self._voltage
            local = {}
            for gid, vector in traces.items():
                values = _values(vector)
                local[gid] = values[(-start) % every : steps : every].copy()  # on the absolute sampling grid
                vector.remove(0, vector.size() - 2)  # keep the last value: the next window's first sample
            iv, merged = self._gather_rows(requested, local)
            samples = len(range((-start) % every, steps, every))
            v = np.stack([merged[g] for g in iv.tolist()]) if len(iv) else np.zeros((0, samples))
        self._last_currents = self._collect_currents(start, steps) if self._currents is not None else None
        return RunResult(it, t, iv, v)

    def _gather_rows(self, requested: np.ndarray, local: dict) -> tuple[np.ndarray, dict]:
        """Recorded rows `{gid: values}` of every rank, gathered to rank 0 (collective under MPI).

        Returns `(gids, rows)`: on rank 0 the requested gids and every rank's rows; on the other
        ranks this rank's recorded gids (in the requested order) and its own rows.
        """
        parts = self._rt.world.gather(local)
        if parts is None:  # not rank 0
            return np.array([g for g in requested.tolist() if g in local], dtype=np.int64), local
        return requested.copy(), {gid: row for part in parts for gid, row in part.items()}

    def _collect_currents(self, start: int, steps: int) -> SynapticCurrents:
        """The synaptic currents (nA) recorded by a run of `steps` from step `start` (collective under MPI).

        A Vector holds one value per step, the current at the step's start (see the .mod file),
        plus, first, the value finitialize recorded when this run started from it.
        """
        requested, every, traces = self._currents
        first = (-start) % every  # on the absolute sampling grid
        local = {}
        for gid, vectors in traces.items():
            pair = []
            for vector in vectors:
                values = _values(vector)
                pair.append(values[len(values) - steps :][first:steps:every].copy())
                vector.resize(0)
            local[gid] = pair
        gids, merged = self._gather_rows(requested, local)
        samples = len(range(first, steps, every))
        ampa, gaba = (np.stack([merged[g][k] for g in gids.tolist()]) if len(gids) else np.zeros((0, samples))
                      for k in (0, 1))
        return SynapticCurrents(gids, every * self.dt, ampa, gaba)

    def clear(self) -> None:
        """Back to t = 0: initial state, no spikes in flight, each cell's noise stream from its start.

        Synaptic weights (learned ones included) and plasticity rules stay; `finitialize` at the next
        run (NET_RECEIVE's INITIAL block) sets the depression and the plasticity traces back to rest.
        """
        self._check_active()
        self._step = 0
        self._needs_init = True
        if self._spikes is not None:
            for vector in self._spikes:
                vector.resize(0)


def _values(vector) -> np.ndarray:
    """A copy of a NEURON Vector as float64 numpy. (`Vector.as_numpy` leaves ~400 bytes behind on every
    call, which a long recording of many Vectors turns into hundreds of MB; `np.array` leaves nothing.)"""
    return np.array(vector, dtype=np.float64) if vector.size() else np.zeros(0)
