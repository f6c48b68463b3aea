"""Tuning a system's synaptic weights and background noise to statistics of cultures in vitro.

A multi-objective search (Optuna's NSGA-II) over the peak conductance of each
projection (nS, log-uniform in `WEIGHT_RANGE`) and the standard deviation of
the background current (nA, log-uniform in `NOISE_STD_RANGE`; its mean stays
the model's). Each evaluation simulates the unstimulated culture for
`duration` ms from t = 0 and measures four statistics (`livn.analysis.summarize`);
the objectives are their distances to the targets, all minimised:

| statistic | target (default) | distance |
|---|---|---|
| `mean_rate` (Hz) | 2.0 | abs(ln((x + 0.1) / (target + 0.1))) |
| `isi_cv` | 1.5 | abs(x - target); no neuron with 5 spikes counts as x = 0 |
| `active_fraction` | 0.8 | abs(x - target) |
| `burst_rate` (per min) | 6.0 | abs(ln((x + 0.1) / (target + 0.1))) |

The defaults are typical values of dissociated rat cortical cultures on MEAs
after two to four weeks in vitro: mean rates of a few Hz, firing organised in
network bursts a few times per minute, inter-spike intervals more irregular
than Poisson (CV > 1), most neurons active (Wagenaar, Pine & Potter 2006,
BMC Neuroscience 7:11; Chiappalone et al. 2006, Brain Research 1093:41-53).
They vary widely between preparations, so override them with a YAML of the
same keys (`--targets`).

With `noise_seeds` K > 1 every parameter set is simulated K times, with the
Env's own noise stream and K - 1 other noise keys (`jax.random.fold_in(run_key, k)`,
k = 1 .. K - 1; backends with the `noise_keys` capability), on the same culture,
and each objective is the mean of the K distances (not the distance of the mean
statistics); the recorded statistics are the means over the seeds (an `isi_cv`
that is undefined on a seed is left out of its mean), each seed's are kept too.
K = 1 simulates exactly what earlier versions did.

The first evaluation is the system's current defaults (what
`Env.apply_model_defaults()` sets), so the search never reports worse than
where it started. The study lives in `<out>/study.sqlite3`
(`livn.systems.tune_study`): every finished evaluation is stored before the
next is asked for, and `resume=True` (`--resume`) continues a killed run; an
existing study without it is an error, and one with other settings is refused. Under MPI, rank 0 holds the study and asks for one trial per
rank; every rank simulates its trial on its own culture; rank 0 tells the
results. The Pareto front is written to `<out>/pareto.json` (every trial, the
front and the chosen point) and `<out>/pareto.png`. The chosen point, the
Pareto trial with the smallest sum of distances, is promoted into the system
directory as `tuned.json` (see `livn.system.System.tuned_parameters`) and
listed with its checksum in `system.json`, atomically as a whole
(`livn.system_directory.add_files`): a crash leaves the old tuned state or the new one.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

import livn
from livn import system_directory as layout
from livn._files import atomic_file, write_json
from livn.errors import InvalidArgumentError, MissingSystemFileError, UnknownNameError, describe
from livn.system import check_tuned_parameters
from livn.systems.tune_study import STUDY_FILE, close_study, completed_trials, finished_count, open_study, reseed

#: Default target statistics (see the module docstring).
DEFAULT_TARGETS = {"mean_rate": 2.0, "isi_cv": 1.5, "active_fraction": 0.8, "burst_rate": 6.0}

#: Search range of each projection's weight, nS (log-uniform).
WEIGHT_RANGE = (0.1, 30.0)
#: Search range of the background current's standard deviation, nA (log-uniform).
NOISE_STD_RANGE = (0.01, 0.5)

_OFFSET = {"mean_rate": 0.1, "burst_rate": 0.1}  # Hz, per min: keeps log distances finite at zero


def load_targets(targets=None) -> dict:
    """Target statistics: `DEFAULT_TARGETS` updated by a dict or a YAML file of the same keys."""
    merged = dict(DEFAULT_TARGETS)
    if targets is None:
        return merged
    source = "targets"
    if isinstance(targets, (str, os.PathLike)):
        source = str(targets)
        if not Path(targets).is_file():
            raise MissingSystemFileError(f"no targets file: {targets} does not exist")
        try:
            targets = yaml.safe_load(Path(targets).read_text())
        except (OSError, yaml.YAMLError) as e:
            raise InvalidArgumentError(f"{source} is not valid YAML: {e}") from None
    if not isinstance(targets, dict) or not targets:
        raise InvalidArgumentError(f"{source} must be a mapping with some of {list(DEFAULT_TARGETS)}; got {describe(targets)}")
    for key, value in targets.items():
        if key not in DEFAULT_TARGETS:
            raise UnknownNameError(f"{source}: unknown target {key!r}; known targets: {list(DEFAULT_TARGETS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidArgumentError(f"{source}: target {key} must be a finite number >= 0; got {describe(value)}")
        if key == "active_fraction" and value > 1:
            raise InvalidArgumentError(f"{source}: target active_fraction must be in [0, 1]; got {value}")
        merged[key] = float(value)
    return merged


def distances(statistics: dict, targets: dict) -> list[float]:
    """The four objectives: distances of `statistics` to `targets` (see the module docstring)."""
    result = []
    for key, target in targets.items():
        value = statistics[key]
        if key in _OFFSET:
            result.append(abs(math.log((value + _OFFSET[key]) / (target + _OFFSET[key]))))
        else:
            result.append(abs((0.0 if math.isnan(value) else value) - target))
    return result


@dataclass(frozen=True)
class TuningPlan:
    """Settings of a tuning run: `budget` evaluations of `duration` ms each, NSGA-II `population`, `seed`
    (of the optimiser; the simulations use the Env's default seed), `backend`, and `noise_seeds` simulations
    per evaluation whose objectives are averaged."""

    budget: int
    targets: dict = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    duration: float = 10000.0
    population: int = 50
    seed: int = 0
    backend: str = "diffrax"
    noise_seeds: int = 1

    @classmethod
    def create(cls, budget, targets=None, duration=10000.0, population=None, seed=0, backend=None,
               noise_seeds=1) -> "TuningPlan":
        """A checked plan; `targets` a dict or YAML path; `population` default `min(50, max(2, budget // 4))`;
        `noise_seeds` >= 1 (more than 1 needs a backend with the `noise_keys` capability: diffrax)."""
        from livn.backends import backend_class, backend_name, require
        from livn.backends.base import NOISE_KEYS

        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 2:
            raise InvalidArgumentError(f"budget must be an integer >= 2 (evaluations); got {describe(budget)}")
        if population is None:
            population = min(50, max(2, int(budget) // 4))
        if isinstance(population, bool) or not isinstance(population, (int, np.integer)) or population < 2:
            raise InvalidArgumentError(f"population must be an integer >= 2; got {describe(population)}")
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration) or duration <= 0:
            raise InvalidArgumentError(f"duration must be a positive number of ms; got {describe(duration)}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidArgumentError(f"seed must be a non-negative integer; got {describe(seed)}")
        if isinstance(noise_seeds, bool) or not isinstance(noise_seeds, (int, np.integer)) or noise_seeds < 1:
            raise InvalidArgumentError(f"noise_seeds must be an integer >= 1; got {describe(noise_seeds)}")
        backend = backend_name(backend or "diffrax")
        if noise_seeds > 1:
            require(backend_class(backend), NOISE_KEYS, "noise_seeds > 1 (--noise-seeds)")
        return cls(int(budget), load_targets(targets), float(duration), int(population), int(seed), backend,
                   int(noise_seeds))


class Evaluator:
    """Simulates one parameter set on a culture built once (per rank) and returns statistics and objectives."""

    def __init__(self, system, plan: TuningPlan):
        from livn.env import Env

        self.plan = plan
        self.env = Env(system, backend=plan.backend).init().apply_model_defaults().record_spikes()
        self.num_neurons = system.num_neurons
        self.noise_mean = self.env.noise[0]

    def __call__(self, params: dict) -> dict:
        """`statistics` (means over the noise seeds), `objectives` (mean distances) and, for several
        seeds, `statistics_per_seed`."""
        self.env.clear()
        self.env.set_weights({k[len("w_"):]: v for k, v in params.items() if k.startswith("w_")})
        self.env.set_noise(self.noise_mean, params["noise_std"])
        per_seed = [self._measure(None)]
        for k in range(1, self.plan.noise_seeds):
            import jax

            self.env.clear()
            per_seed.append(self._measure(jax.random.fold_in(self.env.run_key, k)))
        objectives = [distances(statistics, self.plan.targets) for statistics in per_seed]
        if len(per_seed) == 1:
            return {"statistics": per_seed[0], "objectives": objectives[0]}
        return {
            "statistics": _mean_statistics(per_seed),
            "statistics_per_seed": per_seed,
            "objectives": [sum(column) / len(column) for column in zip(*objectives)],
        }

    def _measure(self, key) -> dict:
        """The four statistics of one run from t = 0 (`key`: a JAX noise key, or None for the Env's stream)."""
        from livn.analysis import summarize

        it, t, _, _ = self.env.run(self.plan.duration, key=key)
        summary = summarize(it, t, self.num_neurons, self.plan.duration)
        return {key: getattr(summary, key) for key in DEFAULT_TARGETS}


def _mean_statistics(per_seed: list[dict]) -> dict:
    """Each statistic's mean over the seeds; undefined (NaN) values are left out, NaN if all are."""
    mean = {}
    for key in DEFAULT_TARGETS:
        values = [s[key] for s in per_seed if not math.isnan(s[key])]
        mean[key] = sum(values) / len(values) if values else float("nan")
    return mean


def _suggest(trial, projections: list[str]) -> dict:
    params = {f"w_{name}": trial.suggest_float(f"w_{name}", *WEIGHT_RANGE, log=True) for name in projections}
    params["noise_std"] = trial.suggest_float("noise_std", *NOISE_STD_RANGE, log=True)
    return params


def _current_defaults(env, projections: list[str]) -> dict:
    """The parameters of `env` (after `apply_model_defaults()`: tuned or the model's), clipped to the search space."""
    weights = env.weights
    clip = lambda value, bounds: float(min(max(value, bounds[0]), bounds[1]))  # noqa: E731
    start = {f"w_{p}": clip(weights[p], WEIGHT_RANGE) for p in projections}
    start["noise_std"] = clip(env.noise[1], NOISE_STD_RANGE)
    return start


@dataclass
class TuningResult:
    """What a tuning run found: every trial, the Pareto front and the chosen point."""

    system: str
    targets: dict
    trials: list  # completed evaluations, by trial number: dicts of number, params, statistics, objectives
    pareto: list  # trial numbers
    chosen: int  # trial number
    out: Path
    promoted: Path | None
    seconds: float  # this run's
    stored: int = 0  # evaluations a previous (interrupted) run had completed

    @property
    def chosen_trial(self) -> dict:
        return next(t for t in self.trials if t["number"] == self.chosen)

    def report(self) -> str:
        c = self.chosen_trial
        resumed = f" ({self.stored} from the stored study)" if self.stored else ""
        lines = [
            f"system          {self.system}: {len(self.trials)} evaluations{resumed}, this run "
            f"{self.seconds:.1f} s, {len(self.pareto)} on the Pareto front",
            "chosen          " + ", ".join(f"{k[2:] if k.startswith('w_') else k} {v:.3g}" for k, v in c["params"].items()),
        ]
        for (key, target), value, distance in zip(self.targets.items(), c["statistics"].values(), c["objectives"]):
            lines.append(f"{key:<16}{value:.3g} (target {target:g}, distance {distance:.3f})")
        lines.append(f"pareto front    {self.out / 'pareto.json'}, {self.out / 'pareto.png'}")
        lines.append(f"study           {self.out / STUDY_FILE} (continue with --resume)")
        if self.promoted:
            lines.append(f"promoted to     {self.promoted}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "system": self.system,
            "targets": self.targets,
            "objectives": [f"distance_{key}" for key in self.targets],
            "search_space": {"weights_nS": list(WEIGHT_RANGE), "noise_std_nA": list(NOISE_STD_RANGE)},
            "chosen": self.chosen,
            "pareto": self.pareto,
            "trials": self.trials,
            "seconds": round(self.seconds, 3),
            "livn_version": livn.__version__,
        }


def tune(system, plan: TuningPlan, out=None, promote: bool = True, progress: bool | None = None, comm=None,
         resume: bool = False) -> TuningResult:
    """Tune `system` (a name, directory or `System`) by `plan`; writes the front to `out` and promotes the chosen point.

    **Arguments**

    - `system`: a predefined name ("S1"), a system directory or a `livn.system.System`.
    - `plan`: a `TuningPlan` (see `TuningPlan.create`).
    - `out`: directory for the study (`study.sqlite3`), `pareto.json` and `pareto.png`
      (default `./livn-tune-<system>`).
    - `promote`: write the chosen point into the system directory (`tuned.json`).
    - `progress`: progress bar on rank 0 (to stderr); None: only when stderr is a terminal.
    - `comm`: a `livn._mpi.World` (default `livn._mpi.world()`).
    - `resume`: continue the study stored in `out` (or start one if there is none). Without it
      a study in `out` is an error. Its settings (all of `plan` but `budget`, and the system)
      must be the stored ones; `budget` counts every completed evaluation, stored ones included.

    **Returns**: a `TuningResult` on rank 0, None on the other ranks.
    """
    from livn._mpi import world
    from livn.models import projection_name
    from livn.system import System, make
    from livn.systems.generate import check_writable

    comm = world() if comm is None else comm
    study = None
    try:
        with comm.together():
            if not isinstance(plan, TuningPlan):
                raise InvalidArgumentError(f"plan must be a TuningPlan; got {describe(plan)}")
            if out is not None and not isinstance(out, (str, os.PathLike)):
                raise InvalidArgumentError(f"out must be a directory path or None; got {describe(out)}")
            for name, value in (("promote", promote), ("resume", resume)):
                if not isinstance(value, bool):
                    raise InvalidArgumentError(f"{name} must be True or False; got {describe(value)}")
            if progress is not None and not isinstance(progress, bool):
                raise InvalidArgumentError(
                    f"progress must be True, False or None (only on a terminal); got {describe(progress)}"
                )
            if not isinstance(system, System):
                system = make(system)
            out = Path(out if out is not None else f"livn-tune-{system.name}").expanduser().resolve()
            projections = [projection_name(pre, post) for pre, post in system.projections]
            if comm.is_root:
                check_writable(out)
                if promote:
                    check_writable(Path(system.uri))
                study, _ = open_study(out, study_settings(system.name, projections, plan), resume,
                                      plan.population, plan.seed)
        with comm.together():
            evaluate = Evaluator(system, plan)
            if comm.is_root and not study.trials:  # a new study starts where the system is
                study.enqueue_trial(_current_defaults(evaluate.env, projections))
        return _search(study, evaluate, system, plan, projections, out, promote, progress, comm)
    finally:
        if study is not None:
            close_study(out)


def study_settings(system_name: str, projections: list[str], plan: TuningPlan) -> dict:
    """What identifies a study: the system, its projections, the search space and all of `plan` but `budget`."""
    return {
        "system": system_name, "projections": list(projections), "targets": dict(plan.targets),
        "duration_ms": plan.duration, "population": plan.population, "seed": plan.seed, "backend": plan.backend,
        "noise_seeds": plan.noise_seeds,
        "search_space": {"weights_nS": list(WEIGHT_RANGE), "noise_std_nA": list(NOISE_STD_RANGE)},
    }


def _search(study, evaluate, system, plan, projections, out, promote, progress, comm):
    """Ask, evaluate (one trial per rank) and tell until `plan.budget` evaluations are complete; then report."""
    started = time.perf_counter()
    stored = done = comm.bcast(finished_count(study) if comm.is_root else None)
    show = sys.stderr.isatty() if progress is None else progress
    with comm.progress(total=plan.budget, initial=min(done, plan.budget), desc=f"livn: tuning {system.name}",
                       unit="eval", disable=not show) as bar:
        while done < plan.budget:
            count = min(comm.size, plan.budget - done)
            asked = work = None
            if comm.is_root:
                asked = []
                for position in range(count):
                    reseed(study, plan.population, plan.seed, done + position)
                    trial = study.ask()
                    asked.append((trial, _suggest(trial, projections)))  # suggested with this trial's sampler
                work = [params for _, params in asked] + [None] * (comm.size - count)
            params = comm.scatter(work)
            result = None
            with comm.together():
                result = evaluate(params) if params is not None else None
            results = comm.gather(result)
            if comm.is_root:
                for (trial, _), r in zip(asked, results):
                    for key, value in r.items():
                        if key != "objectives":
                            trial.set_user_attr(key, value)
                    study.tell(trial, r["objectives"])  # committed: a kill from here on keeps this evaluation
            done += count
            bar.update(count)
    seconds = time.perf_counter() - started

    result = None
    with comm.together():
        if comm.is_root:
            names = [f"w_{p}" for p in projections] + ["noise_std"]
            records = completed_trials(study, names)
            by_number = {r["number"]: r for r in records}
            pareto = sorted(t.number for t in study.best_trials)
            chosen = min(pareto, key=lambda n: (sum(by_number[n]["objectives"]), n))
            promoted = None
            if promote:
                promoted = promote_parameters(system.uri, by_number[chosen], plan, evaluate.noise_mean)
            result = TuningResult(system.name, plan.targets, records, pareto, chosen, out, promoted, seconds, stored)
            write_json(out / "pareto.json", {**result.to_dict(), "plan": {
                "budget": plan.budget, "duration_ms": plan.duration, "population": plan.population,
                "seed": plan.seed, "backend": plan.backend, "noise_seeds": plan.noise_seeds, "ranks": comm.size},
                "study": {"file": STUDY_FILE, "name": study.study_name, "stored_before_this_run": stored}})
            plot_front(result, out / "pareto.png")
    return result


def promote_parameters(system_dir, trial: dict, plan: TuningPlan, noise_mean: float) -> Path:
    """Write a trial's weights (nS) and noise (nA) into `system_dir` as `tuned.json`, listed in `system.json`.

    **Arguments**

    - `system_dir`: the system directory.
    - `trial`: a trial record: `number`, `params` (`w_<projection>` in nS, `noise_std` in nA),
      `statistics` and `objectives`.
    - `plan`: the `TuningPlan` that found it.
    - `noise_mean`: the background current's mean (nA) the trial ran with (not searched).

    **Returns**

    The path of the file that holds `tuned.json`. The file and its checksum in
    `system.json` are committed together (`livn.system_directory.add_files`).
    """
    if not isinstance(system_dir, (str, os.PathLike)):
        raise InvalidArgumentError(f"system_dir must be a system directory path; got {describe(system_dir)}")
    if not isinstance(trial, dict) or not {"number", "params", "statistics", "objectives"} <= set(trial):
        raise InvalidArgumentError(
            f"trial must be a dict with number, params, statistics and objectives; got {describe(trial)}"
        )
    if not isinstance(plan, TuningPlan):
        raise InvalidArgumentError(f"plan must be a TuningPlan; got {describe(plan)}")
    params = trial["params"]
    if not isinstance(params, dict) or "noise_std" not in params:
        raise InvalidArgumentError(f"trial['params'] must be a dict with noise_std (nA); got {describe(params)}")
    tuned = check_tuned_parameters(
        {
            "weights": {k[len("w_"):]: v for k, v in params.items() if k.startswith("w_")},
            "noise": {"mean": noise_mean, "std": params["noise_std"]},
        },
        "trial",
    )
    data = {
        **tuned,
        "statistics": trial["statistics"],
        "targets": plan.targets,
        "objectives": trial["objectives"],
        "found_by": {
            "method": "NSGA-II (optuna)", "budget": plan.budget, "duration_ms": plan.duration,
            "seed": plan.seed, "backend": plan.backend, "trial": trial["number"], "livn_version": livn.__version__,
        },
        "units": {"weights": "nS", "noise": "nA", "mean_rate": "Hz", "burst_rate": "per min"},
    }
    return layout.add_files(system_dir, {layout.TUNED_FILE: data})[layout.TUNED_FILE]


def plot_front(result: TuningResult, path: Path) -> None:
    """Two panels of objectives (rate vs burst rate, ISI CV vs active fraction): all trials, the front, the chosen point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.array([t["objectives"] for t in result.trials])
    row = {t["number"]: i for i, t in enumerate(result.trials)}
    front = np.array([row[n] for n in result.pareto], dtype=int)
    keys = list(result.targets)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, (i, j) in zip(axes, [(0, 3), (1, 2)]):
        ax.scatter(values[:, i], values[:, j], s=12, c="0.7", label="trials")
        ax.scatter(values[front, i], values[front, j], s=24, c="tab:red", label="Pareto front")
        ax.scatter(values[row[result.chosen], i], values[row[result.chosen], j], s=160, marker="*", c="k", label="chosen")
        ax.set_xlabel(f"distance: {keys[i]}")
        ax.set_ylabel(f"distance: {keys[j]}")
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(f"{result.system}: {len(result.trials)} evaluations, targets "
                 + ", ".join(f"{k} {v:g}" for k, v in result.targets.items()), fontsize=9)
    fig.tight_layout()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
