"""The `Env` facade: a culture on a multi-electrode array, simulated by one backend.

```python
env = Env(predefined("S1")).init()
env.apply_model_defaults()
env.record_spikes()
env.record_voltage()
it, t, iv, v = env.run(100)          # ms
```

`Env` checks every argument and then delegates to the backend chosen by
`LIVN_BACKEND` (brian2 by default). State persists between `run` calls, so a
closed loop can stimulate, read and stimulate again; `clear()` returns to t = 0.
Units: time ms, electrode current uA, injected current nA, voltage mV,
conductance nS.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import numpy as np

from livn._arrays import is_traced
from livn.backends import backend_class, backend_name, check_options, load_backend, require
from livn.backends.base import BATCH, CHECKPOINT, COPIES, NOISE_KEYS, PLASTICITY, STIMULUS_STEP, UNROLL
from livn.errors import (
    InvalidArgumentError,
    LivnError,
    NotInitializedError,
    RecordingError,
    UnknownNameError,
    describe,
    finite_number,
    numeric_array,
)
from livn.io import MEA, check_electrode_inputs
from livn import synapses as synaptic
from livn.models import CultureModel, check_weights, lower, projection_name
from livn.models.plasticity import SynapticScaling, check_rules, lower_plasticity
from livn.system import System
from livn.types import RunResult


@dataclass(frozen=True)
class CultureCopies:
    """`count` copies of one Env's culture, each with its own dynamic state (see `Env.copy_states`).

    `state` belongs to the backend; treat it as opaque.
    """

    count: int
    state: object


def _rules_tree(rules: dict) -> dict:
    """Plasticity rules as a checkpoint tree: `{projection: {"rule": name, parameter: value}}`."""
    from livn.models.plasticity import RULES

    names = {cls: name for name, cls in RULES.items()}
    return {projection: {"rule": names[type(rule)], **dataclasses.asdict(rule)} for projection, rule in rules.items()}


def _rules_from_tree(tree) -> dict | None:
    """The rules `_rules_tree` wrote (None for none)."""
    if not tree:
        return None
    return {projection: {key: (value.item() if isinstance(value, np.generic) else value)
                         for key, value in params.items()} for projection, params in tree.items()}


class Env:
    """A simulated culture with its electrode array.

    **Arguments**

    - `system`: a system directory path or a `livn.system.System`; or a number of neurons
      (`Env(64)`) or `{population: count}` (`Env({"EXC": 8, "INH": 2})`): that many unconnected
      neurons 20 um apart on a square grid under a 4 x 4 MEA spanning it (`System.unconnected`).
    - `model`: the `CultureModel` (default parameters when None).
    - `io`: the `MEA`; by default read from the system directory's `mea.json`.
    - `seed`: non-negative integer; seeds per-neuron parameters and noise.
      The same seed gives the same spikes.
    - `backend`: backend name; default from `LIVN_BACKEND`, else "brian2".
    - `backend_options`: keyword options of the backend (see its `options`), e.g.
      `{"transmission_gradients": True}` on diffrax.

    What the Env can do beyond running depends on the backend's declared
    capabilities (`livn.backends.base.CAPABILITIES`, see `capabilities`); asking for one
    the backend lacks raises `MissingCapabilityError`, naming the installed backends that have it.
    """

    def __init__(self, system, model: CultureModel | None = None, io: MEA | None = None, seed: int = 123,
                 backend: str | None = None, backend_options: dict | None = None):
        if isinstance(system, (str, os.PathLike)):
            system = System(system)
        elif isinstance(system, (int, np.integer, dict)) and not isinstance(system, bool):
            system = System.unconnected(system)
        elif not isinstance(system, System):
            raise InvalidArgumentError(
                "system must be a system directory path, a livn.system.System, a number of neurons or "
                f"{{population: count}} (unconnected neurons); got {describe(system)}"
            )
        if model is None:
            model = CultureModel()
        elif not isinstance(model, CultureModel):
            raise InvalidArgumentError(f"model must be a livn.models.CultureModel; got {describe(model)}")
        if io is None and system.uri is None:  # a culture held in memory: a 4 x 4 grid over its extent
            x, y = system.neuron_coordinates[:, 1], system.neuron_coordinates[:, 2]
            io = MEA.grid(float(x.max() + x.min()), float(y.max() + y.min()))
        elif io is None:
            io = MEA.from_directory(system.uri)
        elif not isinstance(io, MEA):
            raise InvalidArgumentError(f"io must be a livn.io.MEA; got {describe(io)}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidArgumentError(f"seed must be a non-negative integer; got {describe(seed)}")
        for population in system.populations:
            try:
                model.neuron_type(population)
            except UnknownNameError as error:
                raise UnknownNameError(f"model does not fit system {system.name!r}: {error}") from None
        self.system = system
        self.model = model
        self.io = io
        self.seed = int(seed)
        self.backend_name = backend_name(backend)
        self.backend_options = check_options(backend_class(self.backend_name), backend_options)
        self.backend = None
        self._projections = [projection_name(pre, post) for pre, post in system.projections]
        self._noise = (0.0, 0.0)
        self._voltage_dt = None  # ms, once voltage is recorded
        self._weights = {name: 0.0 for name in self._projections}
        self._coupling = io.couple(system.neuron_coordinates)  # transfer and recording matrices, once
        self._plasticity = None  # PlasticSynapses in force, or None
        self._scaling = None  # SynapticScaling in force, or None
        self._scaling_counts = None  # spikes per neuron since the last scaling, while scaling is on
        self._weight_recording = None  # synaptic.WeightRecording, once record_weights() was called
        self._spike_gids = None  # gids the user records spikes of (None: not recorded)
        self._extracellular = None  # livn.io.extracellular.ExtracellularRecorder, once record_extracellular()
        self._extracellular_chunk = None  # ms: runs are synthesised in windows of at most this
        self._provenance = None  # the static part of RunResult.provenance, built once

    # -- construction ----------------------------------------------------------------

    def init(self) -> "Env":
        """Build the network in the backend (once). Weights and noise start at zero."""
        if self.backend is None:
            cls = load_backend(self.backend_name)
            self.backend = cls(lower(self.system, self.model, self.seed), **self.backend_options)
        return self

    @property
    def capabilities(self) -> frozenset:
        """What the backend can do beyond the contract (see `livn.backends.base.CAPABILITIES`)."""
        return backend_class(self.backend_name).capabilities

    def require(self, capability: str, what: str):
        """The built backend, which must declare `capability` (needed for `what`, named in the error)."""
        backend = self._backend()
        require(backend, capability, what)
        return backend

    def _backend(self):
        if self.backend is None:
            raise NotInitializedError("the network is not built yet: call env.init() first")
        return self.backend

    @property
    def t(self) -> float:
        """Simulated time since t = 0 (start or last `clear`), ms."""
        return self._backend().t

    @property
    def num_neurons(self) -> int:
        return self.system.num_neurons

    @property
    def projections(self) -> list[str]:
        """Names of the projections ("PRE_POST") that weights can be set for."""
        return list(self._projections)

    def apply_model_defaults(self, tuned: bool = True) -> "Env":
        """Set the default synaptic weights (nS) and background noise (nA).

        The defaults are the model's (`CultureModel.default_weights`,
        `default_noise_mean`, `default_noise_std`), replaced by the system's tuned
        parameters where its directory has them (`System.tuned_parameters`, written
        by `livn systems tune`) unless `tuned=False`.
        """
        if not isinstance(tuned, bool):
            raise InvalidArgumentError(f"tuned must be True or False; got {describe(tuned)}")
        weights = dict(self.model.default_weights)
        noise = {"mean": self.model.default_noise_mean, "std": self.model.default_noise_std}
        parameters = self.system.tuned_parameters if tuned else None
        if parameters is not None:
            weights.update(parameters["weights"])
            noise.update(parameters["noise"])
        self.set_weights({key: value for key, value in weights.items() if key in self._projections})
        self.set_noise(noise["mean"], noise["std"])
        learned = {projection_name(pre, post): p.weight for (pre, post), p in self.system.projections.items()
                   if p.weight is not None and p.num_edges}
        if learned:  # a system saved with learned weights (save_system): they replace the projection's value
            self._require_plasticity("loading a system's learned synaptic weights")
            weights = self.backend.synapse_weights()
            lowered = self.backend.lowered
            for name, values in learned.items():
                weights[lowered.edges_of(name)] = values
            self.backend.set_synapse_weights(weights)
        return self

    @property
    def noise(self) -> tuple[float, float]:
        """The background current's `(mean, std)` in nA, as last set."""
        return self._noise

    def set_weights(self, weights: dict) -> "Env":
        """Set synaptic weights (peak conductance, nS) by projection, e.g. `{"EXC_EXC": 2.0}`.

        Keys are "PRE_POST" names or (pre, post) tuples; see `projections`.
        """
        backend = self._backend()
        checked = check_weights(weights, self._projections)
        backend.set_weights(checked)
        self._weights.update(checked)
        return self

    @property
    def weights(self) -> dict:
        """Synaptic weights by projection name ("PRE_POST" -> nS), as last set (0 until set).

        Per-synapse weights that plasticity, `normalize_weights` or a saved system changed are
        not reflected here: read them with `synaptic_weights()`.
        """
        return dict(self._weights)

    def set_noise(self, mean: float | None = None, std: float | None = None) -> "Env":
        """Set the background current: mean and standard deviation in nA (None keeps the current value)."""
        backend = self._backend()
        mean = self._noise[0] if mean is None else mean
        std = self._noise[1] if std is None else std
        for name, value in (("mean", mean), ("std", std)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
                raise InvalidArgumentError(f"noise {name} must be a finite number of nA; got {describe(value)}")
        if std < 0:
            raise InvalidArgumentError(f"noise std must be >= 0 nA; got {std}")
        backend.set_noise(float(mean), float(std))
        self._noise = (float(mean), float(std))
        return self

    # -- recording -------------------------------------------------------------------------

    def _check_can_change_recording(self, what: str) -> None:
        if self._backend().t > 0:
            raise RecordingError(
                f"{what} must be called before the first run (or right after clear()); "
                f"the network is at t = {self.t} ms"
            )

    def _population_gids(self, population) -> np.ndarray:
        """Sorted gids of a population name or a list of names."""
        names = [population] if isinstance(population, str) else population
        known = self.system.populations
        if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
            raise InvalidArgumentError(
                f"population must be a population name or a non-empty list of names, from {known}; got {describe(population)}"
            )
        unknown = [name for name in names if name not in known]
        if unknown:
            raise UnknownNameError(f"unknown population(s) {unknown}; system {self.system.name!r} has {known}")
        return np.unique(np.concatenate([self.system.gids_of(name) for name in names]))

    def record_spikes(self, population=None) -> "Env":
        """Record spikes from now on: of every neuron, or of `population` (a name or a list of names)."""
        self._check_can_change_recording("record_spikes()")
        gids = np.arange(self.num_neurons, dtype=np.int64) if population is None else self._population_gids(population)
        self._spike_gids = gids
        self._sync_spike_recording()
        return self

    def _sync_spike_recording(self) -> None:
        """The backend records every neuron while scaling or extracellular traces need all spikes
        (`_user_spikes` then keeps what the user asked for), else the user's gids."""
        if self._scaling is not None or self._extracellular is not None:
            self.backend.record_spikes(np.arange(self.num_neurons, dtype=np.int64))
        elif self._spike_gids is not None:
            self.backend.record_spikes(self._spike_gids)
        else:
            self.backend.spike_gids = None

    def record_voltage(self, population=None, gids=None, dt: float | None = None) -> "Env":
        """Record membrane potentials (mV).

        **Arguments**

        - `population`: a population name or a list of names (default: every neuron).
        - `gids`: neurons to record instead, in the order of the returned rows (not with `population`).
        - `dt`: sampling interval in ms, a multiple of the integration step (default: the step).
        """
        self._check_can_change_recording("record_voltage()")
        if population is not None and gids is not None:
            raise InvalidArgumentError("give population or gids to record_voltage, not both")
        names = population if isinstance(population, (list, tuple)) else [population]
        if population is not None and gids is None and not all(isinstance(name, str) for name in names):
            # gids passed positionally, as record_voltage's first argument used to be: keep that working
            population, gids = None, population
        if population is not None:
            gids = self._population_gids(population)
        elif gids is None:
            gids = np.arange(self.num_neurons)
        gids = np.asarray(gids)
        if gids.ndim != 1 or gids.size == 0 or not np.issubdtype(gids.dtype, np.integer):
            raise InvalidArgumentError(f"gids must be a non-empty 1-d array of integer gids; got {describe(gids)}")
        if gids.min() < 0 or gids.max() >= self.num_neurons:
            raise InvalidArgumentError(
                f"gids must lie in [0, {self.num_neurons - 1}] for this system; got values from {gids.min()} to {gids.max()}"
            )
        step = self.model.dt
        dt = step if dt is None else dt
        if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)) or not math.isfinite(dt) \
                or dt <= 0 or abs(dt / step - round(dt / step)) > 1e-9:
            raise InvalidArgumentError(
                f"dt must be a positive multiple of the integration step {step} ms; got {describe(dt)}"
            )
        self.backend.record_voltage(gids.astype(np.int64), float(dt))
        self._voltage_dt = float(dt)
        return self

    def record_extracellular(self, fs_hz: float = 25000.0, noise_uv: float = 5.0, lfp: bool = True, *,
                             file=None, chunk_ms: float | None = None, **settings) -> "Env":
        """Record what the MEA's electrodes see as voltage (uV): from now on every `run` result
        carries `result.extracellular`, a `livn.io.extracellular.ExtracellularRecording`.

        **Arguments**

        - `fs_hz`: sampling rate, Hz (a positive, finite number; 25 kHz as on common MEA rigs).
        - `noise_uv`: RMS of the band-limited recording noise, uV (>= 0).
        - `lfp`: add the local field potential proxy computed from the excitatory neurons'
          synaptic currents (the backend then records them).
        - `file`: None (traces in memory), or an HDF5 path the traces stream to, window by window,
          with bounded memory (for long recordings); results then read it lazily.
        - `chunk_ms`: runs are synthesised in windows of at most this many ms (a whole number).
          Default: 1000 ms, or 250 ms with `file` (bounded memory is then the point): per window
          the backend holds the excitatory neurons' synaptic currents (NEURON every step's,
          2 x 8 bytes x neurons x steps: 128 MB for S3's 800 over 1 s), while each window costs
          brian2 a run call (~0.15 s of set-up on S2; `benchmarks/extracellular_memory.py`).
        - `**settings`: the other parameters of `livn.io.extracellular.ExtracellularSettings`
          (waveform, point-source law, LFP proxy, artifacts and blanking).

        Each trace is the sum of every spike's waveform (amplitude by the point-source law),
        the LFP proxy, noise and the artifacts of electrode stimulation given as `run(..., inputs=...)`
        (see `livn.io.extracellular`). The recording keeps every neuron's spikes as ground truth,
        whatever `record_spikes` selects. Works with `run` and `stream` on every backend (single
        trials; not with batches, `unroll` or `run_copies`): a stream's controller sees each window's
        traces as `window.result.extracellular`. Under MPI (NEURON) rank 0 records, the other ranks'
        results carry no traces. An existing `file` is refused (a recording never overwrites one).
        """
        from livn.io import extracellular

        self._check_can_change_recording("record_extracellular()")
        known = [f.name for f in dataclasses.fields(extracellular.ExtracellularSettings)]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise InvalidArgumentError(f"unknown extracellular setting(s) {unknown}; accepted: {known}")
        options = extracellular.ExtracellularSettings(fs_hz=fs_hz, noise_uv=noise_uv, lfp=lfp, **settings)
        if chunk_ms is None:
            chunk_ms = 1000.0 if file is None else 250.0
        if isinstance(chunk_ms, bool) or not isinstance(chunk_ms, (int, float, np.integer, np.floating)) \
                or not math.isfinite(chunk_ms) or chunk_ms < 1 or chunk_ms != round(chunk_ms):
            raise InvalidArgumentError(f"chunk_ms must be a whole number of ms >= 1; got {describe(chunk_ms)}")
        lfp_gids = self._lfp_gids() if options.lfp else None
        backend = self._backend()
        recorder = extracellular.ExtracellularRecorder(  # under MPI rank 0, which has every spike, records
            options, self.io, self.system.neuron_coordinates, lfp_gids=lfp_gids, seed=self.seed,
            file=file if backend.is_root else None,
        )
        if self._extracellular is not None:
            self._extracellular.close()
        backend.record_synaptic_currents(lfp_gids, options.lfp_dt_ms if options.lfp else self.model.dt)
        self._extracellular = recorder
        self._extracellular_chunk = float(chunk_ms)
        self._sync_spike_recording()
        return self

    def _lfp_gids(self) -> np.ndarray:
        """The neurons whose synaptic currents make the LFP proxy: the excitatory population
        ("EXC", as in Mazzoni et al. 2015's pyramidal cells), or every neuron if there is none."""
        if "EXC" in self.system.populations:
            return np.asarray(self.system.gids_of("EXC"), dtype=np.int64)
        return np.arange(self.num_neurons, dtype=np.int64)

    @property
    def extracellular(self):
        """The `ExtracellularRecorder` in force (settings, file), or None."""
        return self._extracellular

    # -- electrodes ---------------------------------------------------------------------------

    def cell_stimulus(self, inputs):
        """Per-neuron injected current for electrode inputs.

        **Arguments**: `inputs`, `[T, n_channels]` electrode currents in uA, 1 ms per row.

        **Returns**: `[T, n_neurons]` injected currents in nA, 1 ms per row, for `run`.
        """
        return self._coupling.cell_stimulus(inputs, "inputs")

    def channel_recording(self, it, t) -> tuple[dict, dict]:
        """Spikes per recording channel: `(cit, ct)`, dicts channel id -> gids, times (ms)."""
        return self._coupling.channel_recording(it, t)

    # -- simulation ----------------------------------------------------------------------------

    def _check_stimulus(self, stimulus, duration: float, step: float = STIMULUS_STEP):
        if stimulus is None:
            return None
        is_jax = type(stimulus).__module__.startswith("jax")  # checked by shape; by value unless traced
        if not is_jax:
            stimulus = numeric_array(stimulus, "stimulus", "a numeric array of injected currents in nA")
        n = self.num_neurons
        max_rows = math.ceil(duration / step - 1e-9)
        shape = tuple(stimulus.shape)
        can_batch = BATCH in self.capabilities
        if len(shape) not in ((2, 3) if can_batch else (2,)) or shape[-1] != n or not 1 <= shape[-2] <= max_rows:
            batch = " or [B, T, n] (a batch of trials)" if can_batch else ""
            raise InvalidArgumentError(
                f"stimulus must have shape [T, {n}]{batch} (nA per neuron, {step:g} ms per row) with "
                f"1 <= T <= {max_rows} for a {duration} ms run; got {describe(stimulus)}. "
                "Use env.cell_stimulus(inputs) to map [T, n_channels] electrode currents (uA)."
            )
        if not is_traced(stimulus) and not bool(np.all(np.isfinite(np.asarray(stimulus)))):
            raise InvalidArgumentError("stimulus contains NaN or infinite values")
        return stimulus

    @property
    def run_key(self):
        """A JAX random key derived from the seed, for `run(..., key=...)` (capability `noise_keys`)."""
        return self.require(NOISE_KEYS, "run_key").run_key

    def run(self, duration: float, stimulus=None, key=None, unroll: str | None = None, *, inputs=None,
            stimulus_step: float | None = None):
        """Advance the culture by `duration` ms.

        **Arguments**

        - `duration`: ms, positive; rounded to the integration step.
        - `stimulus`: None, or `[T, n_neurons]` injected current in nA, row k applied
          during [k, k + 1) * `stimulus_step` ms of this window; rows after T are zero. Backends with
          the `batch` capability (diffrax) also take a batch `[B, T, n_neurons]` and JAX arrays.
        - `key`: JAX random key for the noise (capability `noise_keys`; default: the Env's stream).
        - `unroll`: None, or "mask" (capability `unroll`) for dense, differentiable output.
        - `inputs`: None, or electrode currents in uA: `[T, n_channels]` rows of `stimulus_step` ms
          (e.g. `livn.stimulation.electrode_inputs(...)`) or a `livn.stimulation.ElectrodeStimulation`.
          They reach the neurons through the MEA (`cell_stimulus`), add to `stimulus`, make the
          stimulation artifacts of an extracellular recording and come back as `result.stimulation`.
        - `stimulus_step`: ms per row of `stimulus` and `inputs`: 1 ms (the default) or a multiple
          of the integration step that divides 1 ms (0.1 ms puts sub-millisecond biphasic pulses on
          the integration grid).

        **Returns**

        `RunResult(it, t, iv, v)`: spike gids and times (ms from this window's start),
        recorded gids and voltages `[n, samples]` (mV); fields not recorded are None. Its
        `duration` is the window (ms) and `dt` the voltage sampling interval (ms), so that
        `window`, `select` and `RunResult.concat` need no more arguments; `provenance` says what
        produced it, `stimulation` holds the delivered `inputs` and `extracellular` the electrodes'
        voltage when `record_extracellular` is on.
        On the NEURON backend under MPI every rank calls `run` with the same arguments;
        rank 0 gets the whole network's recording, the other ranks their own cells'.
        With `unroll="mask"`: `(mask [n, steps], t [steps] ms, gids [n], v [n, steps] mV)`.
        """
        backend = self._backend()
        try:
            duration, stimulus, step, delivered = self._check_run(duration, stimulus, key, unroll, inputs,
                                                                   stimulus_step)
        except LivnError as error:
            # Under MPI the other ranks are about to run: a backend that runs collectively
            # (NEURON) tells them this rank will not, so that they fail too instead of waiting.
            backend.abandon_run(error)
            raise
        start = self.t
        extra = {name: value for name, value in (("key", key), ("unroll", unroll)) if value is not None}
        if self._weight_recording is not None or self._scaling is not None or self._extracellular is not None:
            return self._run_segments(duration, stimulus, step, delivered, extra)
        if step != STIMULUS_STEP:
            extra["stimulus_step"] = step
        result = backend.run(duration, stimulus, **extra)
        return self._stamp(result, duration, start, delivered)

    def _stamp(self, result, duration: float, start: float | None, delivered=None):
        """`result` with its window length and voltage sampling interval (ms), provenance and delivered
        stimulation; lists and unrolled output as they are."""
        if isinstance(result, RunResult):
            return result._replace(duration=duration, dt=self._voltage_dt if result.v is not None else None,
                                   provenance=self._provenance_of(start), stimulation=delivered)
        if isinstance(result, list):
            return [self._stamp(r, duration, start) for r in result]
        return result

    def _provenance_of(self, start: float) -> dict:
        """What produced a result that starts at `start` ms (see `RunResult.provenance`)."""
        if self._provenance is None:
            from importlib import metadata

            def version(package):
                try:
                    return metadata.version(package)
                except metadata.PackageNotFoundError:
                    return None

            simulator = backend_class(self.backend_name).simulator_module
            self._provenance = {
                "system": self.system.name,
                "system_uri": None if self.system.uri is None else str(self.system.uri),
                "seed": self.seed,
                "backend": self.backend_name,
                "model": dataclasses.asdict(self.model),
                "mea": self.io.to_dict(),
                "populations": {name: [int(first), int(count)]
                                for name, (first, count) in self.system.population_ranges.items()},
                "neuron_coordinates": np.asarray(self.system.neuron_coordinates, dtype=float).tolist(),
                "versions": {"livn": version("livn"), simulator: version(simulator)},
            }
        plasticity = None if self._plasticity is None else {
            projection: type(rule).__name__ for projection, rule in self._plasticity.rules.items()}
        recorded = None if self._spike_gids is None else (
            "all" if len(self._spike_gids) == self.num_neurons else self._spike_gids.tolist())
        return {**self._provenance, "recorded_spike_gids": recorded, "weights": dict(self._weights),
                "noise": {"mean": self._noise[0], "std": self._noise[1]},
                "plasticity": plasticity, "t_start_ms": None if start is None else float(start)}

    def _check_run(self, duration, stimulus, key, unroll, inputs=None, stimulus_step=None):
        """Check the arguments of `run`; returns `(duration ms, stimulus nA or None, stimulus step ms,
        delivered ElectrodeStimulation or None)`."""
        from livn.stimulation import ElectrodeStimulation

        duration = self._check_duration(duration)
        if not (unroll is None or (isinstance(unroll, str) and unroll == "mask")):
            raise InvalidArgumentError(f"unroll must be None or 'mask'; got {describe(unroll)}")
        if unroll is not None:
            self.require(UNROLL, "run(unroll=...)")
        if key is not None:
            self.require(NOISE_KEYS, "run(key=...)")
        if isinstance(inputs, ElectrodeStimulation):
            if stimulus_step is not None and not math.isclose(stimulus_step, inputs.step):
                raise InvalidArgumentError(
                    f"stimulus_step is {stimulus_step} ms but the ElectrodeStimulation's rows are {inputs.step} ms; "
                    "omit stimulus_step"
                )
            if not np.array_equal(inputs.channel_ids, self.io.channel_ids):
                raise InvalidArgumentError(
                    f"inputs are for channels {inputs.channel_ids.tolist()}, this MEA has {self.io.channel_ids.tolist()}"
                )
            stimulus_step = inputs.step
        step = self._check_stimulus_step(stimulus_step)
        stimulus = self._check_stimulus(stimulus, duration, step)
        if key is not None:
            trials = stimulus.shape[0] if stimulus is not None and stimulus.ndim == 3 else None
            self._check_keys(key, trials)
        if self._extracellular is not None and (unroll is not None or (stimulus is not None and stimulus.ndim == 3)):
            raise InvalidArgumentError(
                "record_extracellular() synthesises traces for single runs; it does not take unroll or a batch "
                "of stimuli"
            )
        delivered = None
        if inputs is not None:
            rows = math.ceil(duration / step - 1e-9)
            currents = inputs.currents if isinstance(inputs, ElectrodeStimulation) else inputs
            currents = check_electrode_inputs(currents, self.io.num_channels, rows, "inputs", step)
            if stimulus is not None and stimulus.ndim != 2:
                raise InvalidArgumentError("inputs (electrode currents) go with a single [T, n] stimulus, not a batch")
            padded = np.zeros((rows, self.io.num_channels))
            padded[: len(currents)] = currents
            delivered = ElectrodeStimulation(padded, step, self.io.channel_ids)
            cells = np.asarray(self.cell_stimulus(currents))
            if stimulus is not None:
                total = np.zeros((max(len(cells), stimulus.shape[0]), self.num_neurons))
                total[: len(cells)] += cells
                total[: stimulus.shape[0]] += np.asarray(stimulus)
                cells = total
            stimulus = cells
        return duration, stimulus, step, delivered

    def _check_stimulus_step(self, step) -> float:
        """`stimulus_step` (ms): 1 ms, or a multiple of the integration step that divides 1 ms."""
        if step is None:
            return STIMULUS_STEP
        dt = self.model.dt
        accepted = [k * dt for k in range(1, int(round(STIMULUS_STEP / dt)) + 1)
                    if abs(STIMULUS_STEP / (k * dt) - round(STIMULUS_STEP / (k * dt))) < 1e-9]
        if isinstance(step, bool) or not isinstance(step, (int, float, np.integer, np.floating)) or not any(
            math.isclose(step, a, rel_tol=1e-9) for a in accepted
        ):
            raise InvalidArgumentError(
                f"stimulus_step must be one of {[round(a, 9) for a in accepted]} ms (a multiple of the integration "
                f"step {dt} ms that divides {STIMULUS_STEP} ms); got {describe(step)}"
            )
        return float(min(accepted, key=lambda a: abs(a - step)))

    def _check_keys(self, key, trials: int | None, one_for_all: bool = True, name: str = "key") -> None:
        """`key` must be one JAX key like `run_key` (if `one_for_all`) or, for `trials` batched trials
        or copies, one key per trial."""
        single = tuple(np.shape(self.run_key))
        accepted = ([single] if one_for_all else []) + ([(trials, *single)] if trials is not None else [])
        if not hasattr(key, "shape") or str(getattr(key, "dtype", "")) != "uint32" or tuple(key.shape) not in accepted:
            shapes = " or ".join(str(list(shape)) for shape in accepted)
            raise InvalidArgumentError(
                f"{name} must be JAX random key data, uint32 of shape {shapes} (like env.run_key; one per trial "
                f"for a batch); got {describe(key)}"
            )

    def _check_duration(self, duration) -> float:
        if isinstance(duration, bool) or not isinstance(duration, (int, float, np.integer, np.floating)):
            raise InvalidArgumentError(f"duration must be a number of ms; got {describe(duration)}")
        number = finite_number(duration)
        if number is None or number <= 0:
            raise InvalidArgumentError(f"duration must be a positive, finite number of ms; got {describe(duration)}")
        duration = number
        if duration < self.model.dt:
            raise InvalidArgumentError(
                f"duration must be at least one integration step ({self.model.dt} ms); got {duration}"
            )
        return duration

    # -- closed loop ---------------------------------------------------------------------------------

    def stream(self, duration: float, period: float, controller, latency=None, realtime: bool = False, inputs=None):
        """Run `duration` ms in a closed loop: every `period` ms `controller` reads the window and stimulates.

        **Arguments**

        - `duration`: ms, a whole number of periods.
        - `period`: ms, a positive multiple of the 1 ms stimulus grid.
        - `controller`: called as `controller(window)` with a `livn.streaming.Window` (start, spikes,
          spikes per channel, the window's `RunResult`) after every window; returns electrode
          inputs in uA, `[rows, n_channels]` with one row per ms, or None.
        - `latency`: when a decision takes effect after the data it was made from: None (one
          period), ms, `"measured"` (the controller's wall time) or a `livn.streaming.Latency`
          (see `livn.streaming` for the rule).
        - `realtime`: pace simulated time to wall-clock time and record deadline misses.
        - `inputs`: None, or open-loop electrode inputs in uA, `[rows, n_channels]` from the stream's
          start (e.g. a protocol's stimulus), delivered as well; the controller's decisions add to them.

        **Returns**: a `livn.streaming.StreamResult`: the recording, the delivered electrode
        inputs (uA), every decision with its latency, and the deadline misses. The culture
        continues from where it is and stays there afterwards, as with `run`. Delivering the
        same inputs open loop (`run(duration, cell_stimulus(delivered))` from the same state)
        gives the same spikes. Under MPI (NEURON) the controller runs on rank 0.
        """
        from livn import streaming

        backend = self._backend()
        if self._scaling is not None:
            raise InvalidArgumentError(
                "synaptic scaling is applied between the segments of env.run(); it does not act inside a stream. "
                "Stream with plasticity on but scaling off (enable_plasticity(rules) without scaling)"
            )
        duration = self._check_duration(duration)
        period = self._check_duration(period)
        if abs(period / STIMULUS_STEP - round(period / STIMULUS_STEP)) > 1e-9:
            raise InvalidArgumentError(
                f"period must be a positive multiple of the stimulus grid ({STIMULUS_STEP} ms); got {period}"
            )
        if abs(duration / period - round(duration / period)) > 1e-9:
            raise InvalidArgumentError(f"duration must be a whole number of periods ({period} ms); got {duration}")
        if not callable(controller):
            raise InvalidArgumentError(f"controller must be callable as controller(window); got {describe(controller)}")
        if not isinstance(realtime, bool):
            raise InvalidArgumentError(f"realtime must be True or False; got {describe(realtime)}")
        latency = streaming.as_latency(latency, period)
        if inputs is not None:
            inputs = check_electrode_inputs(inputs, self.io.num_channels, math.ceil(duration / STIMULUS_STEP - 1e-9))
        driver = streaming.StreamDriver(
            start=self.t, n_channels=self.io.num_channels, n_neurons=self.num_neurons,
            channels_of=lambda r: self.channel_recording(r.it, r.t) if r.it is not None else ({}, {}),
            to_cells=self.cell_stimulus, duration=duration, period=period, controller=controller,
            latency=latency, realtime=realtime, voltage_dt=self._voltage_dt, inputs=inputs,
        )
        if self._extracellular is not None:
            driver.on_result = self._stream_traces(driver, period)
        driver.begin()
        backend.stream(duration, period, driver.schedule, driver.on_window)
        recording = self._weight_recording
        if recording is not None and synaptic.on_grid(self.t, recording.dt):  # a stream is sampled at its end only
            recording.add(round(self.t / recording.dt) * recording.dt, backend.synapse_weights())
        return driver.finish()

    def _stream_traces(self, driver, period: float):
        """`on_result` for a stream: each window's extracellular traces (artifacts of the inputs the driver
        delivered in it), then only the spikes the user records (the backend records every neuron)."""
        from livn.stimulation import ElectrodeStimulation

        backend, traces, rows = self.backend, self._extracellular, int(round(period / STIMULUS_STEP))

        def add_traces(index, result):
            if backend.is_root:
                delivered = driver.delivered[index * rows:(index + 1) * rows]
                applied = ElectrodeStimulation(delivered, STIMULUS_STEP, self.io.channel_ids) if delivered.any() else None
                recorded = traces.record(period, result.it, result.t, currents=backend.synaptic_currents(),
                                         stimulation=applied)
                result = result._replace(extracellular=recorded)
            return self._user_spikes(result)

        return add_traces

    # -- copies of the culture (capability `copies`): B cultures stepped in one call -------------

    def copy_states(self, copies: int) -> "CultureCopies":
        """`copies` copies of this culture at t = 0 (capability `copies`), for `run_copies`.

        Every copy has this Env's neurons, synapses, weights and noise levels and its
        own dynamic state; the Env's own state is not touched.
        """
        backend = self.require(COPIES, "copy_states()")
        if isinstance(copies, bool) or not isinstance(copies, (int, np.integer)) or copies < 1:
            raise InvalidArgumentError(f"copies must be a positive integer; got {describe(copies)}")
        return CultureCopies(int(copies), backend.initial_states(int(copies)))

    def run_copies(self, duration: float, copies: "CultureCopies", stimulus=None, keys=None, *,
                   stimulus_step: float | None = None):
        """Advance every copy by `duration` ms in one compiled call (capability `copies`).

        **Arguments**

        - `duration`: ms, a positive whole number (copies keep one clock per 1 ms noise row).
        - `copies`: from `copy_states`, `run_copies` or `select_copies`.
        - `stimulus`: None, or `[B, T, n_neurons]` injected current in nA, `stimulus_step` ms per row (see `run`).
        - `stimulus_step`: ms per stimulus row, as in `run` (default 1 ms).
        - `keys`: None (every copy uses `run_key`, i.e. the noise of this Env's own `run`), or
          `[B, 2]` JAX keys: copy b draws exactly the noise of `run(..., key=keys[b])`.

        **Returns**: `(results, copies)`: a list of B `RunResult` (spikes as recorded by this Env)
        and the advanced copies.
        """
        backend = self.require(COPIES, "run_copies()")
        if self._extracellular is not None:
            raise InvalidArgumentError("record_extracellular() synthesises traces for env.run(), not for run_copies()")
        if not isinstance(copies, CultureCopies):
            raise InvalidArgumentError(f"copies must come from env.copy_states(); got {describe(copies)}")
        duration = self._check_duration(duration)
        if abs(duration - round(duration)) > 1e-9:
            raise InvalidArgumentError(f"duration must be a whole number of ms for copies; got {duration}")
        count = copies.count
        step = self._check_stimulus_step(stimulus_step)
        if stimulus is None:
            stimulus = np.zeros((count, 1, self.num_neurons))
        stimulus = self._check_stimulus(stimulus, duration, step)
        if stimulus.ndim != 3 or stimulus.shape[0] != count:
            raise InvalidArgumentError(
                f"stimulus must have shape [{count}, T, {self.num_neurons}] for {count} copies; got {describe(stimulus)}"
            )
        if keys is not None:
            self._check_keys(keys, count, one_for_all=False, name="keys")
        options = {} if step == STIMULUS_STEP else {"stimulus_step": step}
        results, state = backend.run_copies(duration, copies.state, stimulus, keys, **options)
        return self._stamp(results, duration, None), CultureCopies(count, state)

    def select_copies(self, which, if_true: "CultureCopies", if_false: "CultureCopies") -> "CultureCopies":
        """Per copy, the state from `if_true` where `which` ([B] bools) is True, else from `if_false`.

        E.g. clear some copies: `env.select_copies(which, env.copy_states(B), copies)`.
        """
        backend = self.require(COPIES, "select_copies()")
        which = np.asarray(which)
        for name, value in (("if_true", if_true), ("if_false", if_false)):
            if not isinstance(value, CultureCopies):
                raise InvalidArgumentError(f"{name} must come from env.copy_states(); got {describe(value)}")
        if if_true.count != if_false.count or which.shape != (if_true.count,) or which.dtype != bool:
            raise InvalidArgumentError(
                f"which must be {if_true.count} booleans and both copies the same count; "
                f"got which {describe(which)}, counts {if_true.count} and {if_false.count}"
            )
        return CultureCopies(if_true.count, backend.select_copies(which, if_true.state, if_false.state))

    # -- plasticity (capability `plasticity`) -------------------------------------------------

    def _require_plasticity(self, what: str):
        return self.require(PLASTICITY, what)

    def enable_plasticity(self, params=None, scaling: SynapticScaling | None = None) -> "Env":
        """Turn long-term plasticity on (capability `plasticity`; equations in `livn.models.plasticity`).

        **Arguments**

        - `params`: None (the model's `plasticity_rules`: additive STDP on EXC->EXC and EXC->INH),
          a rule (`livn.models.STDP` or `InhibitorySTDP`) for every default projection, a dict of
          rule parameters for every default projection (e.g. `{"a_plus": 0.01, "w_max": 10.0}`;
          times ms, w_max nS), or `{projection: rule or parameter dict}` (a parameter dict may
          name its rule: `{"rule": "inhibitory_stdp", "target_rate": 5.0}`).
        - `scaling`: None, or a `livn.models.SynapticScaling` (homeostatic scaling of the plastic
          excitatory weights onto each neuron toward a target rate, every `period` ms).

        Traces start at zero; weights start from where they are. Calling it again replaces the
        rules. Errors (unknown projections or parameters, bad values, a rule on a receptor it does
        not act on) are raised before anything changes.
        """
        backend = self._require_plasticity("enable_plasticity()")
        lowered = backend.lowered
        receptors = {name: lowered.receptor_of(name) for name in lowered.projections}
        rules = check_rules(params, receptors, self.model.plasticity_rules)
        if scaling is not None and not isinstance(scaling, SynapticScaling):
            raise InvalidArgumentError(f"scaling must be None or a livn.models.SynapticScaling; got {describe(scaling)}")
        plastic = lower_plasticity(lowered, rules)
        backend.set_plasticity(plastic)
        self._plasticity = plastic
        self._set_scaling(scaling)
        return self

    def disable_plasticity(self) -> "Env":
        """Stop plasticity (and scaling); the weights stay as learned."""
        backend = self._require_plasticity("disable_plasticity()")
        backend.set_plasticity(None)
        self._plasticity = None
        self._set_scaling(None)
        return self

    def _set_scaling(self, scaling) -> None:
        self._scaling = scaling
        self._scaling_counts = np.zeros(self.num_neurons, np.int64) if scaling is not None else None
        self._sync_spike_recording()  # scaling needs the rates of every neuron

    @property
    def plasticity(self) -> dict | None:
        """The rules in force, `{projection: rule}`, or None when plasticity is off."""
        return None if self._plasticity is None else dict(self._plasticity.rules)

    def synaptic_weights(self) -> "synaptic.SynapticWeights":
        """Every synapse with its current weight: arrays `pre`, `post` (gids), `projection` (names), `weight` (nS).

        Capability `plasticity`. Under MPI (NEURON) every rank calls it and gets the whole table.
        """
        backend = self._require_plasticity("synaptic_weights()")
        return synaptic.weight_table(backend.lowered, backend.synapse_weights())

    def set_synaptic_weights(self, weights) -> "Env":
        """Set every synapse's weight (nS) from an array in the order of `synaptic_weights()`."""
        backend = self._require_plasticity("set_synaptic_weights()")
        backend.set_synapse_weights(synaptic.check_weight_array(weights, backend.lowered.num_edges))
        return self

    def normalize_weights(self, target: float, projections=None) -> "Env":
        """Scale the weights onto each neuron so that they sum to `target` nS.

        **Arguments**

        - `target`: nS, >= 0: the summed weight of each neuron's selected inputs afterwards.
        - `projections`: a projection name or list of names (default: the plastic projections,
          or every excitatory one while plasticity is off).

        Neurons without selected inputs (or whose inputs sum to 0) are left alone; weights are
        not clipped to w_max.
        """
        backend = self._require_plasticity("normalize_weights()")
        if isinstance(target, bool) or not isinstance(target, (int, float, np.integer, np.floating)) \
                or not math.isfinite(target) or target < 0:
            raise InvalidArgumentError(f"target must be a finite summed weight >= 0 nS; got {describe(target)}")
        lowered = backend.lowered
        if projections is None:
            projections = list(self._plasticity.rules) if self._plasticity is not None else [
                name for name in lowered.projections if lowered.receptor_of(name) == "AMPA"]
        which = np.zeros(lowered.num_edges, bool)
        which[synaptic.select_synapses(lowered, projections)] = True
        weights = synaptic.normalized(backend.synapse_weights(), np.asarray(lowered.post), which, float(target))
        backend.set_synapse_weights(weights)
        return self

    def record_weights(self, dt: float, synapses=None) -> "Env":
        """Sample synaptic weights every `dt` ms during runs (capability `plasticity`).

        **Arguments**

        - `dt`: ms, a positive whole number; samples are taken whenever simulated time is a
          multiple of `dt` (runs are split there), plus one now.
        - `synapses`: None (every synapse), a projection name or list of names, or synapse
          indices (rows of `synaptic_weights()`).

        The samples are in `recorded_weights` (`t` ms, `synapses`, `weights [synapses, samples]`
        nS). A `stream` is not split: it adds one sample at its end (if that is on the grid). `clear()` empties them and samples t = 0 again. Splitting a run costs one backend
        call per sample (on brian2 a few ms each): choose `dt` of tens of ms or more for long runs.
        """
        backend = self._require_plasticity("record_weights()")
        dt = synaptic.check_sampling_interval(dt, "dt")
        recording = synaptic.WeightRecording(dt, synaptic.select_synapses(backend.lowered, synapses))
        recording.add(self.t, backend.synapse_weights())
        self._weight_recording = recording
        return self

    @property
    def recorded_weights(self) -> "synaptic.WeightRecording | None":
        """The weights sampled since `record_weights` (or the last `clear`), or None."""
        return self._weight_recording

    def _run_segments(self, duration: float, stimulus, step: float, delivered, extra: dict) -> RunResult:
        """`run` split where weights are sampled or scaled and where extracellular traces are
        synthesised: one backend run per segment, joined."""
        backend = self.backend
        if extra or (stimulus is not None and np.ndim(stimulus) != 2):
            raise InvalidArgumentError(
                "runs with record_weights(), synaptic scaling or record_extracellular() take a single [T, n] "
                "stimulus and no key or unroll"
            )
        start = self.t
        if stimulus is not None and not synaptic.on_grid(start, step):
            raise InvalidArgumentError(
                f"a run with a stimulus that is split for weight sampling, scaling or extracellular traces must start "
                f"on its {step:g} ms stimulus grid; the culture is at t = {start} ms"
            )
        recording, scaling, traces = self._weight_recording, self._scaling, self._extracellular
        intervals = [x for x in (recording and recording.dt, scaling and scaling.period,
                                 traces and self._extracellular_chunk) if x]
        options = {} if step == STIMULUS_STEP else {"stimulus_step": step}
        results, durations, now = [], [], start
        for end in synaptic.segment_boundaries(start, duration, intervals):
            length = end - now
            if length < self.model.dt / 2:
                continue
            part = None
            if stimulus is not None:
                first, stop = int(round((now - start) / step)), int(math.ceil((end - start) / step - 1e-9))
                part = stimulus[first:stop] if first < len(stimulus) else None
            result = backend.run(length, part if part is None or len(part) else None, **options)
            if scaling is not None and result.it is not None:
                self._scaling_counts += np.bincount(result.it, minlength=self.num_neurons)
            if traces is not None and backend.is_root:
                applied = None if delivered is None else delivered.window(now - start, end - start)
                recorded = traces.record(length, result.it, result.t, currents=backend.synaptic_currents(),
                                         stimulation=applied)
                result = result._replace(extracellular=recorded)
            if scaling is not None or traces is not None:  # the backend records every neuron: keep the user's
                result = self._user_spikes(result)
            now = self.t
            if scaling is not None and synaptic.on_grid(now, scaling.period):
                self._apply_scaling()
            if recording is not None and synaptic.on_grid(now, recording.dt):
                recording.add(round(now / recording.dt) * recording.dt, backend.synapse_weights())
            results.append(result)
            durations.append(length)
        joined = RunResult.concat(results, durations, dt=self._voltage_dt)
        return self._stamp(joined, duration, start, delivered)

    def _user_spikes(self, result: RunResult) -> RunResult:
        if self._spike_gids is None:
            return result._replace(it=None, t=None)
        if len(self._spike_gids) == self.num_neurons:
            return result
        keep = np.isin(result.it, self._spike_gids)
        return result._replace(it=result.it[keep], t=result.t[keep])

    def _apply_scaling(self) -> None:
        """Scale the plastic excitatory weights onto each neuron by its rate over the last period."""
        backend, plastic = self.backend, self._plasticity
        lowered = backend.lowered
        factors = self._scaling.factors(self._scaling_counts)
        which = np.asarray(plastic.plastic) & (np.asarray(lowered.receptor) == 0) if plastic is not None else \
            np.zeros(lowered.num_edges, bool)
        weights = synaptic.scaled(backend.synapse_weights(), np.asarray(lowered.post), which, factors,
                                  np.asarray(plastic.w_max) if plastic is not None else np.zeros(lowered.num_edges))
        backend.set_synapse_weights(weights)
        self._scaling_counts[:] = 0

    def save_system(self, path, overwrite: bool = False) -> str:
        """Write a new system directory holding this culture with its current (learned) synaptic weights.

        **Arguments**

        - `path`: the directory to create.
        - `overwrite`: replace `path` if it exists (otherwise an existing `path` is an error).

        The directory has the same cells, synapses and electrode layout, each synapse's weight
        (nS, NeuroH5 edge attribute `Synapses/weight`) and the current noise levels (as
        `tuned.json`). `Env(path).init().apply_model_defaults()` on any backend with the
        `plasticity` capability starts from these weights. Written atomically; under MPI every
        rank calls it and rank 0 writes. Returns the directory's path.
        """
        backend = self._require_plasticity("save_system()")
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidArgumentError(f"path must be a directory path; got {describe(path)}")
        if not isinstance(overwrite, bool):
            raise InvalidArgumentError(f"overwrite must be True or False; got {describe(overwrite)}")
        if os.path.exists(path) and not overwrite:  # (every rank sees the same file system and raises)
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
        weights = backend.synapse_weights()
        settings = {"weights": dict(self._weights), "noise": {"mean": self._noise[0], "std": self._noise[1]}}
        if backend.is_root:
            synaptic.write_system(path, self.system, backend.lowered, weights, self.io, settings, overwrite)
        backend.barrier()
        return str(path)

    # -- checkpoints (capability `checkpoint`) ------------------------------------------------

    def _identity(self) -> dict:
        from livn import checkpoint

        return {
            "system": self.system.name,
            "system_digest": checkpoint.system_digest(self.system),
            "model_digest": checkpoint.model_digest(self.model),
            "seed": self.seed,
            "backend": self.backend_name,
        }

    def save_state(self, path) -> "Env":
        """Write the culture's whole dynamic state to the HDF5 file `path` (see `livn.checkpoint`).

        Membrane and synaptic variables, spikes in flight, the noise stream's position,
        weights (nS), noise levels (nA) and the time (ms), with a checksum and the identity of
        the system, model, seed and backend. Written atomically. Under MPI every rank calls
        it and rank 0 writes.
        """
        from livn import checkpoint

        backend = self.require(CHECKPOINT, "save_state()")
        checkpoint._check_path(path, "write the checkpoint to")
        settings = {"weights": dict(self._weights), "noise": list(self._noise)}
        if self._plasticity is not None:
            settings["plasticity"] = _rules_tree(self._plasticity.rules)
        if self._scaling is not None:
            settings["scaling"] = dataclasses.asdict(self._scaling)
            settings["scaling_counts"] = self._scaling_counts.copy()
        state = backend.get_state()
        if backend.is_root:
            checkpoint.write(path, {**self._identity(), "t_ms": backend.t}, settings, state)
        backend.barrier()
        return self

    def load_state(self, path) -> "Env":
        """Continue from a checkpoint that `save_state` wrote for the same system, model, seed and backend.

        Weights and noise levels are set as they were saved; recordings stay as set on this
        Env. A checkpoint of another culture or backend, or a corrupt file, raises
        `livn.checkpoint.CheckpointError` and leaves this Env unchanged.
        """
        from livn import checkpoint

        backend = self.require(CHECKPOINT, "load_state()")
        identity, settings, state = checkpoint.read(path)
        checkpoint.check_identity(identity, self._identity(), path)
        backend.check_state(state)
        rules = _rules_from_tree(settings.get("plasticity"))
        scaling = SynapticScaling(**settings["scaling"]) if settings.get("scaling") else None
        self.clear()
        self.set_weights(settings["weights"])
        self.set_noise(*settings["noise"])
        if rules is not None:
            self.enable_plasticity(rules, scaling=scaling)
            if scaling is not None:
                self._scaling_counts[:] = np.asarray(settings["scaling_counts"])
        elif self._plasticity is not None:
            self.disable_plasticity()
        backend.set_state(state)
        return self

    def clear(self) -> "Env":
        """Reset the culture to t = 0: initial state, no spikes in flight, the seed's noise.

        Weights (learned ones included), noise levels, plasticity rules and recordings stay as
        they were set; plasticity traces start again from zero, and recorded weights are emptied
        (with a new sample at t = 0).
        """
        backend = self._backend()
        backend.clear()
        if self._extracellular is not None:
            self._extracellular.reset()
        if self._scaling_counts is not None:
            self._scaling_counts[:] = 0
        if self._weight_recording is not None:
            self._weight_recording.reset()
            self._weight_recording.add(0.0, backend.synapse_weights())
        return self

    def __repr__(self) -> str:
        built = "built" if self.backend is not None else "not built"
        return f"Env({self.system.name!r}, {self.num_neurons} neurons, backend={self.backend_name!r}, seed={self.seed}, {built})"
