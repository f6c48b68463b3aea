"""Dataset sampling speed: samples per second for S1 and S2 (5 s trials) on 1 and 2 MPI ranks.

    uv run python benchmarks/sampling.py [--systems S1 S2] [--ranks 1 2] [--samples S1=512 S2=24]

For each system and rank count it starts `mpirun -n R python benchmarks/sampling.py --worker ...`.
Every worker builds its `Sampler` (diffrax Env) and compiles it on one batch (timed as
"startup"), then all ranks simulate and write (parquet, to a temporary directory) their
shards of the `train_with_noise` split, the noisy one; the time from a barrier before to a
barrier after is the steady-state time. The table reports samples per second and projects
the published S1 train split (50,000 samples x 5 s) from the steady rate plus startup.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_END = 5000.0  # ms
PUBLISHED_S1_TRAIN = 50_000


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
    started = time.perf_counter()
    for split, index, first, stop in plan.shards()[comm.rank :: comm.size]:
        write_shard(Path(out) / f"{comm.rank}-{plan.shard_name(split, index)}", sampler.rows(split, first, stop))
    comm.barrier()
    steady = time.perf_counter() - started
    startups = comm.gather(startup)
    if comm.is_root:
        print(json.dumps({"system": name, "neurons": system.num_neurons, "ranks": comm.size, "samples": samples,
                          "batch": batch, "startup_s": max(startups), "steady_s": steady}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", nargs="+", default=["S1", "S2"])
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--samples", nargs="+", default=["S1=512", "S2=24"], help="NAME=COUNT per system")
    parser.add_argument("--worker", nargs=3, metavar=("SYSTEM", "SAMPLES", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]), args.worker[2])

    counts = dict(item.split("=") for item in args.samples)
    mpirun = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or "mpirun"
    print(f"Machine: {os.cpu_count()} CPUs, {platform.platform()}; Python {platform.python_version()}; "
          f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| system | neurons | ranks | samples | trials per batch | startup (s) | steady (s) | samples/s | s per 5 s sample (per rank) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    for name in args.systems:
        for ranks in args.ranks:
            with tempfile.TemporaryDirectory() as out:
                command = [mpirun, "-n", str(ranks), sys.executable, __file__, "--worker", name, counts[name], out]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            rate = r["samples"] / r["steady_s"]
            results.append({**r, "rate": rate})
            print(f"| {name} | {r['neurons']} | {ranks} | {r['samples']} | {r['batch']} | {r['startup_s']:.1f} | "
                  f"{r['steady_s']:.1f} | {rate:.2f} | {ranks / rate:.3f} |", flush=True)
    for r in results:
        if r["system"] == "S1":
            hours = (PUBLISHED_S1_TRAIN / r["rate"] + r["startup_s"]) / 3600
            verdict = "meets" if hours <= 1 else "misses"
            print(f"\nS1 train split ({PUBLISHED_S1_TRAIN:,} x 5 s) on {r['ranks']} rank(s): projected "
                  f"{hours:.2f} h ({verdict} the 1 h goal)")


if __name__ == "__main__":
    main()
