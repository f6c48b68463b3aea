"""livn recordings as SpikeInterface objects, with a probeinterface `Probe` of the MEA.

- `probe(mea)`: the electrodes as a planar probe (x, y in um, circular contacts).
- `recording(source)`: the extracellular traces (uV) as a SpikeInterface recording that reads
  them chunk by chunk (a file-backed recording is never loaded whole).
- `ground_truth(source)`: every neuron's spikes as a SpikeInterface sorting, one unit per
  neuron (unit id = gid).

Scoring per-channel spike detection (e.g. SpikeInterface's `detect_peaks`) against ground
truth: one channel sees several neurons, so its ground truth is multi-unit, the spikes of the
neurons whose waveform on that channel is large enough.

- `spike_amplitudes(source)`: each neuron's trough amplitude on each channel, uV (known from
  the recording's settings and geometry, optionally after the same preprocessing).
- `channel_ground_truth(source, amplitudes, threshold_uv)` and `channel_peaks(peaks, rec)`:
  sortings with one "unit" per channel (unit id = channel id).
- `detection_scores(channel_gt, channel_detected)`: per channel and pooled hits, misses and
  false detections, with accuracy, recall and precision, from SpikeInterface's
  `compare_sorter_to_ground_truth`; `quiet_frames(source)` restricts them to the time away from
  network bursts, where spikes do not pile up on a channel.

`source` is a `livn.types.RunResult` of a run with `env.record_extracellular(...)` on, or its
`livn.io.extracellular.ExtracellularRecording`. SpikeInterface and probeinterface are imported
on first use; without them these functions raise `livn.errors.MissingDependencyError`, which
says to `pip install 'livn[spikeinterface]'`.

Time: a recording's one segment starts at `first_sample / fs_hz` s since the culture's t = 0
(SpikeInterface times are in s); sortings count frames from that first sample, at `fs_hz`.
"""

from __future__ import annotations

import json
import math
import os
from numbers import Real
from pathlib import Path

import numpy as np

from livn.errors import InvalidArgumentError, describe, require_module

__all__ = [
    "probe", "recording", "ground_truth", "spike_amplitudes", "channel_ground_truth", "channel_peaks",
    "detection_scores", "quiet_frames",
]  # and `LivnRecording`, the recording class, defined on first use (it subclasses SpikeInterface's)

_FEATURE = "livn.integrations.spikeinterface"


def _si_core():
    return require_module("spikeinterface.core", "spikeinterface", _FEATURE)


