"""Where the compiled step of B copies of a small culture spends its time (what bounds vector RL).

```sh
uv run python benchmarks/diffrax_step_cost.py                    # S1, B = 256, 1,000 ms windows
uv run python benchmarks/diffrax_step_cost.py --system S2 --copies 12
```

Times one `run_copies` call of B copies of the culture (model defaults, noise on, a random
stimulus), warm, and two ablations of the same call, each compiled separately:
- **no delivery**: spikes are not put into the delay buffers (`Simulator.send` does nothing);
- **no draws**: the normal draws are zeros instead of `_noise.standard_normal`;
and, on its own, the draws a window needs (`B x 1,000 rows x 10 steps x n`, made as the run
makes them). The ablations change the dynamics (fewer spikes without delivery, none at all
without noise on S1), so read their differences as estimates of each part's cost, not as
exact shares. Median of `--repeats`, wall and CPU seconds of this process.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from _device import add_device_argument, device_report, use_device


def timed(call, repeats: int) -> tuple[float, float]:
    """Median (wall s, CPU s) of `repeats` calls after a warm-up call."""
    import jax

    jax.block_until_ready(call())
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        jax.block_until_ready(call())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--system", default="S1")
    parser.add_argument("--copies", type=int, default=256)
    parser.add_argument("--duration", type=float, default=1000.0, help="ms per window")
    parser.add_argument("--repeats", type=int, default=5)
    add_device_argument(parser)
    args = parser.parse_args()
    use_device(args.device)

    import jax
    import jax.numpy as jnp

    from livn.backends import _diffrax_core as core
    from livn.backends import _noise
    from livn.env import Env
    from livn.system import predefined

    env = Env(predefined(args.system), backend="diffrax", seed=0).init()
    env.apply_model_defaults()
    env.record_spikes()
    backend = env.backend
    count, n = args.copies, env.num_neurons
    steps = int(round(args.duration / backend.dt))
    states = backend.initial_states(count)
    keys = jnp.stack([jax.random.fold_in(backend.run_key, b) for b in range(count)])
    stimulus = jnp.asarray(np.random.default_rng(0).uniform(0, 0.3, (count, int(args.duration), n)), jnp.float32)

    def copies_call():
        return core._run_copies(backend._simulator(True), backend.network, states, stimulus, keys, steps, 10, 0,
                                False, True)

    rows = [("full step", timed(copies_call, args.repeats))]

    send = core.Simulator.send
    core.Simulator.send = lambda self, network, in_flight, amount, sent_step, plastic=None: (in_flight, plastic)
    core._run_copies = core._vmapped(0)  # recompiled with the ablation
    rows.append(("no delivery", timed(copies_call, args.repeats)))
    core.Simulator.send = send

    draws = core.standard_normal
    core.standard_normal = lambda key, shape, dtype: jnp.zeros(shape, dtype)
    core._run_copies = core._vmapped(0)
    rows.append(("no draws", timed(copies_call, args.repeats)))
    core.standard_normal = draws
    core._run_copies = core._vmapped(0)

    noise_steps = core.noise_row_steps(backend.dt)
    rows_per_window = steps // noise_steps
    draw_all = jax.jit(jax.vmap(lambda key: jax.vmap(lambda r: _noise.standard_normal(
        jax.random.fold_in(key, r), (noise_steps * n,)))(jnp.arange(rows_per_window))))
    rows.append(("the draws alone", timed(lambda: draw_all(keys), args.repeats)))

    full_wall, full_cpu = rows[0][1]
    print(f"{args.system}, {count} copies x {args.duration:.0f} ms; {device_report()}\n")
    print("| variant | wall s | CPU s | CPU s per copy-second (ms) | share of the full step's CPU |")
    print("|---|---:|---:|---:|---:|")
    for name, (wall, cpu) in rows:
        per_copy = 1e3 * cpu / count / (args.duration / 1000)
        print(f"| {name} | {wall:.3f} | {cpu:.3f} | {per_copy:.2f} | {cpu / full_cpu:.0%} |")
    print(f"\nwindows per wall second: {count / full_wall:.0f}; per CPU second: {count / full_cpu:.0f}")


if __name__ == "__main__":
    main()
