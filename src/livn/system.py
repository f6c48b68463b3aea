"""Reading a system directory, and finding the predefined ones.

A system directory holds `cells.h5` (populations and soma coordinates),
optionally `connections.h5` (synapses; absent means no connections), `mea.json`
(the electrode layout, read by `livn.io.MEA`) and `system.json` (the config it
was generated from, seed, livn version and file checksums). Directories written
by other NeuroH5 tools, without `system.json`, are read as well.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import livn
from livn import neuroh5
from livn._files import sha256
from livn.errors import (
    ChecksumMismatchError,
    InvalidArgumentError,
    MissingSystemFileError,
    SystemFileError,
    UnknownNameError,
    describe,
)

#: Name of the metadata file inside a system directory.
METADATA_FILE = "system.json"

#: Tuned weights and noise inside a system directory (written by `livn systems tune`).
TUNED_FILE = "tuned.json"

#: Names `predefined` and `make` know.
KNOWN_SYSTEMS = ("S1", "S2", "S3", "S4", "E", "E5I", "E3I", "EI")

#: Environment variable that overrides the cache directory of predefined systems.
CACHE_ENV = "LIVN_CACHE_DIR"


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Projection:
    """The synapses from population `pre` onto population `post`.

    - `source`: int64 absolute presynaptic gids, one per edge.
    - `target`: int64 absolute postsynaptic gids, one per edge.
    - `distance`: float64 soma-to-soma distance of each edge, um.

    Edges are sorted by (target, source); the arrays are read-only.
    """

    pre: str
    post: str
    source: np.ndarray = field(repr=False)
    target: np.ndarray = field(repr=False)
    distance: np.ndarray = field(repr=False)

    @property
    def num_edges(self) -> int:
        """Number of synapses."""
        return int(self.source.shape[0])

    def __repr__(self) -> str:
        return f"Projection({self.pre!r} -> {self.post!r}, {self.num_edges} edges)"


class System:
    """A culture read from a system directory.

    **Arguments**

    - `uri`: path of the system directory.

    Everything is read and checked on construction: a missing directory or
    `cells.h5` raises `MissingSystemFileError`, a corrupt file `SystemFileError`,
    and a file that differs from the checksum in `system.json` `ChecksumMismatchError`.
    """

    def __init__(self, uri: str | os.PathLike):
        if not isinstance(uri, (str, os.PathLike)):
            raise InvalidArgumentError(f"uri must be a path to a system directory; got {describe(uri)}")
        path = Path(uri).expanduser().resolve()
        if not path.is_dir():
            raise MissingSystemFileError(f"no system directory: {path} does not exist or is not a directory")
        if not (path / neuroh5.CELLS_FILE).is_file():
            raise MissingSystemFileError(f"{path} is not a system directory: it has no {neuroh5.CELLS_FILE}")
        self._path = path
        self._metadata = self._read_metadata()
        if self._metadata is not None:
            self.verify()
        ranges, coordinates = neuroh5.read_coordinates(path / neuroh5.CELLS_FILE)
        self._ranges = ranges
        self._coordinates = _frozen(coordinates)
        self._projections = self._read_projections()

    # -- files ------------------------------------------------------------------

    def _read_metadata(self) -> dict | None:
        file = self._path / METADATA_FILE
        data = _read_json_object(file)
        if data is None:
            return None
        checksums = data.get("checksums", {})
        if not isinstance(checksums, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in checksums.items()
        ):
            raise SystemFileError(f"{file}: 'checksums' must map file names to SHA-256 hex digests")
        return data

    def _read_projections(self) -> dict[tuple[str, str], Projection]:
        file = self._path / neuroh5.CONNECTIONS_FILE
        if not file.is_file():
            return {}
        projections = {}
        for (pre, post), edges in neuroh5.read_projections(file, self._ranges).items():
            order = np.lexsort((edges.source, edges.target))
            source, target = edges.source[order], edges.target[order]
            if edges.distance is not None:
                distance = edges.distance[order]
            else:  # not every NeuroH5 writer stores distances: use the soma distance
                xyz = self._coordinates[:, 1:]
                distance = np.linalg.norm(xyz[source] - xyz[target], axis=1)
            projections[(pre, post)] = Projection(
                pre, post, _frozen(source), _frozen(target), _frozen(distance.astype(np.float64))
            )
        return projections

    def verify(self) -> dict[str, str]:
        """Check every file listed in `system.json` against its SHA-256 checksum.

        **Returns**

        `{file name: checksum}` of the files checked (empty without `system.json`).
        Raises `ChecksumMismatchError` naming the first file that differs and
        `MissingSystemFileError` for a listed file that is gone.
        """
        checksums = (self._metadata or {}).get("checksums", {})
        for name, expected in checksums.items():
            file = self._path / name
            if not file.is_file():
                raise MissingSystemFileError(f"{file} is listed in {METADATA_FILE} but does not exist")
            actual = sha256(file)
            if actual != expected:
                raise ChecksumMismatchError(
                    f"{file} has changed since it was written: SHA-256 {actual} differs from {expected} "
                    f"recorded in {METADATA_FILE}; regenerate the system"
                )
        return dict(checksums)

    # -- properties ---------------------------------------------------------------

    @property
    def uri(self) -> str:
        """Absolute path of the system directory."""
        return str(self._path)

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
        listed with its checksum in `system.json`.
        """
        file = self._path / TUNED_FILE
        data = _read_json_object(file)
        return None if data is None else check_tuned_parameters(data, str(file))

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


