"""Running a `livn systems` command as a Slurm batch job (`--slurm` of `livn systems sample` and `tune`).

```python
from livn.systems.slurm import SlurmJob, submit, write_script

job = SlurmJob.create(ranks=8, time="2:00:00", partition="cpu", account="lab")
path = write_script("sample.sbatch", ["systems", "sample", "--system", "S2", ...], job, name="livn-sample-S2")
submit(path)                      # runs `sbatch sample.sbatch`; returns sbatch's reply
```

The script asks Slurm for `ranks` tasks (`--ntasks`), the time limit, partition and
account given, and runs the livn command under `srun` with the Python interpreter that
wrote it (`python -m livn.cli ...`), from the directory it was written in, so relative
paths mean what they meant there. Its output goes to `<script name>-<job id>.out` next
to the script. Both commands continue where they stopped (`sample` by design, `tune`
with `--resume`, which the caller puts in the command), so submitting the same script
again after a time-out or a node failure continues the job.

The launcher comes from the environment variable `LIVN_SLURM_LAUNCHER` when it is set
(default `srun`), e.g. `srun --mpi=pmi2` on a site whose MPI needs it, or `mpirun -n 2`
to run the script's body without Slurm (the tests do this).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import livn
from livn._files import atomic_file
from livn.errors import InvalidArgumentError, LivnError, describe

#: Environment variable that replaces the launcher `srun` in the script.
LAUNCHER_VARIABLE = "LIVN_SLURM_LAUNCHER"

#: The time limits sbatch accepts: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
#: days-hours:minutes, days-hours:minutes:seconds.
_TIME_FORMATS = [
    (re.compile(r"(\d+)"), ("minutes",)),
    (re.compile(r"(\d+):(\d{1,2})"), ("minutes", "seconds")),
    (re.compile(r"(\d+):(\d{1,2}):(\d{1,2})"), ("hours", "minutes", "seconds")),
    (re.compile(r"(\d+)-(\d{1,2})"), ("days", "hours")),
    (re.compile(r"(\d+)-(\d{1,2}):(\d{1,2})"), ("days", "hours", "minutes")),
    (re.compile(r"(\d+)-(\d{1,2}):(\d{1,2}):(\d{1,2})"), ("days", "hours", "minutes", "seconds")),
]
_LIMITS = {"hours": 24, "minutes": 60, "seconds": 60}
#: Partition and account names: letters, digits and `_ . -` (partitions may be a comma-separated list).
_NAME = re.compile(r"[A-Za-z0-9_.\-]+(,[A-Za-z0-9_.\-]+)*")


class SubmissionError(LivnError, RuntimeError):
    """`sbatch` is missing or refused the script."""


def check_time(value) -> str:
    """`value` if it is a positive time limit in one of sbatch's formats (see `_TIME_FORMATS`), else an error."""
    accepted = "minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes or days-hours:minutes:seconds"
    if not isinstance(value, str):
        raise InvalidArgumentError(f"slurm time must be a string ({accepted}); got {describe(value)}")
    for pattern, fields in _TIME_FORMATS:
        match = pattern.fullmatch(value.strip())
        if match is None:
            continue
        parts = dict(zip(fields, map(int, match.groups())))
        for unit, limit in _LIMITS.items():  # every field but the first is bounded
            if unit in parts and unit != fields[0] and parts[unit] >= limit:
                raise InvalidArgumentError(f"slurm time {value!r}: {unit} must be below {limit}")
        if not any(parts.values()):
            raise InvalidArgumentError(f"slurm time must be longer than zero; got {value!r}")
        return value.strip()
    raise InvalidArgumentError(f"slurm time must be {accepted} (e.g. 90, 2:00:00 or 1-12); got {value!r}")


