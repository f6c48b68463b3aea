"""What the electrodes recorded over one window (`ExtracellularRecording`), in memory or in an
HDF5 file written window by window (`ExtracellularFile`, `read_recording`)."""

from __future__ import annotations

import json
import os
from numbers import Integral
from pathlib import Path

import numpy as np

from livn.errors import InvalidArgumentError, RecordingError, describe
from livn.io.extracellular.model import ExtracellularSettings, _number, _sample_index
from livn.io.mea import MEA
from livn.types import TIME_DECIMALS

# -- one window of recording ----------------------------------------------------------------


class ExtracellularRecording:
    """What the electrodes recorded over one window: traces (uV) and every neuron's spikes.

    **Arguments** (to build one from arrays; recorders make them for you)

    - `traces`: `[n_channels, n_samples]` voltage, uV (stored as float32).
    - `fs_hz`: sampling rate, Hz.
    - `channel_ids`: `[n_channels]` int channel ids, one per row.
    - `start_ms`: the window's start, ms since the culture's t = 0.
    - `first_sample`: absolute index k (time k / fs_hz s since t = 0) of the first sample;
      default: the first grid sample at or after `start_ms`.
    - `duration`: the window's length, ms; default: `n_samples / fs_hz`.
    - `spike_gids`, `spike_times`: ground truth, every neuron's spikes in the window (int gids,
      ms from the window start); default none.
    - `settings`: the `ExtracellularSettings` that made it (default: the defaults at `fs_hz`).
    - `blanked`: `[n, 2]` int sample ranges [start, stop) (relative to the first sample) that
      were blanked; default none.

    Attributes: the above, plus `n_samples`, `file` (the HDF5 file holding the traces when they
    were streamed to disk, else None). `traces` reads a file-backed recording's file on each use.
    """

    def __init__(self, traces, fs_hz, channel_ids, *, start_ms: float = 0.0, first_sample=None, duration=None,
                 spike_gids=None, spike_times=None, settings: ExtracellularSettings | None = None, blanked=None):
        fs_hz = _number("fs_hz", fs_hz, "Hz", minimum=0.0, strict=True)
        channel_ids = _channel_ids(channel_ids)
        traces = np.asarray(traces)
        if traces.ndim != 2 or traces.shape[0] != channel_ids.size or not np.issubdtype(traces.dtype, np.number):
            raise InvalidArgumentError(
                f"traces must be [n_channels = {channel_ids.size}, n_samples] numbers in uV; got {describe(traces)}"
            )
        start_ms = _number("start_ms", start_ms, "ms", minimum=0.0)
        per_ms = fs_hz / 1000
        if first_sample is None:
            first_sample = _sample_index(start_ms, per_ms)
        if isinstance(first_sample, bool) or not isinstance(first_sample, Integral) or first_sample < 0:
            raise InvalidArgumentError(f"first_sample must be a non-negative integer; got {describe(first_sample)}")
        if duration is None:
            duration = (int(first_sample) + traces.shape[1]) / per_ms - start_ms
        duration = _number("duration", duration, "ms", minimum=0.0, strict=True)
        settings = ExtracellularSettings(fs_hz=fs_hz) if settings is None else settings
        if not isinstance(settings, ExtracellularSettings) or settings.fs_hz != fs_hz:
            raise InvalidArgumentError(f"settings must be ExtracellularSettings at fs_hz = {fs_hz:g}; got {describe(settings)}")
        gids, times = _spikes(spike_gids, spike_times, duration)
        self._init(fs_hz, channel_ids, start_ms, duration, int(first_sample), traces.shape[1], gids, times, settings,
                   _intervals(blanked, traces.shape[1]), traces=traces.astype(np.float32, copy=False))

    @classmethod
    def open(cls, path) -> "ExtracellularRecording":
        """The recording in a file an `ExtracellularRecorder` streamed to (see `read_recording`)."""
        return read_recording(path)

    def _init(self, fs_hz, channel_ids, start_ms, duration, first_sample, n_samples, gids, times, settings,
              blanked, *, traces=None, source=None):
        self.fs_hz = fs_hz
        self.channel_ids = channel_ids
        self.start_ms = start_ms
        self.duration = duration
        self.first_sample = first_sample
        self.n_samples = n_samples
        self.spike_gids = gids
        self.spike_times = times
        self.settings = settings
        self.blanked = blanked
        self._traces = traces
        self._source = source  # (ExtracellularFile or path, generation) for file-backed recordings

    @classmethod
    def _make(cls, fs_hz, channel_ids, start_ms, duration, first_sample, n_samples, gids, times, settings, blanked,
              *, traces=None, source=None) -> "ExtracellularRecording":
        recording = cls.__new__(cls)
        recording._init(fs_hz, channel_ids, start_ms, duration, first_sample, n_samples, gids, times, settings,
                        blanked, traces=traces, source=source)
        return recording

    # -- traces --------------------------------------------------------------------------------

    @property
    def file(self) -> Path | None:
        """The HDF5 file holding the traces when they were streamed to disk, else None."""
        if self._source is None:
            return None
        holder = self._source[0]
        return holder.path if isinstance(holder, ExtracellularFile) else Path(holder)

    @property
    def traces(self) -> np.ndarray:
        """`[n_channels, n_samples]` float32 voltage, uV (read from the file when file-backed)."""
        return self.read()

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples [`start`, `stop`) (indices from the first sample) as a `[n_channels, k]` float32 array, uV."""
        stop = self.n_samples if stop is None else stop
        for name, value in (("start", start), ("stop", stop)):
            if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value <= self.n_samples:
                raise InvalidArgumentError(
                    f"{name} must be a sample index from 0 to n_samples = {self.n_samples}; got {describe(value)}"
                )
        if stop < start:
            raise InvalidArgumentError(f"stop ({stop}) must not come before start ({start})")
        if self._traces is not None:
            return self._traces[:, start:stop]
        holder, generation = self._source
        first = self.first_sample + int(start)
        if isinstance(holder, ExtracellularFile):
            return holder.read(first, self.first_sample + int(stop), generation)
        return _read_closed_file(holder, first, self.first_sample + int(stop))

    def sample_times(self) -> np.ndarray:
        """Time of each sample, ms from the window's start (float64 `[n_samples]`)."""
        absolute = (self.first_sample + np.arange(self.n_samples)) * (1000.0 / self.fs_hz)
        return absolute - self.start_ms

    def blanked_mask(self) -> np.ndarray:
        """`[n_samples]` booleans: True where the traces were blanked (set to 0) around stimulation."""
        mask = np.zeros(self.n_samples, dtype=bool)
        for first, stop in self.blanked:
            mask[first:stop] = True
        return mask

    # -- cutting and joining -------------------------------------------------------------------

    def window(self, start_ms: float, stop_ms: float) -> "ExtracellularRecording":
        """The part in [`start_ms`, `stop_ms`) ms from this window's start: the samples on the absolute
        grid in that span and the spikes in it (times then from `start_ms`). File-backed stays file-backed."""
        start_ms = _number("start_ms", start_ms, "ms", minimum=0.0)
        stop_ms = _number("stop_ms", stop_ms, "ms")
        if not start_ms < stop_ms <= self.duration + 1e-9:
            raise InvalidArgumentError(
                f"window needs 0 <= start_ms < stop_ms <= duration ({self.duration} ms); got {start_ms}, {stop_ms}"
            )
        per_ms = self.fs_hz / 1000
        new_start = round(self.start_ms + start_ms, TIME_DECIMALS)
        first = min(max(_sample_index(new_start, per_ms), self.first_sample), self.first_sample + self.n_samples)
        stop = min(max(_sample_index(self.start_ms + stop_ms, per_ms), first), self.first_sample + self.n_samples)
        i0, i1 = first - self.first_sample, stop - self.first_sample
        keep = (self.spike_times >= start_ms) & (self.spike_times < stop_ms)
        times = np.round(self.spike_times[keep] - start_ms, TIME_DECIMALS)
        blanked = np.clip(self.blanked - i0, 0, i1 - i0)
        blanked = blanked[blanked[:, 1] > blanked[:, 0]]
        traces = None if self._traces is None else self._traces[:, i0:i1]
        return self._make(self.fs_hz, self.channel_ids, new_start, round(stop_ms - start_ms, TIME_DECIMALS), first,
                          stop - first, self.spike_gids[keep], times, self.settings, blanked, traces=traces,
                          source=self._source)

    @classmethod
    def concat(cls, parts) -> "ExtracellularRecording":
        """Consecutive windows joined into one.

        Parts must share the sampling rate, channels and settings, and each must start where the
        one before ends (in samples and in ms). Parts that are all backed by the same open file
        (one recorder's windows, or one file read back) stay file-backed; otherwise the traces are loaded and joined in memory.
        """
        parts = list(parts) if not isinstance(parts, ExtracellularRecording) else None
        if not parts or not all(isinstance(p, ExtracellularRecording) for p in parts):
            raise InvalidArgumentError("concat needs a non-empty list of ExtracellularRecording")
        first = parts[0]
        offsets = [0.0]
        for i, (before, part) in enumerate(zip(parts, parts[1:]), start=1):
            if part.fs_hz != first.fs_hz or not np.array_equal(part.channel_ids, first.channel_ids) \
                    or part.settings != first.settings:
                raise InvalidArgumentError(
                    f"parts[{i}] has another sampling rate, channels or settings than parts[0]; concat joins one recording's windows"
                )
            if part.first_sample != before.first_sample + before.n_samples or \
                    abs(part.start_ms - (before.start_ms + before.duration)) > 1e-6:
                raise InvalidArgumentError(
                    f"parts[{i}] starts at sample {part.first_sample} ({part.start_ms} ms) but parts[{i - 1}] ends at "
                    f"sample {before.first_sample + before.n_samples} ({before.start_ms + before.duration} ms); "
                    "concat joins consecutive windows"
                )
            offsets.append(round(part.start_ms - first.start_ms, TIME_DECIMALS))
        n_samples = sum(p.n_samples for p in parts)
        gids = np.concatenate([p.spike_gids for p in parts])
        times = np.concatenate([np.round(p.spike_times + o, TIME_DECIMALS) for p, o in zip(parts, offsets)])
        sample_offsets = np.cumsum([0] + [p.n_samples for p in parts[:-1]])
        blanked = _merge(np.concatenate([p.blanked + o for p, o in zip(parts, sample_offsets)]))
        duration = round(parts[-1].start_ms + parts[-1].duration - first.start_ms, TIME_DECIMALS)
        sources = {_source_key(p._source) for p in parts}
        if len(sources) == 1 and None not in sources:
            return cls._make(first.fs_hz, first.channel_ids, first.start_ms, duration, first.first_sample, n_samples,
                             gids, times, first.settings, blanked, source=first._source)
        traces = np.concatenate([p.read() for p in parts], axis=1)
        return cls._make(first.fs_hz, first.channel_ids, first.start_ms, duration, first.first_sample, n_samples,
                         gids, times, first.settings, blanked, traces=traces)

    def __repr__(self) -> str:
        where = f"file {str(self.file)!r}" if self._source is not None else "in memory"
        return (f"ExtracellularRecording({len(self.channel_ids)} channels, {self.n_samples} samples at "
                f"{self.fs_hz:g} Hz from {self.start_ms:g} ms for {self.duration:g} ms, "
                f"{len(self.spike_gids)} spikes, {where})")


