"""Soak: does memory stay flat over long runs? LivnGym steps on every backend, and a long sampling run.

```sh
uv run python benchmarks/soak.py                                  # 10,000 steps per backend, 30 min sampling
uv run python benchmarks/soak.py --steps 300 --minutes 1          # a quick check
uv run python benchmarks/soak.py --backends brian2 --minutes 0    # brian2 steps only, no sampling run
uv run python benchmarks/soak.py --steps 10000 brian2=3000 --together --json benchmarks/results/soak.json
```

**Gym soak.** Each backend runs in its own process (NEURON holds one network per process):
`livn/Pendulum-S1-v0`'s setup (`make_livn_gym("Pendulum-v1", ...)`: S1, the default 100 ms
culture window per step), uniform random 16-channel actions, `--steps` steps. Episodes end
as the task ends them (Pendulum-v1: 200 steps); the next episode alternates between a reset
with a seed (the culture is cleared, `Env.clear`) and one without (the culture keeps its state),
so both reset paths are soaked. The worker samples its resident set size (RSS, psutil) every
`--every` steps; the verdict is the growth between step 1,000 and the last step, which must stay
below 5 % (`GROWTH_LIMIT`). Wall and CPU time (this process, all threads) cover the stepping
only, after a warm-up step (code generation, compilation). `--tracemalloc` also diffs Python
allocation snapshots taken at step 1,000 and at the end and reports the lines that grew most
(the snapshot kept from step 1,000 then counts in the RSS, so judge growth on a run without it).

**Sampling soak.** `livn systems sample --system S1 --splits train_with_noise` (5 s noisy
trials, shards of `SHARD_SIZE` samples) runs in a temporary directory with more samples than
`--minutes` of wall time can finish, and is stopped (SIGTERM) when the time is up. A monitor
samples the RSS of its whole process tree (every rank, and mpirun under `--ranks` > 1) every
`--interval` s. A sampler's RSS swings by a batch's arrays between readings, so the verdict
compares medians: of the first `WINDOW_MINUTES` after `WARM_UP_MINUTES` and of the last
`WINDOW_MINUTES` (shorter runs: half the run to warm up, quarter-run windows); the single
readings after the warm-up and at the end are reported too.
Samples written counts the rows of the finished shards. The directory is removed afterwards.

`--device` chooses where JAX (diffrax, and the sampler) runs (`_device.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from _device import add_device_argument, device_report, use_device

BACKENDS = ("brian2", "diffrax", "neuron")
#: Largest accepted RSS growth, as a fraction of the RSS at the reference point.
GROWTH_LIMIT = 0.05
#: Gym step at which the reference RSS is taken (imports, code generation and caches settle first).
REFERENCE_STEP = 1000
#: Sampling minutes before the reference RSS is taken (startup and JAX compilation settle first).
WARM_UP_MINUTES = 2.0
#: Minutes of the sampling soak's first (after the warm-up) and last windows, whose median RSS is compared.
WINDOW_MINUTES = 5.0
#: Samples per parquet shard in the sampling soak (one S1 batch), so that few samples are lost at the stop.
SHARD_SIZE = 200
#: Upper bound on S1 sampling speed (samples/s) used to size the run so that it outlasts `--minutes`.
FASTEST_SAMPLING = 400.0
MiB = 2**20


def rss_of_tree(process) -> int:
    """Resident set size, bytes, of a `psutil.Process` and all its descendants (0 for ones that vanished)."""
    import psutil

    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def growth(before: float, after: float) -> float:
    """Relative change from `before` to `after` (0.05 = 5 % more)."""
    return (after - before) / before


# -- gym soak: one backend in this process --------------------------------------------------------


def top_growth(first, last, limit: int = 10) -> list[dict]:
    """The `limit` source lines whose traced allocations grew most between two tracemalloc snapshots."""
    stats = last.compare_to(first, "lineno")
    return [{"where": str(s.traceback[0]), "growth_kib": s.size_diff / 1024, "count_growth": s.count_diff}
            for s in stats[:limit]]


def gym_worker(backend: str, steps: int, every: int, trace: bool) -> dict:
    """Step a Pendulum-S1 `LivnGym` on `backend` for `steps` steps; RSS (bytes) every `every` steps."""
    import psutil

    from livn.integrations.gym.registration import make_livn_gym

    if trace:
        import tracemalloc

        tracemalloc.start()
    me = psutil.Process()
    rl_env = make_livn_gym("Pendulum-v1", backend=backend)
    rng = np.random.default_rng(0)

    def action():
        return rng.uniform(-1, 1, rl_env.action_space.shape).astype(np.float32)

    episodes = 0
    rl_env.reset(seed=episodes)
    rl_env.step(action())  # warm-up: code generation / compilation
    rss = {0: me.memory_info().rss}
    snapshots = {}
    episode_steps = []
    steps_in_episode = 1
    wall, cpu = time.perf_counter(), time.process_time()
    for step in range(1, steps + 1):
        _, _, terminated, truncated, _ = rl_env.step(action())
        steps_in_episode += 1
        if terminated or truncated:
            episodes += 1
            episode_steps.append(steps_in_episode)
            steps_in_episode = 0
            # alternate: a seeded reset clears the culture, an unseeded one keeps its state
            rl_env.reset(seed=episodes if episodes % 2 == 0 else None)
        if step % every == 0 or step == steps or step == REFERENCE_STEP:
            rss[step] = me.memory_info().rss
        if trace and step in (REFERENCE_STEP, steps):
            snapshots[step] = tracemalloc.take_snapshot()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rl_env.close()
    reference = REFERENCE_STEP if REFERENCE_STEP in rss and REFERENCE_STEP < steps else 0
    result = {
        "backend": backend,
        "steps": steps,
        "window_ms": rl_env.duration,
        "episodes": episodes,
        "episode_steps": sorted(set(episode_steps)),
        "reference_step": reference,
        "rss_reference_mib": rss[reference] / MiB,
        "rss_end_mib": rss[steps] / MiB,
        "growth": growth(rss[reference], rss[steps]),
        "wall_s": wall,
        "cpu_s": cpu,
        "steps_per_s": steps / wall,
        "rss_mib": {str(k): v / MiB for k, v in sorted(rss.items())},
        "device": device_report(),
    }
    if trace and len(snapshots) == 2:
        result["tracemalloc_top"] = top_growth(snapshots[REFERENCE_STEP], snapshots[steps])
    return result


def soak_gym(backend: str, steps: int, every: int, device: str, trace: bool) -> dict:
    """`gym_worker` in a fresh process; its result, or the failure's last output lines."""
    command = [sys.executable, __file__, "--device", device, "--every", str(every),
               "--worker", backend, str(steps)] + (["--tracemalloc"] if trace else [])
    done = subprocess.run(command, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        return {"backend": backend, "steps": steps, "error": f"exit status {done.returncode}:\n{tail}"}
    return json.loads(lines[-1])


# -- sampling soak: `livn systems sample` for a fixed wall time -----------------------------------


def samples_written(directory: Path) -> int:
    """Rows in the finished parquet shards under `directory` (unfinished temporary files are skipped)."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(p).num_rows for p in directory.rglob("*.parquet") if not p.name.startswith("."))


def stop(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM `process` (its group: every rank), then SIGKILL after `grace` s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def soak_sampling(minutes: float, interval: float, ranks: int, system: str = "S1") -> dict:
    """Run `livn systems sample` for `minutes` of wall time; RSS of its process tree every `interval` s."""
    import psutil

    binary = Path(sys.executable).parent
    livn = shutil.which("livn", path=str(binary)) or "livn"
    seconds = minutes * 60
    samples = int(FASTEST_SAMPLING * seconds) + SHARD_SIZE
    with tempfile.TemporaryDirectory(prefix="livn-soak-") as out:
        command = [livn, "systems", "sample", "--system", system, "--samples", str(samples),
                   "--out", out, "--splits", "train_with_noise", "--shard-size", str(SHARD_SIZE)]
        if ranks > 1:
            command = [shutil.which("mpirun", path=str(binary)) or "mpirun", "-n", str(ranks), *command]
        log = Path(out) / "stderr.log"
        with open(log, "w") as stderr:
            started = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
            tree = psutil.Process(process.pid)
            series = []  # (s since start, RSS bytes of the tree, CPU s of the tree)
            try:
                while True:
                    elapsed = time.perf_counter() - started
                    cpu = 0.0
                    for p in [tree, *tree.children(recursive=True)]:
                        try:
                            times = p.cpu_times()
                            cpu += times.user + times.system
                        except psutil.NoSuchProcess:
                            pass
                    series.append((elapsed, rss_of_tree(tree), cpu))
                    if elapsed >= seconds or process.poll() is not None:
                        break
                    time.sleep(min(interval, max(0.0, seconds - elapsed)))
            finally:
                finished_early = process.poll() is not None
                stop(process)
            wall = time.perf_counter() - started
        written = samples_written(Path(out))
        failure = None
        if finished_early and process.returncode != 0:
            failure = "\n".join(log.read_text().strip().splitlines()[-20:])
    return {
        "system": system,
        "ranks": ranks,
        "minutes": minutes,
        "samples_planned": samples,
        "finished_before_deadline": finished_early,
        "error": failure,
        **rss_summary([[round(t, 1), r / MiB] for t, r, _ in series], minutes),
        "samples_written": written,
        "wall_s": wall,
        "cpu_s": series[-1][2],
        "samples_per_s": written / wall,
    }


def rss_summary(series: list[list[float]], minutes: float) -> dict:
    """RSS figures of a sampling run from its `[s since start, MiB]` samples.

    The RSS of a sampling process swings by a batch's arrays (hundreds of MiB for S1) depending on
    when it is read, so besides the readings after the warm-up and at the end this gives the
    median of each `WINDOW_MINUTES` window (the first after the warm-up, the last of the run);
    `growth` compares those medians, `growth_instant` the two single readings.
    """
    warm_up = min(WARM_UP_MINUTES, minutes / 2) * 60  # short runs: the second half
    window = min(WINDOW_MINUTES, minutes / 4) * 60
    end_s = series[-1][0]
    reference = next((s for s in series if s[0] >= warm_up), series[-1])
    first = [r for t, r in series if warm_up <= t <= warm_up + window] or [reference[1]]
    last = [r for t, r in series if t >= end_s - window] or [series[-1][1]]
    return {
        "reference_s": reference[0],
        "rss_reference_mib": reference[1],
        "rss_end_mib": series[-1][1],
        "rss_max_mib": max(r for _, r in series),
        "growth_instant": growth(reference[1], series[-1][1]),
        "window_s": window,
        "rss_first_window_median_mib": float(np.median(first)),
        "rss_last_window_median_mib": float(np.median(last)),
        "growth": growth(float(np.median(first)), float(np.median(last))),
        "rss_mib": series,
    }


# -- report --------------------------------------------------------------------------------------


def verdict(value: float) -> str:
    return "flat" if value < GROWTH_LIMIT else "GROWS"


def print_report(gym_rows: list[dict], sampling: dict | None) -> None:
    if gym_rows:
        print("| backend | steps | RSS at step 1,000 (MiB) | RSS at end (MiB) | growth | steps/s | wall (s) | CPU (s) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in gym_rows:
            if "error" in r:
                print(f"| {r['backend']} | {r['steps']} | failed: {r['error'].splitlines()[-1]} | | | | | |")
                continue
            print(f"| {r['backend']} | {r['steps']:,} | {r['rss_reference_mib']:.1f} | {r['rss_end_mib']:.1f} | "
                  f"{100 * r['growth']:+.2f} % ({verdict(r['growth'])}) | {r['steps_per_s']:.1f} | "
                  f"{r['wall_s']:.0f} | {r['cpu_s']:.0f} |")
        for r in gym_rows:
            if r.get("reference_step") == 0:
                print(f"note: {r['backend']}: fewer than {REFERENCE_STEP + 1} steps, growth is from step 0")
            for line in r.get("tracemalloc_top", []):
                print(f"  {r['backend']} tracemalloc: {line['growth_kib']:+.1f} KiB ({line['count_growth']:+d} blocks) "
                      f"{line['where']}")
        print()
    if sampling:
        s = sampling
        minutes = s["window_s"] / 60
        print(f"| system | ranks | minutes | RSS after warm-up (MiB) | RSS at end (MiB) | growth | median RSS, first "
              f"{minutes:g} min after warm-up (MiB) | median RSS, last {minutes:g} min (MiB) | growth of medians | "
              "max (MiB) | samples written | samples/s | wall (s) | CPU (s) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {s['system']} | {s['ranks']} | {s['wall_s'] / 60:.1f} | {s['rss_reference_mib']:.1f} "
              f"(at {s['reference_s']:.0f} s) | {s['rss_end_mib']:.1f} | {100 * s['growth_instant']:+.2f} % | "
              f"{s['rss_first_window_median_mib']:.1f} | {s['rss_last_window_median_mib']:.1f} | "
              f"{100 * s['growth']:+.2f} % ({verdict(s['growth'])}) | {s['rss_max_mib']:.1f} | "
              f"{s['samples_written']:,} | {s['samples_per_s']:.1f} | {s['wall_s']:.0f} | {s['cpu_s']:.0f} |")
        if s["finished_before_deadline"]:
            print("note: the sampling run ended before the deadline" + (f": {s['error']}" if s["error"] else ""))


def positive(kind):
    def parse(text):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
        return value
    return parse


def steps_per_backend(items: list[str], backends: list[str]) -> dict[str, int]:
    """`--steps` items (`N` for every backend, `BACKEND=N` for one) -> steps per backend, zeros left out."""
    steps = dict.fromkeys(backends, 0)
    for item in items:
        name, _, count = item.rpartition("=")
        if name and name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r} in {item!r}; backends: {', '.join(BACKENDS)}")
        if not count.isdigit():
            raise ValueError(f"{item!r} is not N or BACKEND=N with N a whole number >= 0")
        for backend in [name] if name else backends:
            if backend in steps:
                steps[backend] = int(count)
    return {backend: count for backend, count in steps.items() if count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", nargs="+", default=["10000"], metavar="N|BACKEND=N",
                        help="LivnGym steps per backend (0: none); BACKEND=N sets one backend's, e.g. 10000 brian2=3000")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--every", type=positive(int), default=500, help="steps between RSS samples")
    parser.add_argument("--tracemalloc", action="store_true", help="diff Python allocations, step 1,000 vs end")
    parser.add_argument("--minutes", type=positive(float), default=30.0,
                        help="wall minutes of the sampling run (0: none)")
    parser.add_argument("--interval", type=positive(float), default=30.0, help="s between RSS samples of sampling")
    parser.add_argument("--ranks", type=positive(int), default=1, help="MPI ranks of the sampling run")
    parser.add_argument("--together", action="store_true",
                        help="run the sampling soak alongside the gym soak (less wall time; each slows the other)")
    parser.add_argument("--json", help="write the results to this JSON file (atomically)")
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "STEPS"), help=argparse.SUPPRESS)
    add_device_argument(parser)
    args = parser.parse_args()
    use_device(args.device)
    if args.every < 1 or args.interval <= 0:
        parser.error("--every must be >= 1 and --interval > 0")
    if args.worker:
        print(json.dumps(gym_worker(args.worker[0], int(args.worker[1]), args.every, args.tracemalloc)))
        return

    try:
        steps = steps_per_backend(args.steps, args.backends)
    except ValueError as e:
        parser.error(f"--steps: {e}")
    print(f"{device_report()}; load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with ThreadPoolExecutor(1) as pool:
        sampling = None
        if args.minutes and args.together:
            sampling = pool.submit(soak_sampling, args.minutes, args.interval, max(1, args.ranks))
        gym_rows = []
        for backend, count in steps.items():
            gym_rows.append(soak_gym(backend, count, args.every, args.device, args.tracemalloc))
            r = gym_rows[-1]
            print(f"{backend}: " + (r["error"] if "error" in r else
                                    f"{r['steps']} steps, {r['steps_per_s']:.1f} steps/s, growth {100 * r['growth']:+.2f} %"),
                  flush=True)
        if sampling is not None:
            sampling = sampling.result()
        elif args.minutes:
            sampling = soak_sampling(args.minutes, args.interval, max(1, args.ranks))
    load = os.getloadavg()
    print(f"\nload average after: {', '.join(f'{x:.2f}' for x in load)}\n")
    print_report(gym_rows, sampling)
    if args.json:
        from livn._files import write_json

        write_json(args.json, {"device_argument": args.device, "device": device_report(), "growth_limit": GROWTH_LIMIT, "load_average_after": load,
                               "gym": gym_rows, "sampling": sampling})


if __name__ == "__main__":
    main()
