"""Per-iteration overhead of closed-loop streaming, next to the plain simulation and the `env.run` loop.

```sh
uv run python benchmarks/closed_loop.py                                  # S1 and S2, every backend, 5 ms
uv run python benchmarks/closed_loop.py --systems S2 --period 5 --repeats 3 --device cpu
```

For each backend and system, in a fresh process per backend (NEURON holds one network
per process; JAX compiles per process), after a warm-up of each path:

- `simulation`: one `env.run(duration)`: the simulation alone;
- `stream`: `env.stream(duration, period, controller)`;
- `run loop`: `duration / period` calls of `env.run(period, stimulus)` with the same controller
  in between (what a Python closed loop did before `stream`).

The controller counts the window's spikes per channel and returns a `[period, 16]` input
(a cheap, realistic decision). Overhead per iteration = (path - simulation) / iterations, in
wall and in CPU time of the process (the VM's speed drifts by about 30 %, CPU time less
so). The median over `--repeats` runs is reported. `--device` says where diffrax runs (cpu, gpu
or auto; brian2 and NEURON always run on the CPU) and each row says what it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from _device import add_device_argument, device_report, use_device


def controller(window):
    counts = np.zeros(16)
    for channel, times in window.channels[1].items():
        counts[channel] = len(times)
    inputs = np.zeros((int(window.duration), 16))
    inputs[:, int(np.argmin(counts))] = 1.0
    return inputs


def timed(function) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(backend: str, system: str, duration: float, period: float, repeats: int) -> dict:
    from livn.env import Env
    from livn.system import predefined

    env = Env(predefined(system), backend=backend).init().apply_model_defaults().record_spikes()
    iterations = int(round(duration / period))

    def simulation():
        env.run(duration)

    def stream():
        env.stream(duration, period, controller)

    def run_loop():
        stimulus = np.zeros((int(period), env.num_neurons))
        for _ in range(iterations):
            it, t, _, _ = env.run(period, stimulus)
            window = type("W", (), {"channels": env.channel_recording(it, t), "duration": period})
            stimulus = env.cell_stimulus(controller(window))

    rows = {}
    for name, path in (("simulation", simulation), ("stream", stream), ("run loop", run_loop)):
        path()  # warm-up: code generation, compilation
        rows[name] = [timed(path) for _ in range(repeats)]
    base_wall = statistics.median(w for w, _ in rows["simulation"])
    base_cpu = statistics.median(c for _, c in rows["simulation"])
    out = {"backend": backend, "system": system, "device": device_report(), "duration_ms": duration, "period_ms": period,
           "iterations": iterations, "simulation_s": base_wall, "simulation_cpu_s": base_cpu}
    for name in ("stream", "run loop"):
        wall = statistics.median(w for w, _ in rows[name])
        cpu = statistics.median(c for _, c in rows[name])
        out[f"{name}_s"] = wall
        out[f"{name}_overhead_ms"] = (wall - base_wall) / iterations * 1e3
        out[f"{name}_overhead_cpu_ms"] = (cpu - base_cpu) / iterations * 1e3
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["brian2", "diffrax", "neuron"])
    parser.add_argument("--systems", nargs="+", default=["S1", "S2"])
    parser.add_argument("--duration", type=float, default=2000.0, help="ms per measured path")
    parser.add_argument("--period", type=float, default=5.0, help="ms")
    parser.add_argument("--repeats", type=int, default=3)
    add_device_argument(parser)
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "SYSTEM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_device(args.device)  # the workers inherit it through JAX_PLATFORMS

    if args.worker:
        backend, system = args.worker
        print(json.dumps(measure(backend, system, args.duration, args.period, args.repeats)))
        return

    print(f"--device {args.device}; period {args.period:g} ms; {args.duration:g} ms per path; "
          f"median of {args.repeats}; {device_report()}")
    print("| backend | system | simulation s | stream overhead ms/iter (CPU) | run-loop overhead ms/iter (CPU) "
          "| ran on |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for backend in args.backends:
        for system in args.systems:
            command = [sys.executable, __file__, "--worker", backend, system, "--duration", str(args.duration),
                       "--period", str(args.period), "--repeats", str(args.repeats), "--device", args.device]
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "LIVN_BACKEND": backend})
            if done.returncode != 0:
                print(f"| {backend} | {system} | failed: {done.stderr.strip().splitlines()[-1]} | | | |")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"| {backend} | {system} | {r['simulation_s']:.3f} | {r['stream_overhead_ms']:.3f} "
                  f"({r['stream_overhead_cpu_ms']:.3f}) | {r['run loop_overhead_ms']:.3f} ({r['run loop_overhead_cpu_ms']:.3f}) "
                  f"| {r['device'].split(';')[0]} |",
                  flush=True)


if __name__ == "__main__":
    main()
