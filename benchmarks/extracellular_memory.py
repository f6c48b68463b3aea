"""Memory and time of a long extracellular recording streamed to HDF5 (issue: at most 200 MB for 10 min of S3 at 25 kHz).

```sh
uv run python benchmarks/extracellular_memory.py --system S3 --minutes 10 --backend neuron
```

One `env.run` of the whole recording with `record_extracellular(fs_hz, noise_uv, lfp=True, file=...)`:
the Env synthesises it in `chunk_ms` windows and appends each to the file. A thread samples the
process's resident memory (VmRSS) every 0.1 s. Reported, in MB (10^6 bytes):

- `rss_before`: after building the culture and one 1 s warm-up run without traces;
- `rss_peak`: the highest VmRSS during the recorded run;
- `growth`: `rss_peak - rss_before`, the memory the recording costs (the figure held to 200 MB);
- `tracemalloc_peak`: the peak of Python-tracked allocations (numpy included) during the run;

with wall and CPU time per simulated second and the file size. `--device` says where diffrax
runs (brian2 and NEURON run on the CPU); the recording is synthesised with numpy on the CPU
whatever the backend. The report says what ran where.

`--cost-s S` first measures, side by side in one process, the CPU time of S seconds of the same
culture without and with traces (in memory, LFP on), `--repeats` times each, alternating, and
reports the ratio (the cost of recording the synaptic currents and synthesising the traces);
not on NEURON, which holds one network per process.
`--minutes 0` skips the long run.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

from _device import add_device_argument, device_report, use_device

from livn._files import write_json


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


class RssSampler(threading.Thread):
    """Samples VmRSS every `period` s until stopped; `peak` in MB."""

    def __init__(self, period: float = 0.1):
        super().__init__(daemon=True)
        self.period, self.peak, self._done = period, rss_mb(), threading.Event()

    def run(self):
        while not self._done.is_set():
            self.peak = max(self.peak, rss_mb())
            self._done.wait(self.period)

    def stop(self) -> float:
        self._done.set()
        self.join()
        self.peak = max(self.peak, rss_mb())
        return self.peak


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--system", default="S3")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fs", type=float, default=25000.0, help="sampling rate, Hz")
    parser.add_argument("--noise-uv", type=float, default=5.0)
    parser.add_argument("--chunk-ms", type=float, default=None, help="ms [default: the Env's: 1000, 250 to a file]")
    parser.add_argument("--backend", default="brian2")
    add_device_argument(parser)
    parser.add_argument("--cost-s", type=float, default=0.0, help="seconds of the side-by-side cost run (0: none)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/extracellular_memory.json")
    args = parser.parse_args(argv)
    use_device(args.device, jax_needed=args.backend == "diffrax")

    report = {"system": args.system, "backend": args.backend}
    if args.cost_s > 0:
        if args.backend == "neuron":
            parser.error("--cost-s builds two cultures in one process; NEURON holds one network per process")
        report["cost"] = cost(args)
    if args.minutes > 0:
        report["memory"] = memory(args)
    report["device"] = device_report()  # after the runs: names JAX's device where diffrax ran
    print(json.dumps(report, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report)
    return report


def cost(args) -> dict:
    """CPU s per simulated s without and with traces, alternating, `repeats` times each."""
    from livn.env import Env
    from livn.system import make

    def culture(traces: bool):
        env = Env(make(args.system), seed=1, backend=args.backend).init().apply_model_defaults().record_spikes()
        if traces:
            env.record_extracellular(fs_hz=args.fs, noise_uv=args.noise_uv, lfp=True, chunk_ms=args.chunk_ms or 1000.0)
        env.run(500.0)  # warm-up: compiled code, buffers
        return env

    envs = {False: culture(False), True: culture(True)}
    times = {False: [], True: []}
    for _ in range(args.repeats):
        for traces, env in envs.items():
            env.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            env.run(args.cost_s * 1000.0)
            times[traces].append((time.perf_counter() - wall, time.process_time() - cpu))
    per_s = {traces: [round(c / args.cost_s, 3) for _, c in runs] for traces, runs in times.items()}
    return {
        "seconds": args.cost_s, "repeats": args.repeats,
        "cpu_s_per_s_without": per_s[False], "cpu_s_per_s_with": per_s[True],
        "wall_s_per_s_without": [round(w / args.cost_s, 3) for w, _ in times[False]],
        "wall_s_per_s_with": [round(w / args.cost_s, 3) for w, _ in times[True]],
        "cpu_ratio_median": round(float(sorted(b / a for a, b in zip(per_s[False], per_s[True]))[args.repeats // 2]), 2),
    }


def memory(args) -> dict:
    """Peak memory of one long recording streamed to a file."""
    from livn.env import Env
    from livn.system import make

    env = Env(make(args.system), seed=1, backend=args.backend).init().apply_model_defaults()
    env.run(1000.0)  # warm-up: compiled code, buffers
    env.clear()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "recording.h5"
        env.record_extracellular(fs_hz=args.fs, noise_uv=args.noise_uv, lfp=True, file=path, chunk_ms=args.chunk_ms)
        duration = args.minutes * 60_000.0
        before = rss_mb()
        sampler = RssSampler()
        sampler.start()
        tracemalloc.start()
        wall, cpu = time.perf_counter(), time.process_time()
        result = env.run(duration)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak = sampler.stop()
        recording = result.extracellular
        report = {
            "minutes": args.minutes, "fs_hz": args.fs, "chunk_ms": args.chunk_ms or 250.0, "channels": len(recording.channel_ids),
            "samples": recording.n_samples, "spikes": int(len(recording.spike_gids)),
            "file_mb": round(os.path.getsize(path) / 1e6, 1),
            "rss_before_mb": round(before, 1), "rss_peak_mb": round(peak, 1), "growth_mb": round(peak - before, 1),
            "tracemalloc_peak_mb": round(traced_peak / 1e6, 1),
            "wall_s_per_simulated_s": round(wall / (duration / 1000), 3),
            "cpu_s_per_simulated_s": round(cpu / (duration / 1000), 3),
        }
        env.extracellular.close()
    return report


if __name__ == "__main__":
    main()
