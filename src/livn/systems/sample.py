"""Sampling a dataset of stimulated recordings, in the layout of the published livn dataset.

Each sample is one random electrode stimulation (`livn.stimulation.RandomStimulation`)
applied to the culture for `t_end` ms, `trials` times. A row holds

| column | type | meaning |
|---|---|---|
| `seed` | int64 | the sample's seed: it fixes the stimulation and the trials' noise |
| `trials` | int64 | number of trials |
| `t_end` | float64 | length of each trial, ms |
| `features` | list of [channel, amplitude_uA, start_ms, width_ms] (float32) | the stimulation (`pulses_to_features`) |
| `trial_it` | per trial: list of int64 | gids of the spikes |
| `trial_t` | per trial: list of float64 | spike times, ms from the trial start |

Splits: `train` and `test` are noise-free (background noise std 0 nA: the
response is a deterministic function of the stimulation); `train_with_noise`
has the background noise of the system's defaults (tuned ones where the
system was tuned). In the noise-free splits the trials of one sample are
identical, so `trials > 1` only makes sense with noise. `train_with_noise` row i
uses the same seed, hence the same stimulation, as `train` row i, so the two
splits pair up; `test` draws its own seeds.

Sample i of a split depends only on (system, base seed, split, i) and the
plan's settings: not on the number of MPI ranks, on batching, or on
interruptions. Neuron parameters are drawn once from `model_seed` (the same
culture for every sample); the noise of trial k of a sample is keyed by
`fold_in(key(seed), k)`. Simulation uses the batched diffrax backend, the one
that takes a separate noise key per trial.

Layout (a Hugging Face dataset repository, one config per system):

    <out>/README.md                                  front matter lists configs and data files
    <out>/<system>/<split>-00000-of-00004.parquet    shards of `shard_size` samples
    <out>/<system>/livn-sampling.json                the plan, for resuming and provenance

Shards are written atomically under their final names. A run that is killed
keeps its finished shards; running the same command again computes only the
missing ones (a different plan for the same directory is an error). The final
step (`finalize`) checks that every shard is there, removes temporary files
left by killed runs and writes `README.md`.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import livn
from livn._files import atomic_file, write_json
from livn.errors import InvalidArgumentError, describe
from livn.stimulation import RandomStimulation, pulse_inputs, pulses_to_features
from livn.systems.generate import check_writable

#: Split names, in the order they are sampled.
SPLITS = ("train", "test", "train_with_noise")

#: The split whose seeds a split uses: train_with_noise repeats train's stimulations.
SEED_STREAM = {"train": 0, "test": 1, "train_with_noise": 0}

#: Plan file kept next to the shards of a system.
PLAN_FILE = "livn-sampling.json"

#: Memory for one batch of trials' output (one boolean spike flag per neuron and step), bytes.
BATCH_MEMORY = 128 * 2**20  # S1, 5 s trials: 200 per batch (larger batches measured slower)

#: Neuron-trials per batch for networks with more neurons than one spike-delivery group.
#: Under vmap, event-driven delivery costs every trial of a batch as much per step as the
#: busiest trial, so such networks want small batches. S2 (100 neurons, 5 s trials, noise on),
#: 2 s runs timed directly, wall s per trial-second: 6 trials 0.028, 12 trials 0.026, 24 trials
#: 0.033-0.040, one trial alone 0.046 (with `_diffrax_core.BATCH_EVENT_CAPACITY` = 1; with
#: groups of 16, 6 trials were the best).
BATCH_NEURONS = 1200

_SHARD = re.compile(r"^(?P<split>[a-z_]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


def schema():
    """The pyarrow schema of a shard (the published livn dataset's v1 columns)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("seed", pa.int64()),
            ("trials", pa.int64()),
            ("t_end", pa.float64()),
            ("features", pa.list_(pa.list_(pa.float32()))),
            ("trial_it", pa.list_(pa.list_(pa.int64()))),
            ("trial_t", pa.list_(pa.list_(pa.float64()))),
        ]
    )


def sample_seed(base_seed: int, split: str, index: int) -> int:
    """Seed of sample `index` of `split` (non-negative, < 2**63); train and train_with_noise share seeds."""
    words = np.random.SeedSequence([int(base_seed), SEED_STREAM[split], int(index)]).generate_state(2, np.uint32)
    return int(words[0] & 0x7FFFFFFF) << 32 | int(words[1])


