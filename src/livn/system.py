"""Reading a system directory, and finding the predefined ones.

A system directory holds `cells.h5` (populations and soma coordinates),
optionally `connections.h5` (synapses; absent means no connections), `mea.json`
(the electrode layout, read by `livn.io.MEA`), `system.json` (the config it was
generated from, seed, livn version and file checksums) and, once tuned,
`tuned.json`. `livn.system_directory` owns that layout; this module reads
through it. Directories written by other NeuroH5 tools, without `system.json`,
are read as well, and so is the single-file variant upstream livn uses: `graph.h5`
holding the cells and the connections, read where there is no `cells.h5`.

The predefined systems are the configs shipped with livn (`livn.systems.config`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import livn
from livn import neuroh5, settings
from livn import system_directory as layout
from livn.errors import (
    InvalidArgumentError,
    MissingSystemFileError,
    SystemFileError,
    UnknownNameError,
    describe,
)
from livn.system_directory import METADATA_FILE, TUNED_FILE  # noqa: F401  (public names of this module)
from livn.systems.config import shipped_configs

#: Environment variable that overrides the cache directory of predefined systems (see `livn.settings`).
CACHE_ENV = settings.CACHE_DIR


def known_systems() -> tuple[str, ...]:
    """Names `predefined` and `make` know: one per config shipped with livn (`systems/config/*.yml`)."""
    return tuple(shipped_configs())


#: Names `predefined` and `make` know, as found when livn was imported (see `known_systems`).
KNOWN_SYSTEMS = known_systems()


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Projection:
    """The synapses from population `pre` onto population `post`.

    - `source`: int64 absolute presynaptic gids, one per edge.
    - `target`: int64 absolute postsynaptic gids, one per edge.
    - `distance`: float64 soma-to-soma distance of each edge, um.
    - `weight`: float64 weight (peak conductance, nS) of each edge where the system holds
      learned weights (`Env.save_system`), else None.

    Edges are sorted by (target, source); the arrays are read-only.
    """

    pre: str
    post: str
    source: np.ndarray = field(repr=False)
    target: np.ndarray = field(repr=False)
    distance: np.ndarray = field(repr=False)
    weight: np.ndarray | None = field(default=None, repr=False)

    @property
    def num_edges(self) -> int:
        """Number of synapses."""
        return int(self.source.shape[0])

    def __repr__(self) -> str:
        return f"Projection({self.pre!r} -> {self.post!r}, {self.num_edges} edges)"


#: Distance between neighbouring somata of `System.unconnected` cultures, um.
UNCONNECTED_SPACING = 20.0


class System:
    """A culture read from a system directory.

    **Arguments**

    - `uri`: path of the system directory: `cells.h5` (and `connections.h5` where the
      culture has synapses), or else `graph.h5` holding both.

    Everything is read and checked on construction: a missing directory, or one with
    neither `cells.h5` nor `graph.h5`, raises `MissingSystemFileError`, a corrupt file `SystemFileError`,
    and a file that differs from the checksum in `system.json` `ChecksumMismatchError`.
    `System.unconnected(...)` makes a culture of unconnected neurons without a directory.
    """

    @classmethod
    def unconnected(cls, neurons, spacing: float = UNCONNECTED_SPACING) -> "System":
        """A culture of unconnected neurons on a square grid, held in memory (no system directory).

        For single-cell work, fitting and tests: `Env(64)` and `Env({"EXC": 8, "INH": 2})` use it.

        **Arguments**

        - `neurons`: a number of excitatory neurons, or `{population: count}` in gid order
          (populations the model knows, e.g. "EXC", "INH").
        - `spacing`: distance between neighbouring somata, um (default 20 um).

        **Returns**: the `System`. Gid g sits at column `g % k`, row `g // k` of a k x k grid
        (k = ceil(sqrt(n))), at `((column + 0.5) spacing, (row + 0.5) spacing, 0)` um; `uri` is None.
        """
        if isinstance(neurons, (int, np.integer)) and not isinstance(neurons, bool):
            neurons = {"EXC": int(neurons)}
        if not isinstance(neurons, dict) or not neurons or not all(
            isinstance(k, str) and isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
            for k, v in neurons.items()
        ):
            raise InvalidArgumentError(
                "neurons must be a positive number of neurons or a dict {population: positive count}; "
                f"got {describe(neurons)}"
            )
        if isinstance(spacing, bool) or not isinstance(spacing, (int, float)) or not np.isfinite(spacing) or spacing <= 0:
            raise InvalidArgumentError(f"spacing must be a positive number of um; got {describe(spacing)}")
        n = sum(int(v) for v in neurons.values())
        side = int(np.ceil(np.sqrt(n)))
        gids = np.arange(n)
        coordinates = np.stack(
            [gids, (gids % side + 0.5) * spacing, (gids // side + 0.5) * spacing, np.zeros(n)], axis=1
        ).astype(float)
        ranges, start = {}, 0
        for population, count in neurons.items():
            ranges[population] = (start, int(count))
            start += int(count)
        system = cls.__new__(cls)
        system._path = None
        system._metadata = {"name": "unconnected-" + "-".join(f"{k}{v}" for k, v in neurons.items())}
        system._ranges = ranges
        system._coordinates = _frozen(coordinates)
        system._projections = {}
        return system

    def __init__(self, uri: str | os.PathLike):
        if not isinstance(uri, (str, os.PathLike)):
            raise InvalidArgumentError(f"uri must be a path to a system directory; got {describe(uri)}")
        path = Path(uri).expanduser().resolve()
        if not path.is_dir():
            raise MissingSystemFileError(f"no system directory: {path} does not exist or is not a directory")
        self._path = path
        self._metadata = layout.read_metadata(path)
        cells, connections = neuroh5_files(path, self._metadata)
        self.verify()
        ranges, coordinates = neuroh5.read_coordinates(cells)
        self._ranges = ranges
        self._coordinates = _frozen(coordinates)
        self._projections = {} if connections is None else self._read_projections(connections)

    # -- files ------------------------------------------------------------------

    def _read_projections(self, file: Path) -> dict[tuple[str, str], Projection]:
        projections = {}
        for (pre, post), edges in neuroh5.read_projections(file, self._ranges).items():
            order = np.lexsort((edges.source, edges.target))
            source, target = edges.source[order], edges.target[order]
            if edges.distance is not None:
                distance = edges.distance[order]
            else:  # not every NeuroH5 writer stores distances: use the soma distance
                xyz = self._coordinates[:, 1:]
                distance = np.linalg.norm(xyz[source] - xyz[target], axis=1)
            weight = None if edges.weight is None else _frozen(edges.weight[order])
            projections[(pre, post)] = Projection(
                pre, post, _frozen(source), _frozen(target), _frozen(distance.astype(np.float64)), weight
            )
        return projections

    def verify(self) -> dict[str, str]:
        """Check every file listed in `system.json` against its SHA-256 checksum.

        **Returns**

        `{file name: checksum}` of the files checked (empty without `system.json`).
        Raises `ChecksumMismatchError` naming the first file that differs and
        `MissingSystemFileError` for a listed file that is gone.
        """
        if self._path is None:
            return {}
        return layout.verify(self._path, self._metadata or {})

    # -- properties ---------------------------------------------------------------

    @property
    def uri(self) -> str | None:
        """Absolute path of the system directory (None for a culture held in memory)."""
        return None if self._path is None else str(self._path)

    @property
    def name(self) -> str:
        """The system's name from `system.json`, else the directory name."""
        name = (self._metadata or {}).get("name")
        return name if isinstance(name, str) and name else self._path.name

    @property
    def metadata(self) -> dict | None:
        """Contents of `system.json`, or None where the directory has none."""
        return self._metadata

    @property
    def tuned_parameters(self) -> dict | None:
        """Weights and noise fitted to culture statistics, from `tuned.json`; None where not tuned.

        `{"weights": {"PRE_POST": nS, ...}, "noise": {"mean": nA, "std": nA}}`.
        `Env.apply_model_defaults()` uses them in place of the model's defaults.
        The file also records how they were found (`livn.systems.tune`); it is
        listed with its checksum in `system.json`, which is read anew here, so a
        promotion after this `System` was made is seen (and its checksum verified).
        """
        if self._path is None:
            return None
        data = layout.read_listed_json(self._path, TUNED_FILE)
        return None if data is None else check_tuned_parameters(data, f"{self._path / TUNED_FILE}")

    @property
    def populations(self) -> list[str]:
        """Population names in gid order."""
        return list(self._ranges)

    @property
    def population_ranges(self) -> dict[str, tuple[int, int]]:
        """`{population: (first gid, count)}` in gid order."""
        return dict(self._ranges)

    @property
    def num_neurons(self) -> int:
        """Number of neurons; gids are `0 .. num_neurons - 1`."""
        return int(self._coordinates.shape[0])

    @property
    def neuron_coordinates(self) -> np.ndarray:
        """`[num_neurons, 4]` float rows of (gid, x, y, z), positions in um, sorted by gid (read-only)."""
        return self._coordinates

    @property
    def projections(self) -> dict[tuple[str, str], Projection]:
        """`{(pre, post): Projection}` for every projection in `connections.h5`."""
        return dict(self._projections)

    def gids_of(self, population: str) -> np.ndarray:
        """int64 gids of the neurons of `population`."""
        if population not in self._ranges:
            raise UnknownNameError(
                f"population must be one of {self.populations} in system {self.name!r}; got {describe(population)}"
            )
        start, count = self._ranges[population]
        return np.arange(start, start + count, dtype=np.int64)

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}: {count}" for name, (_, count) in self._ranges.items())
        return f"System({self.name!r}, {self.num_neurons} neurons ({counts}), {len(self._projections)} projections)"


