"""Simulation speed of livn's brian2 backend next to the same network written by hand in brian2.

```sh
uv run python benchmarks/simulate.py                        # S1..S4, 2 s (S4: 1 s), 3 repeats
uv run python benchmarks/simulate.py --systems S3 --duration 5000 --repeats 5 --json s3.json
uv run python benchmarks/simulate.py --fresh-cache          # also time Cython compilation from scratch
uv run python benchmarks/simulate.py --backend neuron       # NEURON on 1 and 2 MPI ranks next to brian2
uv run python benchmarks/simulate.py --backend diffrax --device gpu   # the JAX backend on a GPU
```

`--device` says where diffrax (JAX) runs; brian2 and NEURON run on the CPU, so `gpu` is
refused for them. Every table and JSON says what ran where.

For every system it builds two networks, side by side in one fresh Python process:

- **livn**: `Env(predefined(name), seed=...).init()`, `apply_model_defaults()`,
  `record_spikes()`, a warm-up `run`, then timed `env.run(T)` calls;
- **plain**: the same culture written directly against brian2 (`build_plain_network`),
  as a brian2 user would write it by hand. livn is used only to *read* the system
  (synapse arrays, per-neuron parameters, delays, default weights and noise),
  never to build or run the brian2 objects.

Both use the same equations, Euler at dt = 0.1 ms, the Cython target, per-synapse
event-driven depression and a SpikeMonitor. Warm-up runs compile everything first;
the timed `run(T)` calls of the two networks are interleaved and their medians
reported as wall seconds per simulated second. The ratio livn / plain is livn's
overhead. Fixed per-call costs (brian2 regenerates its code objects on every
`run`) are measured separately with 1 ms runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
from _device import add_device_argument, device_report, use_device

from livn.system import KNOWN_SYSTEMS

#: Targets the numbers are judged against (wall s per simulated s; livn / plain).
TARGETS = {"S3": 1.0, "S4": 10.0}
MAX_OVERHEAD = 1.5

#: Default simulated duration of one timed run, ms.
DEFAULT_DURATION = {"S1": 2000.0, "S2": 2000.0, "S3": 2000.0, "S4": 1000.0}


# -- the same culture, written directly against brian2 ---------------------------------------


PLAIN_EQUATIONS = """
dv/dt = (0.04*v**2/mV + 5*v + 140*mV - u)/ms + (I_syn + I_noise)/C_m : volt
du/dt = a*(b*v - u)/ms : volt
I_syn = g_ampa*(E_ampa - v) + g_gaba*(E_gaba - v) : amp
dg_ampa/dt = -g_ampa/tau_ampa : siemens
dg_gaba/dt = -g_gaba/tau_gaba : siemens
dI_noise/dt = (noise_mean - I_noise)/tau_noise + noise_std*sqrt(2/tau_noise)*xi : amp
a : 1 (constant)
b : 1 (constant)
c : volt (constant)
d : volt (constant)
"""


def build_plain_network(system, model, seed: int):
    """The culture of `system` as a hand-written brian2 script.

    **Returns** `(network, neurons, spike_monitor, namespace)`.
    """
    import brian2 as b2
    from brian2 import Network, NeuronGroup, SpikeMonitor, Synapses, ms, mV, nA, nF, nS

    b2.prefs.codegen.target = "cython"
    b2.defaultclock.dt = model.dt * ms
    namespace = {
        "C_m": model.membrane_capacitance * nF,
        "E_ampa": model.receptors["AMPA"].reversal_potential * mV,
        "E_gaba": model.receptors["GABA_A"].reversal_potential * mV,
        "tau_ampa": model.receptors["AMPA"].time_constant * ms,
        "tau_gaba": model.receptors["GABA_A"].time_constant * ms,
        "tau_noise": model.noise_time_constant * ms,
        "tau_rec": model.depression_recovery * ms,
        "U": model.depression_fraction,
        "v_peak": model.v_peak * mV,
        "noise_mean": model.default_noise_mean * nA,
        "noise_std": model.default_noise_std * nA,
    }

    params = model.neuron_parameters(system.population_ranges, seed)
    neurons = NeuronGroup(system.num_neurons, PLAIN_EQUATIONS, threshold="v >= v_peak",
                          reset="v = c; u += d", method="euler", name="plain_neurons")
    neurons.a = params["a"]
    neurons.b = params["b"]
    neurons.c = params["c"] * mV
    neurons.d = params["d"] * mV
    v_rest, u_rest = model.initial_state(params)
    neurons.v = v_rest * mV
    neurons.u = u_rest * mV
    neurons.I_noise = model.default_noise_mean * nA

    synapses = []
    for (pre, post), projection in system.projections.items():
        if projection.num_edges == 0:
            continue
        if pre == "EXC":  # AMPA, Tsodyks-Markram depression per synapse
            syn = Synapses(neurons, neurons,
                           "w : siemens (constant)\ndx/dt = (1 - x)/tau_rec : 1 (event-driven)",
                           on_pre="g_ampa_post += w*x\nx = x*(1 - U)", name=f"plain_{pre}_{post}")
        else:  # GABA_A
            syn = Synapses(neurons, neurons, "w : siemens (constant)",
                           on_pre="g_gaba_post += w", name=f"plain_{pre}_{post}")
        syn.connect(i=np.asarray(projection.source), j=np.asarray(projection.target))
        syn.delay = model.axonal_delay(projection.distance) * ms
        syn.w = model.default_weights[f"{pre}_{post}"] * nS
        if pre == "EXC":
            syn.x = 1.0
        synapses.append(syn)

    spikes = SpikeMonitor(neurons, name="plain_spikes")
    network = Network(neurons, *synapses, spikes, name="plain_network")
    return network, neurons, spikes, namespace


# -- measuring ------------------------------------------------------------------------------


def cython_cache_dir() -> str:
    from brian2.codegen.runtime.cython_rt.extension_manager import get_cython_cache_dir

    return get_cython_cache_dir()


def count_compiled() -> int:
    """Number of compiled Cython extension modules in brian2's cache."""
    directory = Path(cython_cache_dir())
    if not directory.is_dir():
        return 0
    return sum(1 for f in directory.iterdir() if f.suffix in (".so", ".pyd"))


