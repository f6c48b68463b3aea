"""Simulation speed of livn's brian2 backend next to the same network written by hand in brian2.

```sh
uv run python benchmarks/simulate.py                        # S1..S4, 2 s (S4: 1 s), 3 repeats
uv run python benchmarks/simulate.py --systems S3 --duration 5000 --repeats 5 --json s3.json
uv run python benchmarks/simulate.py --fresh-cache          # also time Cython compilation from scratch
```

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
            f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['platform']}; "
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
                   "--call-repeats", str(args.call_repeats), "--seed", str(args.seed), "--json", str(out)]
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
    return {"jax": jax.__version__, "device": str(jax.devices()[0]), "speed": speed, "gradient": gradient,
            "batch": batch, "duration_ms": duration}


def markdown_diffrax(result: dict, info: dict, command: str) -> str:
    lines = [
        f"diffrax backend, JAX {result['jax']} on {result['device']}; {info.get('cpu', '?')}, "
        f"{info.get('nproc', '?')} cores. Command: `{command}`",
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
    parser.add_argument("--backend", choices=["brian2", "diffrax"], default="brian2",
                        help="brian2: livn vs plain brian2 (default); diffrax: the JAX backend's figures")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # one system, in this process
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.call_repeats < 1:
        parser.error("--repeats and --call-repeats must be >= 1")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be > 0 ms")

    os.environ["LIVN_BRIAN2_TARGET"] = "cython"  # both networks use the Cython target
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
