"""Export a recording to NWB (Neurodata Without Borders), the format DANDI archives.

```python
from livn.nwb import export
result = env.run(1000)                      # after env.record_spikes() (and record_extracellular())
export(result, "culture.nwb")
```

What the file holds (read it back with `pynwb.NWBHDF5IO(path).read()`):

- `devices["MEA"]`, one electrode group "MEA" and the **electrodes** table, one row per
  MEA channel (row id = channel id, also in column `channel_id`): `x`, `y`, `z` and
  `rel_x`, `rel_y`, `rel_z` are the electrode's position in um (NWB asks for microns for
  both) in the culture's frame, the same frame as the neurons' soma positions.
- `acquisition["ExtracellularTraces"]`, an `ElectricalSeries` of the raw traces when the
  run recorded them (`Env.record_extracellular`): float32 `[samples, channels]` in uV with
  `conversion` 1e-6 (so `data * conversion` is in volts), `rate` the sampling rate (Hz),
  `starting_time` (s) the window's start. A file-backed recording is copied chunk by chunk.
  Spans blanked around stimulation (the traces read 0 there) are rows of `invalid_times`.
- **units**: ground truth, one unit per neuron of the culture (silent ones included, with no
  spikes, so that rates average over every neuron; only the neurons in
  `provenance["recorded_spike_gids"]` when it is given), spike times in s; columns `gid`,
  `population`, `soma_x`, `soma_y`, `soma_z` (um) and `obs_intervals` (the window). The
  spikes are every neuron's spikes from the extracellular recording when present, else the
  result's `it`, `t`. Without provenance only the neurons that spiked are listed.
- `stimulus["ElectrodeStimulation"]`, a `TimeSeries` of the delivered electrode currents
  `[rows, channels]` (stored in uA, `conversion` 1e-6 to amperes, `rate` 1 / step) and
  `intervals["stimulation_pulses"]`: one row per pulse per channel (onset, offset, channel,
  largest and smallest current in uA, net charge in nC).
- `processing["misc"]`: `MembranePotential` (`[samples, neurons]` in mV, conversion
  1e-3 to volts) and `MembranePotentialNeurons` (the gid of each column) when voltage was recorded.
- metadata: a `Subject` describing the simulated culture, keywords, `was_generated_by`
  (livn, the simulator, pynwb) and `scratch["livn_provenance"]`, the result's provenance as
  JSON (system, seed, backend, model parameters, MEA, versions, and the recording's
  `ExtracellularSettings` under "extracellular").

Times: NWB times are seconds since `session_start_time`, which stands for t = 0 of the
culture, so the exports of consecutive windows of one culture line up.

pynwb is optional: `pip install 'livn[nwb]'`.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from livn._files import atomic_path
from livn.errors import InvalidArgumentError, describe, require_module
from livn.types import RunResult

#: Pulses on one channel separated by less than this many ms of zero current are one pulse
#: (the interphase gap of a biphasic pulse).
PULSE_GAP_MS = 1.0

_LOCATION = "in vitro culture"
_CHUNK_BYTES = 2 << 20    # HDF5 chunks of the traces: ~2 MB of float32 samples, all channels
_BUFFER_BYTES = 16 << 20  # the most trace data read into memory at once while writing
_TRACE_ATTRIBUTES = ("fs_hz", "channel_ids", "start_ms", "first_sample", "n_samples", "read",
                     "spike_gids", "spike_times")


def export(result, path, *, overwrite: bool = False, session_description: str | None = None,
           identifier: str | None = None, session_start_time: datetime.datetime | None = None) -> Path:
    """Write a run's recording to an NWB file (see the module docstring for its contents).

    **Arguments**

    - `result`: a `RunResult` of `Env.run` with spikes recorded (`record_spikes`) or extracellular
      traces (`record_extracellular`), or a list of consecutive ones (joined with `RunResult.concat`).
      Its `provenance` (stamped by `Env.run`) gives the MEA, populations and soma positions;
      traces need it.
    - `path`: the file to write, ending in `.nwb`, in an existing writable directory; written
      under a temporary name and renamed into place.
    - `overwrite`: replace an existing file at `path` (default: refuse).
    - `session_description`: text (default: a one-line summary of the run).
    - `identifier`: a unique text id of the file (default: a random UUID).
    - `session_start_time`: a timezone-aware `datetime` standing for t = 0 of the culture
      (default: now, in the local time zone).

    **Returns**

    The `Path` written.
    """
    result = _check_result(result)
    path = check_path(path, overwrite)
    _check_session(session_description, identifier, session_start_time)
    require_module("pynwb", "nwb", "NWB export")
    _write(_build(result, session_description, identifier, session_start_time), path)
    return path


def export_experiment(audit_path, path, *, overwrite: bool = False, session_description: str | None = None,
                      identifier: str | None = None, session_start_time: datetime.datetime | None = None) -> Path:
    """Write an experiment's audit trail (`livn experiment run`) to an NWB file with a trials table.

    **Arguments**

    - `audit_path`: the audit trail (`.h5`, finished or not; only committed trials are read).
      Its config names the system (a predefined name or a system directory, loaded with
      `livn.system.make`) and, optionally, a `mea.json`.
    - `path`, `overwrite`, `session_description`, `identifier`, `session_start_time`: as `export`.

    **Returns**

    The `Path` written. Besides what `export` writes for the whole experiment (units with every
    recorded spike, the delivered stimulation on a 1 ms grid, provenance with the experiment's
    config under "experiment"), the file's **trials** table has one row per committed trial:
    start and stop (s since the experiment start), `complete`, one column per parameter (its
    name) and per result (`result_<name>`): numbers, text or booleans when every trial has one
    of one kind, else JSON text.
    """
    from livn.experiment.audit import read_audit

    if not isinstance(audit_path, (str, os.PathLike)) or not Path(audit_path).is_file():
        raise InvalidArgumentError(f"audit_path must be an existing audit trail file; got {describe(audit_path)}")
    path = check_path(path, overwrite)
    _check_session(session_description, identifier, session_start_time)
    require_module("pynwb", "nwb", "NWB export")
    trail = read_audit(audit_path)
    trials = [trail.trial(i) for i in range(trail.completed_trials)]
    if not trials:
        raise InvalidArgumentError(f"audit_path {str(audit_path)!r} holds no committed trial")
    result = _experiment_result(trail, trials)
    session_description = session_description or (
        f"livn experiment {trail.config.get('name', '')!r} on culture {trail.config.get('system')}: "
        f"{len(trials)} trials, status {trail.status}")
    nwbfile = _build(result, session_description, identifier, session_start_time)
    _add_trials(nwbfile, trials)
    _write(nwbfile, path)
    return path


def _experiment_result(trail, trials) -> RunResult:
    """The whole experiment as one `RunResult` from its start: spikes, stimulation (1 ms rows), provenance."""
    from livn.io import MEA
    from livn.stimulation import ElectrodeStimulation
    from livn.system import make

    config = trail.config
    try:
        system = make(config["system"])
    except (LookupError, OSError, ValueError) as error:
        raise InvalidArgumentError(
            f"the audit trail's system {config.get('system')!r} cannot be loaded ({error}); export needs its "
            "populations and positions"
        ) from None
    mea = (MEA.from_dict(json.loads(Path(config["mea"]).read_text())) if config.get("mea")
           else MEA.from_directory(system.uri))
    end = max(t["start_ms"] + t["duration_ms"] for t in trials)
    currents = np.zeros((math.ceil(end - 1e-9), mea.num_channels))
    for trial in trials:
        for stimulus in trial["stimuli"]:
            rows = np.asarray(stimulus["inputs_uA"], dtype=float).reshape(-1, mea.num_channels)
            first = round(stimulus["start_ms"])
            if abs(stimulus["start_ms"] - first) > 1e-6:
                raise InvalidArgumentError(f"a stimulus of trial {trial['index']} starts at {stimulus['start_ms']} ms, "
                                           "off the 1 ms grid of audit trail stimuli")
            if first + len(rows) > len(currents):
                currents = np.vstack([currents, np.zeros((first + len(rows) - len(currents), mea.num_channels))])
            currents[first:first + len(rows)] += rows
    gids = np.concatenate([np.asarray(t["spikes"][0], dtype=np.int64) for t in trials])
    times = np.concatenate([np.asarray(t["spikes"][1], dtype=float) for t in trials])
    order = np.argsort(times, kind="stable")
    provenance = {
        "system": system.name, "system_uri": None if system.uri is None else str(system.uri), "seed": trail.seed,
        "backend": config.get("backend"), "mea": mea.to_dict(),
        "populations": {name: [int(first), int(count)] for name, (first, count) in system.population_ranges.items()},
        "neuron_coordinates": np.asarray(system.neuron_coordinates, dtype=float).tolist(),
        "versions": {"livn": trail.provenance.get("livn"), **trail.provenance.get("simulators", {})},
        "t_start_ms": 0.0,
        "recorded_spike_gids": _recorded_gids(config.get("recordings", {}).get("spikes", True), system),
        "experiment": {"config": config, "audit": trail.provenance, "status": trail.status},
    }
    stimulation = ElectrodeStimulation(currents, 1.0, mea.channel_ids) if np.any(currents) else None
    return RunResult(gids[order], times[order], None, None, duration=float(max(end, len(currents))),
                     stimulation=stimulation, provenance=provenance)


def _recorded_gids(spikes, system) -> list[int] | None:
    """The gids an experiment's `recordings.spikes` (true, a population or a list of them) recorded; None: all."""
    if spikes is True or spikes is None:
        return None
    names = [spikes] if isinstance(spikes, str) else list(spikes)
    if all(isinstance(name, str) for name in names):
        return sorted(int(g) for name in names for g in system.gids_of(name))
    return sorted(int(g) for g in names)


