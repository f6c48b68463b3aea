"""Figures of a recording: spike raster, MEA channel activity, raw traces, population rate."""

from __future__ import annotations

import math
import os

import numpy as np

from livn._files import atomic_file
from livn.errors import InvalidArgumentError, describe

#: Width of the trace panel in points of the envelope: about one per pixel column of the figure.
ENVELOPE_COLUMNS = 1200
_BLOCK_BYTES = 16 << 20  # the most trace data read at once while drawing a file-backed recording


def plot_recording(
    path: str | os.PathLike, it, t, duration: float, population_ranges: dict, cit: dict, ct: dict,
    bursts=None, title: str = "", traces=None, fs_hz: float | None = None, trace_channels: int = 4,
) -> str:
    """Write a PNG with the spike raster, per-channel MEA activity, raw traces and population rate.

    **Arguments**: `path` (output PNG, written atomically), then as `recording_figure`.

    **Returns**: `path` as a str.
    """
    import matplotlib.pyplot as plt

    fig = recording_figure(it, t, duration, population_ranges, cit, ct, bursts=bursts, title=title,
                           traces=traces, fs_hz=fs_hz, trace_channels=trace_channels)
    try:
        with atomic_file(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)
    return str(path)


def recording_figure(
    it, t, duration: float, population_ranges: dict, cit: dict, ct: dict,
    bursts=None, title: str = "", traces=None, fs_hz: float | None = None, trace_channels: int = 4,
):
    """The matplotlib `Figure` of `plot_recording`: raster, MEA channels, [raw traces,] population rate.

    **Arguments**

    - `it`, `t`: spike gids and times (ms).
    - `duration`: recording length, ms.
    - `population_ranges`: population -> (first gid, count), to colour the raster.
    - `cit`, `ct`: channel recording as returned by `MEA.channel_recording`.
    - `bursts`: optional `[n, 2]` network burst (start, end) times in ms, shaded.
    - `traces`: optional raw traces for a panel of a few channels: an
      `livn.io.extracellular.ExtracellularRecording`, or an `[n_channels, samples]` array in uV
      whose rows are the channels of `ct` in sorted id order (then `fs_hz` is needed).
    - `fs_hz`: sampling rate of an array of `traces`, Hz.
    - `trace_channels`: how many channels the trace panel shows (the ones with most spikes in
      `ct`), >= 1.

    The trace panel draws, per pixel column, the minimum and maximum of the samples it covers
    (exact for what the eye can see), reading a file-backed recording a block at a time.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = None
    if traces is not None:
        shown = _trace_source(traces, fs_hz, ct)
        if isinstance(trace_channels, bool) or not isinstance(trace_channels, (int, np.integer)) or trace_channels < 1:
            raise InvalidArgumentError(f"trace_channels must be a whole number >= 1; got {describe(trace_channels)}")
    it = np.asarray(it)
    t = np.asarray(t, dtype=float)
    ratios = [3, 2, 2, 1] if shown is not None else [3, 2, 1]
    fig, axes = plt.subplots(
        len(ratios), 1, figsize=(11, 8 + 2 * (shown is not None)), sharex=True,
        gridspec_kw={"height_ratios": ratios}, constrained_layout=True,
    )
    raster, channels, rate = axes[0], axes[1], axes[-1]
    colours = {"EXC": "tab:red", "INH": "tab:blue"}
    for name, (start, count) in population_ranges.items():
        mine = (it >= start) & (it < start + count)
        raster.scatter(t[mine], it[mine], s=1.5, color=colours.get(name, "k"), label=f"{name} ({count})", lw=0)
    raster.set_ylabel("neuron (gid)")
    raster.legend(loc="upper right", markerscale=6, fontsize=8)
    if title:
        raster.set_title(title)

    bin_size = max(1.0, duration / 400)
    edges = np.arange(0, duration + bin_size, bin_size)
    ids = sorted(ct)
    counts = np.array([np.histogram(ct[c], bins=edges)[0] for c in ids]) / (bin_size / 1000.0)
    image = channels.imshow(
        counts, aspect="auto", origin="lower", interpolation="nearest", cmap="magma",
        extent=(0, edges[-1], -0.5, len(ids) - 0.5),
    )
    channels.set_yticks(range(len(ids)), [str(c) for c in ids], fontsize=6)
    channels.set_ylabel("MEA channel")
    fig.colorbar(image, ax=channels, label="spikes/s", pad=0.01)

    if shown is not None:
        _draw_traces(axes[2], *shown, ct, int(trace_channels))

    n = sum(count for _, count in population_ranges.values())
    population = np.histogram(t, bins=edges)[0] / n / (bin_size / 1000.0)
    rate.plot(edges[:-1], population, color="k", lw=0.8)
    rate.set_ylabel("rate (Hz)")
    rate.set_xlabel("time (ms)")
    for start, end in [] if bursts is None else bursts:
        for ax in (raster, rate):
            ax.axvspan(start, end, color="gold", alpha=0.25, lw=0)
    rate.set_xlim(0, duration)
    return fig


def _trace_source(traces, fs_hz, ct):
    """(read(start, stop) -> [n_channels, k] uV, n_samples, fs_hz, channel ids) of `traces`."""
    if hasattr(traces, "read") and hasattr(traces, "channel_ids"):
        return traces.read, int(traces.n_samples), float(traces.fs_hz), np.asarray(traces.channel_ids)
    array = np.asarray(traces)
    if array.ndim != 2 or array.shape[1] < 1 or not np.issubdtype(array.dtype, np.number):
        raise InvalidArgumentError(
            f"traces must be an ExtracellularRecording or an [n_channels, samples] array in uV; got {describe(traces)}"
        )
    if isinstance(fs_hz, bool) or not isinstance(fs_hz, (int, float, np.integer, np.floating)) or not (
        math.isfinite(fs_hz) and fs_hz > 0
    ):
        raise InvalidArgumentError(f"fs_hz must be a positive, finite number of Hz with a traces array; got {describe(fs_hz)}")
    ids = np.asarray(sorted(ct)) if len(ct) == array.shape[0] else np.arange(array.shape[0])

    def read(start=0, stop=None):
        return array[:, start:stop]

    return read, array.shape[1], float(fs_hz), ids


def envelope(read, n_samples: int, rows, columns: int = ENVELOPE_COLUMNS, n_channels: int | None = None):
    """Per-column minimum and maximum of some rows of a long recording, read a block at a time.

    **Arguments**

    - `read`: `read(start, stop)` gives samples [start, stop) as `[n_channels, k]` (uV).
    - `n_samples`: length of the recording, samples.
    - `rows`: indices of the channels (rows) wanted.
    - `columns`: how many columns to reduce to (about the panel's width in pixels).
    - `n_channels`: rows per read, to size the blocks (default: `len(rows)`).

    **Returns**

    `(first, low, high)`: the first sample index of each column `[m]` and the minimum and maximum
    `[len(rows), m]` (uV) of the samples in each column; m = n_samples columns of one sample
    each when the recording is short.
    """
    rows = np.asarray(rows, dtype=int)
    per_column = max(1, math.ceil(n_samples / columns))
    width = max(1, len(rows) if n_channels is None else n_channels) * 8  # bytes per sample, float64
    block = per_column * max(1, _BLOCK_BYTES // (width * per_column))
    first = np.arange(0, n_samples, per_column)
    lows, highs = [], []
    for start in range(0, n_samples, block):
        part = np.asarray(read(start, min(start + block, n_samples)), dtype=float)[rows]
        offsets = np.arange(0, part.shape[1], per_column)
        lows.append(np.minimum.reduceat(part, offsets, axis=1))
        highs.append(np.maximum.reduceat(part, offsets, axis=1))
    return first, np.concatenate(lows, axis=1), np.concatenate(highs, axis=1)


def _draw_traces(ax, read, n_samples, fs_hz, channel_ids, ct, count):
    """Raw traces of the `count` channels with most spikes, stacked, with a uV scale bar.

    Each channel gets a lane sized to its spikes and noise; columns far larger than the typical
    one (stimulation artifacts, over 20 times the median column's range) do not set the lane
    size and are clipped to it, as a saturating amplifier would show them.
    """
    spikes = np.array([len(ct.get(int(c), ())) for c in channel_ids])
    rows = np.sort(np.argsort(-spikes, kind="stable")[: min(count, len(channel_ids))])
    first, low, high = envelope(read, n_samples, rows, n_channels=len(channel_ids))
    times = first / fs_hz * 1000.0
    centre = np.median((low + high) / 2, axis=1, keepdims=True)
    low, high = low - centre, high - centre
    span = high - low
    typical = span <= 20 * max(float(np.median(span)), 1e-12)
    up = max(float(np.percentile(h[k], 99.5)) if k.any() else 1.0 for h, k in zip(high, typical, strict=True))
    down = min(float(np.percentile(lo[k], 0.5)) if k.any() else -1.0 for lo, k in zip(low, typical, strict=True))
    up, down = max(up, 1e-9) * 1.05, min(down, -1e-9) * 1.05
    spacing = (up - down) * 1.05
    for i in range(len(rows)):
        offset = -i * spacing
        ax.fill_between(times, np.clip(low[i], down, up) + offset, np.clip(high[i], down, up) + offset,
                        step="post", lw=0.5, color="k", edgecolor="k")
    ax.set_yticks([-i * spacing for i in range(len(rows))], [f"ch {int(channel_ids[r])}" for r in rows], fontsize=7)
    ax.set_ylim(-(len(rows) - 1) * spacing + down, up)
    ax.set_ylabel("extracellular")
    bar = _round_down((up - down) / 2)
    x = (n_samples / fs_hz * 1000.0) * 1.005
    ax.plot([x, x], [0.0, -bar], color="tab:green", lw=2, clip_on=False)
    ax.text(x, -bar / 2, f" {bar:g} uV", va="center", ha="left", fontsize=7, color="tab:green", clip_on=False)


def _round_down(value: float) -> float:
    """The largest 1, 2 or 5 times a power of ten that is <= `value`."""
    power = 10.0 ** math.floor(math.log10(value))
    return max(m * power for m in (1, 2, 5) if m * power <= value)
