"""A compiled brian2 program of a culture, for long one-shot runs (brian2's cpp_standalone device).

Which path runs what:

- `Env.run` on the brian2 backend (runtime mode, `livn.backends.brian2`) keeps the culture's state
  between calls, records voltages and currents, streams, checkpoints and learns (plasticity,
  closed loops). Use it (or another backend) for anything that continues a culture.
- `CompiledCulture.run` (this module) simulates one window from the initial state (t = 0) and
  returns its spikes. The network is the same one: it is built by the same functions
  (`brian2.culture_namespace`, `build_neurons`, `build_synapses`, `stimulus_table`); only the device
  differs. brian2 turns it into a C++ program with OpenMP threads, compiled once per
  (lowered network, window length, stimulus step, threads, livn code, brian2 version) and cached
  on disk under `settings.brian2_standalone_dir()` (`LIVN_BRIAN2_STANDALONE_DIR`). Every run of a
  cached program sets the stimulus, the weights (nS per synapse) and the noise levels through
  brian2's `run_args` (no recompilation) and the noise seed through the environment variable
  `LIVN_NOISE_SEED` that a line livn adds to the program reads (brian2's `run_args` set variables
  and TimedArray values, not the random generators' seeds).

Why a subprocess: brian2's device is process-global. The program is generated and compiled in a
child Python process (`python -m livn.backends.brian2_compiled <directory>`), so the runtime brian2
backend in the calling process keeps its runtime device. Runs call the compiled program directly;
they need no brian2 in the caller at all.

Cache layout: `<cache>/<key>/` is brian2's project directory plus `livn.json` (what the program
reads and writes). It is built in a temporary directory beside it and renamed into place, so
concurrent builders never leave half a program; the first rename wins and the others use it. The key
includes the processor model (brian2 compiles with -march=native).

Threads: `threads` OpenMP threads (default: every core this process may use; 1 builds the program
without OpenMP). The threads meet at barriers several times per 0.1 ms step, so on a machine whose
cores are already busy (oversubscribed) a multi-threaded program can be tens of times slower than
one thread: S3 on 2 loaded cores took 38 wall s per simulated s with 2 threads
(`benchmarks/brian2_compiled.py`). Use `threads=1` on shared machines.

Noise: the compiled program draws from its own generators (a Mersenne Twister per thread, thread k
seeded with seed + 1000003 k). With one thread and the Env's seed its draws were those of the runtime
path (numpy's Mersenne Twister with the same seed and the same polar Gaussian): equal noisy spikes on
S1 (200 ms), equal spike counts on S3 and S4 (1 s), with brian2 2.9; brian2 does not promise it. With
more threads only the statistics agree. Noise-free, the spikes are the runtime path's (same gids and step times).

Units: time ms, injected current nA, weights nS, noise nA.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from livn import settings
from livn.backends.base import STIMULUS_STEP
from livn.errors import InvalidArgumentError, LivnError, describe, numeric_array
from livn.types import RunResult

#: Environment variable the compiled program reads its noise seed from (a non-negative integer).
SEED_VARIABLE = "LIVN_NOISE_SEED"
#: What the build leaves in the project directory: names of the program's variables and files.
MANIFEST = "livn.json"
#: The C++ line that reseeds every thread's generator from `SEED_VARIABLE` before the run.
_SEED_CODE = (
    '{ const char* _livn_seed = getenv("' + SEED_VARIABLE + '"); if (_livn_seed != NULL) {'
    " unsigned long _s = strtoul(_livn_seed, NULL, 10);"
    " for (size_t _k = 0; _k < brian::_random_generators.size(); _k++)"
    " brian::_random_generators[_k].seed(_s + 1000003UL * _k); } }"
)


class CompiledBuildError(LivnError, RuntimeError):
    """brian2 could not generate or compile the standalone program (its output is in the message)."""


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """livn's version and the source of the two modules that define the compiled network, as the
    first build or run of this process read them (an edit while a process runs does not change its keys)."""
    import livn
    from livn.backends import brian2 as runtime

    digest = hashlib.sha256(livn.__version__.encode())
    for module in (runtime.__file__, __file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _brian2_version() -> str:
    from importlib.metadata import version

    return version("brian2")


@functools.lru_cache(maxsize=1)
def _host() -> str:
    """The processor: programs are compiled with -march=native (brian2's default), so a cache shared
    between machines keeps one program per processor model."""
    import platform

    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{platform.machine()} {model}"


def _default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class CompiledCulture:
    """A culture's network, weights and noise levels, run as compiled brian2 programs.

    Build it with `from_env`; `run` compiles a program for each new (duration, stimulus_step) the
    first time (tens of seconds), then reuses it from the disk cache.

    **Arguments**

    - `network`: the `LoweredNetwork`.
    - `weights`: float array `[num_edges]`, nS per synapse.
    - `noise`: `(mean, std)` of the background current, nA.
    - `seed`: the default noise seed (non-negative integer).
    - `threads`: OpenMP threads (positive integer; default: the cores this process may use).
    - `cache_dir`: where programs are cached (default `settings.brian2_standalone_dir()`).
    """

    def __init__(self, network, weights, noise, seed: int = 0, threads: int | None = None, cache_dir=None):
        self.network = network
        weights = numeric_array(weights, "weights", "nS per synapse")
        if weights.shape != (network.num_edges,) or not np.all(np.isfinite(weights)):
            raise InvalidArgumentError(
                f"weights must be {network.num_edges} finite numbers of nS (one per synapse); got {describe(weights)}"
            )
        self.weights = np.asarray(weights, dtype=float)
        if not isinstance(noise, (tuple, list)) or len(noise) != 2 or not all(
            isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(x) for x in noise
        ) or noise[1] < 0:
            raise InvalidArgumentError(f"noise must be (mean, std) in nA with std >= 0; got {describe(noise)}")
        self.noise = (float(noise[0]), float(noise[1]))
        self.seed = _check_seed(seed)
        if threads is None:
            threads = _default_threads()
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
            raise InvalidArgumentError(f"threads must be a positive integer; got {describe(threads)}")
        self.threads = int(threads)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else settings.brian2_standalone_dir()
        #: Programs compiled by this object (count), for callers that want to know a run reused the cache.
        self.builds = 0

    @classmethod
    def from_env(cls, env, threads: int | None = None, cache_dir=None) -> "CompiledCulture":
        """The network, weights (per synapse when the backend holds them) and noise of `env` (an `Env`)
        as they are now; later changes to `env` do not reach this object. The noise seed defaults to
        `env.seed`."""
        from livn.env import Env
        from livn.models import lower

        if not isinstance(env, Env):
            raise InvalidArgumentError(f"env must be a livn.Env; got {describe(env)}")
        backend = env.backend
        network = backend.lowered if backend is not None else lower(env.system, env.model, env.seed)
        if backend is not None and hasattr(backend, "synapse_weights"):
            weights = np.asarray(backend.synapse_weights(), dtype=float)
        else:
            weights = np.zeros(network.num_edges)
            for name, value in env.weights.items():
                if name in network.projections:
                    weights[network.edges_of(name)] = value
        return cls(network, weights, env.noise, seed=env.seed, threads=threads, cache_dir=cache_dir)

    # -- programs ----------------------------------------------------------------------------

    def program_key(self, duration: float, stimulus_step: float) -> str:
        """The cache key (hex) of the program for windows of `duration` ms with stimulus rows of
        `stimulus_step` ms."""
        digest = hashlib.sha256()
        digest.update(self.network.fingerprint().encode())
        digest.update(repr((self._steps(duration), round(stimulus_step / self.network.dt), self.threads)).encode())
        digest.update(_code_version().encode())
        digest.update(_brian2_version().encode())
        digest.update(_host().encode())
        return digest.hexdigest()[:32]

    def program(self, duration: float, stimulus_step: float = STIMULUS_STEP) -> Path:
        """The project directory of the program for (`duration`, `stimulus_step`) ms, compiled now if it
        is not cached."""
        duration, stimulus_step = self._check_window(duration, stimulus_step)
        path = self.cache_dir / self.program_key(duration, stimulus_step)
        if not (path / MANIFEST).is_file():
            self._build(path, duration, stimulus_step)
        return path

    def _build(self, path: Path, duration: float, stimulus_step: float) -> None:
        request = {
            "network": self.network, "duration": duration, "stimulus_step": stimulus_step,
            "threads": self.threads,
        }
        # Not `livn._files.atomic_directory`: that replaces a directory which appeared meanwhile, and a
        # concurrent builder's program may be running from it. os.rename onto a non-empty directory fails
        # instead, so the first finished build stays and later ones are dropped.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            (tmp / "request.pkl").write_bytes(pickle.dumps(request))
            done = subprocess.run(
                [sys.executable, "-m", "livn.backends.brian2_compiled", str(tmp)], capture_output=True, text=True,
            )
            if done.returncode != 0 or not (tmp / MANIFEST).is_file():
                raise CompiledBuildError(
                    f"building the brian2 standalone program failed (exit {done.returncode}):\n"
                    f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
                )
            (tmp / "request.pkl").unlink()
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, path)
            except OSError:
                if not (path / MANIFEST).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # a failed build, or the copy a concurrent builder beat
        self.builds += 1

    # -- running -----------------------------------------------------------------------------

    def run(self, duration: float, stimulus=None, stimulus_step: float = STIMULUS_STEP, seed: int | None = None):
        """Simulate one window of `duration` ms from the initial state (t = 0) and return its spikes.

        **Arguments**

        - `duration`: ms, positive, a whole number of integration steps.
        - `stimulus`: None, or `[T, n_neurons]` injected current in nA, row k applied during
          [k, k + 1) * `stimulus_step` ms; 1 <= T <= ceil(duration / stimulus_step); rows after T are zero.
          (`env.cell_stimulus(inputs)` maps electrode currents to it.)
        - `stimulus_step`: ms per stimulus row, a positive multiple of the integration step.
        - `seed`: noise seed, a non-negative integer (default: the seed given at construction).

        **Returns**: `RunResult(it, t, None, None)` with every neuron's spikes (gids, ms from the
        window's start, sorted by time then gid, rounded to 1e-6 ms) and `duration`.
        """
        duration, stimulus_step = self._check_window(duration, stimulus_step)
        seed = self.seed if seed is None else _check_seed(seed)
        rows = self._rows(duration, stimulus_step)
        n = self.network.num_neurons
        if stimulus is not None:
            stimulus = numeric_array(stimulus, "stimulus", "a numeric array of injected currents in nA")
            if stimulus.ndim != 2 or stimulus.shape[1] != n or not 1 <= stimulus.shape[0] <= rows - 1:
                raise InvalidArgumentError(
                    f"stimulus must have shape [T, {n}] (nA per neuron, {stimulus_step:g} ms per row) with "
                    f"1 <= T <= {rows - 1} for a {duration} ms run; got {describe(stimulus)}"
                )
            if not np.all(np.isfinite(stimulus)):
                raise InvalidArgumentError("stimulus contains NaN or infinite values")
        project = self.program(duration, stimulus_step)
        manifest = json.loads((project / MANIFEST).read_text())
        with tempfile.TemporaryDirectory(prefix="livn_run_") as scratch:
            scratch = Path(scratch)
            table = np.zeros((rows, n))
            if stimulus is not None:
                table[: stimulus.shape[0]] = stimulus
            args = [f"{manifest['stimulus']}={_write(scratch / 'stimulus.dat', table * 1e-9)}"]
            for name, variable in manifest["weights"].items():
                edges = self.network.edges_of(name)
                args.append(f"{variable}={_write(scratch / f'w_{name}.dat', self.weights[edges])}")
            mean, std = self.noise
            args += [f"{manifest['noise_mean']}={mean * 1e-9!r}", f"{manifest['noise_std']}={std * 1e-9!r}",
                     f"{manifest['noise_start']}={mean * 1e-9!r}"]
            results = scratch / "results"
            results.mkdir()
            environment = dict(os.environ, **{SEED_VARIABLE: str(seed), "OMP_NUM_THREADS": str(self.threads)})
            done = subprocess.run(
                [str(project / "main"), "--results_dir", f"{results}/", *args],
                cwd=project, env=environment, capture_output=True, text=True,
            )
            if done.returncode != 0:
                raise CompiledBuildError(
                    f"the compiled brian2 program {project} failed (exit {done.returncode}):\n"
                    f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
                )
            gids = np.fromfile(results / manifest["spike_i"][0], dtype=manifest["spike_i"][1]).astype(np.int64)
            times = np.fromfile(results / manifest["spike_t"][0], dtype=manifest["spike_t"][1])
        steps = np.rint(times * 1e3 / self.network.dt).astype(np.int64)
        order = np.lexsort((gids, steps))
        it, t = gids[order], np.round(steps[order] * self.network.dt, 6)
        return RunResult(it, t, None, None, duration=duration)

    def run_many(self, duration: float, stimuli, stimulus_step: float = STIMULUS_STEP, seeds=None) -> list:
        """`run` for each stimulus of `stimuli` (a sequence of `[T, n]` nA arrays or None), with the matching
        seed of `seeds` (default: the construction seed for every run); one compiled program serves all."""
        stimuli = list(stimuli)
        if seeds is None:
            seeds = [None] * len(stimuli)
        seeds = list(seeds)
        if len(seeds) != len(stimuli):
            raise InvalidArgumentError(f"seeds must have one entry per stimulus ({len(stimuli)}); got {len(seeds)}")
        return [self.run(duration, s, stimulus_step, seed) for s, seed in zip(stimuli, seeds)]

    # -- arguments ---------------------------------------------------------------------------

    def _steps(self, duration: float) -> int:
        return int(round(duration / self.network.dt))

    def _rows(self, duration: float, stimulus_step: float) -> int:
        """Stimulus table rows: every row the window can use, plus a zero row (a TimedArray holds its last)."""
        return math.ceil(duration / stimulus_step - 1e-9) + 1

    def _check_window(self, duration, stimulus_step) -> tuple[float, float]:
        dt = self.network.dt
        for name, value in (("duration", duration), ("stimulus_step", stimulus_step)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
                math.isfinite(value) and value > 0
            ):
                raise InvalidArgumentError(f"{name} must be a positive number of ms; got {describe(value)}")
            if abs(value / dt - round(value / dt)) > 1e-6:
                raise InvalidArgumentError(f"{name} must be a whole number of integration steps ({dt} ms); got {value}")
        return round(duration / dt) * dt, round(stimulus_step / dt) * dt

    def __repr__(self) -> str:
        return (f"CompiledCulture({self.network.system_name!r}, {self.network.num_neurons} neurons, "
                f"threads={self.threads}, cache={str(self.cache_dir)!r})")


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgumentError(f"seed must be a non-negative integer; got {describe(seed)}")
    return int(seed)


def _write(path: Path, values: np.ndarray) -> str:
    """Write float64 `values` raw (C order) for a brian2 run argument; return the path."""
    np.ascontiguousarray(values, dtype=np.float64).tofile(path)
    return str(path)


# -- the build, in a child process (brian2's device is process-global) ---------------------------


def _generate(directory: Path) -> None:
    """Generate and compile the program described by `directory/request.pkl` into `directory`."""
    from livn.backends import brian2 as runtime

    request = pickle.loads((directory / "request.pkl").read_bytes())
    network, duration = request["network"], request["duration"]
    b2 = runtime._brian2()
    b2.set_device("cpp_standalone", build_on_run=False, directory=str(directory))
    # One thread: no OpenMP at all (no parallel regions, no barriers at every step).
    b2.prefs.devices.cpp_standalone.openmp_threads = request["threads"] if request["threads"] > 1 else 0
    device = b2.get_device()

    namespace = runtime.culture_namespace(network.model)
    rows = math.ceil(duration / request["stimulus_step"] - 1e-9) + 1
    table = runtime.stimulus_table(None, network.num_neurons, request["stimulus_step"], rows=rows)
    namespace["livn_stimulus"] = table
    clock = b2.Clock(dt=network.dt * b2.ms, name="livn_clock")
    neurons = runtime.build_neurons(network, clock)
    synapses = {name: runtime.build_synapses(network, neurons, clock, name) for name in network.projections}
    spikes = b2.SpikeMonitor(neurons, name="livn_spikes")
    net = b2.Network(neurons, *synapses.values(), spikes, name="livn_network")
    device.insert_code("before_network_run", _SEED_CODE)
    net.run(duration * b2.ms, namespace=namespace, report=None)
    device.build(directory=str(directory), compile=True, run=False, with_output=False)

    def result_file(variable) -> list:
        return [device.get_array_filename(variable), np.dtype(variable.dtype).str]

    manifest = {
        "stimulus": f"{table.name}.values",
        "weights": {name: f"{syn.name}.w" for name, syn in synapses.items()},
        "noise_mean": f"{neurons.name}.noise_mean",
        "noise_std": f"{neurons.name}.noise_std",
        "noise_start": f"{neurons.name}.I_noise",
        "spike_i": result_file(spikes.variables["i"]),
        "spike_t": result_file(spikes.variables["t"]),
        "duration": duration, "stimulus_step": request["stimulus_step"], "threads": request["threads"],
        "brian2": _brian2_version(),
    }
    shutil.rmtree(directory / "results", ignore_errors=True)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    _generate(Path(sys.argv[1]))