def timed(fn):
    """Call `fn()`; returns `(wall s, CPU s of this process, result)`."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


class LivnRunner:
    """livn through its public API."""

    def __init__(self, name: str, seed: int):
        from livn.env import Env
        from livn.system import predefined

        self.env = Env(predefined(name), seed=seed).init()
        self.env.apply_model_defaults()
        self.env.record_spikes()
        self.spikes = 0
        self.simulated = 0.0
        self.trains = []  # (gids, absolute times in ms) per window

    def run(self, duration: float, count: bool = True):
        start = self.env.t
        it, t, _, _ = self.env.run(duration)
        self.trains.append((it, t + start))
        if count:
            self.spikes += len(it)
            self.simulated += duration

    def spike_train(self):
        return np.concatenate([i for i, _ in self.trains]), np.concatenate([t for _, t in self.trains])


class PlainRunner:
    """The hand-written brian2 network."""

    def __init__(self, system, model, seed: int):
        import brian2 as b2

        self.network, self.neurons, self.monitor, self.namespace = build_plain_network(system, model, seed)
        b2.seed(seed)
        self.spikes = 0
        self.simulated = 0.0

    def run(self, duration: float, count: bool = True):
        from brian2 import ms

        before = int(self.monitor.num_spikes)
        self.network.run(duration * ms, namespace=self.namespace, report=None)
        if count:
            self.spikes += int(self.monitor.num_spikes - before)
            self.simulated += duration

    def spike_train(self):
        from brian2 import ms

        return np.asarray(self.monitor.i[:], dtype=np.int64), np.asarray(self.monitor.t[:] / ms)


def benchmark(name: str, duration: float, warmup: float, repeats: int, seed: int, call_repeats: int) -> dict:
    from livn.models import CultureModel
    from livn.system import System, predefined

    system = System(predefined(name))
    model = CultureModel()
    result = {
        "system": name,
        "neurons": system.num_neurons,
        "synapses": int(sum(p.num_edges for p in system.projections.values())),
        "duration_ms": duration,
        "warmup_ms": warmup,
        "repeats": repeats,
        "device": device_report(),
    }

    # Cold: build + first run (compiles the Cython code objects unless cached).
    runners = {}
    for side, build in (("livn", lambda: LivnRunner(name, seed)), ("plain", lambda: PlainRunner(system, model, seed))):
        compiled = count_compiled()
        result[f"{side}_build_s"], _, runner = timed(build)
        result[f"{side}_first_run_s"], _, _ = timed(partial(runner.run, warmup, count=False))
        result[f"{side}_new_extensions"] = count_compiled() - compiled
        runners[side] = runner
    livn, plain = runners["livn"], runners["plain"]

    # Fixed per-call cost: 1 ms runs (code objects are regenerated on every run).
    livn_call, plain_call = [], []
    for _ in range(call_repeats):
        livn_call.append(timed(partial(livn.run, 1.0, count=False))[0])
        plain_call.append(timed(partial(plain.run, 1.0, count=False))[0])

    # Steady state: interleaved timed runs of the same length.
    livn_times, plain_times, livn_cpu, plain_cpu = [], [], [], []
    for _ in range(repeats):
        wall, cpu, _ = timed(partial(livn.run, duration))
        livn_times.append(wall)
        livn_cpu.append(cpu)
        wall, cpu, _ = timed(partial(plain.run, duration))
        plain_times.append(wall)
        plain_cpu.append(cpu)

    seconds = duration / 1000.0
    result["livn_call_s"] = statistics.median(livn_call)
    result["plain_call_s"] = statistics.median(plain_call)
    result["livn_run_s"] = livn_times
    result["plain_run_s"] = plain_times
    result["livn_wall_per_sim_s"] = statistics.median(livn_times) / seconds
    result["plain_wall_per_sim_s"] = statistics.median(plain_times) / seconds
    result["overhead"] = result["livn_wall_per_sim_s"] / result["plain_wall_per_sim_s"]
    result["livn_cpu_s"] = livn_cpu
    result["plain_cpu_s"] = plain_cpu
    result["livn_cpu_per_sim_s"] = statistics.median(livn_cpu) / seconds
    result["plain_cpu_per_sim_s"] = statistics.median(plain_cpu) / seconds
    result["overhead_cpu"] = result["livn_cpu_per_sim_s"] / result["plain_cpu_per_sim_s"]
    result["livn_rate_hz"] = livn.spikes / (system.num_neurons * livn.simulated / 1000.0)
    result["plain_rate_hz"] = plain.spikes / (system.num_neurons * plain.simulated / 1000.0)
    result["livn_spikes"] = livn.spikes
    result["plain_spikes"] = plain.spikes
    (li, lt), (pi, pt) = livn.spike_train(), plain.spike_train()
    result["identical_spikes"] = bool(
        li.shape == pi.shape and np.array_equal(li, pi) and np.allclose(lt, pt, rtol=0, atol=1e-6)
    )
    del livn, plain
    gc.collect()
    return result


# -- reporting -------------------------------------------------------------------------------


def machine_info() -> dict:
    import brian2
    import Cython

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "brian2": brian2.__version__,
        "numpy": np.__version__,
        "cython": Cython.__version__,
        "codegen_target": "cython",
        "cython_cache": cython_cache_dir(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "device": device_report(),
    }


def cache_note(fresh: bool) -> str:
    return "an empty temporary Cython cache per system" if fresh else f"the Cython cache {cython_cache_dir()}"


def verdict(ok: bool) -> str:
    return "ok" if ok else "**MISSED**"


def markdown(results: list[dict], info: dict, command: str, fresh: bool) -> str:
    lines = [
        f"`{command}`",
        "",
        (
            f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['platform']}; ran on: {info['device']}; "
            f"Python {info['python']}, brian2 {info['brian2']}, NumPy {info['numpy']}, Cython {info['cython']}; "
            f"target {info['codegen_target']}, {cache_note(fresh)}; load average before: "
            f"{', '.join(f'{x:.2f}' for x in info['load_average'] or ())}."
        ),
        "",
        (
            "| system | neurons | synapses | T (ms) | livn (s/s) | plain brian2 (s/s) | overhead livn/plain "
            "| overhead, CPU time | target | rate livn / plain (Hz) | per-call livn / plain (s) "
            "| cold build + first run livn / plain (s) |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        targets = []
        if r["system"] in TARGETS:
            limit = TARGETS[r["system"]]
            targets.append(f"<= {limit:g} s/s {verdict(r['livn_wall_per_sim_s'] <= limit)}")
        targets.append(f"<= {MAX_OVERHEAD}x {verdict(r['overhead'] <= MAX_OVERHEAD)}")

        def cold(side, r=r):
            new = r[f"{side}_new_extensions"]
            note = f"compiled {new}" if new else "cached"
            return f"{r[f'{side}_build_s'] + r[f'{side}_first_run_s']:.2f} ({note})"

        lines.append(
            f"| {r['system']} | {r['neurons']:,} | {r['synapses']:,} | {r['duration_ms']:g} "
            f"| {r['livn_wall_per_sim_s']:.3f} | {r['plain_wall_per_sim_s']:.3f} | {r['overhead']:.2f}x "
            f"| {r['overhead_cpu']:.2f}x "
            f"| {'; '.join(targets)} | {r['livn_rate_hz']:.2f} / {r['plain_rate_hz']:.2f}"
            f"{' (identical spikes)' if r['identical_spikes'] else ''} "
            f"| {r['livn_call_s']:.3f} / {r['plain_call_s']:.3f} | {cold('livn')} / {cold('plain')} |"
        )
    lines += [
        "",
        (
            "s/s: wall-clock seconds per simulated second, median of the timed `run(T)` calls "
            "(warm: code already compiled). Rate: mean firing rate over the timed windows; 'identical spikes' "
            "= both networks produced the same spike train (same gids, times within 1e-6 ms) from t = 0. "
            "Overhead, CPU time: the same ratio from process CPU time, less sensitive to other load on the machine. "
            "Per-call: median wall time of a 1 ms run (fixed cost of one `run` call). "
            "Cold: network construction plus the first warm-up run; 'compiled N' = N new Cython "
            "extensions were built, 'cached' = all came from brian2's on-disk cache."
        ),
    ]
    return "\n".join(lines)


def run_in_subprocess(name: str, duration: float, args) -> dict:
    """Benchmark one system in a fresh interpreter.

    A fresh process per system keeps brian2's global state (its random-number buffer,
    `gc.collect` over every object alive, the default clock) from leaking between systems.
    """
    with tempfile.TemporaryDirectory(prefix="livn-bench-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--duration", str(duration),
                   "--warmup", str(args.warmup), "--repeats", str(args.repeats),
                   "--call-repeats", str(args.call_repeats), "--seed", str(args.seed), "--json", str(out),
                   "--device", args.device]
        if args.fresh_cache:
            command.append("--fresh-cache")
        subprocess.run(command, check=True)
        return json.loads(out.read_text())


# -- diffrax ------------------------------------------------------------------------------------


def benchmark_diffrax(names, duration: float, repeats: int, seed: int) -> dict:
    """diffrax backend: compile time, wall s per simulated s, gradient/forward cost, batched trials."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from livn.env import Env
    from livn.system import predefined

    def timed_jax(fn):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        return time.perf_counter() - start

    speed = []
    for name in names:
        env = Env(predefined(name), seed=seed, backend="diffrax").init().apply_model_defaults().record_spikes()
        compile_and_first = timed_jax(lambda: env.backend.simulate(duration)[1])
        wall = statistics.median(timed_jax(lambda: env.backend.simulate(duration)[1]) for _ in range(repeats))
        speed.append({"system": name, "neurons": env.num_neurons, "compile_s": compile_and_first - wall,
                      "wall_per_sim_s": wall / (duration / 1000.0)})

    gradient = []
    for name in ("S1", "S2"):
        env = Env(predefined(name), seed=seed, backend="diffrax").init().apply_model_defaults()
        inputs = jnp.zeros((200, 16))

        def loss(x, env=env):
            return jnp.mean(env.run(200, env.cell_stimulus(x), unroll="mask", key=env.run_key)[3])

        forward, backward = eqx.filter_jit(loss), eqx.filter_jit(jax.grad(loss))
        timed_jax(lambda: forward(inputs)), timed_jax(lambda: backward(inputs))
        f = statistics.median(timed_jax(lambda: forward(inputs)) for _ in range(repeats))
        g = statistics.median(timed_jax(lambda: backward(inputs)) for _ in range(repeats))
        gradient.append({"system": name, "window_ms": 200, "forward_s": f, "gradient_s": g, "ratio": g / f})

    env = Env(predefined("S1"), seed=seed, backend="diffrax").init().apply_model_defaults().record_spikes()
    trials = 256
    stimulus = jnp.zeros((trials, 1, env.num_neurons))
    keys = jax.random.split(jax.random.PRNGKey(seed), trials)
    timed_jax(lambda: env.backend.simulate(1000.0, stimulus, keys)[1])
    batched = statistics.median(timed_jax(lambda: env.backend.simulate(1000.0, stimulus, keys)[1]) for _ in range(repeats))
    timed_jax(lambda: env.backend.simulate(1000.0, stimulus[0], keys[0])[1])
    sequential = timed_jax(lambda: [env.backend.simulate(1000.0, stimulus[i], keys[i])[1] for i in range(trials)])
    batch = {"trials": trials, "trial_ms": 1000, "batched_s": batched, "sequential_s": sequential}
    return {"jax": jax.__version__, "device": device_report(), "speed": speed, "gradient": gradient,
            "batch": batch, "duration_ms": duration}


