"""Figures of a recording: spike raster, MEA channel activity, population rate."""

from __future__ import annotations

import os

import numpy as np

from livn._files import atomic_file


def plot_recording(
    path: str | os.PathLike, it, t, duration: float, population_ranges: dict, cit: dict, ct: dict,
    bursts=None, title: str = "",
) -> str:
    """Write a PNG with the spike raster, per-channel MEA activity and population rate.

    **Arguments**

    - `path`: output PNG, written atomically.
    - `it`, `t`: spike gids and times (ms).
    - `duration`: recording length, ms.
    - `population_ranges`: population -> (first gid, count), to colour the raster.
    - `cit`, `ct`: channel recording as returned by `MEA.channel_recording`.
    - `bursts`: optional `[n, 2]` network burst (start, end) times in ms, shaded.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = np.asarray(it)
    t = np.asarray(t, dtype=float)
    fig, axes = plt.subplots(
        3, 1, figsize=(11, 8), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1]}, constrained_layout=True
    )
    raster, channels, rate = axes
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

    n = sum(count for _, count in population_ranges.values())
    population = np.histogram(t, bins=edges)[0] / n / (bin_size / 1000.0)
    rate.plot(edges[:-1], population, color="k", lw=0.8)
    rate.set_ylabel("rate (Hz)")
    rate.set_xlabel("time (ms)")
    for start, end in [] if bursts is None else bursts:
        for ax in (raster, rate):
            ax.axvspan(start, end, color="gold", alpha=0.25, lw=0)
    rate.set_xlim(0, duration)

    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return str(path)
