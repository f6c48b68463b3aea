"""What a finished (or interrupted) run shows: a text summary and a figure of its audit trail.

The figure has three panels: the spike raster of every trial with the delivered
stimulation marked, the per-trial response (spikes in the response window, by the
first roving parameter when there is one) and the histogram of iteration latencies
(wall ms per closed-loop window). Units: time ms, electrode current uA.
"""

from __future__ import annotations

import os

import numpy as np

from livn._files import atomic_file


def summary(audit) -> str:
    """A few lines about a run: config, trials, errors, latency."""
    config = audit.config
    trials = [audit.trial(i) for i in range(audit.completed_trials)]
    latency = np.concatenate([t["latency_ms"] for t in trials]) if trials else np.zeros(0)
    spikes = sum(len(t["spikes"][0]) for t in trials)
    lines = [
        f"experiment      {config.get('name')} on {config.get('system')} ({config.get('backend', 'rig')}), "
        f"seed {audit.seed}",
        f"status          {audit.status}: {audit.completed_trials} of {config['protocol']['trials']} trials "
        f"({sum(not t['complete'] for t in trials)} incomplete)",
        f"spikes          {spikes}",
        f"errors          {len(audit.errors)}",
        f"steps           {', '.join(f'{k} (sha256 {v[:12]})' for k, v in audit.step_sha256.items()) or 'none'}",
    ]
    if len(latency):
        lines.append(f"iteration       median {np.median(latency):.2f} ms, 99th percentile "
                     f"{np.percentile(latency, 99):.2f} ms, max {latency.max():.2f} ms (wall)")
    return "\n".join(lines)


def plot(audit, path: str | os.PathLike) -> str:
    """Write the run's figure as a PNG (atomically); returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trials = [audit.trial(i) for i in range(audit.completed_trials)]
    roving = list(audit.config.get("protocol", {}).get("roving", {}))
    figure, (raster, response, latency) = plt.subplots(3, 1, figsize=(9, 9), gridspec_kw={"height_ratios": [3, 2, 2]})
    for trial in trials:
        gids, times = trial["spikes"]
        raster.plot(times, gids, "|", color="k", markersize=2)
        for stimulus in trial["stimuli"]:
            rows = np.flatnonzero(np.abs(stimulus["inputs_uA"]).sum(axis=1))
            raster.plot(stimulus["start_ms"] + rows, np.full(len(rows), -1.5), "|", color="tab:red", markersize=6)
    raster.set(xlabel="time (ms)", ylabel="gid", title=f"{audit.config.get('name')}: spikes, stimulation (red)")
    counts = [sum((t["results"].get("response_spikes") or {}).values()) for t in trials]
    if roving and trials:
        x = [t["parameters"].get(roving[0]) for t in trials]
        response.plot(x, counts, "o", alpha=0.6)
        response.set(xlabel=roving[0], ylabel="response spikes")
    else:
        response.plot(range(len(counts)), counts, "o-")
        response.set(xlabel="trial", ylabel="response spikes")
    all_latency = np.concatenate([t["latency_ms"] for t in trials]) if trials else np.zeros(0)
    latency.hist(all_latency, bins=40, color="tab:gray")
    latency.set(xlabel="iteration wall time (ms)", ylabel="windows")
    figure.tight_layout()
    with atomic_file(path, "wb") as f:
        figure.savefig(f, format="png", dpi=100)
    plt.close(figure)
    return str(path)