def _check_count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an integer >= {minimum}; got {describe(value)}")
    return int(value)


@dataclass(frozen=True)
class SamplingPlan:
    """What to sample: counts, lengths, seeds and sharding (everything a sample depends on).

    - `samples`: samples in `train` and in `train_with_noise`.
    - `test_samples`: samples in `test`.
    - `t_end`: trial length, ms (whole ms).
    - `trials`: trials per sample.
    - `seed`: base seed of the sample seeds.
    - `model_seed`: seed of the neuron parameters (the culture), as `Env(seed=...)`.
    - `shard_size`: samples per parquet shard.
    - `splits`: the splits to write (a subset of `SPLITS`).
    - `stimulation`: the distribution of the random stimulations.
    """

    samples: int
    test_samples: int
    t_end: float = 5000.0
    trials: int = 1
    seed: int = 0
    model_seed: int = 123
    shard_size: int = 1000
    splits: tuple = SPLITS
    stimulation: RandomStimulation = field(default_factory=RandomStimulation)

    def __post_init__(self):
        _check_count(self.samples, "samples", 0)
        _check_count(self.test_samples, "test_samples", 0)
        _check_count(self.trials, "trials", 1)
        _check_count(self.seed, "seed", 0)
        _check_count(self.model_seed, "model_seed", 0)
        _check_count(self.shard_size, "shard_size", 1)
        t_end = self.t_end
        if isinstance(t_end, bool) or not isinstance(t_end, (int, float)) or not math.isfinite(t_end) or t_end <= 0 or t_end != round(t_end):
            raise InvalidArgumentError(f"t_end must be a positive whole number of ms; got {describe(t_end)}")
        object.__setattr__(self, "t_end", float(t_end))
        if not isinstance(self.stimulation, RandomStimulation):
            raise InvalidArgumentError(f"stimulation must be a RandomStimulation; got {describe(self.stimulation)}")
        if self.t_end < self.stimulation.width[1]:
            raise InvalidArgumentError(
                f"t_end ({self.t_end} ms) must be at least the longest pulse width ({self.stimulation.width[1]} ms)"
            )
        splits = (self.splits,) if isinstance(self.splits, str) else tuple(self.splits)
        unknown = [s for s in splits if s not in SPLITS]
        if not splits or unknown or len(set(splits)) != len(splits):
            raise InvalidArgumentError(f"splits must be distinct names from {SPLITS}; got {describe(self.splits)}")
        object.__setattr__(self, "splits", tuple(s for s in SPLITS if s in splits))
        if all(self.split_size(s) == 0 for s in self.splits):
            raise InvalidArgumentError("nothing to sample: every split has 0 samples")

    def split_size(self, split: str) -> int:
        """Number of samples of `split`."""
        return self.test_samples if split == "test" else self.samples

    def num_shards(self, split: str) -> int:
        return math.ceil(self.split_size(split) / self.shard_size)

    def shards(self) -> list[tuple[str, int, int, int]]:
        """Every shard as `(split, index, first sample, stop)`, in sampling order."""
        return [
            (split, k, k * self.shard_size, min((k + 1) * self.shard_size, self.split_size(split)))
            for split in self.splits
            for k in range(self.num_shards(split))
        ]

    def shard_name(self, split: str, index: int) -> str:
        return f"{split}-{index:05d}-of-{self.num_shards(split):05d}.parquet"

    @classmethod
    def from_dict(cls, data: dict) -> "SamplingPlan":
        """Inverse of `to_dict`."""
        try:
            return cls(
                data["samples"], data["test_samples"], data["t_end"], data["trials"], data["seed"],
                data["model_seed"], data["shard_size"], tuple(data["splits"]),
                RandomStimulation.from_dict(data["stimulation"]),
            )
        except (KeyError, TypeError) as e:
            raise InvalidArgumentError(f"not a sampling plan ({e}): {describe(data)}") from None

    def to_dict(self) -> dict:
        return {
            "samples": self.samples,
            "test_samples": self.test_samples,
            "t_end": self.t_end,
            "trials": self.trials,
            "seed": self.seed,
            "model_seed": self.model_seed,
            "shard_size": self.shard_size,
            "splits": list(self.splits),
            "stimulation": self.stimulation.to_dict(),
        }


