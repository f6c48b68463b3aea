"""Spontaneous activity statistics of the predefined cultures under the model defaults.

    uv run python benchmarks/culture_statistics.py --systems S1 S2 S3 S4 --duration 10000

For each system: mean firing rate, ISI coefficient of variation, active fraction,
network bursts per minute and the fraction of spikes inside bursts, after a
warm-up that lets the initial transient pass. Optional weight overrides
(`--weight EXC_EXC=8`) help explore the parameter space.
"""

from __future__ import annotations

import argparse
import time

from _device import add_device_argument, device_report, use_device

from livn._files import write_json
from livn.analysis import summarize
from livn.env import Env
from livn.system import predefined


def measure(name: str, duration: float, warmup: float, seed: int, weights: dict) -> dict:
    env = Env(predefined(name), seed=seed).init().apply_model_defaults().record_spikes()
    if weights:
        env.set_weights({k: v for k, v in weights.items() if k in env.projections})
    env.run(warmup)
    started = time.perf_counter()
    it, t, _, _ = env.run(duration)
    wall = time.perf_counter() - started
    summary = summarize(it, t, env.num_neurons, duration).as_dict()
    return {"system": name, "seed": seed, "backend": env.backend.name, **summary,
            "wall_s_per_sim_s": wall / (duration / 1000), "device": device_report()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", nargs="+", default=["S1", "S2", "S3", "S4"])
    parser.add_argument("--duration", type=float, default=10000.0, help="ms of recorded activity")
    parser.add_argument("--warmup", type=float, default=1000.0, help="ms discarded first")
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--weight", action="append", default=[], metavar="PROJECTION=nS")
    parser.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    add_device_argument(parser)
    args = parser.parse_args()
    use_device(args.device)  # the backend is LIVN_BACKEND's (diffrax runs on JAX)
    weights = {key: float(value) for key, value in (item.split("=") for item in args.weight)}

    rows = [measure(name, args.duration, args.warmup, args.seed, weights) for name in args.systems]
    print(f"Spontaneous activity, {args.duration / 1000:g} s after {args.warmup:g} ms warm-up, seed {args.seed}"
          + (f", weights {weights}" if weights else "") + f"; {rows[0]['backend'] if rows else ''} backend; "
          + device_report())
    print()
    print("| system | neurons | mean rate (Hz) | ISI CV | active | bursts/min | spikes in bursts | wall s / sim s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['system']} | {r['num_neurons']} | {r['mean_rate']:.2f} | {r['isi_cv']:.2f} | "
            f"{r['active_fraction']:.0%} | {r['burst_rate']:.1f} | {r['fraction_in_bursts']:.0%} | "
            f"{r['wall_s_per_sim_s']:.2f} |"
        )
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