def _add_trials(nwbfile, trials) -> None:
    reserved = {"start_time", "stop_time", "tags", "timeseries", "id", "complete"}
    columns = {}
    for source, prefix in (("parameters", ""), ("results", "result_")):
        for key in dict.fromkeys(k for t in trials for k in t[source]):
            name = prefix + str(key)
            name = f"parameter_{name}" if name in reserved else name
            values = [t[source].get(key) for t in trials]
            kinds = {type(v) for v in values}
            plain = len(kinds) == 1 and kinds <= {int, float, str, bool}
            if kinds <= {int, float} and kinds:
                values, plain = [float(v) for v in values], True
            columns[name] = (values if plain else [json.dumps(v) for v in values],
                             f"trial {source[:-1]} {key!r}" + ("" if plain else " (JSON)"))
    nwbfile.add_trial_column(name="complete", description="whether the trial ran to its end")
    for name, (_, description) in columns.items():
        nwbfile.add_trial_column(name=name, description=description)
    for i, trial in enumerate(trials):
        nwbfile.add_trial(start_time=trial["start_ms"] / 1000.0,
                          stop_time=(trial["start_ms"] + trial["duration_ms"]) / 1000.0, complete=trial["complete"],
                          **{name: values[i] for name, (values, _) in columns.items()})


