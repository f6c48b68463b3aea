"""Running the `livn` command as a user does, on one process or under `mpirun -n 2`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
LIVN = shutil.which("livn", path=str(BIN)) or "livn"
MPIRUN = shutil.which("mpirun", path=str(BIN)) or "mpirun"


def environment() -> dict:
    env = {**os.environ}
    lib = BIN.parent / "lib" / "libmpi.so.12"
    if lib.exists():  # NEURON and other MPI users find the wheel's MPICH through this
        env.setdefault("MPI_LIB_NRN_PATH", str(lib))
    return env


def command(*args, ranks: int = 1) -> list[str]:
    return ([MPIRUN, "-n", str(ranks)] if ranks > 1 else []) + [LIVN, *map(str, args)]


def livn(*args, ranks: int = 1, cwd=None, timeout: float = 300):
    """Run `livn ARGS` (under `mpirun -n ranks` when ranks > 1) and return the CompletedProcess."""
    return subprocess.run(
        command(*args, ranks=ranks), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environment()
    )
