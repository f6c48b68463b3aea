"""Cost of the electrode mapping per call, as a closed loop pays it every step.

    uv run python benchmarks/electrodes.py [--system S4]

NumPy on the CPU only (`--device` accepts cpu and auto, for uniformity).

`Env.cell_stimulus` and `Env.channel_recording` use the transfer and recording
matrices computed once (`MEA.couple`); the `MEA` methods that take coordinates
recompute them on every call.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _device import add_device_argument, device_report, use_device

from livn.env import Env
from livn.system import predefined


def per_call_ms(fn, repeats: int = 20) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", default="S4")
    add_device_argument(parser)
    args = parser.parse_args()
    use_device(args.device, jax_needed=False)
    env = Env(predefined(args.system))
    coords = env.system.neuron_coordinates
    inputs = np.zeros((100, env.io.num_channels))
    rng = np.random.default_rng(0)
    it = rng.integers(0, env.num_neurons, 20_000)
    t = np.sort(rng.uniform(0, 1000, 20_000))
    print(f"{args.system} ({env.num_neurons} neurons), ms per call; {device_report()}")
    print(f"  cell_stimulus [100, 16]      Env (coupled) {per_call_ms(lambda: env.cell_stimulus(inputs)):6.1f}"
          f"   MEA (recomputed) {per_call_ms(lambda: env.io.cell_stimulus(coords, inputs)):6.1f}")
    print(f"  channel_recording 20k spikes Env (coupled) {per_call_ms(lambda: env.channel_recording(it, t), 5):6.1f}"
          f"   MEA (recomputed) {per_call_ms(lambda: env.io.channel_recording(coords, it, t), 5):6.1f}")


if __name__ == "__main__":
    main()