def _number(name, value, unit, *, minimum=0.0, strict=False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not math.isfinite(value) \
            or (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise InvalidArgumentError(f"{name} must be a finite number of {unit} {relation} {minimum:g}; "
                                   f"got {describe(value)}")
    return float(value)


# -- the MEA as a probe -------------------------------------------------------------------------


def _as_mea(mea, name: str = "mea"):
    from livn.io import MEA

    if isinstance(mea, MEA):
        return mea
    if isinstance(mea, dict):
        return MEA.from_dict(mea)
    raise InvalidArgumentError(f"{name} must be a livn.io.MEA or its to_dict(); got {describe(mea)}")


def probe(mea, contact_radius_um: float | None = None):
    """The MEA's electrodes as a planar probeinterface `Probe`.

    Contacts sit at the electrodes' (x, y) in um (z is dropped: an MEA is planar), one circular
    contact per electrode, contact id = channel id (a string, probeinterface's convention) and
    device channel index = the electrode's row in `mea.electrode_coordinates`, so a recording's
    channel k is electrode row k.

    **Arguments**

    - `mea`: a `livn.io.MEA` (or its `to_dict()`).
    - `contact_radius_um`: radius of each contact, um; default `mea.reference_distance`, livn's
      electrode size (the distance below which the stimulation fall-off is capped).

    **Returns**: a `probeinterface.Probe` (ndim 2, si_units "um") with a rectangular outline
    two radii around the contacts.
    """
    mea = _as_mea(mea)
    radius = mea.reference_distance if contact_radius_um is None else contact_radius_um
    radius = _number("contact_radius_um", radius, "um", strict=True)
    pi = require_module("probeinterface", "spikeinterface", _FEATURE)
    result = pi.Probe(ndim=2, si_units="um", name="livn MEA", manufacturer="livn (simulated)")
    result.set_contacts(positions=mea.electrode_coordinates[:, 1:3], shapes="circle",
                        shape_params={"radius": radius})
    result.set_contact_ids([str(channel) for channel in mea.channel_ids])
    result.set_device_channel_indices(np.arange(mea.num_channels))
    result.create_auto_shape(probe_type="rect", margin=2 * radius)
    return result


# -- sources ------------------------------------------------------------------------------------


def _split(source):
    """`(ExtracellularRecording, provenance dict or None)` of a RunResult or a recording."""
    from livn.io.extracellular import ExtracellularRecording
    from livn.types import RunResult

    if isinstance(source, RunResult):
        if source.extracellular is None:
            raise InvalidArgumentError(
                "the run result carries no extracellular traces; call env.record_extracellular(...) before env.run"
            )
        return source.extracellular, source.provenance if isinstance(source.provenance, dict) else None
    if isinstance(source, ExtracellularRecording):
        return source, None
    raise InvalidArgumentError(
        "source must be a livn RunResult recorded with env.record_extracellular(...) or its "
        f"ExtracellularRecording (result.extracellular); got {describe(source)}"
    )


def _mea_of(extracellular, provenance, mea):
    """The MEA given, else the run's (provenance), else the one written in the recording's file."""
    if mea is not None:
        return _as_mea(mea)
    if provenance is not None and provenance.get("mea") is not None:
        return _as_mea(provenance["mea"], "provenance['mea']")
    if extracellular.file is not None:
        import h5py

        with h5py.File(extracellular.file, "r", swmr=True) as h5:
            text = h5.attrs.get("mea")
        if text is not None:
            return _as_mea(json.loads(text), f"the MEA in {extracellular.file}")
    raise InvalidArgumentError(
        "mea must be given (a livn.io.MEA): this ExtracellularRecording has no run provenance and no file naming its MEA"
    )


def _neuron_table(neuron_coordinates, provenance):
    if neuron_coordinates is None and provenance is not None:
        neuron_coordinates = provenance.get("neuron_coordinates")
    if neuron_coordinates is None:
        return None
    from livn.io import check_neuron_coordinates

    return check_neuron_coordinates(neuron_coordinates)


# -- recording ----------------------------------------------------------------------------------


def recording(source, mea=None):
    """The extracellular traces of a run as a SpikeInterface recording.

    **Arguments**

    - `source`: a `RunResult` of a run with `env.record_extracellular(...)` on, or its
      `ExtracellularRecording`.
    - `mea`: the `livn.io.MEA` (or its `to_dict()`) that recorded it; default: the run's (its
      provenance) or the one written in a file-backed recording's file.

    **Returns**: a `LivnRecording` (a SpikeInterface `BaseRecording`): one segment, float32
    traces in uV (gain_to_uV 1, offset 0), sampling frequency `fs_hz` Hz, channel ids = the
    MEA's channel ids, `probe(mea)` attached, segment start `first_sample / fs_hz` s since t = 0.
    Traces are read through `ExtracellularRecording.read`, chunk by chunk; a file-backed
    recording is never loaded whole, and its `LivnRecording` is JSON-serialisable
    (`to_dict()`, `dump_to_json`, `spikeinterface.load`), naming the file by its path.
    """
    extracellular, provenance = _split(source)
    return _classes()[0](extracellular, _mea_of(extracellular, provenance, mea).to_dict())


def _build_classes():
    """Define `LivnRecording` and `LivnRecordingSegment` on SpikeInterface's base classes (on first use)."""
    si = _si_core()

    class LivnRecordingSegment(si.BaseRecordingSegment):
        """One window of an `ExtracellularRecording`, read through its `read(start, stop)` (uV)."""

        def __init__(self, extracellular):
            fs = float(extracellular.fs_hz)
            si.BaseRecordingSegment.__init__(self, sampling_frequency=fs, t_start=int(extracellular.first_sample) / fs)
            self._extracellular = extracellular

        def get_num_samples(self) -> int:
            return int(self._extracellular.n_samples)

        def get_traces(self, start_frame, end_frame, channel_indices):
            start = 0 if start_frame is None else int(start_frame)
            stop = self.get_num_samples() if end_frame is None else int(end_frame)
            traces = self._extracellular.read(start, stop).T  # [samples, channels], uV
            return traces if channel_indices is None else traces[:, channel_indices]

    class LivnRecording(si.BaseRecording):
        """A livn `ExtracellularRecording` as a SpikeInterface recording (make one with `recording()`).

        **Arguments**

        - `extracellular`: an `ExtracellularRecording`, or the path (str) of the HDF5 file that a
          file-backed one streamed to (`livn.io.extracellular.read_recording`).
        - `mea`: the MEA's `to_dict()` (electrodes in um).
        - `start_ms`, `duration_ms`: with a path, the window of the file to read, ms since t = 0
          (default: all of it).

        Attribute `extracellular`: the `ExtracellularRecording` it reads.
        """

        def __init__(self, extracellular, mea: dict, start_ms: float | None = None,
                     duration_ms: float | None = None):
            if isinstance(extracellular, (str, os.PathLike)):
                extracellular = _read_file(extracellular, start_ms, duration_ms)
            layout = _as_mea(mea)
            channel_ids = np.asarray(extracellular.channel_ids, dtype=np.int64)
            if not np.array_equal(channel_ids, layout.channel_ids):
                raise InvalidArgumentError(
                    f"the recording's channel ids {channel_ids.tolist()} differ from the MEA's "
                    f"{layout.channel_ids.tolist()}"
                )
            si.BaseRecording.__init__(self, float(extracellular.fs_hz), channel_ids, np.float32)
            self.add_recording_segment(LivnRecordingSegment(extracellular))
            self.set_channel_gains(1.0)
            self.set_channel_offsets(0.0)
            self.annotate(is_filtered=False)
            contacts = probe(layout)
            if self.set_probe(contacts) is not None:  # spikeinterface < 0.105 returns a copy instead
                self.set_probe(contacts, in_place=True)
            self.extracellular = extracellular
            if extracellular.file is not None:
                self._kwargs = {"extracellular": str(Path(extracellular.file).resolve()), "mea": layout.to_dict(),
                                "start_ms": float(extracellular.start_ms),
                                "duration_ms": float(extracellular.duration)}
            else:
                self._kwargs = {"extracellular": extracellular, "mea": layout.to_dict()}
                self._serializability["json"] = False

    for cls in (LivnRecordingSegment, LivnRecording):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return LivnRecording, LivnRecordingSegment


def _read_file(path, start_ms, duration_ms):
    """The file-backed `ExtracellularRecording` in `path`, cut to [start_ms, start_ms + duration_ms) ms."""
    from livn.io.extracellular import read_recording

    whole = read_recording(path)
    start = 0.0 if start_ms is None else _number("start_ms", start_ms, "ms")
    duration = whole.duration - start if duration_ms is None else _number("duration_ms", duration_ms, "ms",
                                                                            strict=True)
    if start == 0.0 and abs(duration - whole.duration) < 1e-9:
        return whole
    return whole.window(start, start + duration)


_LAZY = ("LivnRecording", "LivnRecordingSegment")


def _classes():
    """`(LivnRecording, LivnRecordingSegment)`, defined on first use as attributes of this module (so
    SpikeInterface's `to_dict`/`load` and pickle find them by name)."""
    if _LAZY[0] not in globals():
        globals().update(zip(_LAZY, _build_classes()))
    return tuple(globals()[name] for name in _LAZY)


def __getattr__(name):
    if name in _LAZY:
        return _classes()[_LAZY.index(name)]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- ground truth -------------------------------------------------------------------------------


def _spike_frames(extracellular, shift_ms: float = 0.0) -> np.ndarray:
    """Frame (from the window's first sample, at fs_hz) of every ground-truth spike, `shift_ms` later."""
    fs = float(extracellular.fs_hz)
    absolute = np.rint((float(extracellular.start_ms) + shift_ms + extracellular.spike_times) * fs / 1000.0)
    frames = absolute.astype(np.int64) - int(extracellular.first_sample)
    return np.clip(frames, 0, max(int(extracellular.n_samples) - 1, 0))


def _sorting(frames, labels, fs_hz, unit_ids):
    order = np.lexsort((labels, frames))
    return _si_core().NumpySorting.from_samples_and_labels(
        [frames[order]], [labels[order]], float(fs_hz), unit_ids=unit_ids
    )


def ground_truth(source, neuron_coordinates=None):
    """Every neuron's spikes in a recorded window as a SpikeInterface sorting.

    **Arguments**

    - `source`: a `RunResult` with extracellular traces, or its `ExtracellularRecording`.
    - `neuron_coordinates`: `[n, 4]` rows of (gid, x, y, z) in um; default: the run's
      provenance. Without either, the units are the neurons that spiked, with no location.

    **Returns**: a `NumpySorting` at `fs_hz` Hz, one segment, one unit per neuron (unit id =
    gid, int64; silent neurons are units without spikes when the coordinates are known). A spike
    at t ms is at frame `round((start_ms + t) * fs_hz / 1000) - first_sample` (the spike time,
    not the waveform's trough, which comes `settings.trough_ms` later). Unit properties where
    known: `gt_unit_locations` (soma x, y, z in um; SpikeInterface's name for ground-truth
    positions) and `population` (from the provenance).
    """
    extracellular, provenance = _split(source)
    table = _neuron_table(neuron_coordinates, provenance)
    gids = extracellular.spike_gids.astype(np.int64)
    unit_ids = np.unique(gids) if table is None else table[:, 0].astype(np.int64)
    unknown = np.setdiff1d(gids, unit_ids)
    if unknown.size:
        raise InvalidArgumentError(f"neuron_coordinates lacks gids that spiked in the recording: {unknown[:10].tolist()}")
    sorting = _sorting(_spike_frames(extracellular), gids, extracellular.fs_hz, unit_ids)
    if table is not None:
        sorting.set_property("gt_unit_locations", table[:, 1:4])
    populations = None if provenance is None else provenance.get("populations")
    if populations:
        names = np.full(len(unit_ids), "", dtype=object)
        for name, (first, count) in populations.items():
            names[(unit_ids >= first) & (unit_ids < first + count)] = name
        sorting.set_property("population", names.astype(str))
    return sorting


# -- scoring per-channel detection --------------------------------------------------------------


def spike_amplitudes(source, *, preprocessing=None, mea=None, neuron_coordinates=None):
    """Each neuron's waveform trough amplitude on each channel, uV (positive numbers).

    The raw amplitude is the point-source law of the recording's settings,
    `point_source_uv(spike_current_na, distance)` (the waveform's trough is -1 times it). With
    `preprocessing`, it is scaled by the trough of the waveform after that preprocessing.

    **Arguments**

    - `source`: a `RunResult` with extracellular traces, or its `ExtracellularRecording`.
    - `preprocessing`: None, or a function from a SpikeInterface recording to a preprocessed one
      (e.g. `spikeinterface.preprocessing.bandpass_filter`), applied to the waveform alone.
    - `mea`, `neuron_coordinates`: default: the run's provenance (`mea` also: the recording's file).

    **Returns**: `(gids, amplitudes)`: int64 `[n_neurons]` and `[n_channels, n_neurons]` uV, rows
    in the recording's channel order.
    """
    from livn.io.extracellular import point_source_uv, spike_template

    extracellular, provenance = _split(source)
    layout = _mea_of(extracellular, provenance, mea)
    table = _neuron_table(neuron_coordinates, provenance)
    if table is None:
        raise InvalidArgumentError("neuron_coordinates must be given ([n, 4] rows of gid, x, y, z in um) when the "
                                   "source has no run provenance")
    if preprocessing is not None and not callable(preprocessing):
        raise InvalidArgumentError(f"preprocessing must be None or a function of a recording; got {describe(preprocessing)}")
    s = extracellular.settings
    rows = {int(c): i for i, c in enumerate(layout.channel_ids)}
    order = [rows[int(c)] for c in extracellular.channel_ids]
    distances = layout.distances(table)[order]
    amplitudes = point_source_uv(s.spike_current_na, distances, s.conductivity, s.min_distance_um)
    if preprocessing is not None:
        margin = int(math.ceil(0.1 * s.fs_hz))  # 100 ms of silence either side, for the filters to settle
        tau = (np.arange(2 * margin) - margin) * s.sample_ms
        waveform = spike_template(tau, s).astype(np.float32)[:, None]
        processed = preprocessing(_si_core().NumpyRecording(waveform, s.fs_hz)).get_traces()[:, 0]
        amplitudes = amplitudes * float(-np.min(processed))
    return table[:, 0].astype(np.int64), amplitudes


def channel_ground_truth(source, amplitudes_uv, threshold_uv: float, gids=None, *, at_trough: bool = True):
    """Multi-unit ground truth per channel: the spikes of the neurons a channel should detect.

    Channel c's "unit" holds the spikes of every neuron whose amplitude on c exceeds
    `threshold_uv`; a spike seen on several channels appears once in each.

    **Arguments**

    - `source`: a `RunResult` with extracellular traces, or its `ExtracellularRecording`.
    - `amplitudes_uv`: `[n_channels, n_neurons]` amplitudes (uV; the absolute value counts), rows
      in the recording's channel order (`spike_amplitudes` gives them).
    - `threshold_uv`: amplitude a neuron must exceed on a channel, uV (>= 0); a number, or one
      per channel.
    - `gids`: the neurons of the columns (default 0 .. n_neurons - 1).
    - `at_trough`: mark each spike at its waveform's trough, `settings.trough_ms` after the spike
      (where a negative-peak detector finds it); False: at the spike time.

    **Returns**: a `NumpySorting` at `fs_hz` Hz whose unit ids are the channel ids.
    """
    extracellular, _ = _split(source)
    channel_ids = extracellular.channel_ids.astype(np.int64)
    amplitudes = np.abs(np.asarray(amplitudes_uv, dtype=float))
    if amplitudes.ndim != 2 or amplitudes.shape[0] != len(channel_ids) or not np.all(np.isfinite(amplitudes)):
        raise InvalidArgumentError(
            f"amplitudes_uv must be finite uV of shape [{len(channel_ids)}, n_neurons]; got {describe(amplitudes_uv)}"
        )
    threshold = np.asarray(threshold_uv, dtype=float) if not isinstance(threshold_uv, bool) else None
    if threshold is None or threshold.shape not in ((), (len(channel_ids),)) or not np.all(np.isfinite(threshold)) \
            or np.any(threshold < 0):
        raise InvalidArgumentError(
            f"threshold_uv must be uV >= 0, one number or {len(channel_ids)} (one per channel); got {describe(threshold_uv)}"
        )
    columns = np.arange(amplitudes.shape[1], dtype=np.int64) if gids is None else np.asarray(gids).astype(np.int64)
    if columns.shape != (amplitudes.shape[1],):
        raise InvalidArgumentError(f"gids must name the {amplitudes.shape[1]} columns of amplitudes_uv; got {describe(gids)}")
    if not isinstance(at_trough, (bool, np.bool_)):
        raise InvalidArgumentError(f"at_trough must be True or False; got {describe(at_trough)}")
    order = np.argsort(columns)
    spike_gids = extracellular.spike_gids.astype(np.int64)
    where = np.minimum(np.searchsorted(columns[order], spike_gids), len(columns) - 1)
    known = columns[order][where] == spike_gids
    if not np.all(known):
        raise InvalidArgumentError(f"amplitudes_uv has no column for gids that spiked: "
                                   f"{np.unique(spike_gids[~known])[:10].tolist()}")
    seen = amplitudes[:, order[where]] > threshold.reshape(-1, 1)  # [channels, spikes]
    channel_of, spike_of = np.nonzero(seen)
    frames = _spike_frames(extracellular, extracellular.settings.trough_ms if at_trough else 0.0)
    return _sorting(frames[spike_of], channel_ids[channel_of], extracellular.fs_hz, channel_ids)


def channel_peaks(peaks, recording):
    """Detected peaks as a sorting with one "unit" per channel (unit id = channel id).

    **Arguments**

    - `peaks`: the structured array `detect_peaks` returns (fields `sample_index`,
      `channel_index`, `segment_index`).
    - `recording`: the SpikeInterface recording the peaks were detected on (one segment).

    **Returns**: a `NumpySorting` at the recording's sampling frequency.
    """
    names = getattr(getattr(peaks, "dtype", None), "names", None) or ()
    if not {"sample_index", "channel_index"} <= set(names):
        raise InvalidArgumentError(
            f"peaks must be detect_peaks output with fields sample_index and channel_index; got {describe(peaks)}"
        )
    if "segment_index" in names and np.any(peaks["segment_index"] != 0):
        raise InvalidArgumentError("peaks must come from a one-segment recording (segment_index 0)")
    channel_ids = np.asarray(recording.channel_ids)
    return _sorting(peaks["sample_index"].astype(np.int64), channel_ids[peaks["channel_index"].astype(np.int64)],
                    recording.sampling_frequency, channel_ids)


def detection_scores(channel_gt, channel_detected, *, delta_time_ms: float = 0.4, frames=None) -> dict:
    """Score per-channel detection against per-channel ground truth, channel by channel.

    Channel c's hits are SpikeInterface's count of coincident spikes (within `delta_time_ms`)
    between ground-truth unit c and detected unit c (`compare_sorter_to_ground_truth(...)
    .match_event_count`), each spike matched at most once. Channels are paired by id, not by
    SpikeInterface's Hungarian matching of units (neighbouring channels share neurons).

    **Arguments**

    - `channel_gt`, `channel_detected`: sortings with the same unit ids (channel ids), e.g. from
      `channel_ground_truth` and `channel_peaks`.
    - `delta_time_ms`: largest time difference of a hit, ms.
    - `frames`: None (all), or `(start, stop)` frame intervals: only spikes in them count.

    **Returns**: `{"channels": {channel id: {"hits", "misses", "false", "ground_truth",
    "detected"}}, "hits", "misses", "false", "accuracy", "recall", "precision"}`, the totals
    over channels with accuracy = hits / (hits + misses + false), recall = hits / ground truth,
    precision = hits / detected (None where the denominator is 0).
    """
    delta = _number("delta_time_ms", delta_time_ms, "ms", strict=True)
    for name, sorting in (("channel_gt", channel_gt), ("channel_detected", channel_detected)):
        if not hasattr(sorting, "unit_ids") or not hasattr(sorting, "frame_slice"):
            raise InvalidArgumentError(f"{name} must be a SpikeInterface sorting; got {describe(sorting)}")
    if list(channel_gt.unit_ids) != list(channel_detected.unit_ids):
        raise InvalidArgumentError(
            f"channel_gt and channel_detected must have the same unit (channel) ids; got "
            f"{list(channel_gt.unit_ids)} and {list(channel_detected.unit_ids)}"
        )
    if frames is None:
        intervals = [(None, None)]
    else:
        intervals = [tuple(int(x) for x in pair) for pair in frames]
        if any(len(pair) != 2 or pair[0] < 0 or pair[1] <= pair[0] for pair in intervals):
            raise InvalidArgumentError(f"frames must be (start, stop) intervals with 0 <= start < stop; got {frames}")
    comparison = require_module("spikeinterface.comparison", "spikeinterface", _FEATURE)
    require_module("numba", "spikeinterface", "SpikeInterface's comparison of sortings")  # it counts coincidences with numba
    hits = {c: 0 for c in channel_gt.unit_ids}
    truth, detected = dict(hits), dict(hits)
    for start, stop in intervals:
        gt = channel_gt if start is None else channel_gt.frame_slice(start, stop)
        found = channel_detected if start is None else channel_detected.frame_slice(start, stop)
        matched = comparison.compare_sorter_to_ground_truth(gt, found, delta_time=delta).match_event_count
        gt_counts, found_counts = gt.count_num_spikes_per_unit(), found.count_num_spikes_per_unit()
        for c in hits:
            hits[c] += int(matched.loc[c, c])
            truth[c] += int(gt_counts[c])
            detected[c] += int(found_counts[c])

    def ratio(a, b):
        return a / b if b else None

    channels = {int(c): {"hits": hits[c], "misses": truth[c] - hits[c], "false": detected[c] - hits[c],
                         "ground_truth": truth[c], "detected": detected[c]} for c in hits}
    total = {key: sum(row[key] for row in channels.values()) for key in ("hits", "misses", "false")}
    return {"channels": channels, **total,
            "accuracy": ratio(total["hits"], total["hits"] + total["misses"] + total["false"]),
            "recall": ratio(total["hits"], total["hits"] + total["misses"]),
            "precision": ratio(total["hits"], total["hits"] + total["false"])}


def quiet_frames(source, *, n_neurons: int | None = None, max_rate_hz: float = 10.0, bin_ms: float = 10.0,
                 pad_ms: float = 20.0, shortest_ms: float = 50.0) -> list:
    """The stretches of a recording away from network bursts, as frame intervals for `detection_scores`.

    A bin of `bin_ms` is bursty when the population's mean rate in it exceeds `max_rate_hz`; the
    quiet stretches are what is left after cutting out every bursty bin widened by `pad_ms` on each
    side, keeping those at least `shortest_ms` long. In a burst many neurons fire within a
    millisecond of each other, so one channel cannot resolve single spikes.

    **Arguments**

    - `source`: a `RunResult` with extracellular traces, or its `ExtracellularRecording`.
    - `n_neurons`: the culture's size; default: the number of neurons in the run's provenance.
    - `max_rate_hz` (Hz), `bin_ms`, `pad_ms`, `shortest_ms` (ms): as above.

    **Returns**: a list of `(start, stop)` frames from the recording's first sample, at `fs_hz`.
    """
    extracellular, provenance = _split(source)
    if n_neurons is None:
        table = _neuron_table(None, provenance)
        if table is None:
            raise InvalidArgumentError("n_neurons must be given when the source has no run provenance")
        n_neurons = len(table)
    if isinstance(n_neurons, bool) or not isinstance(n_neurons, (int, np.integer)) or n_neurons < 1:
        raise InvalidArgumentError(f"n_neurons must be a positive integer; got {describe(n_neurons)}")
    rate = _number("max_rate_hz", max_rate_hz, "Hz", strict=True)
    width = _number("bin_ms", bin_ms, "ms", strict=True)
    pad = _number("pad_ms", pad_ms, "ms")
    shortest = _number("shortest_ms", shortest_ms, "ms", strict=True)
    duration = float(extracellular.duration)
    edges = np.arange(0.0, duration + width, width)
    counts, _ = np.histogram(extracellular.spike_times, edges)
    bursty = counts / n_neurons / (width / 1000.0) > rate
    cuts = [(edges[i] - pad, edges[i + 1] + pad) for i in np.flatnonzero(bursty)] + [(duration, duration)]
    per_ms = float(extracellular.fs_hz) / 1000.0
    offset = float(extracellular.start_ms) * per_ms - int(extracellular.first_sample)  # frame of the window's t = 0
    intervals, now = [], 0.0
    for start, stop in cuts:
        if min(start, duration) - now >= shortest:
            intervals.append((max(int(math.ceil(now * per_ms + offset)), 0),
                              min(int(math.floor(min(start, duration) * per_ms + offset)), int(extracellular.n_samples))))
        now = max(now, stop)
    return intervals