# -- simulation --------------------------------------------------------------------------------


class Sampler:
    """Simulates samples of a plan on one process: a diffrax `Env` of the system, built once.

    **Arguments**

    - `system`: a `livn.system.System`.
    - `plan`: the `SamplingPlan`.
    - `batch_size`: trials per compiled batched run; default from `BATCH_MEMORY` and,
      for networks larger than one delivery group (16 neurons), `BATCH_NEURONS`.
    """

    def __init__(self, system, plan: SamplingPlan, batch_size: int | None = None):
        from livn.env import Env

        self.system = system
        self.plan = plan
        self.env = Env(system, seed=plan.model_seed, backend="diffrax").init()
        self.env.apply_model_defaults().record_spikes()
        self.noise = self.env.noise  # (mean, std) nA: the defaults, for train_with_noise
        steps = int(round(plan.t_end / self.env.model.dt))
        per_trial = steps * system.num_neurons  # spikes as booleans; voltage is not recorded
        limit = max(1, BATCH_MEMORY // per_trial)
        from livn.backends._diffrax_core import EVENT_CAPACITY

        if system.num_neurons > EVENT_CAPACITY:  # a step's spikes may need several delivery groups
            limit = min(limit, max(1, BATCH_NEURONS // system.num_neurons))
        if batch_size is None:
            rows = plan.shard_size * plan.trials
            batch_size = math.ceil(rows / math.ceil(rows / limit))
        self.batch_size = _check_count(batch_size, "batch_size", 1)

    def stimulation(self, seed: int):
        """The pulses of the sample with this seed (exact in float32, as its `features` hold them)."""
        return self.plan.stimulation.draw(seed, self.plan.t_end, self.env.io.channel_ids)

    def rows(self, split: str, start: int, stop: int, progress=None) -> dict:
        """Columns of samples `start .. stop - 1` of `split` (see the module docstring)."""
        import jax

        plan = self.plan
        mean, std = self.noise
        self.env.set_noise(mean, std if split == "train_with_noise" else 0.0)
        seeds = [sample_seed(plan.seed, split, i) for i in range(start, stop)]
        pulses = [self.stimulation(s) for s in seeds]
        features = [pulses_to_features(p) for p in pulses]
        jobs = [(i, k) for i in range(len(seeds)) for k in range(plan.trials)]
        rows = int(plan.t_end)
        trial_it = [[None] * plan.trials for _ in seeds]
        trial_t = [[None] * plan.trials for _ in seeds]
        for first in range(0, len(jobs), self.batch_size):
            batch = jobs[first : first + self.batch_size]
            stimulus = np.zeros((self.batch_size, rows, self.system.num_neurons), np.float32)
            keys = np.zeros((self.batch_size, 2), np.uint32)
            for b, (i, k) in enumerate(batch):
                inputs = pulse_inputs(pulses[i], plan.t_end, self.env.io.channel_ids)
                stimulus[b] = self.env.cell_stimulus(inputs)
                keys[b] = np.asarray(jax.random.fold_in(_raw_key(seeds[i]), k))
            results = self.env.run(plan.t_end, stimulus, key=keys)
            for b, (i, k) in enumerate(batch):
                trial_it[i][k] = results[b].it.tolist()
                trial_t[i][k] = results[b].t.tolist()
            if progress is not None:
                progress(len({i for i, _ in batch}) if plan.trials == 1 else len(batch) / plan.trials)
        return {
            "seed": seeds,
            "trials": [plan.trials] * len(seeds),
            "t_end": [plan.t_end] * len(seeds),
            "features": [f.tolist() for f in features],
            "trial_it": trial_it,
            "trial_t": trial_t,
        }


def _raw_key(seed: int):
    """A JAX PRNG key (threefry, uint32[2]) holding the 64 bits of `seed`."""
    return np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], dtype=np.uint32)


def write_shard(path: Path, columns: dict) -> None:
    """Write one shard atomically (temporary file, then rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pydict(columns, schema=schema())
    with atomic_file(path, "wb") as f:
        pq.write_table(table, f, compression="zstd")


def _finished(path: Path, expected_rows: int) -> bool:
    """True if `path` is a complete shard of `expected_rows` rows."""
    if not path.is_file():
        return False
    import pyarrow.parquet as pq

    try:
        return pq.read_metadata(path).num_rows == expected_rows
    except Exception:  # noqa: BLE001 - an unreadable file is not a finished shard; it is redone
        return False


# -- the whole job ---------------------------------------------------------------------------


def _plan_record(system, plan: SamplingPlan) -> dict:
    return {
        "system": system.name,
        "system_checksums": system.verify(),
        "tuned_parameters": system.tuned_parameters,
        "plan": plan.to_dict(),
        "backend": "diffrax",
        "schema": "livn v1: seed, trials, t_end, features, trial_it, trial_t",
    }


def _prepare(system, plan: SamplingPlan, out: Path, overwrite: bool) -> Path:
    """Check the output directory and record the plan (rank 0). Returns the system's data directory."""
    check_writable(out)
    directory = out / system.name
    record = _plan_record(system, plan)
    file = directory / PLAN_FILE
    if file.is_file() and not overwrite:
        try:
            previous = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError):
            previous = None
        if not isinstance(previous, dict) or {k: previous.get(k) for k in record} != record:
            changed = [k for k in record if not isinstance(previous, dict) or previous.get(k) != record[k]]
            if "plan" in changed and isinstance(previous, dict) and isinstance(previous.get("plan"), dict):
                changed += [f"plan.{k}" for k in record["plan"] if previous["plan"].get(k) != record["plan"][k]]
            raise InvalidArgumentError(
                f"{directory} holds samples of a different plan (differs in: {', '.join(changed)}); "
                "resume with the same arguments, choose another --out, or pass --overwrite to start again"
            )
    elif directory.exists() and any(directory.iterdir()) and not overwrite and not file.is_file():
        raise InvalidArgumentError(f"{directory} exists and is not a livn dataset directory; choose another --out")
    if overwrite and directory.exists():
        for path in directory.glob("*.parquet"):
            path.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    write_json(file, {**record, "livn_version": livn.__version__})
    return directory