def markdown_diffrax(result: dict, info: dict, command: str) -> str:
    lines = [
        f"diffrax backend, {result['device']}. Command: `{command}`",
        "",
        f"| system | neurons | compile (s) | wall s per simulated s ({result['duration_ms']:g} ms runs) | target |",
        "|---|---:|---:|---:|---|",
    ]
    for r in result["speed"]:
        target = " <= 1 s/s " + verdict(r["wall_per_sim_s"] <= 1.0) if r["system"] == "S3" else ""
        lines.append(f"| {r['system']} | {r['neurons']} | {r['compile_s']:.2f} | {r['wall_per_sim_s']:.3f} |{target} |")
    lines += ["", "| system | window | forward (s) | gradient (s) | gradient / forward | target |", "|---|---:|---:|---:|---:|---|"]
    for r in result["gradient"]:
        lines.append(f"| {r['system']} | {r['window_ms']} ms | {r['forward_s']:.4f} | {r['gradient_s']:.4f} | "
                     f"{r['ratio']:.2f}x | <= 4x {verdict(r['ratio'] <= 4)} |")
    b = result["batch"]
    lines += ["", f"{b['trials']} S1 trials of {b['trial_ms']} ms: batched (one vmapped call) {b['batched_s']:.2f} s, "
              f"sequential calls {b['sequential_s']:.2f} s ({b['sequential_s'] / b['batched_s']:.1f}x); "
              f"target batched <= 5 s {verdict(b['batched_s'] <= 5)}"]
    return "\n".join(lines)