# -- checks -----------------------------------------------------------------------------------------


def _check_result(result) -> RunResult:
    if isinstance(result, (list, tuple)) and not isinstance(result, RunResult):
        if not result or not all(isinstance(r, RunResult) for r in result):
            raise InvalidArgumentError(
                "result must be a RunResult or a non-empty list of RunResults of consecutive windows; got "
                f"{describe(result)}"
            )
        result = RunResult.concat(result)
    if not isinstance(result, RunResult):
        raise InvalidArgumentError(f"result must be a livn.types.RunResult (from Env.run); got {describe(result)}")
    traces = result.extracellular
    if traces is not None:
        missing = [name for name in _TRACE_ATTRIBUTES if not hasattr(traces, name)]
        if missing:
            raise InvalidArgumentError(
                f"result.extracellular must be a livn.io.extracellular.ExtracellularRecording; got "
                f"{describe(traces)} (lacks {missing})"
            )
    if result.t is None and traces is None:
        raise InvalidArgumentError(
            "result has no spikes: call env.record_spikes() (or env.record_extracellular()) before env.run"
        )
    provenance = result.provenance
    needs_mea = [name for name in ("extracellular", "stimulation") if getattr(result, name) is not None]
    if needs_mea and (provenance is None or "mea" not in provenance):
        raise InvalidArgumentError(
            f"result carries {' and '.join(needs_mea)} but no provenance['mea'] (the electrode layout that "
            "Env.run stamps on its results); export needs it for the electrodes table"
        )
    if provenance is not None:
        for key, kind in (("mea", Mapping), ("populations", Mapping), ("neuron_coordinates", (list, np.ndarray))):
            if key in provenance and not isinstance(provenance[key], kind):
                raise InvalidArgumentError(
                    f"result.provenance[{key!r}] must be a {getattr(kind, '__name__', 'list')}; "
                    f"got {describe(provenance[key])}"
                )
    return result