def neuroh5_files(directory: str | os.PathLike, metadata: dict | None = None) -> tuple[Path, Path | None]:
    """The NeuroH5 files of a system directory: which holds the cells, which the connections.

    **Arguments**

    - `directory`: the system directory.
    - `metadata`: its `system.json` as already read (`livn.system_directory.read_metadata`); read if None.

    **Returns**

    `(cells, connections)`: `cells.h5` and `connections.h5` (None where absent: no
    synapses) where there is a `cells.h5`; else `(graph.h5, graph.h5)`, the single file
    holding both. Raises `MissingSystemFileError` naming the files looked for where
    there is neither `cells.h5` nor `graph.h5`.
    """
    if not isinstance(directory, (str, os.PathLike)):
        raise InvalidArgumentError(f"directory must be the path of a system directory; got {describe(directory)}")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidArgumentError(f"metadata must be the contents of system.json (a dict) or None; got {describe(metadata)}")
    directory = Path(directory).expanduser()
    cells = layout.locate(directory, layout.CELLS_FILE, metadata)
    if cells.is_file():
        connections = layout.locate(directory, layout.CONNECTIONS_FILE, metadata)
        return cells, connections if connections.is_file() else None
    graph = layout.locate(directory, layout.GRAPH_FILE, metadata)
    if graph.is_file():
        return graph, graph
    raise MissingSystemFileError(
        f"{directory} is not a system directory: it has neither {cells.name} (with {layout.CONNECTIONS_FILE} "
        f"where there are synapses) nor {graph.name} (cells and connections in one file)"
    )