def sample(
    system,
    out: str | os.PathLike,
    plan: SamplingPlan,
    overwrite: bool = False,
    batch_size: int | None = None,
    progress: bool = True,
    comm=None,
) -> Path:
    """Sample a dataset of `system` into `out`, on one process or on all ranks of an MPI job.

    Resumes where a previous run with the same plan stopped (see the module docstring).

    **Arguments**

    - `system`: a predefined name ("S1"), a system directory or a `livn.system.System`.
    - `out`: the dataset directory (created; other systems' configs in it are kept).
    - `plan`: a `SamplingPlan`.
    - `overwrite`: discard this system's shards in `out` and start again.
    - `batch_size`: trials per batched simulation (default: as many as fit in `BATCH_MEMORY`).
    - `progress`: show a progress bar (rank 0) of the samples on disk.
    - `comm`: a `livn._mpi.World` (default: `livn._mpi.world()`).

    **Returns**

    The dataset directory, after `finalize`.
    """
    from livn._mpi import world
    from livn.system import System, make

    comm = world() if comm is None else comm
    with comm.together():
        if not isinstance(plan, SamplingPlan):
            raise InvalidArgumentError(f"plan must be a SamplingPlan; got {describe(plan)}")
        if not isinstance(out, (str, os.PathLike)):
            raise InvalidArgumentError(f"out must be a directory path; got {describe(out)}")
        if batch_size is not None:
            _check_count(batch_size, "batch_size", 1)
        for name, value in (("overwrite", overwrite), ("progress", progress)):
            if not isinstance(value, bool):
                raise InvalidArgumentError(f"{name} must be True or False; got {describe(value)}")
        if not isinstance(system, System):
            system = make(system)
        out = Path(out).expanduser().resolve()
        if comm.is_root:
            directory = _prepare(system, plan, out, overwrite)
    directory = out / system.name
    todo = None
    if comm.is_root:
        todo = [s for s in plan.shards() if not _finished(directory / plan.shard_name(s[0], s[1]), s[3] - s[2])]
    todo = comm.bcast(todo)
    mine = todo[comm.rank :: comm.size]

    with comm.together():
        sampler = Sampler(system, plan, batch_size) if mine else None
    total = sum(plan.split_size(s) for s in plan.splits)
    with comm.progress(total=total, desc=f"livn: sampling {system.name}", unit="sample", disable=not progress) as bar:
        on_disk = total - sum(stop - start for _, _, start, stop in todo)
        bar.update(on_disk)
        done_here = 0.0

        def advance(count):
            nonlocal done_here
            done_here += count
            bar.n = min(total, _samples_on_disk(directory, plan) + int(done_here))
            bar.refresh()

        for split, index, start, stop in mine:
            columns = sampler.rows(split, start, stop, progress=advance if comm.is_root else None)
            write_shard(directory / plan.shard_name(split, index), columns)
            done_here = 0.0
            if comm.is_root:
                advance(0)
    comm.barrier()
    with comm.together():
        if comm.is_root:
            finalize(out)
    return out