# -- NEURON on MPI ranks ----------------------------------------------------------------------------

#: NEURON targets: S4 at least this much faster on 2 ranks than on 1; S3 at most this times brian2's s/s.
NEURON_SPEEDUP_TARGET = 1.7
NEURON_VS_BRIAN2_TARGET = 2.0


def env_worker(name: str, backend: str, duration: float, warmup: float, repeats: int, seed: int, out: Path) -> None:
    """One system through `Env` on `backend`, in this process (one rank of an mpirun job for NEURON).

    Times the build, a warm-up run and `repeats` timed `run(duration)` calls; rank 0
    writes wall seconds (the job's, as `run` is collective), every rank's CPU seconds
    and a digest of the spike train to `out`.
    """
    import hashlib

    from livn.env import Env
    from livn.system import predefined

    directory = predefined(name)
    build_wall, _, env = timed(lambda: Env(directory, seed=seed, backend=backend).init())
    env.apply_model_defaults()
    env.record_spikes()
    first_wall, _, _ = timed(lambda: env.run(warmup))
    walls, cpus, digest, spikes = [], [], hashlib.sha256(), 0
    for _ in range(repeats):
        wall, cpu, (it, t, _, _) = timed(lambda: env.run(duration))
        walls.append(wall)
        cpus.append(cpu)
        digest.update(np.asarray(it, np.int64).tobytes() + np.round(np.asarray(t), 6).tobytes())
        spikes += len(it)
    rank, ranks, all_cpus = 0, 1, [cpus]
    if backend == "neuron":
        rank, ranks = env.backend.rank, env.backend.num_ranks
        comm = env.backend._rt.comm
        if comm is not None:
            all_cpus = comm.gather(cpus, root=0)
    if rank == 0:
        seconds = duration / 1000.0
        out.write_text(json.dumps({
            "system": name, "backend": backend, "ranks": ranks, "neurons": env.num_neurons,
            "duration_ms": duration, "build_s": build_wall, "first_run_s": first_wall, "run_s": walls,
            "wall_per_sim_s": statistics.median(walls) / seconds,
            "cpu_per_sim_s_per_rank": [statistics.median(c) / seconds for c in all_cpus],
            "rate_hz": spikes / (env.num_neurons * seconds * repeats), "spike_digest": digest.hexdigest(),
            "device": device_report(),
        }))