def _source_key(source):
    """What makes two file-backed recordings read the same samples: the same open file (and reset
    generation), or the same path; None for in-memory recordings."""
    if source is None:
        return None
    holder, generation = source
    return (id(holder), generation) if isinstance(holder, ExtracellularFile) else (str(Path(holder).resolve()), 0)


def _channel_ids(channel_ids) -> np.ndarray:
    ids = np.asarray(channel_ids)
    if ids.ndim != 1 or ids.size == 0 or not (np.issubdtype(ids.dtype, np.integer) or (
            np.issubdtype(ids.dtype, np.floating) and np.all(ids == np.round(ids)))):
        raise InvalidArgumentError(f"channel_ids must be a non-empty 1-d array of int ids; got {describe(channel_ids)}")
    return ids.astype(np.int64)


def _spikes(spike_gids, spike_times, duration):
    """Ground-truth spikes as (int64 gids, float64 ms), sorted by time then gid, checked to lie in the window."""
    gids = np.zeros(0, np.int64) if spike_gids is None else np.asarray(spike_gids)
    times = np.zeros(0) if spike_times is None else np.asarray(spike_times, dtype=float)
    if gids.ndim != 1 or times.ndim != 1 or gids.shape != times.shape:
        raise InvalidArgumentError(
            f"spike_gids and spike_times must be 1-d arrays of the same length; got {describe(gids)} and {describe(times)}"
        )
    if gids.size and not (np.issubdtype(gids.dtype, np.integer) or np.all(gids == np.round(gids))):
        raise InvalidArgumentError(f"spike_gids must be integer neuron ids; got {describe(spike_gids)}")
    if not np.all(np.isfinite(times)) or (times.size and (times.min() < 0 or times.max() >= duration + 1e-9)):
        raise InvalidArgumentError(
            f"spike_times must be finite ms in the window [0, {duration}) ms; got "
            f"{times.min() if times.size else ''} to {times.max() if times.size else ''}"
        )
    gids = gids.astype(np.int64)
    order = np.lexsort((gids, times))
    return gids[order], times[order]


