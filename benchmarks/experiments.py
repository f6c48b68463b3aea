"""The shipped experiments (examples/experiments/), run at full length, and what each measured, as markdown.

    uv run python benchmarks/experiments.py [--out DIR] [--quieting-ms 30000] [--device cpu]

- stimulus_response.yml: recruitment curve and threshold per channel (livn.experiment.analysis.recruitment);
- activity_clamp.yml: mean rate over each trial's second half and its error from the setpoint, with the
  controller on and off (the same step with `enabled: false`: no stimulation);
- burst_quieting.yml: network bursts per minute with no stimulation, the closed loop, and the open loop
  (burst_quieting_open_loop.yml with as many pulses as the closed loop delivered, at seeded random times).
"""

import argparse
import copy
import os
import platform
import time
from datetime import date
from pathlib import Path

import yaml
from _device import add_device_argument, device_report, use_device

from livn.experiment import read_audit, run_experiment
from livn.experiment.analysis import burst_rate, population_rate, pulses_delivered, recruitment

EXAMPLES = Path(__file__).parents[1] / "examples" / "experiments"


def load(name):
    return yaml.safe_load((EXAMPLES / name).read_text())


def run(config, out, timings):
    start, cpu = time.perf_counter(), time.process_time()
    audit = read_audit(run_experiment(config, out, overwrite=True, progress=False))
    timings.append((config["name"], time.perf_counter() - start, time.process_time() - cpu,
                    sum(audit.trial(i)["duration_ms"] for i in range(audit.completed_trials)) / 1e3))
    return audit


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/experiments")
    parser.add_argument("--quieting-ms", type=float, default=None, help="override each burst-quieting condition's length")
    add_device_argument(parser)
    args = parser.parse_args()
    use_device(args.device)  # where an experiment's diffrax backend would run (the shipped ones use brian2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings, lines = [], []

    audit = run(load("stimulus_response.yml"), out / "stimulus_response.h5", timings)
    r = recruitment(audit)
    channel = audit.config["protocol"]["parameters"]["channel"]
    lines += ["### stimulus_response.yml", "",
              f"Stimulated channel {channel}; mean response spikes (stimulus + post window) per amplitude; "
              "baseline mean + 2 SE scaled to the response window.", "",
              "| channel | " + " | ".join(f"{a:g} uA" for a in r["amplitudes"]) + " | baseline (mean, SE) | threshold |",
              "|---|" + "---|" * len(r["amplitudes"]) + "---|---|"]
    shown = [c for c in r["curves"] if c == channel or r["thresholds"][c] is not None]
    for c in sorted(shown):
        mean, se = r["baseline"][c]
        threshold = "none" if r["thresholds"][c] is None else f"{r['thresholds'][c]:g} uA"
        lines.append(f"| {c} | " + " | ".join(f"{v:.2f}" for v in r["curves"][c]) + f" | {mean:.2f}, {se:.2f} | {threshold} |")
    silent = [c for c in r["curves"] if c not in shown]
    lines += ["", f"Channels without a threshold (not shown): {silent}.", ""]

    clamp = load("activity_clamp.yml")
    off = copy.deepcopy(clamp)
    off["name"] += "_off"
    off["pipeline"][0]["options"]["enabled"] = False
    setpoint = clamp["pipeline"][0]["options"]["setpoint_hz"]
    lines += ["### activity_clamp.yml", "", f"Setpoint {setpoint} Hz; each trial's second half.", "",
              "| controller | trial | rate, second half (Hz) | error (% of setpoint) | mean current (uA) |",
              "|---|---|---|---|---|"]
    for label, config in (("on", clamp), ("off", off)):
        audit = run(config, out / f"{config['name']}.h5", timings)
        for i in range(audit.completed_trials):
            res = audit.trial(i)["results"]
            lines.append(f"| {label} | {i} | {res['clamp_rate_hz']:.2f} | {res['clamp_error_pct']:.1f} | "
                         f"{res['clamp_mean_uA']:.2f} |")
        lines.append(f"| {label} | all (from spikes) | {population_rate(audit, second_half=True):.2f} | | |")
    lines.append("")

    closed, opened = load("burst_quieting.yml"), load("burst_quieting_open_loop.yml")
    if args.quieting_ms:
        for config in (closed, opened):
            config["protocol"]["windows"]["post_ms"] = args.quieting_ms
            if "open_loop_duration_ms" in config["pipeline"][0]["options"]:
                config["pipeline"][0]["options"]["open_loop_duration_ms"] = args.quieting_ms
    none = copy.deepcopy(closed)
    none["name"], none["pipeline"] = "burst_quieting_none", []
    results = {}
    for label, config in (("no stimulation", none), ("closed loop", closed)):
        results[label] = run(config, out / f"{config['name']}.h5", timings)
    opened["pipeline"][0]["options"]["open_loop_stimuli"] = pulses_delivered(results["closed loop"])
    results["open loop (same pulses, random times)"] = run(opened, out / f"{opened['name']}.h5", timings)
    seconds = closed["protocol"]["windows"]["post_ms"] / 1e3 * closed["protocol"]["trials"]
    lines += ["### burst_quieting.yml", "", f"S2, {seconds:g} s per condition, seed {closed['seed']}.", "",
              "| condition | network bursts / min | mean rate (Hz) | pulses delivered |", "|---|---|---|---|"]
    for label, audit in results.items():
        lines.append(f"| {label} | {burst_rate(audit):.1f} | {population_rate(audit):.2f} | {pulses_delivered(audit)} |")
    lines += ["", "### Time", "", f"{date.today()}, {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs, brian2; {device_report()}.", "", "| run | simulated s | wall s | CPU s |", "|---|---|---|---|"]
    lines += [f"| {name} | {sim:g} | {wall:.1f} | {cpu:.1f} |" for name, wall, cpu, sim in timings]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
