"""Environment steps per second of LivnGym on S1 with a 1,000 ms culture window per step.

```sh
uv run python benchmarks/gym_throughput.py                    # all four configurations
uv run python benchmarks/gym_throughput.py --batch 16 64 256  # batch sizes of the diffrax vector env
```

Configurations: a single `LivnGym` on brian2 and on diffrax; `gymnasium.vector.AsyncVectorEnv`
of brian2 `LivnGym`s (one process and culture per worker, `--workers`, default the CPU count);
`LivnVectorEnv` on diffrax (B copies of the culture in one compiled call per step).
Actions are uniform random 16-channel amplitudes (`ChannelAmplitudeEncoding`), the task
Pendulum-v1 through `livn/Pendulum-S1-v0`'s decoding. Timing starts after a warm-up step
(compilation, brian2 code generation); steps/s counts every sub-environment's step.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time

import gymnasium as gym
import numpy as np

from livn.integrations.gym.registration import make_livn_gym, make_livn_vector_env

WINDOW = 1000.0


def timed(step, steps: int) -> float:
    step()  # warm-up: compilation / code generation
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - started


def single(backend: str, steps: int) -> float:
    rl_env = make_livn_gym("Pendulum-v1", backend=backend, duration=WINDOW)
    rl_env.reset(seed=0)
    rng = np.random.default_rng(0)
    return steps / timed(lambda: rl_env.step(rng.uniform(-1, 1, 16).astype(np.float32)), steps)


def async_brian2(workers: int, steps: int) -> float:
    make = functools.partial(make_livn_gym, "Pendulum-v1", backend="brian2", duration=WINDOW)
    vector_env = gym.vector.AsyncVectorEnv([make] * workers, context="spawn")
    try:
        vector_env.reset(seed=0)
        rng = np.random.default_rng(0)
        return workers * steps / timed(
            lambda: vector_env.step(rng.uniform(-1, 1, (workers, 16)).astype(np.float32)), steps
        )
    finally:
        vector_env.close()


def batched_diffrax(batch: int, steps: int) -> float:
    vector_env = make_livn_vector_env("Pendulum-v1", batch, duration=WINDOW)
    vector_env.reset(seed=0)
    rng = np.random.default_rng(0)
    return batch * steps / timed(lambda: vector_env.step(rng.uniform(-1, 1, (batch, 16)).astype(np.float32)), steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    rows = [
        ("single LivnGym, brian2", 1, single("brian2", args.steps)),
        ("single LivnGym, diffrax", 1, single("diffrax", args.steps * 3)),
        (f"AsyncVectorEnv, brian2, {args.workers} workers", args.workers, async_brian2(args.workers, args.steps)),
    ]
    rows += [(f"LivnVectorEnv, diffrax, B = {b}", b, batched_diffrax(b, max(2, args.steps // 2))) for b in args.batch]
    print(f"S1, {WINDOW:.0f} ms culture window per step, {os.cpu_count()} CPUs\n")
    print("| configuration | environments | steps/s (all environments) |")
    print("|---|---|---|")
    for name, count, rate in rows:
        print(f"| {name} | {count} | {rate:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"configuration": n, "environments": c, "steps_per_s": r} for n, c, r in rows], f, indent=1)


if __name__ == "__main__":
    main()
