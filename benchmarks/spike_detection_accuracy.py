"""Accuracy of SpikeInterface's peak detection on livn's extracellular traces, against the noise level.

```sh
uv run python benchmarks/spike_detection_accuracy.py                      # S2, 5 s, noise 2 5 10 20 40 uV
uv run python benchmarks/spike_detection_accuracy.py --noise 5 20 --duration 2000 --json out.json
```

One culture (S2, brian2, seed 1, model defaults) is recorded with
`env.record_extracellular(fs_hz=25000, noise_uv=sigma)` once per noise level, each time in a
fresh `Env` with the same seed: the spikes are the same (checked), only the noise differs.
Each recording goes through SpikeInterface as an analysis would: `bandpass_filter`
(300-6000 Hz), `get_noise_levels` (MAD) and `detect_peaks(method="by_channel",
peak_sign="neg", detect_threshold=5, exclude_sweep_ms=0.5)`, i.e. a negative threshold
at 5 x the channel's noise. The peaks of each channel are scored against per-channel
multi-unit ground truth (`livn.integrations.spikeinterface`): the spikes of the neurons
whose band-passed trough on that channel is

- **detectable**: larger than the threshold: accuracy, recall and precision;
- **clear**: larger than 1.5 x the threshold: recall (spikes a detector must not miss);
- **visible**: larger than 0.5 x the threshold: precision (peaks that are real spikes);
- **recorded**: of a neuron within the MEA's `output_radius` (what livn's spike-based
  `channel_recording` assigns to the channel): the same ground truth at every noise level.

A hit is a peak within 0.4 ms of a ground-truth trough on the same channel (SpikeInterface's
`compare_sorter_to_ground_truth` coincidence count). Scores are given over the quiet
stretches (`quiet_frames`: away from network bursts, where many neurons fire within a
millisecond and one channel cannot resolve single spikes) and over the whole recording.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from _device import add_device_argument, device_report, use_device

K = 5.0
JOB = {"n_jobs": 1, "progress_bar": False}
DEFAULT_JSON = Path(__file__).parent / "results" / "spike_detection_accuracy.json"


def record(system: str, seed: int, duration: float, noise_uv: float):
    from livn.env import Env
    from livn.system import make

    env = Env(make(system), seed=seed).init()
    env.apply_model_defaults()
    env.record_spikes()
    env.record_extracellular(fs_hz=25000.0, noise_uv=noise_uv)
    return env, env.run(duration)


def score(env, result) -> dict:
    import spikeinterface.core as sc
    import spikeinterface.preprocessing as spre
    from spikeinterface.sortingcomponents.peak_detection import detect_peaks

    from livn.integrations import spikeinterface as lsi

    start = time.perf_counter()
    rec = spre.bandpass_filter(lsi.recording(result))
    noise = sc.get_noise_levels(rec, return_in_uV=False, random_slices_kwargs={"seed": 0}, **JOB)
    peaks = detect_peaks(rec, method="by_channel", method_kwargs={
        "peak_sign": "neg", "detect_threshold": K, "exclude_sweep_ms": 0.5, "noise_levels": noise}, job_kwargs=JOB)
    seconds = time.perf_counter() - start
    detected = lsi.channel_peaks(peaks, rec)
    gids, amplitudes = lsi.spike_amplitudes(result, preprocessing=spre.bandpass_filter)
    recorded = env.io.recording_mask(env.system.neuron_coordinates).astype(float)
    quiet = lsi.quiet_frames(result)
    truths = {"detectable": (amplitudes, K * noise), "clear": (amplitudes, 1.5 * K * noise),
              "visible": (amplitudes, 0.5 * K * noise), "recorded": (recorded, 0.5)}
    row = {"noise_uv": None, "noise_mad_uv": float(np.mean(noise)), "threshold_uv": float(K * np.mean(noise)),
           "peaks": int(len(peaks)), "detection_s": round(seconds, 3),
           "quiet_fraction": sum(b - a for a, b in quiet) / rec.get_num_samples()}
    for where, frames in (("quiet", quiet), ("all", None)):
        for name, (amplitude, threshold) in truths.items():
            truth = lsi.channel_ground_truth(result, amplitude, threshold, gids)
            scores = lsi.detection_scores(truth, detected, frames=frames)
            row[f"{where}/{name}"] = {key: scores[key] for key in
                                      ("hits", "misses", "false", "accuracy", "recall", "precision")}
    return row


def cell(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(rows, where: str) -> str:
    lines = ["| noise (uV) | MAD (uV) | threshold (uV) | peaks | detectable spikes | accuracy | recall | "
             "precision | clear recall | visible precision | recorded recall |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        d, c, v, r = (row[f"{where}/{name}"] for name in ("detectable", "clear", "visible", "recorded"))
        lines.append(f"| {row['noise_uv']:g} | {row['noise_mad_uv']:.2f} | {row['threshold_uv']:.1f} | {row['peaks']} | "
                     f"{d['hits'] + d['misses']} | {cell(d['accuracy'])} | {cell(d['recall'])} | {cell(d['precision'])} | "
                     f"{cell(c['recall'])} | {cell(v['precision'])} | {cell(r['recall'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", default="S2")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5000.0, help="ms")
    parser.add_argument("--noise", type=float, nargs="+", default=[2.0, 5.0, 10.0, 20.0, 40.0], help="uV")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the rows")
    add_device_argument(parser)
    args = parser.parse_args()
    use_device(args.device, jax_needed=False)  # brian2 and SpikeInterface: CPU only
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    import spikeinterface

    from livn._files import write_json

    rows, spikes = [], None
    for noise_uv in args.noise:
        env, result = record(args.system, args.seed, args.duration, noise_uv)
        ex = result.extracellular
        if spikes is None:
            spikes = (ex.spike_gids, ex.spike_times)
        elif not (np.array_equal(spikes[0], ex.spike_gids) and np.array_equal(spikes[1], ex.spike_times)):
            raise RuntimeError(f"the culture spiked differently at noise {noise_uv} uV: the comparison needs the same spikes")
        row = score(env, result)
        row["noise_uv"] = noise_uv
        rows.append(row)
        print(f"noise {noise_uv:g} uV done", flush=True)
    header = (f"{args.system}, seed {args.seed}, {args.duration:g} ms at 25 kHz, {len(spikes[0])} spikes of "
              f"{env.num_neurons} neurons; detect_peaks by_channel, neg, threshold {K:g} x MAD; {device_report()}")
    print(header)
    for where in ("quiet", "all"):
        label = "quiet stretches (away from network bursts)" if where == "quiet" else "whole recording"
        print(f"\n{label}, quiet fraction {rows[0]['quiet_fraction']:.2f}:\n{table(rows, where)}")
    write_json(args.json, {"description": header, "system": args.system, "seed": args.seed, "duration_ms": args.duration,
                           "spikes": int(len(spikes[0])), "neurons": int(env.num_neurons),
                           "spikeinterface": spikeinterface.__version__, "python": platform.python_version(),
                           "device": device_report(), "rows": rows})


if __name__ == "__main__":
    main()