def check_tuned_parameters(data, source: str = "tuned parameters") -> dict:
    """Validate `{"weights": {name: nS >= 0}, "noise": {"mean": nA, "std": nA >= 0}}`; returns just those keys."""

    def number(value, what, minimum=None):
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and np.isfinite(value)
        if not ok or (minimum is not None and value < minimum):
            bound = "" if minimum is None else f" >= {minimum}"
            raise SystemFileError(f"{source}: {what} must be a finite number{bound}; got {describe(value)}")
        return float(value)

    if not isinstance(data, dict) or not isinstance(data.get("weights"), dict) or not isinstance(data.get("noise"), dict):
        raise SystemFileError(f"{source} must hold 'weights' (projection -> nS) and 'noise' (mean, std in nA)")
    weights = {str(k): number(v, f"weight {k!r} (nS)", 0.0) for k, v in data["weights"].items()}
    noise = {key: number(data["noise"].get(key), f"noise {key} (nA)", 0.0 if key == "std" else None) for key in ("mean", "std")}
    return {"weights": weights, "noise": noise}


# -- predefined systems --------------------------------------------------------------


def cache_directory(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where predefined systems are cached.

    **Arguments**

    - `cache_dir`: explicit directory; else the environment variable
      `LIVN_CACHE_DIR` (`livn.settings.cache_dir`); else `~/.cache/livn/systems/<livn version>/`.

    **Returns**

    The directory (not created).
    """
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise InvalidArgumentError(f"cache_dir must be a directory path or None; got {describe(cache_dir)}")
    if cache_dir is None:
        cache_dir = settings.cache_dir() or Path.home() / ".cache" / "livn" / "systems" / livn.__version__
    return Path(cache_dir).expanduser().resolve()


def _check_name(name) -> str:
    known = known_systems()
    if not isinstance(name, str) or name not in known:
        raise UnknownNameError(f"unknown predefined system {describe(name)}; known systems are {', '.join(known)}")
    return name


def _is_built_from(directory: Path, config: dict) -> bool:
    """True if `directory` is a complete system generated from `config` by this livn version.

    A system cached before livn stored its NeuroH5 tables with uncommitted types (which
    pyfive can read, see `livn.neuroh5`) counts as not built, so `predefined` rebuilds it.
    """
    try:
        metadata = layout.read_metadata(directory)
        if not (
            metadata is not None
            and metadata.get("config") == config
            and metadata.get("livn_version") == livn.__version__
        ):
            return False
        files = {file for file in neuroh5_files(directory, metadata) if file is not None}
        return not any(neuroh5.uses_committed_table_types(file) for file in files)
    except SystemFileError:  # MissingSystemFileError included: a half-removed cache is rebuilt too
        return False


def predefined(name: str, cache_dir: str | os.PathLike | None = None) -> str:
    """Directory of a predefined system, built offline on first use.

    The system is looked up in the cache (see `cache_directory`); if it is missing
    or was built from a different config or livn version, it is generated from the config shipped
    with livn, with a progress bar. Concurrent callers (processes, MPI ranks)
    serialise on a lock file and the build is renamed into place when complete,
    so they all get the same, complete directory.

    **Arguments**

    - `name`: one of `known_systems()` (the shipped configs).
    - `cache_dir`: cache directory to use instead of the default.

    **Returns**

    The absolute path of the system directory.
    """
    from filelock import FileLock

    import livn.systems  # generation; looked up at call time so that tests can stand in for it
    from livn._mpi import World

    name = _check_name(name)
    root = cache_directory(cache_dir)
    config = livn.systems.load_config(livn.systems.config_path(name))
    directory = root / name
    if _is_built_from(directory, config):
        return str(directory)
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{name}.lock")):
        if not _is_built_from(directory, config):
            # Each process builds on its own (serial `World`), even under mpirun: the ranks
            # take the lock in turn, and the first one's build serves the others.
            livn.systems.generate(config, directory, overwrite=True, progress=True, comm=World())
    return str(directory)


def make(name_or_path: str | os.PathLike) -> System:
    """A `System` from a predefined name or a system directory.

    **Arguments**

    - `name_or_path`: one of `known_systems()` (built offline if needed, see
      `predefined`) or the path of an existing system directory.

    **Returns**

    The `System`.
    """
    known = known_systems()
    if isinstance(name_or_path, str) and name_or_path in known:
        return System(predefined(name_or_path))
    if isinstance(name_or_path, (str, os.PathLike)) and Path(name_or_path).expanduser().is_dir():
        return System(name_or_path)
    raise UnknownNameError(
        f"{describe(name_or_path)} is neither a predefined system ({', '.join(known)}) "
        "nor an existing system directory"
    )
