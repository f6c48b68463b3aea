"""Synthesising an MEA's traces window by window (`ExtracellularRecorder`)."""

from __future__ import annotations

import math
import os
from numbers import Integral

import numpy as np

from livn.errors import InvalidArgumentError, RecordingError, describe
from livn.io.extracellular.model import (
    _NOISE_STREAM,
    ExtracellularSettings,
    _number,
    _sample_index,
    noise_filter,
    point_source_uv,
    spike_template,
)
from livn.io.extracellular.recording import ExtracellularFile, ExtracellularRecording, _merge, _spikes
from livn.io.mea import MEA, check_neuron_coordinates
from livn.stimulation import ElectrodeStimulation
from livn.types import TIME_DECIMALS, SynapticCurrents

# -- the recorder ---------------------------------------------------------------------------


class ExtracellularRecorder:
    """Synthesises an MEA's extracellular traces window by window, from t = 0 on.

    **Arguments**

    - `settings`: `ExtracellularSettings`.
    - `mea`: the `MEA` (its electrodes are the channels).
    - `neuron_coordinates`: `[n_neurons, 4]` rows of (gid, x, y, z), um.
    - `lfp_gids`: the neurons whose synaptic currents make the LFP (the excitatory population);
      None with `settings.lfp` means every neuron. Ignored without `settings.lfp`.
    - `seed`: non-negative integer; the same seed gives the same noise.
    - `file`: None (traces in memory) or a new HDF5 path to stream windows to (`ExtracellularFile`).

    `record(...)` synthesises the next window; `reset()` goes back to t = 0 (emptying the file);
    `close()` closes the file. Attributes: `settings`, `mea`, `channel_ids`, `t` (ms recorded so
    far), `file` (the `ExtracellularFile` or None).
    """

    def __init__(self, settings: ExtracellularSettings, mea: MEA, neuron_coordinates, lfp_gids=None, seed: int = 0,
                 *, file=None):
        if not isinstance(settings, ExtracellularSettings):
            raise InvalidArgumentError(f"settings must be an ExtracellularSettings; got {describe(settings)}")
        if not isinstance(mea, MEA):
            raise InvalidArgumentError(f"mea must be a livn.io.MEA; got {describe(mea)}")
        coords = check_neuron_coordinates(neuron_coordinates)
        gids = coords[:, 0]
        if coords.shape[0] == 0 or np.any(gids != np.round(gids)) or np.any(gids < 0) or len(np.unique(gids)) != len(gids):
            raise InvalidArgumentError(
                "neuron_coordinates must have at least one row and distinct non-negative integer gids in column 0"
            )
        if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
            raise InvalidArgumentError(f"seed must be a non-negative integer; got {describe(seed)}")
        if file is not None and not isinstance(file, (str, os.PathLike)):
            raise InvalidArgumentError(f"file must be None or a path (str or os.PathLike); got {describe(file)}")
        gids = gids.astype(np.int64)
        order = np.argsort(gids)
        self._sorted_gids, self._rows_by_gid = gids[order], order
        if settings.lfp:
            lfp = gids if lfp_gids is None else np.asarray(lfp_gids)
            if lfp.ndim != 1 or lfp.size == 0 or not np.issubdtype(lfp.dtype, np.integer) or len(np.unique(lfp)) != lfp.size:
                raise InvalidArgumentError(f"lfp_gids must be a non-empty 1-d array of distinct int gids; got {describe(lfp_gids)}")
            self._lfp_gids = np.sort(lfp.astype(np.int64))
            lfp_rows = self._rows_of(self._lfp_gids, "lfp_gids")
        self.settings = settings
        self.mea = mea
        self.channel_ids = mea.channel_ids.astype(np.int64)
        self._seed = int(seed)
        s = settings
        distances = mea.distances(coords)  # [channels, neurons], um
        self._amplitude = point_source_uv(s.spike_current_na, distances, s.conductivity, s.min_distance_um)
        if s.lfp:
            self._lfp_weights = -s.lfp_scale * point_source_uv(1.0, distances[:, lfp_rows], s.conductivity,
                                                                s.min_distance_um)  # uV per nA
            self._lfp_delay = int(round(s.lfp_delay_ms / s.lfp_dt_ms))
        electrodes = mea.distances(mea.electrode_coordinates)  # [recording, stimulating]
        self._artifact_gain = -point_source_uv(1000.0, electrodes, s.conductivity, s.min_distance_um)  # uV per uA
        self._waveform_samples = int(math.ceil(s.waveform_ms * s.fs_hz / 1000))
        self._carry_samples = self._waveform_samples + 3
        if s.noise_uv > 0:
            self._noise_sos, gain, self._noise_settle = noise_filter(s)
            self._noise_scale = s.noise_uv / math.sqrt(gain)
        self.file = None if file is None else ExtracellularFile(file, s, self.channel_ids, mea=mea, seed=seed)
        self.reset()

    def _rows_of(self, gids, name) -> np.ndarray:
        """Rows of `neuron_coordinates` for `gids`; an error names unknown gids."""
        where = np.searchsorted(self._sorted_gids, gids)
        where = np.minimum(where, len(self._sorted_gids) - 1)
        unknown = self._sorted_gids[where] != gids
        if np.any(unknown):
            raise InvalidArgumentError(f"{name} contains gids {np.unique(gids[unknown])[:10].tolist()} that have no "
                                       "neuron coordinates")
        return self._rows_by_gid[where]

    @property
    def t(self) -> float:
        """Time recorded so far, ms since t = 0."""
        return self._t_ms

    def reset(self) -> None:
        """Back to t = 0: no waveform tails, the seed's noise again, no LFP history, no artifact; the
        file (if any) is emptied, and its earlier file-backed recordings can no longer be read."""
        n = len(self.channel_ids)
        self._t_ms = 0.0
        self._next_sample = 0
        self._carry = np.zeros((n, self._carry_samples))
        if self.settings.noise_uv > 0:
            from scipy import signal

            self._rng = np.random.default_rng(np.random.SeedSequence([self._seed, _NOISE_STREAM]))
            state = np.zeros((self._noise_sos.shape[0], n, 2))
            _, self._noise_state = signal.sosfilt(self._noise_sos, self._white(self._noise_settle), axis=-1, zi=state)
        if self.settings.lfp:
            self._ampa_history = np.zeros((n, self._lfp_delay))
            self._proxy_history = np.zeros((n, 2))
        self._artifact_state = np.zeros((n, 1))
        self._blank_until_ms = -math.inf
        if self.file is not None and self.file.is_open:
            self.file.truncate()

    def close(self) -> None:
        """Close the file, if any (recordings read it again by path)."""
        if self.file is not None:
            self.file.close()

    def _white(self, count: int) -> np.ndarray:
        """`[n_channels, count]` unit Gaussian noise, drawn time-major so windows do not change it."""
        return self._rng.standard_normal((count, len(self.channel_ids))).T

    # -- one window ----------------------------------------------------------------------------

    def record(self, duration_ms: float, spike_gids, spike_times_ms, currents: SynapticCurrents | None = None,
               stimulation: ElectrodeStimulation | None = None) -> ExtracellularRecording:
        """Synthesise the next window.

        **Arguments**

        - `duration_ms`: the window's length, ms.
        - `spike_gids`, `spike_times_ms`: every neuron's spikes in the window (int gids; ms from the
          window's start, in [0, duration_ms)).
        - `currents`: the LFP neurons' `SynapticCurrents` (nA) every `settings.lfp_dt_ms` ms, one
          sample per grid time k * dt in the window (needed when `settings.lfp`, else ignored).
        - `stimulation`: the `ElectrodeStimulation` (uA) delivered in the window, or None.

        **Returns**: the window's `ExtracellularRecording` (file-backed when streaming to a file).
        """
        s = self.settings
        duration = _number("duration_ms", duration_ms, "ms", minimum=0.0, strict=True)
        gids, times = _spikes(spike_gids, spike_times_ms, duration)
        rows = self._rows_of(gids, "spike_gids")
        start = self._t_ms
        end = round(start + duration, TIME_DECIMALS)
        per_ms = s.fs_hz / 1000
        first, stop = self._next_sample, _sample_index(end, per_ms)
        ampa = gaba = None
        if s.lfp:
            ampa, gaba, m0 = self._check_currents(currents, start, end)
        stimulation = self._check_stimulation(stimulation, duration)
        if self.file is not None and not self.file.is_open:
            raise RecordingError(f"the recorder's file {str(self.file.path)!r} is closed")

        n = stop - first
        k = first + np.arange(n)
        trace = self._spike_part(n, first, rows, np.round(start + times, TIME_DECIMALS))
        if s.lfp:
            trace += self._lfp_part(k, ampa, gaba, m0)
        if s.noise_uv > 0:
            trace += self._noise_part(n)
        trace += self._artifact_part(k, start, stimulation)
        np.clip(trace, -s.amplifier_range_uv, s.amplifier_range_uv, out=trace)
        blanked = self._blank(trace, first, stop, start, end, stimulation)
        traces = trace.astype(np.float32)

        absolute_times = np.round(start + times, TIME_DECIMALS)
        self._t_ms, self._next_sample = end, stop
        relative_blanks = blanked - first
        if self.file is not None:
            self.file.append(traces, gids, absolute_times, end, blanked)
            return ExtracellularRecording._make(s.fs_hz, self.channel_ids, start, duration, first, n, gids, times, s,
                                                relative_blanks, source=(self.file, self.file.generation))
        return ExtracellularRecording._make(s.fs_hz, self.channel_ids, start, duration, first, n, gids, times, s,
                                            relative_blanks, traces=traces)

    def _check_currents(self, currents, start, end):
        s = self.settings
        if not isinstance(currents, SynapticCurrents):
            raise InvalidArgumentError(
                f"currents must be the LFP neurons' livn.types.SynapticCurrents when settings.lfp is on; got "
                f"{describe(currents)}"
            )
        if not math.isclose(float(currents.dt), s.lfp_dt_ms, rel_tol=1e-9):
            raise InvalidArgumentError(f"currents.dt must be settings.lfp_dt_ms = {s.lfp_dt_ms} ms; got {currents.dt}")
        per_ms = 1.0 / s.lfp_dt_ms
        m0, m1 = _sample_index(start, per_ms), _sample_index(end, per_ms)
        gids = np.asarray(currents.gids)
        ampa, gaba = np.asarray(currents.ampa, dtype=float), np.asarray(currents.gaba, dtype=float)
        expected = (len(self._lfp_gids), m1 - m0)
        if gids.ndim != 1 or not np.array_equal(np.sort(gids), self._lfp_gids):
            raise InvalidArgumentError(
                f"currents.gids must be the recorder's {len(self._lfp_gids)} lfp_gids; got {describe(gids)}"
            )
        for name, array in (("ampa", ampa), ("gaba", gaba)):
            if array.shape != expected:
                raise InvalidArgumentError(
                    f"currents.{name} must be [{expected[0]} neurons, {expected[1]} samples] nA (one per multiple of "
                    f"{s.lfp_dt_ms} ms in [{start}, {end}) ms); got {describe(array)}"
                )
            if not np.all(np.isfinite(array)):
                raise InvalidArgumentError(f"currents.{name} contain NaN or infinite values")
        order = np.argsort(gids)
        return ampa[order], gaba[order], m0

    def _check_stimulation(self, stimulation, duration):
        if stimulation is None:
            return None
        if not isinstance(stimulation, ElectrodeStimulation):
            raise InvalidArgumentError(
                f"stimulation must be a livn.stimulation.ElectrodeStimulation or None; got {describe(stimulation)}"
            )
        missing = np.setdiff1d(stimulation.channel_ids, self.channel_ids)
        if missing.size:
            raise InvalidArgumentError(
                f"stimulation channels {missing.tolist()} are not on the MEA; its channels: {self.channel_ids.tolist()}"
            )
        if stimulation.duration > duration + 1e-9:
            raise InvalidArgumentError(
                f"stimulation covers {stimulation.duration} ms, longer than the window's {duration} ms"
            )
        column_of = {int(c): i for i, c in enumerate(self.channel_ids)}
        return stimulation, np.array([column_of[int(c)] for c in stimulation.channel_ids], dtype=np.int64)

    def _spike_part(self, n, first, rows, spike_ms):
        """Every spike's waveform on every channel: `[n_channels, n]` uV, with the tails of earlier windows
        added and this window's tails kept for the next."""
        s = self.settings
        buffer = np.zeros((len(self.channel_ids), n + self._carry_samples))
        if len(rows):
            sample_ms = s.sample_ms
            k0 = np.floor(spike_ms / sample_ms).astype(np.int64)
            k = k0[:, None] + np.arange(self._waveform_samples + 2)
            waveform = spike_template(k * sample_ms - spike_ms[:, None], s)  # [spikes, offsets]
            index = k - first
            keep = (index >= 0) & (waveform != 0)
            index, waveform = index[keep], waveform[keep]
            which = np.broadcast_to(np.arange(len(rows))[:, None], keep.shape)[keep]
            for c in range(len(self.channel_ids)):
                weights = self._amplitude[c, rows][which] * waveform
                buffer[c] += np.bincount(index, weights=weights, minlength=buffer.shape[1])[: buffer.shape[1]]
        buffer[:, : self._carry_samples] += self._carry
        self._carry = buffer[:, n:].copy()
        return buffer[:, :n]

    def _lfp_part(self, k, ampa, gaba, m0):
        """The LFP proxy at samples `k` (absolute): `[n_channels, len(k)]` uV."""
        s = self.settings
        a = self._lfp_weights @ np.abs(ampa)  # [channels, current samples]
        g = self._lfp_weights @ np.abs(gaba)
        delay = self._lfp_delay
        history = np.concatenate([self._ampa_history, a], axis=1)  # index i <-> current sample m0 - delay + i
        proxy = history[:, : a.shape[1]] - s.lfp_gaba_ratio * g
        proxies = np.concatenate([self._proxy_history, proxy], axis=1)  # index i <-> m0 - 2 + i
        u = k * s.sample_ms / s.lfp_dt_ms - 1.0  # one current sample late
        j = np.floor(u)
        fraction = u - j
        i = np.clip(j.astype(np.int64) - (m0 - 2), 0, proxies.shape[1] - 2)
        if delay:
            self._ampa_history = history[:, -delay:]
        self._proxy_history = proxies[:, -2:]
        return proxies[:, i] * (1.0 - fraction) + proxies[:, i + 1] * fraction

    def _noise_part(self, n):
        from scipy import signal

        filtered, self._noise_state = signal.sosfilt(self._noise_sos, self._white(n), axis=-1, zi=self._noise_state)
        return filtered * self._noise_scale

    def _artifact_part(self, k, start, stimulation):
        """Point-source artifacts of the electrode currents through the first-order recovery, uV."""
        n = len(k)
        if stimulation is None and not np.any(self._artifact_state):
            return np.zeros((len(self.channel_ids), n))
        from scipy import signal

        s = self.settings
        source = np.zeros((len(self.channel_ids), n))
        if stimulation is not None:
            stim, columns = stimulation
            row = np.floor((k * s.sample_ms - start) / stim.step + 1e-9).astype(np.int64)
            inside = (row >= 0) & (row < stim.currents.shape[0])
            source[:, inside] = self._artifact_gain[:, columns] @ stim.currents[row[inside]].T
        a = math.exp(-s.sample_ms / s.artifact_decay_ms)
        out, self._artifact_state = signal.lfilter([1.0 - a], [1.0, -a], source, axis=-1, zi=self._artifact_state)
        return out

    def _blank(self, trace, first, stop, start, end, stimulation) -> np.ndarray:
        """Zero the samples from each stimulation's onset to `blanking_ms` after its end (all channels).

        **Returns**: `[n, 2]` blanked absolute sample ranges [start, stop) within this window."""
        s = self.settings
        if s.blanking_ms is None:
            return np.zeros((0, 2), np.int64)
        spans = []  # (onset, end + blanking) in ms since t = 0
        if self._blank_until_ms > start:
            spans.append((start, self._blank_until_ms))
        if stimulation is not None:
            stim = stimulation[0]
            active = np.concatenate([[False], np.any(stim.currents != 0, axis=1), [False]])
            edges = np.flatnonzero(np.diff(active.astype(np.int8)))
            for onset, offset in zip(edges[::2], edges[1::2]):
                spans.append((round(start + onset * stim.step, TIME_DECIMALS),
                              round(start + offset * stim.step + s.blanking_ms, TIME_DECIMALS)))
        per_ms = s.fs_hz / 1000
        ranges = []
        for onset, until in spans:
            a = min(max(_sample_index(onset, per_ms), first), stop)
            b = min(max(_sample_index(until, per_ms), a), stop)
            if b > a:
                trace[:, a - first: b - first] = 0.0
                ranges.append((a, b))
            self._blank_until_ms = max(self._blank_until_ms, until)
        return _merge(ranges)

    def __repr__(self) -> str:
        where = f"file {str(self.file.path)!r}" if self.file is not None else "in memory"
        return (f"ExtracellularRecorder({len(self.channel_ids)} channels at {self.settings.fs_hz:g} Hz, "
                f"t = {self._t_ms:g} ms, {where})")