def check_path(path, overwrite: bool = False) -> Path:
    """The checks `export` makes of its `path` (call it before a long run to fail early).

    **Arguments**: `path` (a file name ending in `.nwb` in an existing writable directory);
    `overwrite` (whether an existing file may be replaced).

    **Returns**: `path` as a `Path`; raises `InvalidArgumentError` naming what is wrong.
    """
    if not isinstance(overwrite, bool):
        raise InvalidArgumentError(f"overwrite must be True or False; got {describe(overwrite)}")
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"path must be a file path (str or os.PathLike); got {describe(path)}")
    path = Path(path).expanduser()
    if path.suffix.lower() != ".nwb":
        raise InvalidArgumentError(f"path must end in .nwb; got {str(path)!r}")
    parent = path.parent.resolve()
    if not parent.is_dir():
        raise InvalidArgumentError(f"path {str(path)!r} is not writable: its directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidArgumentError(f"path {str(path)!r} is not writable: no write permission on {str(parent)!r}")
    if path.is_dir():
        raise InvalidArgumentError(f"path {str(path)!r} is a directory; give a file name ending in .nwb")
    if path.exists() and not overwrite:
        raise InvalidArgumentError(f"path {str(path)!r} already exists; pass overwrite=True to replace it")
    return path


def _check_session(session_description, identifier, session_start_time) -> None:
    if session_description is not None and (not isinstance(session_description, str) or not session_description):
        raise InvalidArgumentError(
            f"session_description must be a non-empty str or None; got {describe(session_description)}"
        )
    if identifier is not None and (not isinstance(identifier, str) or not identifier):
        raise InvalidArgumentError(f"identifier must be a non-empty str or None; got {describe(identifier)}")
    if session_start_time is not None and (
        not isinstance(session_start_time, datetime.datetime) or session_start_time.tzinfo is None
    ):
        raise InvalidArgumentError(
            "session_start_time must be a timezone-aware datetime.datetime (e.g. datetime.now().astimezone()) "
            f"or None; got {describe(session_start_time)}"
        )


def _write(nwbfile, path: Path) -> None:
    """Write `nwbfile` to a temporary name next to `path`, then rename it to `path`."""
    import pynwb

    with atomic_path(path, suffix=".tmp.nwb") as tmp:
        with pynwb.NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwbfile)


# -- building the file ------------------------------------------------------------------------------


def _build(result: RunResult, session_description, identifier, session_start_time):
    """An in-memory `pynwb.NWBFile` of `result` (traces stay lazy until it is written)."""
    import pynwb
    from pynwb.file import Subject

    provenance = dict(result.provenance or {})
    start_ms = _window_start(result)
    system = provenance.get("system", "unknown system")
    n_neurons = sum(int(count) for _, count in provenance.get("populations", {}).values()) or None
    duration = result.duration
    if session_description is None:
        session_description = (
            f"livn simulation of culture {system}"
            + (f" ({n_neurons} neurons)" if n_neurons else "")
            + (f" on the {provenance['backend']} backend" if "backend" in provenance else "")
            + (f", {duration:g} ms from t = {start_ms:g} ms" if duration else "")
            + (f", seed {provenance['seed']}" if "seed" in provenance else "")
        )
    versions = {**provenance.get("versions", {}), "pynwb": pynwb.__version__}
    provenance["versions"] = versions
    settings = getattr(result.extracellular, "settings", None)
    if settings is not None and hasattr(settings, "to_dict") and "extracellular" not in provenance:
        provenance["extracellular"] = settings.to_dict()
    nwbfile = pynwb.NWBFile(
        session_description=session_description,
        identifier=identifier or str(uuid.uuid4()),
        session_start_time=session_start_time or datetime.datetime.now().astimezone(),
        experiment_description=(
            "A simulated in vitro neural culture on a simulated multi-electrode array (livn). "
            "session_start_time stands for t = 0 of the culture."
        ),
        keywords=["livn", "simulation", "multi-electrode array", "in vitro culture", "ground truth"],
        was_generated_by=[[name, str(version)] for name, version in versions.items() if version],
        data_collection="Simulated; spike times are the simulator's ground truth.",
        notes="Provenance (system, seed, backend, model parameters, MEA, versions) is in scratch['livn_provenance'].",
        subject=Subject(
            subject_id=str(system),
            description=f"simulated culture {system}" + (f" of {n_neurons} neurons" if n_neurons else "")
            + (" (" + ", ".join(f"{name} {int(c)}" for name, (_, c) in provenance["populations"].items()) + ")"
               if provenance.get("populations") else "")
            + ". Age and sex do not apply to a simulation; NWB requires them, so age is the open range "
              "'P0D/' and sex 'U' (unknown).",
            age="P0D/",
            sex="U",
        ),
    )
    nwbfile.add_scratch(json.dumps(provenance, default=_plain), name="livn_provenance",
                        description="RunResult.provenance of the exported run, as JSON")
    electrodes = _add_electrodes(nwbfile, provenance.get("mea"), result.extracellular)
    if result.extracellular is not None:
        _add_traces(nwbfile, result.extracellular, electrodes)
    _add_units(nwbfile, result, provenance, start_ms)
    if result.stimulation is not None:
        _add_stimulation(nwbfile, result.stimulation, start_ms)
    if result.v is not None:
        _add_voltage(nwbfile, result, start_ms)
    return nwbfile