@dataclass(frozen=True)
class SlurmJob:
    """What a job asks Slurm for: `ranks` MPI tasks, a `time` limit (sbatch format, None: the partition's
    default), a `partition` and an `account` (None: the cluster's defaults)."""

    ranks: int = 1
    time: str | None = None
    partition: str | None = None
    account: str | None = None

    @classmethod
    def create(cls, ranks=1, time=None, partition=None, account=None) -> "SlurmJob":
        """A checked job: `ranks` an integer >= 1, `time` as `check_time`, names of letters, digits, `_ . -`."""
        if isinstance(ranks, bool) or not isinstance(ranks, (int, np.integer)) or ranks < 1:
            raise InvalidArgumentError(f"slurm ranks must be an integer >= 1 (MPI tasks); got {describe(ranks)}")
        if time is not None:
            time = check_time(time)
        for what, value in (("partition", partition), ("account", account)):
            if value is not None and (not isinstance(value, str) or not _NAME.fullmatch(value)):
                raise InvalidArgumentError(
                    f"slurm {what} must be a name of letters, digits, '_', '.' and '-'; got {describe(value)}"
                )
        return cls(int(ranks), time, partition, account)


def job_script(arguments: list[str], job: SlurmJob, name: str, workdir: Path, log: Path, note: str = "") -> str:
    """The text of the batch script that runs `livn ARGUMENTS` under the launcher (see the module docstring).

    **Arguments**

    - `arguments`: the livn command line after `livn`, e.g. `["systems", "sample", "--system", "S1", ...]`.
    - `job`: a `SlurmJob`.
    - `name`: the job's name (`--job-name`).
    - `workdir`: the directory the command runs in (absolute).
    - `log`: the job's output file (absolute; `%j` is the job id).
    - `note`: a comment line about resubmitting, or "".
    """
    directives = [f"--job-name={name}", f"--ntasks={job.ranks}"]
    directives += [f"--{key}={value}" for key, value in
                   (("time", job.time), ("partition", job.partition), ("account", job.account)) if value is not None]
    directives.append(f"--output={log}")
    command = shlex.join([sys.executable, "-m", "livn.cli", *arguments])
    lines = [
        "#!/bin/bash",
        f"# Written by livn {livn.__version__}: `livn {' '.join(arguments[:2])}` as a Slurm job. Submit: sbatch <this file>",
        *([f"# {note}"] if note else []),
        *(f"#SBATCH {directive}" for directive in directives),
        "set -euo pipefail",
        f"cd {shlex.quote(str(workdir))}",
        f"# {LAUNCHER_VARIABLE} replaces srun (e.g. 'srun --mpi=pmi2', or 'mpirun -n 2' outside Slurm).",
        f"launcher=${{{LAUNCHER_VARIABLE}:-srun}}",
        f"exec $launcher {command}",
        "",
    ]
    return "\n".join(lines)


def write_script(path, arguments: list[str], job: SlurmJob, name: str, note: str = "") -> Path:
    """Write the batch script for `livn ARGUMENTS` to `path` (atomically, executable); returns its absolute path.

    The command runs in the current directory; the job's output goes to `<path stem>-%j.out` beside `path`.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InvalidArgumentError(f"slurm script path must be a file path; got {describe(path)}")
    if not isinstance(arguments, (list, tuple)) or not all(isinstance(a, str) for a in arguments) or not arguments:
        raise InvalidArgumentError(f"arguments must be a non-empty list of strings; got {describe(arguments)}")
    if not isinstance(job, SlurmJob):
        raise InvalidArgumentError(f"job must be a SlurmJob; got {describe(job)}")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise InvalidArgumentError(f"name must be letters, digits, '_', '.' and '-'; got {describe(name)}")
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise InvalidArgumentError(f"slurm script path {path} is a directory; give a file name, e.g. job.sbatch")
    log = path.parent / f"{path.stem}-%j.out"
    text = job_script(list(arguments), job, name, Path.cwd(), log, note)
    with atomic_file(path, "w") as f:
        f.write(text)
    path.chmod(path.stat().st_mode | 0o111)
    return path


def submit(path) -> str:
    """Submit the script at `path` with `sbatch`; returns sbatch's reply (e.g. "Submitted batch job 42")."""
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"no batch script at {path}")
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise SubmissionError(
            f"sbatch is not on PATH: submit {path} from a Slurm login node (sbatch {path}), or drop --submit"
        )
    done = subprocess.run([sbatch, str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SubmissionError(f"sbatch {path} failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()
