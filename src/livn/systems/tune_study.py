"""The Optuna study of a tuning run, kept on disk so that a killed run can continue.

A tuning run (`livn.systems.tune`) keeps its study in Optuna's RDB storage: the SQLite
file `study.sqlite3` in the output directory. Every finished evaluation is committed
there (its parameters, the measured statistics and the objectives) before the next
one is asked for, so `kill -9` loses at most the evaluations in progress.

- `open_study(out, settings, resume)` creates the study, or with `resume=True`
  continues the one in `out` (and creates it when there is none, so that a cluster job
  that always passes `--resume` can be resubmitted). A study whose settings differ
  from `settings` is refused, naming the settings that differ.
- Evaluations that were running when the previous process died are marked failed and
  their parameters queued again, so they are evaluated once more and never counted
  twice or half.
- `completed_trials(study, names)` rebuilds the trial records from the storage.
- `reseed(study, settings, index)` gives the sampler a fresh NSGA-II seeded from the
  run's seed and the number of evaluations finished before this one, so the search
  asks for the same parameters whether or not it was interrupted (with the same
  number of MPI ranks).

Only one process may use a study at a time: `open_study` holds an exclusive lock
on `study.lock` in the output directory until `close_study`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from livn.errors import InvalidArgumentError

#: The SQLite file of the study, in the output directory.
STUDY_FILE = "study.sqlite3"
#: Held (flock) by the process that uses the study.
LOCK_FILE = "study.lock"
#: The study's user attribute holding its settings.
SETTINGS_KEY = "livn_settings"


def study_name(settings: dict) -> str:
    """The study's name: `livn-tune-<system>-<first 12 hex digits of SHA-256 of the settings>`."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return f"livn-tune-{settings['system']}-{digest}"


def open_study(out: Path, settings: dict, resume: bool, population: int, seed: int):
    """The study in `out` for `settings`: a new one, or with `resume` the stored one.

    **Arguments**

    - `out`: the output directory (created if missing).
    - `settings`: what identifies the search (system, targets, duration, seed, ...; JSON values).
    - `resume`: continue the study in `out`; without it, an existing study is an error.
    - `population`, `seed`: the NSGA-II population size and the run's seed (see `reseed`).

    **Returns** `(study, created)`: an `optuna.Study` and whether it was created now.
    Evaluations left running by a killed process are failed and queued again.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = Path(out)
    path = out / STUDY_FILE
    if path.exists() and not resume:
        raise InvalidArgumentError(
            f"{out} already holds a tuning study ({STUDY_FILE}); pass --resume (resume=True) to continue it, "
            "or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    _lock(out)
    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
        name = study_name(settings)
        stored = {s.study_name: s for s in storage.get_all_studies()}
        if name not in stored and stored:
            other = next(iter(stored.values()))
            raise InvalidArgumentError(
                f"{out} holds a tuning study with other settings; differing: "
                f"{_differences(other.user_attrs.get(SETTINGS_KEY, {}), settings)}. "
                "Resume with the stored settings, or choose another --out"
            )
        created = name not in stored
        sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
        study = optuna.create_study(
            storage=storage, study_name=name, directions=["minimize"] * len(settings["targets"]),
            sampler=sampler, load_if_exists=True,
        )
        if created:
            study.set_user_attr(SETTINGS_KEY, settings)
        _requeue_interrupted(study)
    except BaseException:
        close_study(out)
        raise
    return study, created


def _differences(stored: dict, wanted: dict) -> str:
    """`key: stored X, asked Y` for every setting that differs."""
    keys = sorted(set(stored) | set(wanted))
    return "; ".join(
        f"{key}: stored {stored.get(key, 'nothing')!r}, asked {wanted.get(key, 'nothing')!r}"
        for key in keys if stored.get(key) != wanted.get(key)
    ) or "none recorded (a study not written by this livn)"


def _requeue_interrupted(study) -> None:
    """Fail the evaluations a killed process left running and queue their parameters again."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.enqueue_trial(dict(trial.params))
        study.tell(trial.number, state=TrialState.FAIL)


_LOCKS: dict = {}


def _lock(out: Path) -> None:
    import fcntl

    handle = open(out / LOCK_FILE, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InvalidArgumentError(f"another process is tuning into {out} ({LOCK_FILE} is locked)") from None
    _LOCKS[str(out)] = handle


def close_study(out: Path) -> None:
    """Release the lock `open_study` took on `out`."""
    handle = _LOCKS.pop(str(Path(out)), None)
    if handle is not None:
        handle.close()


def reseed(study, population: int, seed: int, index: int) -> None:
    """Give `study` an NSGA-II sampler seeded from `seed` and `index` (evaluations finished before this ask).

    NSGA-II keeps its generations in the storage; only its random state lives in the
    process. Seeding it per evaluation makes the parameters it proposes depend on the
    stored trials alone, so a resumed search continues as the uninterrupted one would.
    """
    import optuna

    derived = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
    study.sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=derived)


def finished_count(study) -> int:
    """Number of completed evaluations in `study`."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def completed_trials(study, names: list[str]) -> list[dict]:
    """Records of the completed evaluations, by trial number: number, params (in `names` order), the rest stored."""
    from optuna.trial import TrialState

    records = []
    for trial in sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number):
        extra = {key: value for key, value in trial.user_attrs.items() if key != "objectives"}
        records.append({"number": trial.number, "params": {name: trial.params[name] for name in names}, **extra,
                        "objectives": list(trial.values)})
    return records