def _window_start(result: RunResult) -> float:
    """The window's start (ms since t = 0 of the culture)."""
    if result.extracellular is not None:
        return float(result.extracellular.start_ms)
    start = (result.provenance or {}).get("t_start_ms")
    return 0.0 if start is None else float(start)


def _add_electrodes(nwbfile, mea, traces) -> dict:
    """The device, electrode group and electrodes table; returns {channel id: table row}."""
    if mea is None:
        return {}
    rows = np.asarray(mea["electrodes"], dtype=float).reshape(-1, 4)
    device = nwbfile.create_device(
        name="MEA", description="simulated planar multi-electrode array (livn); electrode positions in um",
    )
    group = nwbfile.create_electrode_group(
        name="MEA", description=f"the {len(rows)} electrodes of the MEA", location=_LOCATION, device=device,
        position=None,
    )
    filtering = "none (no traces recorded)"
    if traces is not None:
        settings = getattr(traces, "settings", None)
        band = getattr(settings, "noise_band_hz", None)
        filtering = ("none: simulated broadband voltage (spike waveforms, LFP proxy, noise"
                     + (f" band-limited to {band[0]:g}-{band[1]:g} Hz" if band is not None else "") + ")")
    nwbfile.add_electrode_column(name="channel_id", description="the MEA's channel id of this electrode")
    table = {}
    for i, (channel, x, y, z) in enumerate(rows):
        nwbfile.add_electrode(
            id=int(channel), x=float(x), y=float(y), z=float(z), rel_x=float(x), rel_y=float(y), rel_z=float(z),
            location=_LOCATION, filtering=filtering, group=group, channel_id=int(channel),
        )
        table[int(channel)] = i
    return table


