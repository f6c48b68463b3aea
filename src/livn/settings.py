"""Every environment variable livn reads, in one place, read when asked (never at import).

| variable | what it sets | default |
| --- | --- | --- |
| `LIVN_BACKEND` | simulator of a new `Env`: brian2, diffrax or neuron | brian2 |
| `LIVN_CACHE_DIR` | cache of predefined systems (and of NEURON mechanisms, below it) | `~/.cache/livn/systems/<version>` |
| `LIVN_BRIAN2_TARGET` | brian2 code generation: cython or numpy (no compiler needed) | cython |
| `LIVN_NRNMECH_DIR` | compiled NEURON mechanisms | `$LIVN_CACHE_DIR/nrnmech`, else `~/.cache/livn/nrnmech` |
| `LIVN_BRIAN2_STANDALONE_DIR` | compiled brian2 programs (`livn.backends.brian2_compiled`) | `$LIVN_CACHE_DIR/brian2_standalone`, else `~/.cache/livn/brian2_standalone` |
| `LIVN_MPI` | 1, true or yes: treat the process as started by an MPI launcher | unset |

Each function reads its variable at the moment it is called, so a test or a
script may change `os.environ` before building an `Env`. Importing this module
changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

BACKEND = "LIVN_BACKEND"
CACHE_DIR = "LIVN_CACHE_DIR"
BRIAN2_TARGET = "LIVN_BRIAN2_TARGET"
NRNMECH_DIR = "LIVN_NRNMECH_DIR"
BRIAN2_STANDALONE_DIR = "LIVN_BRIAN2_STANDALONE_DIR"
MPI = "LIVN_MPI"

#: Every variable above with a one-line description (for `livn --help` and the README).
VARIABLES = {
    BACKEND: "simulator of a new Env: brian2 (default), diffrax or neuron",
    CACHE_DIR: "cache of predefined systems; NEURON mechanisms go to its nrnmech/ unless LIVN_NRNMECH_DIR is set",
    BRIAN2_TARGET: "brian2 code generation target: cython (default) or numpy",
    NRNMECH_DIR: "cache of compiled NEURON mechanisms",
    BRIAN2_STANDALONE_DIR: "cache of compiled brian2 programs for long runs (cpp_standalone)",
    MPI: "1, true or yes: act as if started by an MPI launcher",
}

#: Environment variables set by MPI launchers (MPICH/Hydra, Open MPI, Intel MPI, SLURM's srun with PMI).
LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", "SLURM_PROCID")


def _get(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value is None or value.strip() else None


def backend() -> tuple[str | None, str]:
    """The backend named by `LIVN_BACKEND` (None when unset) and where the name came from."""
    return _get(BACKEND), BACKEND


def cache_dir() -> Path | None:
    """`LIVN_CACHE_DIR` as a path, or None when unset."""
    value = _get(CACHE_DIR)
    return None if value is None else Path(value).expanduser()


def brian2_target() -> str:
    """brian2 code generation target from `LIVN_BRIAN2_TARGET` ("cython" when unset)."""
    return (_get(BRIAN2_TARGET) or "cython").strip()


def _compiled_cache(variable: str, folder: str) -> Path:
    """`$variable` if set, else `$LIVN_CACHE_DIR/folder`, else `~/.cache/livn/folder`, resolved."""
    value = _get(variable)
    if value is not None:
        root = Path(value)
    elif cache_dir() is not None:
        root = cache_dir() / folder
    else:
        root = Path.home() / ".cache" / "livn" / folder
    return root.expanduser().resolve()


def nrnmech_dir() -> Path:
    """Where compiled NEURON mechanisms are cached (see the table above)."""
    return _compiled_cache(NRNMECH_DIR, "nrnmech")


def brian2_standalone_dir() -> Path:
    """Where compiled brian2 standalone programs are cached (see the table above)."""
    return _compiled_cache(BRIAN2_STANDALONE_DIR, "brian2_standalone")


def mpi_forced() -> bool:
    """True when `LIVN_MPI` asks to act as if started by an MPI launcher."""
    return (_get(MPI) or "").strip().lower() in ("1", "true", "yes")


def launched_by_mpi() -> bool:
    """True if an MPI launcher started this process (or `LIVN_MPI` says so)."""
    return mpi_forced() or any(name in os.environ for name in LAUNCHER_VARIABLES)