def _intervals(blanked, n_samples) -> np.ndarray:
    if blanked is None:
        return np.zeros((0, 2), np.int64)
    array = np.asarray(blanked)
    if array.size == 0:
        return np.zeros((0, 2), np.int64)
    if array.ndim != 2 or array.shape[1] != 2 or not np.issubdtype(array.dtype, np.integer) or np.any(array < 0) \
            or np.any(array[:, 1] < array[:, 0]) or np.any(array > n_samples):
        raise InvalidArgumentError(
            f"blanked must be [n, 2] int sample ranges [start, stop) within [0, {n_samples}]; got {describe(blanked)}"
        )
    return _merge(array.astype(np.int64))


def _merge(intervals) -> np.ndarray:
    """Sorted, non-overlapping, non-touching [start, stop) ranges covering the same samples."""
    intervals = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    intervals = intervals[intervals[:, 1] > intervals[:, 0]]
    if len(intervals) < 2:
        return intervals
    intervals = intervals[np.argsort(intervals[:, 0], kind="stable")]
    merged = [list(intervals[0])]
    for first, stop in intervals[1:]:
        if first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([first, stop])
    return np.asarray(merged, dtype=np.int64)


# -- streaming to disk ----------------------------------------------------------------------

#: What the `format` attribute of a livn extracellular file says.
FILE_FORMAT = "livn.extracellular"
FILE_FORMAT_VERSION = 1