def _read_json_object(file: Path) -> dict | None:
    """The JSON object in `file`; None where there is no such file; `SystemFileError` if it is corrupt."""
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SystemFileError(f"{file} is not valid JSON ({e}); the file is corrupt") from None
    if not isinstance(data, dict):
        raise SystemFileError(f"{file} must hold a JSON object; got {describe(data)}")
    return data


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
      `LIVN_CACHE_DIR`; else `~/.cache/livn/systems/<livn version>/`.

    **Returns**

    The directory (not created).
    """
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise InvalidArgumentError(f"cache_dir must be a directory path or None; got {describe(cache_dir)}")
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "livn" / "systems" / livn.__version__
    return Path(cache_dir).expanduser().resolve()


def _check_name(name) -> str:
    if not isinstance(name, str) or name not in KNOWN_SYSTEMS:
        raise UnknownNameError(
            f"unknown predefined system {describe(name)}; known systems are {', '.join(KNOWN_SYSTEMS)}"
        )
    return name


def _is_built_from(directory: Path, config: dict) -> bool:
    """True if `directory` is a complete system generated from `config` by this livn version."""
    try:
        metadata = json.loads((directory / METADATA_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return (
        isinstance(metadata, dict)
        and metadata.get("config") == config
        and metadata.get("livn_version") == livn.__version__
    )


def predefined(name: str, cache_dir: str | os.PathLike | None = None) -> str:
    """Directory of a predefined system, built offline on first use.

    The system is looked up in the cache (see `cache_directory`); if it is missing
    or was built from a different config or livn version, it is generated from the config shipped
    with livn, with a progress bar. Concurrent callers (processes, MPI ranks)
    serialise on a lock file and the build is renamed into place when complete,
    so they all get the same, complete directory.

    **Arguments**

    - `name`: one of `KNOWN_SYSTEMS`.
    - `cache_dir`: cache directory to use instead of the default.

    **Returns**

    The absolute path of the system directory.
    """
    from filelock import FileLock

    from livn._mpi import World
    from livn.systems import config_path, generate, load_config

    name = _check_name(name)
    root = cache_directory(cache_dir)
    config = load_config(config_path(name))
    directory = root / name
    if _is_built_from(directory, config):
        return str(directory)
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{name}.lock")):
        if not _is_built_from(directory, config):
            # Each process builds on its own (serial `World`), even under mpirun: the ranks
            # take the lock in turn, and the first one's build serves the others.
            generate(config, directory, overwrite=True, progress=True, comm=World())
    return str(directory)


def make(name_or_path: str | os.PathLike) -> System:
    """A `System` from a predefined name or a system directory.

    **Arguments**

    - `name_or_path`: one of `KNOWN_SYSTEMS` (built offline if needed, see
      `predefined`) or the path of an existing system directory.

    **Returns**

    The `System`.
    """
    if isinstance(name_or_path, str) and name_or_path in KNOWN_SYSTEMS:
        return System(predefined(name_or_path))
    if isinstance(name_or_path, (str, os.PathLike)) and Path(name_or_path).expanduser().is_dir():
        return System(name_or_path)
    raise UnknownNameError(
        f"{describe(name_or_path)} is neither a predefined system ({', '.join(KNOWN_SYSTEMS)}) "
        "nor an existing system directory"
    )
