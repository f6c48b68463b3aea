"""Where the time of a NEURON run goes on 1 and 2 MPI ranks: CPU per rank, waiting, gathering, balance.

```sh
uv run python benchmarks/neuron_ranks.py                          # S4, 1000 ms x 2, 3 rounds of (1, 2 ranks)
uv run python benchmarks/neuron_ranks.py --system S3 --rounds 2 --json s3.json
uv run python benchmarks/neuron_ranks.py --mpi-env MPIR_CVAR_CH4_PROGRESS_THROTTLE=1
```

Each round starts one `mpirun -n 1` and one `mpirun -n 2` job (the order alternates
between rounds, so a drift of the machine's speed hits both alike). Each job builds
the Env with the model defaults, records every spike, runs an untimed warm-up and
then `--repeats` timed `run(T)` calls; setup is not timed. Every rank reports, over
the timed runs only:

- wall and CPU seconds (user and system) per simulated second, and the context
  switches the kernel made (involuntary ones: the rank was preempted by another process);
- NEURON's own split of `psolve` (`ParallelContext.step_time`, `wait_time`,
  `send_time`): integration and event delivery, waiting at the spike exchange
  (MPICH polls there and calls `sched_yield`, so waiting costs CPU, much of it system
  time), and the exchange itself;
- the seconds spent gathering the spikes on rank 0 after each run (`_collect`);
- its cells, synapses, spikes sent and synaptic events received (the balance of the work).

Every job's spike train (gids and times) is hashed; the table says whether all were identical.

The table gives medians over the rounds. On a shared machine wall time mostly measures
the other processes, and CPU time per rank is the steadier figure; it is not immune
either (cache and memory contention from other processes raise it, and waiting at the
exchange costs CPU), so `--mpi-env` lets MPICH settings be compared side by side.

Results of issue 14 (S4): `results/neuron_ranks_S4_quiet_16core_run*.json` (a quiet 16-core
machine) and `results/neuron_ranks_S4_shared_vm.json` (this 2-core VM under load, with MPICH
variants).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _device import add_device_argument, device_report, use_device

#: The target of issue 14: S4 on 2 ranks at least this many times faster than on 1.
SPEEDUP_TARGET = 1.7


def worker(system: str, duration: float, warmup: float, repeats: int, seed: int, out: Path) -> None:
    """One rank of the job: build, warm up, time `repeats` runs; rank 0 writes every rank's figures."""
    import numpy as np

    from livn.backends.neuron import ARRIVAL_OFFSET, MAX_EXCHANGE_INTERVAL
    from livn.env import Env
    from livn.system import predefined

    env = Env(predefined(system), seed=seed, backend="neuron").init()
    env.apply_model_defaults()
    env.record_spikes()
    backend = env.backend
    pc, comm = backend._rt.pc, backend._rt.comm

    collect_s = [0.0]
    collect = backend._collect

    def timed_collect(*args, **kwargs):  # gathering the spikes on rank 0 (collective)
        start = time.perf_counter()
        try:
            return collect(*args, **kwargs)
        finally:
            collect_s[0] += time.perf_counter() - start

    backend._collect = timed_collect
    env.run(warmup)
    if comm is not None:
        comm.Barrier()
    collect_s[0] = 0.0
    neuron_before = (pc.step_time(), pc.wait_time(), pc.send_time())
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    wall_before, cpu_before = time.perf_counter(), time.process_time()
    load_before = os.getloadavg()
    sent, times, walls = [], [], []
    for index in range(repeats):
        start = time.perf_counter()
        it, t, _, _ = env.run(duration)
        walls.append(time.perf_counter() - start)
        sent.append(np.asarray(it, np.int64))
        times.append(np.asarray(t, np.float64) + index * duration)
    wall = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    usage = resource.getrusage(resource.RUSAGE_SELF)
    step, wait, send = (after - before for after, before in
                        zip((pc.step_time(), pc.wait_time(), pc.send_time()), neuron_before))

    # Balance: this rank's cells, synapses, spikes sent and events received.
    local = backend.local_gids
    lowered = backend.lowered
    all_spikes = np.concatenate(sent)  # rank 0: every rank's spikes; others: their own
    if comm is not None:
        all_spikes = comm.bcast(all_spikes if backend.rank == 0 else None, root=0)
    fan_in_here = np.bincount(np.asarray(lowered.pre)[backend._local_edges], minlength=backend.num_neurons)
    seconds = duration / 1000.0 * repeats
    mine = {
        "rank": backend.rank,
        "cells": int(len(local)),
        "synapses": int(len(backend._local_edges)),
        "spikes_sent_per_s": float(np.isin(all_spikes, local).sum() / seconds),
        "events_received_per_s": float(fan_in_here[all_spikes].sum() / seconds),
        "wall_per_sim_s": wall / seconds,
        "cpu_per_sim_s": cpu / seconds,
        "user_per_sim_s": (usage.ru_utime - usage_before.ru_utime) / seconds,
        "system_per_sim_s": (usage.ru_stime - usage_before.ru_stime) / seconds,
        "step_per_sim_s": step / seconds,
        "wait_per_sim_s": wait / seconds,
        "send_per_sim_s": send / seconds,
        "collect_per_sim_s": collect_s[0] / seconds,
        "involuntary_switches_per_sim_s": (usage.ru_nivcsw - usage_before.ru_nivcsw) / seconds,
        "voluntary_switches_per_sim_s": (usage.ru_nvcsw - usage_before.ru_nvcsw) / seconds,
        "run_wall_s": walls,
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    # set_maxstep (collective) returns the exchange interval in force; asked again with livn's own setting.
    interval = float(pc.set_maxstep((round(MAX_EXCHANGE_INTERVAL / backend.dt) + ARRIVAL_OFFSET) * backend.dt))
    ranks = comm.gather(mine, root=0) if comm is not None else [mine]
    if backend.rank == 0:
        import hashlib

        spike_times = np.concatenate(times)
        order = np.lexsort((all_spikes, spike_times))  # by time, then gid
        digest = hashlib.sha256(all_spikes[order].tobytes() + np.round(spike_times[order], 6).tobytes()).hexdigest()
        out.write_text(json.dumps({
            "system": system, "ranks": backend.num_ranks, "neurons": backend.num_neurons,
            "duration_ms": duration, "repeats": repeats,
            "exchange_interval_ms": interval,
            "spike_digest": digest, "per_rank": ranks, "device": device_report(),
        }))


def run_job(ranks: int, args) -> dict:
    """One `mpirun -n ranks` job of `worker`; returns its JSON."""
    with tempfile.TemporaryDirectory(prefix="livn-neuron-ranks-") as tmp:
        out = Path(tmp) / "result.json"
        env = dict(os.environ)
        for item in args.mpi_env:
            key, _, value = item.partition("=")
            env[key] = value
        command = [str(Path(sys.executable).parent / "mpirun"), "-n", str(ranks), sys.executable,
                   str(Path(__file__).resolve()), "--worker", "--system", args.system,
                   "--duration", str(args.duration), "--warmup", str(args.warmup),
                   "--repeats", str(args.repeats), "--seed", str(args.seed), "--json", str(out)]
        subprocess.run(command, check=True, env=env)
        return json.loads(out.read_text())


def summary(jobs: dict) -> dict:
    """Medians over rounds of each job's figures, per rank."""
    def med(results, key, rank):
        return statistics.median(r["per_rank"][rank][key] for r in results)

    keys = ("wall_per_sim_s", "cpu_per_sim_s", "user_per_sim_s", "system_per_sim_s", "step_per_sim_s",
            "wait_per_sim_s", "send_per_sim_s", "collect_per_sim_s", "involuntary_switches_per_sim_s",
            "cells", "synapses", "spikes_sent_per_s", "events_received_per_s")
    return {ranks: [{key: med(results, key, rank) for key in keys} for rank in range(ranks)]
            for ranks, results in jobs.items()}


def markdown(jobs: dict, args, command: str, load_before) -> str:
    table = summary(jobs)
    one, two = table[1][0], table[2]
    wall_speedup = one["wall_per_sim_s"] / max(r["wall_per_sim_s"] for r in two)
    cpu_speedup = one["cpu_per_sim_s"] / max(r["cpu_per_sim_s"] for r in two)
    busy_speedup = one["step_per_sim_s"] / max(r["step_per_sim_s"] for r in two)
    identical = len({r["spike_digest"] for results in jobs.values() for r in results}) == 1
    lines = [
        f"`{command}`",
        "",
        f"{device_report()}; load average before: {', '.join(f'{x:.2f}' for x in load_before)}, "
        f"after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}. {args.system}, {args.repeats} x "
        f"{args.duration:g} ms per job after a {args.warmup:g} ms warm-up, {len(jobs[1])} round(s), medians."
        + (f" MPI environment: {' '.join(args.mpi_env)}." if args.mpi_env else ""),
        "",
        "| ranks | rank | cells | synapses | spikes sent /s | events received /s | wall s/s | CPU s/s | user / sys "
        "| integration (step_time) | waiting (wait_time) | exchange (send_time) | gather to rank 0 "
        "| preempted /s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for ranks in (1, 2):
        for rank, r in enumerate(table[ranks]):
            lines.append(
                f"| {ranks} | {rank} | {r['cells']:,.0f} | {r['synapses']:,.0f} | {r['spikes_sent_per_s']:,.0f} "
                f"| {r['events_received_per_s']:,.0f} | {r['wall_per_sim_s']:.2f} | {r['cpu_per_sim_s']:.2f} "
                f"| {r['user_per_sim_s']:.2f} / {r['system_per_sim_s']:.2f} | {r['step_per_sim_s']:.2f} "
                f"| {r['wait_per_sim_s']:.2f} | {r['send_per_sim_s']:.3f} | {r['collect_per_sim_s']:.3f} "
                f"| {r['involuntary_switches_per_sim_s']:.0f} |"
            )
    lines += [
        "",
        f"Speedup 1 -> 2 ranks: wall {wall_speedup:.2f}x, CPU per rank {cpu_speedup:.2f}x, integration "
        f"(step_time) {busy_speedup:.2f}x (target {SPEEDUP_TARGET}x, wall). Spike exchange every "
        f"{jobs[2][0]['exchange_interval_ms']:.4g} ms on 2 ranks. Spikes of 1 and 2 ranks "
        f"{'identical' if identical else 'DIFFERENT'}.",
        "",
        "s/s: seconds per simulated second over the timed runs (setup and warm-up excluded). step_time: "
        "NEURON's integration and event delivery; wait_time: time in the spike exchange waiting for the other "
        "rank (MPICH polls and calls sched_yield there, so it is CPU time too, much of it system time); "
        "send_time: the exchange itself. Preempted: involuntary context switches, i.e. the kernel gave the CPU "
        "to another process.",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--system", default="S4", help="predefined system (default S4)")
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated ms per timed run")
    parser.add_argument("--warmup", type=float, default=100.0, help="simulated ms of the untimed first run")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per job")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (1 rank, 2 ranks), order alternating")
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--mpi-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="environment variables for the mpirun jobs (e.g. MPICH settings)")
    parser.add_argument("--json", type=Path, default=None, help="also write every job's figures here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    add_device_argument(parser)
    args = parser.parse_args(argv)
    use_device(args.device, jax_needed=False)
    if args.repeats < 1 or args.rounds < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--repeats and --rounds must be >= 1, --duration > 0 ms and --warmup >= 0 ms")
    if any("=" not in item for item in args.mpi_env):
        parser.error("--mpi-env takes NAME=VALUE items")
    if args.worker:
        worker(args.system, args.duration, args.warmup, args.repeats, args.seed, args.json)
        return 0

    command = "uv run python benchmarks/neuron_ranks.py " + " ".join(sys.argv[1:] if argv is None else argv)
    load_before = os.getloadavg()
    jobs = {1: [], 2: []}
    for round_index in range(args.rounds):
        for ranks in ((1, 2) if round_index % 2 == 0 else (2, 1)):
            result = run_job(ranks, args)
            jobs[ranks].append(result)
            cpu = ", ".join(f"{r['cpu_per_sim_s']:.2f}" for r in result["per_rank"])
            print(f"round {round_index + 1}/{args.rounds}, {ranks} rank(s): wall "
                  f"{result['per_rank'][0]['wall_per_sim_s']:.2f} s/s, CPU per rank {cpu} s/s",
                  file=sys.stderr, flush=True)
    print(markdown(jobs, args, command.strip(), load_before))
    if args.json is not None:
        from livn._files import write_json

        write_json(args.json, {"command": command.strip(), "device": device_report(),
                               "load_before": load_before, "jobs": jobs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