def run_env_worker(name: str, backend: str, ranks: int, duration: float, args) -> dict:
    """`env_worker` in a fresh process, under `mpirun -n ranks` for NEURON."""
    with tempfile.TemporaryDirectory(prefix="livn-bench-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--env-worker", name, "--backend", backend,
                   "--duration", str(duration), "--warmup", str(args.warmup), "--repeats", str(args.repeats),
                   "--seed", str(args.seed), "--json", str(out), "--device", args.device]
        if backend == "neuron":
            command = [str(Path(sys.executable).parent / "mpirun"), "-n", str(ranks), *command]
        subprocess.run(command, check=True)
        return json.loads(out.read_text())


def benchmark_neuron(names, durations: dict, rounds: int, args) -> list[dict]:
    """Per system and round, side by side: brian2 (one process), NEURON on 1 rank, NEURON on 2 ranks."""
    rows = []
    for name in names:
        per_config = {"brian2": [], "neuron1": [], "neuron2": []}
        for round_index in range(rounds):
            for key, backend, ranks in (("brian2", "brian2", 1), ("neuron1", "neuron", 1), ("neuron2", "neuron", 2)):
                print(f"[{name}] round {round_index + 1}/{rounds}: {key} ...", file=sys.stderr, flush=True)
                result = run_env_worker(name, backend, ranks, durations[name], args)
                per_config[key].append(result)
                print(f"[{name}] {key}: {result['wall_per_sim_s']:.3f} s/s, rate {result['rate_hz']:.2f} Hz",
                      file=sys.stderr, flush=True)
        rows.append({"system": name, **per_config})
    return rows


