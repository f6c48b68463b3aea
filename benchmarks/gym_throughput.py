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
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import time

import numpy as np

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
    from livn.integrations.gym.registration import make_livn_vector_env

    vector_env = make_livn_vector_env("Pendulum-v1", batch, duration=WINDOW)
    vector_env.reset(seed=0)
    rng = np.random.default_rng(0)
    step = lambda: vector_env.step(rng.uniform(-1, 1, (batch, 16)).astype(np.float32))  # noqa: E731
    if start is not None:  # several processes: compile, then start together
        step()
        start.wait()
    return (batch * steps, *timed(step, steps))


def _worker(args):
    batch, steps, start = args
    return batched_diffrax(batch, steps, start)


def batched_diffrax_processes(processes: int, batch: int, steps: int):
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(processes)
        with context.Pool(processes) as pool:
            results = pool.map(_worker, [(batch, steps, start)] * processes)
    return sum(r[0] for r in results), max(r[1] for r in results), sum(r[2] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--only-batched", action="store_true", help="skip the single and brian2 configurations")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    workers = args.workers
    rows = []
    if not args.only_batched:
        rows += [
            ("single LivnGym, brian2", 1, single("brian2", max(3, args.steps // 2))),
            ("single LivnGym, diffrax", 1, single("diffrax", args.steps * 3)),
            (f"AsyncVectorEnv of LivnGym, brian2, {workers} workers", workers, async_brian2(workers, max(3, args.steps // 2))),
        ]
    for b in args.batch:
        rows.append((f"LivnVectorEnv, diffrax, B = {b}, 1 process", b, batched_diffrax(b, max(2, args.steps // 2))))
    if workers > 1:
        for b in args.batch:
            rows.append((f"LivnVectorEnv, diffrax, B = {b}, {workers} processes", b * workers,
                         batched_diffrax_processes(workers, b, max(2, args.steps // 2))))
    print(f"S1, {WINDOW:.0f} ms culture window per step, {os.cpu_count()} CPUs\n")
    print("| configuration | environments | steps/s | steps per CPU s |")
    print("|---|---|---|---|")
    table = []
    for name, count, (steps, wall, cpu) in rows:
        per_cpu = steps / cpu if cpu else None
        table.append({"configuration": name, "environments": count, "steps_per_s": steps / wall, "steps_per_cpu_s": per_cpu})
        print(f"| {name} | {count} | {steps / wall:.1f} | {'-' if per_cpu is None else f'{per_cpu:.1f}'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    main()
