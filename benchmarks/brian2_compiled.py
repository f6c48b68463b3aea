"""Long brian2 runs: the runtime backend (`Env.run`) next to the compiled program (`CompiledCulture.run`).

```sh
nice -n 5 uv run python benchmarks/brian2_compiled.py                       # S3 and S4, 1 s, 2 repeats
nice -n 5 uv run python benchmarks/brian2_compiled.py --systems S3 --duration 5000 --repeats 3
```

For every system, in one process: `Env(predefined(name)).init().apply_model_defaults()` with
every spike recorded; the runtime path after a 10 ms warm-up run (Cython compiled), each timed
run from t = 0 (`clear()`); the compiled path's program is built first (compile time reported on
its own: code generation and g++ in a child process, into a fresh temporary cache unless
`--cache` names one), then timed one-shot runs (each starts the program, loads the network from
disk, simulates and writes its results). Wall and CPU seconds per simulated second; the compiled
path's CPU time is its child processes' (all OpenMP threads). Medians over `--repeats`.
The machine's load average is recorded before and after: on a shared machine the figures are
upper bounds.

Results go to `benchmarks/results/brian2_compiled.json` (or `--json`).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from _device import add_device_argument, device_report, use_device


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(call):
    """`(result, wall s, own CPU s, children's CPU s)` of `call()`."""
    wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu, _children_cpu() - children


def summary(rows) -> dict:
    """Medians of `(wall s/s, CPU s/s, spikes)` rows, and every run's spike count."""
    return {
        "wall_s_per_s": statistics.median(r[0] for r in rows),
        "cpu_s_per_s": statistics.median(r[1] for r in rows),
        "spikes": [r[2] for r in rows],
    }


def measure(name: str, duration: float, repeats: int, cache_dir: Path, threads: list) -> dict:
    from livn.backends.brian2_compiled import CompiledCulture
    from livn.env import Env
    from livn.system import predefined

    env = Env(predefined(name), backend="brian2").init().apply_model_defaults().record_spikes()
    seconds = duration / 1000.0
    env.run(10.0)  # compiles the runtime path's Cython code

    runtime = []
    for _ in range(repeats):
        env.clear()
        result, wall, cpu, _ = _timed(lambda: env.run(duration))
        runtime.append((wall / seconds, cpu / seconds, len(result.it)))

    compiled = {}
    for count in threads:  # one program per thread count
        culture = CompiledCulture.from_env(env, threads=count, cache_dir=cache_dir)
        _, compile_wall, compile_cpu, compile_children = _timed(lambda: culture.program(duration))
        rows = []
        for _ in range(repeats):
            result, wall, cpu, children = _timed(lambda: culture.run(duration))
            rows.append((wall / seconds, (cpu + children) / seconds, len(result.it)))
        compiled[culture.threads] = {
            **summary(rows),
            "compile": {"wall_s": compile_wall, "cpu_s": compile_cpu + compile_children, "built": culture.builds},
        }

    return {
        "system": name, "neurons": env.num_neurons, "synapses": int(env.backend.lowered.num_edges),
        "duration_ms": duration, "repeats": repeats,
        "runtime": summary(runtime),
        "compiled": compiled,  # by OpenMP threads
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", nargs="+", default=["S3", "S4"])
    parser.add_argument("--duration", type=float, default=1000.0, help="ms per timed run (default 1000)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[os.cpu_count()],
                        help="OpenMP thread counts of the compiled path, one program each (default: every core)")
    parser.add_argument("--cache", type=Path, default=None, help="program cache (default: a fresh temporary one)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "brian2_compiled.json")
    add_device_argument(parser)
    args = parser.parse_args()
    use_device(args.device, jax_needed=False)

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="livn_b2s_") as scratch:
        cache = args.cache or Path(scratch)
        rows = []
        for name in args.systems:
            row = measure(name, args.duration, args.repeats, cache, args.threads)
            rows.append(row)
            print(f"{name}: runtime {row['runtime']['wall_s_per_s']:.2f} wall s/s", flush=True)
    report = {
        "device": device_report(), "cores": os.cpu_count(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "note": "shared machine, run with nice -n 5: figures are upper bounds",
        "results": rows,
    }
    from livn._files import write_json

    write_json(args.json, report)
    print(f"{'system':6} {'path':12} {'wall s/s':>9} {'CPU s/s':>8} {'compile s wall':>15} {'spikes':>14}")
    for row in rows:
        paths = [("runtime", row["runtime"])] + [(f"compiled x{k}", r) for k, r in row["compiled"].items()]
        for path, r in paths:
            built = f"{r['compile']['wall_s']:.1f}" if "compile" in r else "-"
            print(f"{row['system']:6} {path:12} {r['wall_s_per_s']:9.2f} {r['cpu_s_per_s']:8.2f} {built:>15} "
                  f"{str(r['spikes']):>14}")
    print(f"load average before {load_before}, after {report['load_average_after']}; {report['device']}")


if __name__ == "__main__":
    main()