class ExtracellularFile:
    """An HDF5 file that an `ExtracellularRecorder` streams its windows to.

    Layout (all appended and flushed window by window):
    - `traces`: float32 `[samples, channels]` in uV, time-major like NWB's ElectricalSeries,
      chunked; attributes `fs_hz`, `unit` ("uV"), `channel_ids`, `first_sample` (0: sample k is at
      k / fs_hz s since the culture's t = 0).
    - `spikes/gids` (int64) and `spikes/times_ms` (float64, ms since t = 0): ground truth.
    - `blanked`: int64 `[n, 2]` blanked sample ranges [start, stop) (absolute sample indices).
    - `windows/end_ms` (float64, ms since t = 0) and `windows/counts` (int64 `[n, 3]`: samples,
      spikes and blanked ranges written up to the end of each window).
    - root attributes: `format`, `format_version`, `settings` (JSON), `channel_ids`, `fs_hz`,
      `unit`, `mea` (JSON, if given), `seed`, `livn_version`.

    The file is written in HDF5's single-writer/multiple-reader (SWMR) mode with the latest file
    format: readers (`read_recording`) can open it while it is written, and if the writing
    process dies (even by kill -9) the file stays readable with every window whose `windows` row
    was flushed; a window is committed by writing that row after its data. Such a file is still
    marked open for writing, so plain `h5py.File(path)` refuses it; `read_recording` (which
    opens it in SWMR read mode) or `h5clear -s` gets at it. An existing `path` is never
    overwritten (an error says so).
    """

    def __init__(self, path, settings: ExtracellularSettings, channel_ids, *, mea: MEA | None = None,
                 seed: int | None = None):
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidArgumentError(f"file must be a path (str or os.PathLike); got {describe(path)}")
        path = Path(path)
        if not isinstance(settings, ExtracellularSettings):
            raise InvalidArgumentError(f"settings must be an ExtracellularSettings; got {describe(settings)}")
        channel_ids = _channel_ids(channel_ids)
        if path.exists():
            raise InvalidArgumentError(f"file {str(path)!r} already exists; give a new path (livn never overwrites a recording)")
        if not path.parent.is_dir():
            raise InvalidArgumentError(f"file {str(path)!r} is in a directory that does not exist")
        import h5py

        from livn import __version__

        self.path = path
        self.settings = settings
        self.channel_ids = channel_ids
        self.generation = 0  # bumped by truncate(): recordings made before read no more
        n = channel_ids.size
        h5 = h5py.File(path, "w-", libver="latest")
        try:
            h5.attrs.update(format=FILE_FORMAT, format_version=FILE_FORMAT_VERSION, fs_hz=settings.fs_hz, unit="uV",
                            channel_ids=channel_ids, settings=json.dumps(settings.to_dict()),
                            livn_version=__version__)
            if mea is not None:
                h5.attrs["mea"] = json.dumps(mea.to_dict())
            if seed is not None:
                h5.attrs["seed"] = int(seed)
            rows = int(min(65536, max(1024, (1 << 20) // (4 * n))))
            traces = h5.create_dataset("traces", shape=(0, n), maxshape=(None, n), chunks=(rows, n), dtype="f4")
            traces.attrs.update(fs_hz=settings.fs_hz, unit="uV", channel_ids=channel_ids, first_sample=0)
            h5.create_dataset("spikes/gids", shape=(0,), maxshape=(None,), chunks=(65536,), dtype="i8")
            h5.create_dataset("spikes/times_ms", shape=(0,), maxshape=(None,), chunks=(65536,), dtype="f8")
            h5.create_dataset("blanked", shape=(0, 2), maxshape=(None, 2), chunks=(4096, 2), dtype="i8")
            h5.create_dataset("windows/end_ms", shape=(0,), maxshape=(None,), chunks=(4096,), dtype="f8")
            h5.create_dataset("windows/counts", shape=(0, 3), maxshape=(None, 3), chunks=(4096, 3), dtype="i8")
            h5.swmr_mode = True
        except BaseException:
            h5.close()
            path.unlink(missing_ok=True)
            raise
        self._h5 = h5

    @property
    def is_open(self) -> bool:
        return self._h5 is not None

    def append(self, traces, spike_gids, spike_times_ms, end_ms: float, blanked) -> None:
        """Append one window: `traces` `[n_channels, k]` uV, its spikes (gids; ms since t = 0), the
        window's end (ms since t = 0) and its blanked ranges (absolute samples); then flush."""
        if self._h5 is None:
            raise RecordingError(f"the extracellular file {str(self.path)!r} is closed")
        h5 = self._h5
        data = {"traces": np.asarray(traces, dtype=np.float32).T, "spikes/gids": np.asarray(spike_gids, np.int64),
                "spikes/times_ms": np.asarray(spike_times_ms, float), "blanked": np.asarray(blanked, np.int64)}
        for name, values in data.items():
            dataset = h5[name]
            old = dataset.shape[0]
            if len(values):
                dataset.resize(old + len(values), axis=0)
                dataset[old:] = values
        h5.flush()
        counts = [h5["traces"].shape[0], h5["spikes/gids"].shape[0], h5["blanked"].shape[0]]
        for name, row in (("windows/end_ms", float(end_ms)), ("windows/counts", counts)):
            dataset = h5[name]
            dataset.resize(dataset.shape[0] + 1, axis=0)
            dataset[-1] = row
        h5.flush()

    def read(self, first: int, stop: int, generation: int | None = None) -> np.ndarray:
        """Samples [`first`, `stop`) (absolute indices) as `[n_channels, k]` float32, uV."""
        if generation is not None and generation != self.generation:
            raise RecordingError(
                f"the recorder writing {str(self.path)!r} was reset to t = 0 since this recording was made; "
                "its samples were discarded"
            )
        if self._h5 is None:
            return _read_closed_file(self.path, first, stop)
        return np.ascontiguousarray(self._h5["traces"][first:stop].T)

    def truncate(self) -> None:
        """Discard everything written (the recorder went back to t = 0)."""
        if self._h5 is None:
            raise RecordingError(f"the extracellular file {str(self.path)!r} is closed")
        for name in ("traces", "spikes/gids", "spikes/times_ms", "blanked", "windows/end_ms", "windows/counts"):
            self._h5[name].resize(0, axis=0)
        self._h5.flush()
        self.generation += 1

    def close(self) -> None:
        """Flush and close the file (idempotent). File-backed recordings then reopen it to read."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __repr__(self) -> str:
        return f"ExtracellularFile({str(self.path)!r}, {'open' if self._h5 is not None else 'closed'})"


def _open_for_reading(path):
    import h5py

    try:
        return h5py.File(path, "r", swmr=True)
    except FileNotFoundError:
        raise RecordingError(f"the extracellular file {str(path)!r} no longer exists") from None


def _read_closed_file(path, first: int, stop: int) -> np.ndarray:
    with _open_for_reading(path) as h5:
        return np.ascontiguousarray(h5["traces"][first:stop].T)


def read_recording(path) -> ExtracellularRecording:
    """Open a file an `ExtracellularRecorder` streamed to (also one whose writer was killed, or is
    still writing) as one file-backed recording from t = 0 over every committed window.

    **Arguments**: `path` of the HDF5 file.

    **Returns**: an `ExtracellularRecording` (traces read lazily, uV; spikes in memory).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"path must be a file path; got {describe(path)}")
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"path {str(path)!r} is not a file")
    with _open_for_reading(path) as h5:
        if h5.attrs.get("format") != FILE_FORMAT:
            raise InvalidArgumentError(f"{str(path)!r} is not a livn extracellular file (no format={FILE_FORMAT!r})")
        settings = ExtracellularSettings.from_dict(json.loads(h5.attrs["settings"]))
        channel_ids = np.asarray(h5.attrs["channel_ids"], dtype=np.int64)
        ends, counts = h5["windows/end_ms"][:], h5["windows/counts"][:]
        committed = min(len(ends), len(counts))
        if committed == 0:
            samples = spikes = blanks = 0
            duration = None
        else:
            samples, spikes, blanks = (int(c) for c in counts[committed - 1])
            duration = float(ends[committed - 1])
        gids = h5["spikes/gids"][:spikes]
        times = h5["spikes/times_ms"][:spikes]
        blanked = _merge(h5["blanked"][:blanks])
    if duration is None:
        raise InvalidArgumentError(f"{str(path)!r} holds no complete window yet")
    order = np.lexsort((gids, times))
    return ExtracellularRecording._make(settings.fs_hz, channel_ids, 0.0, duration, 0, samples, gids[order],
                                        times[order], settings, blanked, source=(str(path), 0))