def _samples_on_disk(directory: Path, plan: SamplingPlan) -> int:
    return sum(stop - start for split, k, start, stop in plan.shards() if (directory / plan.shard_name(split, k)).is_file())


def missing_shards(directory: Path, plan: SamplingPlan) -> list[str]:
    """Names of the shards of `plan` that are not (completely) in `directory`."""
    return [plan.shard_name(s, k) for s, k, a, b in plan.shards() if not _finished(directory / plan.shard_name(s, k), b - a)]


def finalize(out: str | os.PathLike) -> Path:
    """The merge step: leave `out` a clean dataset that `datasets.load_dataset(out, name=SYSTEM)` reads.

    For every system directory in `out` with a `livn-sampling.json`: checks that
    every shard of its plan is complete (else `InvalidArgumentError` listing the
    missing ones: run the same `sample` command again to resume), removes
    temporary files left by interrupted runs and shards of no plan. Then writes
    `README.md` with the `configs:` front matter (one config per system, one
    data-files entry per split) and a description of the columns.

    **Returns**: `out`.
    """
    out = Path(out).expanduser().resolve()
    if not out.is_dir():
        raise InvalidArgumentError(f"no dataset directory: {out} does not exist")
    systems = {}
    for file in sorted(out.glob(f"*/{PLAN_FILE}")):
        directory = file.parent
        record = json.loads(file.read_text())
        plan = SamplingPlan.from_dict(record["plan"])
        missing = missing_shards(directory, plan)
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise InvalidArgumentError(
                f"{directory} is incomplete: {len(missing)} shard(s) missing ({shown}); "
                "run the same `livn systems sample` command again to finish it"
            )
        expected = {plan.shard_name(s, k) for s, k, _, _ in plan.shards()}
        for path in directory.iterdir():
            if path.name.endswith(".tmp") or (_SHARD.match(path.name) and path.name not in expected):
                path.unlink()
        systems[directory.name] = (record, plan)
    if not systems:
        raise InvalidArgumentError(f"{out} holds no sampled system (no */{PLAN_FILE})")
    with atomic_file(out / "README.md", "w") as f:
        f.write(_readme(systems))
    return out


def _readme(systems: dict) -> str:
    lines = ["---", "configs:"]
    for name, (_, plan) in systems.items():
        lines += [f"- config_name: {name}", "  data_files:"]
        for split in plan.splits:
            if plan.split_size(split):
                lines += [f"  - split: {split}", f"    path: {name}/{split}-*.parquet"]
    lines += ["---", "", "# livn dataset", ""]
    lines += [
        "Recordings of simulated neural cultures on a 16-electrode MEA under random electrode",
        "stimulation, written by `livn systems sample`. Load one system with",
        "`datasets.load_dataset(<this directory>, name=<system>)`.",
        "",
        "Columns: `seed` (int64, fixes the stimulation and the noise), `trials` (int),",
        "`t_end` (trial length, ms), `features` (the stimulation: rows of channel, amplitude uA,",
        "start ms, width ms), `trial_it` (per trial: spiking gids), `trial_t` (per trial: spike",
        "times, ms from the trial start). `train` and `test` are noise-free; `train_with_noise`",
        "repeats `train`'s stimulations (row for row) with the background noise on.",
        "",
        "| system | train | test | train_with_noise | t_end (ms) | trials | seed | model seed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (_, plan) in systems.items():
        counts = [str(plan.split_size(s)) if s in plan.splits else "-" for s in SPLITS]
        lines.append(
            f"| {name} | {' | '.join(counts)} | {plan.t_end:g} | {plan.trials} | {plan.seed} | {plan.model_seed} |"
        )
    lines += ["", f"Written by livn {livn.__version__}. `<system>/{PLAN_FILE}` records each system's plan.", ""]
    return "\n".join(lines)
