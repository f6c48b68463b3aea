"""Cost of long-term plasticity (STDP) on the diffrax backend: the same culture with rules on and off.

```sh
uv run python benchmarks/plasticity_cost_diffrax.py                          # S2 and S3, 1 s windows, 7 repeats
uv run python benchmarks/plasticity_cost_diffrax.py --systems S3 --duration 2000 --repeats 9 --json s3.json
uv run python benchmarks/plasticity_cost_diffrax.py --batch 8                # also B = 8 trials per call
```

For every system, one process builds three Envs of the same culture (seed 123),
each with `apply_model_defaults()` (default weights and background noise) and
`record_spikes()`:

- **static**: no plasticity (the path compiled without it);
- **plastic**: `enable_plasticity()`, the model's default rules (additive STDP on
  EXC->EXC and EXC->INH); its activity drifts as its weights change;
- **frozen**: the same rules with `a_plus = a_minus = 0`: every trace and weight
  update is computed but no weight changes, so its spikes are exactly those of
  *static* and the ratio frozen / static is the plasticity machinery's own cost.

All run a warm-up of `--warmup` ms (compilation and the onset transient,
untimed), then timed `env.run(T)` calls alternate between them, and the table
gives the medians as seconds per simulated second (s/s), by wall clock and by
process CPU time, and the ratios to *static* (the issue's limit: at most 2x).
All are in float32 (JAX's default), on the device `--device` chooses (cpu by
default); mean rates are reported next to the times.

With `--batch B`, each timed call is a batch of B trials of T ms (`run` with a
`[B, T, n]` stimulus of zeros and B noise keys), also alternated.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from _device import add_device_argument, device_report, use_device

from livn._files import write_json


def timed(call):
    """(wall s, process CPU s, result) of `call()`."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def measure(name: str, duration: float, repeats: int, warmup: float, batch: int) -> dict:
    import jax

    from livn.env import Env
    from livn.system import predefined

    envs = {}
    for mode in ("static", "plastic", "frozen"):
        env = Env(predefined(name), seed=123, backend="diffrax").init().apply_model_defaults().record_spikes()
        if mode == "plastic":
            env.enable_plasticity()
        elif mode == "frozen":
            env.enable_plasticity({"a_plus": 0.0, "a_minus": 0.0})
        env.run(warmup)
        envs[mode] = env
    lowered = envs["plastic"].backend.lowered
    plastic = int(np.sum(envs["plastic"].backend.plasticity.plastic))
    row = {"system": name, "neurons": lowered.num_neurons, "synapses": lowered.num_edges,
           "plastic_synapses": plastic, "duration_ms": duration, "repeats": repeats, "batch": batch}
    for label, runner in (("single", lambda env: env.run(duration)), ("batch", None)):
        if label == "batch":
            if not batch:
                continue
            keys = jax.random.split(jax.random.PRNGKey(1), batch)
            zeros = np.zeros((batch, int(duration), lowered.num_neurons), np.float32)

            def runner(env):
                return env.run(duration, zeros, key=keys)

            for env in envs.values():  # compile the batched call
                runner(env)
        times = {mode: {"wall": [], "cpu": [], "spikes": 0} for mode in envs}
        for _ in range(repeats):
            for mode, env in envs.items():
                wall, cpu, result = timed(lambda: runner(env))
                results = result if isinstance(result, list) else [result]
                times[mode]["wall"].append(wall)
                times[mode]["cpu"].append(cpu)
                times[mode]["spikes"] += sum(len(r.it) for r in results)
        simulated = duration / 1000.0 * (batch if label == "batch" else 1)
        for mode, t in times.items():
            row[f"{label}_{mode}_wall"] = statistics.median(t["wall"]) / simulated
            row[f"{label}_{mode}_cpu"] = statistics.median(t["cpu"]) / simulated
            row[f"{label}_{mode}_rate_hz"] = t["spikes"] / (lowered.num_neurons * simulated * repeats)
            row[f"{label}_{mode}_wall_all"] = [w / simulated for w in t["wall"]]
        for mode in ("plastic", "frozen"):
            row[f"{label}_{mode}_ratio_wall"] = row[f"{label}_{mode}_wall"] / row[f"{label}_static_wall"]
            row[f"{label}_{mode}_ratio_cpu"] = row[f"{label}_{mode}_cpu"] / row[f"{label}_static_cpu"]
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| system | neurons | synapses (plastic) | run | s/s wall / CPU: static | plastic | frozen "
        "| plastic / static, wall / CPU | frozen / static, wall / CPU | rate static / plastic / frozen (Hz) |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        for label in ("single", "batch"):
            if f"{label}_plastic_ratio_wall" not in row:
                continue
            run = f"{row['duration_ms']:.0f} ms"
            if label == "batch":
                run = f"B={row['batch']} x {run}"
            cells = [f"{row[f'{label}_{mode}_wall']:.3f} / {row[f'{label}_{mode}_cpu']:.3f}"
                     for mode in ("static", "plastic", "frozen")]
            ratios = [f"{row[f'{label}_{mode}_ratio_wall']:.2f}x / {row[f'{label}_{mode}_ratio_cpu']:.2f}x"
                      for mode in ("plastic", "frozen")]
            rates = " / ".join(f"{row[f'{label}_{mode}_rate_hz']:.2f}" for mode in ("static", "plastic", "frozen"))
            lines.append(f"| {row['system']} | {row['neurons']:,} | {row['synapses']:,} ({row['plastic_synapses']:,}) "
                         f"| {run} | {' | '.join(cells)} | {' | '.join(ratios)} | {rates} |")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=["S2", "S3"])
    parser.add_argument("--duration", type=float, default=1000.0, help="ms per timed run")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=float, default=500.0, help="ms simulated before timing")
    parser.add_argument("--batch", type=int, default=0, help="also time batches of this many trials")
    parser.add_argument("--json", help="write the rows to this file")
    add_device_argument(parser)
    args = parser.parse_args(argv)
    use_device(args.device)

    rows = [measure(name, args.duration, args.repeats, args.warmup, args.batch) for name in args.systems]
    for row in rows:
        row["device"] = device_report()
    print(f"diffrax backend, {device_report()}; load average before the last system: {os.getloadavg()}")
    print(table(rows))
    if args.json:
        write_json(args.json, rows)
    return rows


if __name__ == "__main__":
    main()
