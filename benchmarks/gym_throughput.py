"""Environment steps per second of LivnGym on S1 with a 1,000 ms culture window per step.

```sh
uv run python benchmarks/gym_throughput.py                    # all configurations
uv run python benchmarks/gym_throughput.py --batch 16 64 256  # batch sizes of the diffrax vector env
```

Configurations: a single `LivnGym` on brian2 and on diffrax; `gymnasium.vector.AsyncVectorEnv`
of brian2 `LivnGym`s (one process and culture per worker, `--workers`, default the CPU count);
`LivnVectorEnv` on diffrax (B copies of the culture in one compiled call per step), in one
process and in one process per CPU (XLA runs this scan on one core, so a second process
uses the second core). Actions are uniform random 16-channel amplitudes, the task
Pendulum-v1 through `livn/Pendulum-S1-v0`'s encoding and decoding. Timing starts after a
warm-up step (compilation, brian2 code generation). steps/s counts every sub-environment's
step over wall time; "per CPU s" divides by the CPU time of the stepping processes (less
sensitive to other load on the machine; not measured for the async brian2 workers).

`--baseline REV` also runs every `LivnVectorEnv` configuration on an earlier revision of livn
(`_baseline.py`), alternately with this one, and compares the two versions' trajectories:
observations and rewards of every timed step, from the same seeds and actions. `--device`
chooses where JAX runs (`_device.py`).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import multiprocessing
import os
import sys
import time

import numpy as np

from _baseline import add_baseline_argument, baseline_tree, label
from _device import add_device_argument, device_report, use_device

WINDOW = 1000.0


def timed(step, steps: int) -> tuple[float, float]:
    """(wall s, CPU s of this process) for `steps` calls of `step`, after one warm-up call."""
    step()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return time.perf_counter() - wall, time.process_time() - cpu


def single(backend: str, steps: int):
    from livn.integrations.gym.registration import make_livn_gym

    rl_env = make_livn_gym("Pendulum-v1", backend=backend, duration=WINDOW)
    rl_env.reset(seed=0)
    rng = np.random.default_rng(0)
    return (steps, *timed(lambda: rl_env.step(rng.uniform(-1, 1, 16).astype(np.float32)), steps))


def async_brian2(workers: int, steps: int):
    import gymnasium as gym

    from livn.integrations.gym.registration import make_livn_gym

    make = functools.partial(make_livn_gym, "Pendulum-v1", backend="brian2", duration=WINDOW)
    vector_env = gym.vector.AsyncVectorEnv([make] * workers, context="spawn")
    try:
        vector_env.reset(seed=0)
        rng = np.random.default_rng(0)
        wall, _ = timed(lambda: vector_env.step(rng.uniform(-1, 1, (workers, 16)).astype(np.float32)), steps)
        return workers * steps, wall, None
    finally:
        vector_env.close()


def batched_diffrax(batch: int, steps: int, start=None):
    """(steps, wall s, CPU s, digest of the timed steps' observations and rewards) of one `LivnVectorEnv`."""
    from livn.integrations.gym.registration import make_livn_vector_env

    vector_env = make_livn_vector_env("Pendulum-v1", batch, duration=WINDOW)
    vector_env.reset(seed=0)
    rng = np.random.default_rng(0)
    digest = hashlib.sha256()

    def step():
        observations, rewards, *_ = vector_env.step(rng.uniform(-1, 1, (batch, 16)).astype(np.float32))
        digest.update(np.asarray(observations, np.float64).tobytes() + np.asarray(rewards, np.float64).tobytes())

    if start is not None:  # several processes: compile, then start together
        step()
        start.wait()
    return (batch * steps, *timed(step, steps), digest.hexdigest()[:16])


def _worker(args):
    batch, steps, start, source = args
    if source is not None:  # a baseline revision's livn first (spawned children get the parent's sys.path)
        sys.path.insert(0, source)
    return batched_diffrax(batch, steps, start)


def batched_diffrax_processes(processes: int, batch: int, steps: int, tree=None):
    """`processes` spawned processes of one `LivnVectorEnv` each, started together; one row of figures."""
    context = multiprocessing.get_context("spawn")
    source = None if tree is None else str(tree / "src")
    with context.Manager() as manager:
        start = manager.Barrier(processes) if processes > 1 else None
        with context.Pool(processes) as pool:
            results = pool.map(_worker, [(batch, steps, start, source)] * processes)
    return (sum(r[0] for r in results), max(r[1] for r in results), sum(r[2] for r in results),
            "/".join(r[3] for r in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--only-batched", action="store_true", help="skip the single and brian2 configurations")
    parser.add_argument("--repeats", type=int, default=1, help="alternating repeats of each batched row (median)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    add_device_argument(parser)
    add_baseline_argument(parser)
    args = parser.parse_args()
    use_device(args.device)
    trees = [None] + ([baseline_tree(args.baseline)] if args.baseline else [])
    workers = args.workers
    rows = []
    if not args.only_batched:
        rows += [
            ("single LivnGym, brian2", "this", 1, (*single("brian2", max(3, args.steps // 2)), "")),
            ("single LivnGym, diffrax", "this", 1, (*single("diffrax", args.steps * 3), "")),
            (f"AsyncVectorEnv of LivnGym, brian2, {workers} workers", "this", workers,
             (*async_brian2(workers, max(3, args.steps // 2)), "")),
        ]
    steps = max(2, args.steps // 2)
    for processes in sorted({1, workers}):
        for b in args.batch:
            measured = {tree: [] for tree in trees}
            for _ in range(args.repeats):
                for tree in trees:  # alternating, so that both versions see the same load
                    measured[tree].append(batched_diffrax_processes(processes, b, steps, tree))
            for tree in trees:
                runs = sorted(measured[tree], key=lambda r: r[1])
                rows.append((f"LivnVectorEnv, diffrax, B = {b}, {processes} process{'es' if processes > 1 else ''}",
                             label(tree), b * processes, runs[len(runs) // 2]))
    import jax  # noqa: F401  (for the report: what the workers ran on)

    print(f"S1, {WINDOW:.0f} ms culture window per step; {device_report()}; "
          f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| configuration | livn | environments | steps/s | steps per CPU s | trajectory digest |")
    print("|---|---|---|---|---|---|")
    table = []
    for name, version, count, (steps_done, wall, cpu, digest) in rows:
        per_cpu = steps_done / cpu if cpu else None
        table.append({"configuration": name, "livn": version, "environments": count, "steps_per_s": steps_done / wall,
                      "steps_per_cpu_s": per_cpu, "digest": digest})
        print(f"| {name} | {version} | {count} | {steps_done / wall:.1f} | "
              f"{'-' if per_cpu is None else f'{per_cpu:.1f}'} | {digest} |")
    if len(trees) > 1:
        print()
        for row in table:
            if row["livn"] == "this" and row["digest"]:
                other = next(r for r in table if r["configuration"] == row["configuration"] and r["livn"] != "this")
                print(f"{row['configuration']}: {row['steps_per_s'] / other['steps_per_s']:.2f}x the baseline's "
                      f"steps/s ({row['steps_per_cpu_s'] / other['steps_per_cpu_s']:.2f}x per CPU s); trajectories "
                      f"{'identical' if row['digest'] == other['digest'] else 'DIFFERENT'}")
    if args.json:
        from livn._files import write_json

        write_json(args.json, {"device": device_report(), "rows": table})


if __name__ == "__main__":
    main()
