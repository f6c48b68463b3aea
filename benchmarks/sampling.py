"""Dataset sampling speed: samples per second for S1 and S2 (5 s trials) on 1 and 2 MPI ranks.

    uv run python benchmarks/sampling.py [--systems S1 S2] [--ranks 1 2] [--samples S1=512 S2=24]

For each system and rank count it starts `mpirun -n R python benchmarks/sampling.py --worker ...`.
Every worker builds its `Sampler` (diffrax Env) and compiles it on one batch (timed as
"startup"), then all ranks simulate and write (parquet, to a temporary directory) their
shards of the `train_with_noise` split, the noisy one; the time from a barrier before to a
barrier after is the steady-state time. The table reports samples per second and projects
the published S1 train split (50,000 samples x 5 s) from the steady rate plus startup.

`--baseline REV` runs every configuration on an earlier revision of livn too (`_baseline.py`),
alternately with this one, and says whether the two wrote the same rows (a SHA-256 over every
row's seed, spike gids and spike times, in shard order). `--device` chooses where JAX runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _baseline import add_baseline_argument, baseline_tree, environment, label
from _device import add_device_argument, device_report, use_device

T_END = 5000.0  # ms
PUBLISHED_S1_TRAIN = 50_000


def row_digests(rows: dict, first: int) -> dict:
    """SHA-256 of each row (seed, trial spike gids and times), keyed by the row's sample index."""
    digests = {}
    for offset, (seed, gids, times) in enumerate(zip(rows["seed"], rows["trial_it"], rows["trial_t"])):
        digest = hashlib.sha256(np.int64(seed).tobytes())
        for trial_gids, trial_times in zip(gids, times):
            digest.update(np.asarray(trial_gids, np.int64).tobytes() + np.asarray(trial_times, np.float64).tobytes())
        digests[first + offset] = digest.hexdigest()
    return digests


def worker(name: str, samples: int, out: str) -> None:
    from livn._mpi import world
    from livn.system import make
    from livn.systems.sample import Sampler, SamplingPlan, write_shard

    comm = world()
    system = make(name)
    probe = SamplingPlan(samples=samples, test_samples=0, t_end=T_END, splits=("train_with_noise",))
    batch = Sampler(system, probe).batch_size  # trials per compiled call, from the memory budget
    plan = SamplingPlan(samples=samples, test_samples=0, t_end=T_END, shard_size=batch, splits=("train_with_noise",))
    started = time.perf_counter()
    sampler = Sampler(system, plan)
    sampler.rows("train_with_noise", 0, min(batch, samples))  # compile
    startup = time.perf_counter() - started
    comm.barrier()
    started, cpu = time.perf_counter(), time.process_time()
    digests = {}
    for split, index, first, stop in plan.shards()[comm.rank :: comm.size]:
        rows = sampler.rows(split, first, stop)
        write_shard(Path(out) / f"{comm.rank}-{plan.shard_name(split, index)}", rows)
        digests.update(row_digests(rows, first))
    cpu = time.process_time() - cpu
    comm.barrier()
    steady = time.perf_counter() - started
    startups, cpus, every = comm.gather(startup), comm.gather(cpu), comm.gather(digests)
    if comm.is_root:
        import jax  # noqa: F401  (loaded by the sampler; for the report)

        print(json.dumps({"system": name, "neurons": system.num_neurons, "ranks": comm.size, "samples": samples,
                          "batch": batch, "startup_s": max(startups), "steady_s": steady, "cpu_s": cpus,
                          "digest": hashlib.sha256("".join(
                              value for _, value in sorted({k: v for part in every for k, v in part.items()}.items())
                          ).encode()).hexdigest()[:16],
                          "device": device_report()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", nargs="+", default=["S1", "S2"])
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--samples", nargs="+", default=["S1=512", "S2=24"], help="NAME=COUNT per system")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--worker", nargs=3, metavar=("SYSTEM", "SAMPLES", "OUT"), help=argparse.SUPPRESS)
    add_device_argument(parser)
    add_baseline_argument(parser)
    args = parser.parse_args()
    use_device(args.device)
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]), args.worker[2])

    counts = dict(item.split("=") for item in args.samples)
    trees = [None] + ([baseline_tree(args.baseline)] if args.baseline else [])
    mpirun = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or "mpirun"
    print(f"Machine: {os.cpu_count()} CPUs, {platform.platform()}; Python {platform.python_version()}; "
          f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| system | neurons | ranks | livn | samples | trials per batch | startup (s) | steady (s) | samples/s "
          "| samples per CPU s | rows digest |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    results = []
    for name in args.systems:
        for ranks in args.ranks:
            for tree in trees:
                with tempfile.TemporaryDirectory() as out:
                    command = [mpirun, "-n", str(ranks), sys.executable, __file__, "--device", args.device,
                               "--worker", name, counts[name], out]
                    done = subprocess.run(command, capture_output=True, text=True, check=True, env=environment(tree))
                r = json.loads(done.stdout.strip().splitlines()[-1])
                rate = r["samples"] / r["steady_s"]
                per_cpu = r["samples"] / sum(r["cpu_s"])
                results.append({**r, "rate": rate, "per_cpu_s": per_cpu, "livn": label(tree)})
                print(f"| {name} | {r['neurons']} | {ranks} | {label(tree)} | {r['samples']} | {r['batch']} | "
                      f"{r['startup_s']:.1f} | {r['steady_s']:.1f} | {rate:.2f} | {per_cpu:.2f} | {r['digest']} |",
                      flush=True)
    print(f"\n{results[0]['device']}")
    for r in results:
        if r["livn"] != "this":
            mine = next(x for x in results if x["livn"] == "this" and x["system"] == r["system"]
                        and x["ranks"] == r["ranks"])
            print(f"{r['system']}, {r['ranks']} rank(s): {mine['rate'] / r['rate']:.2f}x the baseline's samples/s "
                  f"({mine['per_cpu_s'] / r['per_cpu_s']:.2f}x per CPU s); rows "
                  f"{'identical' if mine['digest'] == r['digest'] else 'DIFFERENT'}")
    for r in results:
        if r["system"] == "S1" and r["livn"] == "this":
            hours = (PUBLISHED_S1_TRAIN / r["rate"] + r["startup_s"]) / 3600
            verdict = "meets" if hours <= 1 else "misses"
            print(f"S1 train split ({PUBLISHED_S1_TRAIN:,} x 5 s) on {r['ranks']} rank(s): projected "
                  f"{hours:.2f} h ({verdict} the 1 h goal)")
    if args.json:
        from livn._files import write_json

        write_json(args.json, results)


if __name__ == "__main__":
    main()