def _trace_chunks_class():
    from hdmf.data_utils import GenericDataChunkIterator

    class TraceChunks(GenericDataChunkIterator):
        """Time-major `[samples, channels]` float32 uV read from an `ExtracellularRecording` a block at a time."""

        def __init__(self, recording):
            self.recording = recording
            n_channels = len(recording.channel_ids)
            n_samples = int(recording.n_samples)
            chunk = max(1, min(n_samples, _CHUNK_BYTES // (4 * n_channels)))
            buffer = min(n_samples, chunk * (_BUFFER_BYTES // _CHUNK_BYTES))
            super().__init__(chunk_shape=(chunk, n_channels), buffer_shape=(buffer, n_channels))

        def _get_data(self, selection):
            samples, channels = selection
            block = np.asarray(self.recording.read(samples.start, samples.stop), dtype=np.float32)
            return block[channels].T

        def _get_maxshape(self):
            return (int(self.recording.n_samples), len(self.recording.channel_ids))

        def _get_dtype(self):
            return np.dtype(np.float32)

    return TraceChunks


def _add_traces(nwbfile, recording, electrodes: dict) -> None:
    from pynwb.ecephys import ElectricalSeries

    channels = [int(c) for c in np.asarray(recording.channel_ids)]
    unknown = [c for c in channels if c not in electrodes]
    if unknown:
        raise InvalidArgumentError(
            f"result.extracellular records channels {unknown} that provenance['mea'] does not have"
        )
    region = nwbfile.create_electrode_table_region(
        region=[electrodes[c] for c in channels], description="the recorded channels, in column order",
    )
    fs = float(recording.fs_hz)
    for first, stop in np.asarray(getattr(recording, "blanked", np.zeros((0, 2))), dtype=np.int64).reshape(-1, 2):
        nwbfile.add_invalid_time_interval(start_time=(recording.first_sample + first) / fs,
                                          stop_time=(recording.first_sample + stop) / fs,
                                          tags=["blanked around electrode stimulation"])
    nwbfile.add_acquisition(ElectricalSeries(
        name="ExtracellularTraces",
        data=_trace_chunks_class()(recording),
        electrodes=region,
        conversion=1e-6,
        rate=fs,
        starting_time=int(recording.first_sample) / fs,
        filtering=nwbfile.electrodes["filtering"][0],
        description=(
            "Extracellular voltage at each MEA electrode, stored in uV (multiply by conversion for volts): "
            "spike waveforms of nearby neurons by a point-source law, an LFP proxy from synaptic currents, "
            "band-limited noise and stimulation artifacts (livn.io.extracellular)."
        ),
    ))


def _add_units(nwbfile, result: RunResult, provenance: dict, start_ms: float) -> None:
    from pynwb.misc import Units

    if result.extracellular is not None:
        gids, times = result.extracellular.spike_gids, result.extracellular.spike_times
    else:
        gids, times = result.it, result.t
    gids = np.asarray(gids, dtype=np.int64)
    times_s = (start_ms + np.asarray(times, dtype=float)) / 1000.0
    order = np.lexsort((times_s, gids))
    gids, times_s = gids[order], times_s[order]

    populations = {name: (int(first), int(count)) for name, (first, count) in provenance.get("populations", {}).items()}
    coordinates = np.asarray(provenance.get("neuron_coordinates", np.zeros((0, 4))), dtype=float).reshape(-1, 4)
    recorded = provenance.get("recorded_spike_gids")  # a list of gids, or "all" (see Env's provenance)
    if result.extracellular is None and recorded is not None and not isinstance(recorded, str):
        neurons = np.unique(np.concatenate([np.asarray(provenance["recorded_spike_gids"], dtype=np.int64), gids]))
    elif populations:
        neurons = np.concatenate([np.arange(first, first + count) for first, count in populations.values()])
        neurons = np.sort(neurons)
    else:
        neurons = np.unique(gids)
    position = {int(row[0]): row[1:] for row in coordinates}

    description = ("Ground truth: one unit per neuron whose spikes were recorded (those without spikes included), "
                   "spike times in s from the simulator.") if populations else (
        "Ground truth: one unit per neuron that spiked, spike times in s from the simulator.")
    dt = provenance.get("model", {}).get("dt")  # ms; spike times lie on the integration grid
    nwbfile.units = Units(name="units", description=description,
                          **({"resolution": float(dt) / 1000.0} if dt else {}))
    nwbfile.add_unit_column(name="gid", description="the neuron's gid in the culture")
    if populations:
        nwbfile.add_unit_column(name="population", description="the neuron's population (e.g. EXC, INH)")
    if position:
        for axis in "xyz":
            nwbfile.add_unit_column(name=f"soma_{axis}", description=f"{axis} position of the soma, um")
    observed = None
    if result.duration:
        observed = [[start_ms / 1000.0, (start_ms + result.duration) / 1000.0]]
    bounds = np.searchsorted(gids, neurons, side="left"), np.searchsorted(gids, neurons, side="right")
    for gid, lo, hi in zip(neurons, *bounds, strict=True):
        gid = int(gid)
        columns = {"gid": gid}
        if populations:
            columns["population"] = next(
                (name for name, (first, count) in populations.items() if first <= gid < first + count), "")
        if position:
            xyz = position.get(gid, (math.nan,) * 3)
            columns.update(soma_x=float(xyz[0]), soma_y=float(xyz[1]), soma_z=float(xyz[2]))
        nwbfile.add_unit(spike_times=times_s[lo:hi], obs_intervals=observed, **columns)


def _add_stimulation(nwbfile, stimulation, start_ms: float) -> None:
    from pynwb import H5DataIO, TimeSeries
    from pynwb.epoch import TimeIntervals

    currents = np.asarray(stimulation.currents, dtype=float)
    channels = [int(c) for c in stimulation.channel_ids]
    step = float(stimulation.step)
    nwbfile.add_stimulus(TimeSeries(
        name="ElectrodeStimulation",
        data=H5DataIO(currents, compression="gzip", chunks=True),  # mostly zeros: compresses well
        unit="A",
        conversion=1e-6,
        rate=1000.0 / step,
        starting_time=start_ms / 1000.0,
        description=(
            f"Electrode currents delivered through the MEA, stored in uA (times conversion: amperes), "
            f"one row per {step:g} ms, columns the channels {channels} (the electrodes table's channel_id). "
            "livn's sign: positive current depolarises the neurons near the electrode, so the cathodic "
            "phase of a biphasic pulse is positive here (the opposite of the usual electrode-current sign)."
        ),
    ))
    pulses = TimeIntervals(
        name="stimulation_pulses",
        description=(
            "One row per stimulus onset: the channels whose pulse starts then (a pulse is a run of non-zero "
            f"current rows on one channel, runs less than {PULSE_GAP_MS:g} ms apart joined, as the phases of a "
            "biphasic pulse). stop_time is the end of the longest of them. Times in s; the ragged columns "
            "hold one value per channel of the row."
        ),
    )
    pulses.add_column(name="channels", description="MEA channel ids pulsed from this onset", index=True)
    pulses.add_column(name="max_current", index=True,
                      description="largest current of each channel's pulse, uA (positive: cathodic)")
    pulses.add_column(name="min_current", index=True,
                      description="smallest current of each channel's pulse, uA (negative: anodic)")
    pulses.add_column(name="charge", index=True,
                      description="net charge of each channel's pulse, nC (0 for a charge-balanced pulse)")
    found = _pulses(currents, step)
    for onset in sorted({begin for begin, _, _ in found}):
        group = [(end, column) for begin, end, column in found if begin == onset]
        parts = [currents[onset:end, column] for end, column in group]
        pulses.add_interval(
            start_time=(start_ms + onset * step) / 1000.0,
            stop_time=(start_ms + max(end for end, _ in group) * step) / 1000.0,
            channels=[channels[column] for _, column in group],
            max_current=[float(part.max()) for part in parts],
            min_current=[float(part.min()) for part in parts],
            charge=[float(part.sum() * step) for part in parts],
        )
    if len(pulses):
        nwbfile.add_time_intervals(pulses)


def _pulses(currents: np.ndarray, step: float) -> list[tuple[int, int, int]]:
    """(first row, row after the last, column) of each pulse, sorted by onset then column."""
    gap_rows = PULSE_GAP_MS / step
    found = []
    for column in range(currents.shape[1]):
        active = np.flatnonzero(currents[:, column] != 0)
        if active.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(active) - 1 >= gap_rows - 1e-9)
        starts = np.concatenate([[active[0]], active[breaks + 1]])
        ends = np.concatenate([active[breaks], [active[-1]]]) + 1
        found.extend((int(s), int(e), column) for s, e in zip(starts, ends, strict=True))
    return sorted(found)


def _add_voltage(nwbfile, result: RunResult, start_ms: float) -> None:
    from hdmf.common import DynamicTable, VectorData
    from pynwb import TimeSeries

    if result.dt is None:
        raise InvalidArgumentError("result has voltage but no dt (its sampling interval, ms); use Env.run's result")
    gids = np.asarray(result.iv, dtype=np.int64)
    module = nwbfile.create_processing_module(
        name="misc", description="simulation ground truth that an MEA does not record: membrane potential",
    )
    module.add(TimeSeries(
        name="MembranePotential",
        data=np.asarray(result.v).T,
        unit="volts",
        conversion=1e-3,
        rate=1000.0 / result.dt,
        starting_time=start_ms / 1000.0,
        description="Somatic membrane potential, stored in mV ([samples, neurons]); column i is the neuron "
                    "in row i of MembranePotentialNeurons.",
    ))
    module.add(DynamicTable(
        name="MembranePotentialNeurons", description="the neuron of each column of MembranePotential",
        columns=[VectorData(name="gid", description="the neuron's gid", data=gids)],
    ))


def _plain(value):
    """JSON form of numpy values and paths in provenance."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, (Path, tuple, set)):
        return str(value) if isinstance(value, Path) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
