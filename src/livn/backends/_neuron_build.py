"""Compiling livn's NMODL mechanisms with `nrnivmodl`, once per livn version, NEURON version and source.

The `.mod` files in `neuron_mechanisms/` are compiled on first use into a cache
directory named after the livn version, the NEURON version and a hash of the
sources, so an edited mechanism or another NEURON is never served a stale
library. Compilation happens under a file lock in a temporary directory that is
renamed into place when complete: several processes (e.g. all MPI ranks of one
job) starting at once compile once and all load the same library.

Cache location: `livn.settings.nrnmech_dir()` (`$LIVN_NRNMECH_DIR`, else
`$LIVN_CACHE_DIR/nrnmech`, else `~/.cache/livn/nrnmech`).
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import livn
from livn import settings
from livn._files import atomic_directory
from livn.errors import LivnError

#: Directory of the NMODL sources shipped with livn.
MECHANISMS = Path(__file__).with_name("neuron_mechanisms")
#: Name of the library `nrnivmodl` builds.
LIBRARY = "libnrnmech.so"


class MechanismBuildError(LivnError, RuntimeError):
    """`nrnivmodl` could not compile livn's NMODL mechanisms."""


def mod_files() -> list[Path]:
    """The NMODL sources livn ships, sorted by name."""
    return sorted(MECHANISMS.glob("*.mod"))


def source_hash() -> str:
    """Short SHA-256 over the names and contents of the `.mod` sources."""
    digest = hashlib.sha256()
    for path in mod_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    """Directory that holds one compiled build per (livn version, NEURON version, sources)."""
    return settings.nrnmech_dir()


def _nrnivmodl() -> str:
    """`nrnivmodl` of the running Python environment (the NEURON wheel's), else the one on PATH."""
    local = Path(sys.executable).parent / "nrnivmodl"
    if local.exists():
        return str(local)
    found = shutil.which("nrnivmodl")
    if found is None:
        raise MechanismBuildError(
            "nrnivmodl was not found next to this Python or on PATH; install NEURON with pip install 'livn[neuron]'"
        )
    return found


def _find_library(directory: Path) -> Path | None:
    candidates = sorted(directory.glob(f"*/{LIBRARY}")) + sorted(directory.glob(f"*/.libs/{LIBRARY}"))
    return candidates[0] if candidates else None


def mechanism_library(neuron_version: str) -> Path:
    """Path of the compiled mechanism library for `neuron_version`, compiling it first if needed.

    Raises `MechanismBuildError` with nrnivmodl's output when compilation fails.
    """
    from filelock import FileLock

    sources = mod_files()
    if not sources:
        raise MechanismBuildError(f"no .mod files in {MECHANISMS}; the livn installation is incomplete")
    name = f"{livn.__version__}-nrn{neuron_version}-{platform.machine()}-{source_hash()}"
    root = cache_root()
    target = root / name
    library = _find_library(target) if target.is_dir() else None
    if library is not None:
        return library
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{name}.lock")):
        library = _find_library(target) if target.is_dir() else None
        if library is not None:  # another process compiled it while we waited
            return library
        with atomic_directory(target, overwrite=True) as build:
            for path in sources:
                shutil.copy2(path, build / path.name)
            result = subprocess.run(
                [_nrnivmodl(), "."], cwd=build, capture_output=True, text=True, check=False
            )
            if result.returncode != 0 or _find_library(build) is None:
                output = (result.stdout + result.stderr)[-4000:]
                raise MechanismBuildError(
                    f"nrnivmodl failed (exit status {result.returncode}) compiling {[p.name for p in sources]} "
                    f"in {build}; a C++ compiler (g++ or clang++) and make are needed. Output:\n{output}"
                )
    library = _find_library(target)
    if library is None:  # pragma: no cover - the build above checked it
        raise MechanismBuildError(f"compiled mechanisms vanished from {target}")
    return library