def markdown_neuron(rows: list[dict], info: dict, command: str) -> str:
    def median(results, key="wall_per_sim_s"):
        return statistics.median(r[key] for r in results)

    lines = [
        f"`{command}`",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}); ran on: {info['device']}; load average before: "
        f"{', '.join(f'{x:.2f}' for x in info['load_average'] or ())}.",
        "",
        "| system | neurons | T (ms) | brian2 (s/s) | NEURON 1 rank (s/s) | NEURON 2 ranks (s/s) | speedup 1 -> 2 ranks "
        "| NEURON 1 rank / brian2 | CPU s/s per rank, 1 / 2 ranks | rate brian2 / NEURON (Hz) | 1 and 2 ranks identical | targets |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    for row in rows:
        b2, n1, n2 = median(row["brian2"]), median(row["neuron1"]), median(row["neuron2"])
        speedup, ratio = n1 / n2, n1 / b2
        cpu1 = statistics.median(r["cpu_per_sim_s_per_rank"][0] for r in row["neuron1"])
        cpu2 = [statistics.median(r["cpu_per_sim_s_per_rank"][k] for r in row["neuron2"]) for k in range(2)]
        identical = all(a["spike_digest"] == b["spike_digest"] for a, b in zip(row["neuron1"], row["neuron2"]))
        targets = []
        if row["system"] == "S4":
            targets.append(f"speedup >= {NEURON_SPEEDUP_TARGET}x {verdict(speedup >= NEURON_SPEEDUP_TARGET)}")
        if row["system"] == "S3":
            targets.append(f"<= {NEURON_VS_BRIAN2_TARGET:g}x brian2 {verdict(ratio <= NEURON_VS_BRIAN2_TARGET)}")
        first = row["neuron1"][0]
        lines.append(
            f"| {row['system']} | {first['neurons']:,} | {first['duration_ms']:g} | {b2:.3f} | {n1:.3f} | {n2:.3f} "
            f"| {speedup:.2f}x | {ratio:.2f}x | {cpu1:.2f} / {cpu2[0]:.2f}, {cpu2[1]:.2f} "
            f"| {median(row['brian2'], 'rate_hz'):.2f} / {median(row['neuron1'], 'rate_hz'):.2f} "
            f"| {'yes' if identical else 'NO'} | {'; '.join(targets)} |"
        )
    rounds = len(rows[0]["neuron1"]) if rows else 0
    lines += [
        "",
        f"s/s: wall seconds per simulated second, median over {rounds} round(s) of (brian2, NEURON 1 rank, NEURON 2 "
        "ranks) run one after the other, each round a fresh process (or mpirun job) with a warm-up run and then the "
        "median of its timed runs. CPU s/s: process CPU time per simulated second of each rank. 'identical': the "
        "spike trains of 1 and 2 ranks have the same SHA-256.",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", nargs="+", default=["S1", "S2", "S3", "S4"], choices=KNOWN_SYSTEMS,
                        metavar="NAME", help=f"predefined systems ({', '.join(KNOWN_SYSTEMS)})")
    parser.add_argument("--duration", type=float, default=None,
                        help="simulated ms per timed run (default: 2000, and 1000 for S4)")
    parser.add_argument("--warmup", type=float, default=100.0, help="simulated ms of the untimed first run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per network; the median is reported")
    parser.add_argument("--call-repeats", type=int, default=5, help="1 ms runs to time the per-call cost")
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--fresh-cache", action="store_true",
                        help="compile into an empty temporary Cython cache to time compilation")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--backend", choices=["brian2", "diffrax", "neuron"], default="brian2",
                        help="brian2: livn vs plain brian2 (default); diffrax: the JAX backend's figures; "
                             "neuron: NEURON on 1 and 2 MPI ranks next to brian2 (S2-S4 by default)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="--backend neuron: rounds of (brian2, 1 rank, 2 ranks); medians are reported")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # one system, in this process
    parser.add_argument("--env-worker", default=None, help=argparse.SUPPRESS)  # one system through Env
    add_device_argument(parser)
    args = parser.parse_args(argv)
    use_device(args.device, jax_needed=args.backend == "diffrax")
    if args.repeats < 1 or args.call_repeats < 1 or args.rounds < 1:
        parser.error("--repeats, --call-repeats and --rounds must be >= 1")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be > 0 ms")

    os.environ["LIVN_BRIAN2_TARGET"] = "cython"  # both networks use the Cython target
    if args.env_worker is not None:
        env_worker(args.env_worker, args.backend, args.duration, args.warmup, args.repeats, args.seed, args.json)
        return 0
    if args.worker is not None:
        import brian2 as b2

        b2.prefs.codegen.target = "cython"
        with tempfile.TemporaryDirectory(prefix="livn-bench-cython-") as cache:
            if args.fresh_cache:
                b2.prefs.codegen.runtime.cython.cache_dir = cache
            result = benchmark(args.worker, args.duration, args.warmup, args.repeats, args.seed, args.call_repeats)
        args.json.write_text(json.dumps(result))
        return 0

    command = "uv run python benchmarks/simulate.py " + " ".join(sys.argv[1:] if argv is None else argv)
    info = machine_info()
    if args.backend == "neuron":
        names = ["S2", "S3", "S4"] if args.systems == parser.get_default("systems") else args.systems
        durations = {name: args.duration or DEFAULT_DURATION.get(name, 1000.0) for name in names}
        rows = benchmark_neuron(names, durations, args.rounds, args)
        print(markdown_neuron(rows, info, command.strip()))
        if args.json is not None:
            args.json.write_text(json.dumps({"command": command.strip(), "machine": info, "rows": rows}, indent=2))
        return 0
    if args.backend == "diffrax":
        names = [name for name in args.systems if name != "S4"] if args.systems == parser.get_default("systems") else args.systems
        result = benchmark_diffrax(names, args.duration or 1000.0, args.repeats, args.seed)
        print(markdown_diffrax(result, info, command.strip()))
        if args.json is not None:
            args.json.write_text(json.dumps({"command": command.strip(), "machine": info, **result}, indent=2))
        return 0
    results = []
    for name in args.systems:
        duration = args.duration if args.duration is not None else DEFAULT_DURATION.get(name, 1000.0)
        print(f"[{name}] {duration:g} ms x {args.repeats} ...", file=sys.stderr, flush=True)
        r = run_in_subprocess(name, duration, args)
        print(
            f"[{name}] livn {r['livn_wall_per_sim_s']:.3f} s/s, plain {r['plain_wall_per_sim_s']:.3f} s/s, "
            f"overhead {r['overhead']:.2f}x, rates {r['livn_rate_hz']:.2f} / {r['plain_rate_hz']:.2f} Hz, "
            f"identical spikes: {r['identical_spikes']}",
            file=sys.stderr, flush=True,
        )
        results.append(r)

    print(markdown(results, info, command.strip(), args.fresh_cache))
    if args.json is not None:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps({"command": command.strip(), "machine": info, "results": results}, indent=2))
        tmp.replace(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
