"""What the per-step output of a batched diffrax run costs: spikes and voltage vs spikes only.

    uv run python benchmarks/batched_outputs.py [--system S1] [--trials 200] [--duration 5000] [--device cpu]

Runs the same batch of noisy trials (one compiled call, `DiffraxBackend.simulate`) with
the voltage of every neuron and step returned (what a run that records voltage needs)
and without it (what `Env.run` does when only spikes are recorded, e.g. dataset sampling
and LivnVectorEnv), alternating, and prints the median wall time of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _device import add_device_argument, device_report, use_device

from livn.env import Env
from livn.system import predefined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="S1")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--duration", type=float, default=5000.0, help="ms per trial")
    parser.add_argument("--repeats", type=int, default=5)
    add_device_argument(parser)
    args = parser.parse_args()
    use_device(args.device)
    import jax  # after use_device: JAX reads the platform when first imported

    env = Env(predefined(args.system), backend="diffrax").init().apply_model_defaults()
    stimulus = np.zeros((args.trials, 1, env.num_neurons), np.float32)
    keys = jax.random.split(env.run_key, args.trials)

    def once(voltage: bool) -> float:
        started = time.perf_counter()
        jax.block_until_ready(env.backend.simulate(args.duration, stimulus, keys, voltage=voltage)[1])
        return time.perf_counter() - started

    times = {True: [], False: []}
    for voltage in (True, False):
        once(voltage)  # compile
    for _ in range(args.repeats):
        for voltage in (True, False):
            times[voltage].append(once(voltage))
    with_v, without_v = statistics.median(times[True]), statistics.median(times[False])
    steps = int(round(args.duration / env.model.dt))
    print(f"{args.system}, {args.trials} trials x {args.duration:g} ms ({steps} steps), median of {args.repeats}; "
          f"{device_report()}")
    print(f"spikes and voltage: {with_v:.2f} s   spikes only: {without_v:.2f} s   ratio {with_v / without_v:.2f}x")
    mb = args.trials * steps * env.num_neurons
    print(f"output per batch: {mb * (1 + 4) / 2**20:.0f} MiB with voltage (float32), {mb / 2**20:.0f} MiB without")


if __name__ == "__main__":
    main()
