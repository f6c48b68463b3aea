"""The few MPI helpers livn needs, in one place.

```python
from livn._mpi import world

comm = world()                    # MPI.COMM_WORLD under mpirun, else a serial stand-in
with comm.together():             # a failure on any rank raises on every rank
    work = check_arguments(...)
comm.print("done")                # rank 0 only
```

`world()` uses mpi4py only when the process was started by an MPI launcher
(`mpirun`/`mpiexec`/`srun` set `PMI_SIZE`, `OMPI_COMM_WORLD_SIZE`, ...) or when
`LIVN_MPI=1`; otherwise, or where the launcher started a single process, it
returns a serial stand-in with the same methods, so every code path runs the
same with and without MPI.

Errors. A step that every rank runs (checking arguments, building a block of
work) goes inside `with comm.together():`. At its end the ranks exchange what
went wrong; if any rank failed, every rank raises: the failing rank its own
exception, the others a `RankFailure` that quotes it. So a bad argument stops
all ranks before any work, with one clear message on rank 0, and no rank is
left waiting in a collective. An exception that escapes outside such a step
is handled by `abort_on_error`: it prints the rank and the error and calls
`MPI_Abort`, which ends every rank instead of hanging.
"""

from __future__ import annotations

import contextlib
import sys
import traceback

from livn.errors import LivnError
from livn.settings import launched_by_mpi


class RankFailure(LivnError, RuntimeError):
    """Another MPI rank failed during a step that all ranks run together.

    `failures` lists `(rank, "ErrorType: message")` for every rank that failed.
    """

    failures: list = []


def mark_collective(error: BaseException) -> BaseException:
    """Mark `error` as raised by every rank together (so it ends each rank normally, no abort)."""
    error.livn_collective = True
    return error


def is_collective(error: BaseException) -> bool:
    """True if every rank raised `error` together (so no rank is left waiting)."""
    return bool(getattr(error, "livn_collective", False))


class World:
    """The ranks of one job: `rank`, `size` and the collectives livn uses.

    Wraps an mpi4py communicator, or stands in for one process when `comm` is None.
    """

    def __init__(self, comm=None):
        self.comm = comm
        self.rank = comm.Get_rank() if comm is not None else 0
        self.size = comm.Get_size() if comm is not None else 1

    @property
    def is_root(self) -> bool:
        """True on rank 0, the rank that writes files and prints."""
        return self.rank == 0

    # -- collectives (identity in the serial stand-in) ---------------------------------

    def bcast(self, value, root: int = 0):
        return value if self.comm is None else self.comm.bcast(value, root=root)

    def gather(self, value, root: int = 0):
        """`[value of rank 0, value of rank 1, ...]` on `root`, None elsewhere."""
        return [value] if self.comm is None else self.comm.gather(value, root=root)

    def allgather(self, value) -> list:
        return [value] if self.comm is None else self.comm.allgather(value)

    def scatter(self, values, root: int = 0):
        """Rank r gets `values[r]` (`values` is read on `root` only)."""
        if self.comm is None:
            return values[0]
        return self.comm.scatter(values, root=root)

    def barrier(self) -> None:
        if self.comm is not None:
            self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """End every rank now (MPI_Abort); in a serial run, exit the process."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.comm is not None and self.size > 1:
            self.comm.Abort(code)
        sys.exit(code)

    # -- errors -----------------------------------------------------------------------

    def check(self, error: BaseException | None, facts=None) -> list:
        """Collective: raise on every rank if `error` is not None on any rank.

        The rank that failed re-raises its own exception; the others raise a
        `RankFailure` quoting the first failure (lowest rank), with every failure
        in its `failures`. Otherwise returns every rank's `facts`, in rank order
        (exchanged in the same collective, e.g. to compare arguments).
        """
        if self.size == 1:
            if error is not None:
                raise mark_collective(error)
            return [facts]
        summary = None if error is None else f"{type(error).__name__}: {error}"
        reports = self.allgather((summary, facts))
        failed = [(rank, text) for rank, (text, _) in enumerate(reports) if text is not None]
        if not failed:
            return [f for _, f in reports]
        if error is not None:
            raise mark_collective(error)
        rank, text = failed[0]
        failure = RankFailure(f"rank {rank} failed: {text}")
        failure.failures = failed
        raise mark_collective(failure)

    @contextlib.contextmanager
    def together(self):
        """A step every rank runs; if it fails on any rank, it raises on all (see `check`)."""
        error = None
        try:
            yield
        except Exception as e:  # noqa: BLE001 - handed to check(), which re-raises it
            error = e
        self.check(error)

    # -- output ---------------------------------------------------------------------

    def print(self, *args, **kwargs) -> None:
        """`print` on rank 0 only."""
        if self.is_root:
            print(*args, **kwargs, flush=True)

    def progress(self, **tqdm_options):
        """A tqdm progress bar on rank 0 (to stderr); a silent one on the other ranks."""
        from tqdm import tqdm

        disable = tqdm_options.pop("disable", False) or not self.is_root
        return tqdm(disable=disable, **tqdm_options)

    def __repr__(self) -> str:
        kind = "MPI" if self.comm is not None else "serial"
        return f"World({kind}, rank {self.rank} of {self.size})"




_WORLD: World | None = None


def world() -> World:
    """The job's `World`: MPI.COMM_WORLD under an MPI launcher, else the serial stand-in."""
    global _WORLD
    if _WORLD is None:
        comm = None
        if launched_by_mpi():
            try:
                from mpi4py import MPI
            except ImportError as e:
                raise ImportError(
                    "this process was started by an MPI launcher but mpi4py is not installed "
                    "(install it with: pip install 'livn[mpi]')"
                ) from e
            if MPI.COMM_WORLD.Get_size() > 1:
                comm = MPI.COMM_WORLD
        _WORLD = World(comm)
    return _WORLD


@contextlib.contextmanager
def abort_on_error(comm: World, passthrough: tuple = ()):
    """Around a whole MPI program: an exception that only some ranks raise ends every rank.

    Exceptions raised by all ranks together (see `World.together`), a clean
    `SystemExit` and instances of the `passthrough` types (errors the caller
    knows every rank raises, e.g. usage errors) pass through, so the caller can
    report them once; any other exception in a multi-rank job is printed with
    its rank and traceback, then `MPI_Abort` ends the job.
    """
    try:
        yield
    except BaseException as e:
        clean_exit = isinstance(e, SystemExit) and not e.code
        if comm.size == 1 or is_collective(e) or clean_exit or isinstance(e, passthrough):
            raise
        print(f"livn: rank {comm.rank} of {comm.size} failed; aborting all ranks", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        comm.abort(1)
