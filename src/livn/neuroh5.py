"""The NeuroH5 file layout: the one place in livn that knows how `cells.h5` and
`connections.h5` are laid out inside, written and read with h5py (their names and
place in a system directory belong to `livn.system_directory`).

The layout follows the NeuroH5 library (github.com/iraikov/neuroh5) as used by
MiV-Simulator and the published livn systems:

`H5Types` (in both files)
- `Population labels`: committed enum datatype (base uint16), population name -> label.
- `Population range`: committed compound datatype (`Start` uint64, `Count` uint32,
  `Population` enum).
- `Populations`: one `Population range` row per population; gids
  `Start .. Start + Count - 1` belong to that population.
- `Population projections` / `Valid population projections`: committed compound
  datatype (`Source`, `Destination` enums) and the list of projections.

The two tables are stored with an *uncommitted* copy of their type, the same bytes:
`Populations` as (`Start` uint64, `Count` uint32, `Population` enum) and `Valid population
projections` as (`Source` uint16, `Destination` uint16) holding the labels of `Population
labels`. The pure-Python reader pyfive (1.3, used by upstream livn where neuroh5 is not
installed) cannot read a dataset whose type is a committed type, nor a compound whose enum
member is followed by another member; NeuroH5 itself reads both tables into native structs,
which these types fill alike. `uses_committed_table_types` tells the older layout apart.

`cells.h5`: `Populations/<pop>/Generated Coordinates/{X,Y,Z} Coordinate/` each hold
- `Cell Index` (uint32): gid relative to the population's `Start`,
- `Attribute Pointer` (uint64, one more entry than `Cell Index`): value range of each cell,
- `Attribute Value` (float32): the soma coordinate in um, one per cell.

`connections.h5`: `Projections/<post>/<pre>/Edges/` in the destination-block-sparse layout
- `Destination Block Index` (uint32): first destination of each block of contiguous
  destinations, relative to the postsynaptic population's `Start`,
- `Destination Block Pointer` (uint64, one more entry than blocks): index into
  `Destination Pointer` of each block's first destination; the last entry is the
  number of destinations + 1 (it counts the sentinel of `Destination Pointer`),
- `Destination Pointer` (uint64, number of destinations + 1): index into
  `Source Index` of each destination's first edge,
- `Source Index` (uint32): presynaptic gid of each edge, relative to the presynaptic
  population's `Start`;

and edge attributes by namespace next to `Edges`, e.g.
`Projections/<post>/<pre>/Connections/distance` (float32, um, one per edge).

`graph.h5`, the single-file variant upstream livn ships, holds the groups of both files
under one `H5Types`; the readers here take it for either file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

from livn._files import atomic_file
from livn.errors import InvalidArgumentError, MissingSystemFileError, SystemFileError, describe

H5TYPES = "H5Types"
POPULATION_LABELS = "H5Types/Population labels"
POPULATION_RANGE = "H5Types/Population range"
POPULATIONS_TABLE = "H5Types/Populations"
POPULATION_PROJECTIONS = "H5Types/Population projections"
VALID_PROJECTIONS = "H5Types/Valid population projections"

COORDINATES = "Generated Coordinates"
AXES = ("X Coordinate", "Y Coordinate", "Z Coordinate")
CELL_INDEX = "Cell Index"
ATTR_POINTER = "Attribute Pointer"
ATTR_VALUE = "Attribute Value"

EDGES = "Edges"
BLOCK_INDEX = "Destination Block Index"
BLOCK_POINTER = "Destination Block Pointer"
DESTINATION_POINTER = "Destination Pointer"
SOURCE_INDEX = "Source Index"
CONNECTIONS_NAMESPACE = "Connections"
DISTANCE = "distance"
#: Edge attribute namespace and name of learned synaptic weights (float64, nS), written by `Env.save_system`.
SYNAPSES_NAMESPACE = "Synapses"
WEIGHT = "weight"


class Edges(NamedTuple):
    """The edges of one projection, as arrays of equal length.

    - `source`: absolute presynaptic gids (int64).
    - `target`: absolute postsynaptic gids (int64).
    - `distance`: soma-to-soma distance in um (float64), or None where the file has none.
    - `weight`: the synapse's weight (peak conductance, nS, float64), or None where the file has none.
    """

    source: np.ndarray
    target: np.ndarray
    distance: np.ndarray | None
    weight: np.ndarray | None = None


# -- writing ---------------------------------------------------------------------


def _check_populations(populations: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """Validate population counts (gid order) and return `{name: (start, count)}`."""
    if not isinstance(populations, Mapping) or len(populations) == 0:
        raise InvalidArgumentError(
            f"populations must be a non-empty mapping from name to neuron count; got {describe(populations)}"
        )
    ranges, start = {}, 0
    for name, count in populations.items():
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise InvalidArgumentError(f"population names must be non-empty strings without '/'; got {describe(name)}")
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise InvalidArgumentError(
                f"the neuron count of population {name!r} must be a non-negative integer; got {describe(count)}"
            )
        ranges[name] = (start, int(count))
        start += int(count)
    if start >= 2**32:
        raise InvalidArgumentError(f"NeuroH5 gids are uint32; {start} neurons are too many")
    return ranges


#: Row type of `Valid population projections` as stored: the labels of `Population labels` (see the module doc).
_PROJECTION_ROW = np.dtype([("Source", np.uint16), ("Destination", np.uint16)])


def _write_h5types(f: h5py.File, ranges: dict[str, tuple[int, int]], projections) -> None:
    """Write the `H5Types` group: population labels, ranges and valid projections.

    The committed types are written as NeuroH5 defines them; the tables are stored with
    uncommitted types of the same layout, so that pyfive reads them (see the module doc).
    """
    labels = {name: i for i, name in enumerate(ranges)}
    f[POPULATION_LABELS] = h5py.enum_dtype(labels, basetype=np.uint16)
    label_type = f[POPULATION_LABELS].dtype
    f[POPULATION_RANGE] = np.dtype([("Start", np.uint64), ("Count", np.uint32), ("Population", label_type)])
    rows = np.array(
        [(start, count, labels[name]) for name, (start, count) in ranges.items()],
        dtype=f[POPULATION_RANGE].dtype,
    )
    f.create_dataset(POPULATIONS_TABLE, data=rows)  # a numpy dtype: stored uncommitted
    f[POPULATION_PROJECTIONS] = np.dtype([("Source", label_type), ("Destination", label_type)])
    pairs = np.array([(labels[pre], labels[post]) for pre, post in projections], dtype=_PROJECTION_ROW)
    f.create_dataset(VALID_PROJECTIONS, data=pairs)


def write_cells(path: str | os.PathLike, coordinates: Mapping[str, np.ndarray]) -> Path:
    """Write `cells.h5`: populations and soma coordinates, atomically.

    **Arguments**

    - `path`: the file to write (replaced if it exists).
    - `coordinates`: population name -> `[count, 3]` soma positions (x, y, z) in um,
      in gid order: the first population gets gids `0 .. count - 1`, and so on.
      Stored as float32, as NeuroH5 stores coordinates.

    **Returns**

    The path written.
    """
    if not isinstance(coordinates, Mapping):
        raise InvalidArgumentError(
            f"coordinates must map population names to [count, 3] arrays (um); got {describe(coordinates)}"
        )
    arrays = {}
    for name, xyz in coordinates.items():
        xyz = np.asarray(xyz, dtype=np.float64)
        if xyz.ndim != 2 or xyz.shape[1] != 3 or not np.all(np.isfinite(xyz)):
            raise InvalidArgumentError(
                f"coordinates of population {name!r} must be a finite [count, 3] array (x, y, z in um); "
                f"got {describe(xyz)}"
            )
        arrays[name] = xyz
    ranges = _check_populations({name: len(xyz) for name, xyz in arrays.items()})
    path = Path(path)
    with atomic_file(path, "w+b") as handle, h5py.File(handle, "w") as f:
        _write_h5types(f, ranges, [])
        for name, xyz in arrays.items():
            count = len(xyz)
            for axis, column in zip(AXES, xyz.T, strict=True):
                group = f.create_group(f"Populations/{name}/{COORDINATES}/{axis}")
                group.create_dataset(CELL_INDEX, data=np.arange(count, dtype=np.uint32))
                group.create_dataset(ATTR_POINTER, data=np.arange(count + 1, dtype=np.uint64))
                group.create_dataset(ATTR_VALUE, data=column.astype(np.float32))
    return path


def _destination_block_sparse(relative_target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block index, block pointer and destination pointer for edges sorted by target."""
    destinations, counts = np.unique(relative_target, return_counts=True)
    pointer = np.zeros(len(destinations) + 1, dtype=np.uint64)
    np.cumsum(counts, out=pointer[1:])
    if len(destinations) == 0:
        return np.zeros(0, np.uint32), np.zeros(1, np.uint64), pointer
    first = np.concatenate([[0], np.flatnonzero(np.diff(destinations) != 1) + 1])
    block_index = destinations[first].astype(np.uint32)
    block_pointer = np.concatenate([first, [len(destinations) + 1]]).astype(np.uint64)
    return block_index, block_pointer, pointer


def write_connections(
    path: str | os.PathLike,
    populations: Mapping[str, int],
    projections: Mapping[tuple[str, str], Edges | tuple],
) -> Path:
    """Write `connections.h5`: the edges of every projection, atomically.

    **Arguments**

    - `path`: the file to write (replaced if it exists).
    - `populations`: population name -> neuron count, in gid order (as in `write_cells`).
    - `projections`: `(pre, post)` -> `(source, target, distance)` or `(source, target,
      distance, weight)` with absolute presynaptic and postsynaptic gids, distances in um
      and (optionally) synaptic weights in nS, stored as the edge attribute
      `Synapses/weight`. Edges may come in any order; they are stored sorted by (target,
      source). A projection without edges is written as an empty one.

    **Returns**

    The path written.
    """
    ranges = _check_populations(populations)
    if not isinstance(projections, Mapping):
        raise InvalidArgumentError(
            f"projections must map (pre, post) to (source, target, distance); got {describe(projections)}"
        )
    checked = {}
    for key, edges in projections.items():
        if not (isinstance(key, tuple) and len(key) == 2 and all(name in ranges for name in key)):
            raise InvalidArgumentError(
                f"projection keys must be (pre, post) pairs of the populations {list(ranges)}; got {describe(key)}"
            )
        pre, post = key
        if not isinstance(edges, (tuple, list)) or len(edges) not in (3, 4):
            raise InvalidArgumentError(
                f"projection {pre}->{post}: edges must be (source, target, distance) or (source, target, distance, "
                f"weight); got {describe(edges)}"
            )
        source, target, distance = (np.asarray(a) for a in edges[:3])
        weight = None if len(edges) == 3 or edges[3] is None else np.asarray(edges[3], dtype=np.float64)
        if weight is not None and (weight.shape != source.shape or not np.all(np.isfinite(weight)) or np.any(weight < 0)):
            raise InvalidArgumentError(
                f"projection {pre}->{post}: weights must be one finite, non-negative value (nS) per edge; "
                f"got {describe(weight)}"
            )
        if not (source.ndim == target.ndim == distance.ndim == 1 and len(source) == len(target) == len(distance)):
            raise InvalidArgumentError(
                f"projection {pre}->{post}: source, target and distance must be 1-d arrays of equal length; "
                f"got {describe(source)}, {describe(target)}, {describe(distance)}"
            )
        (pre_start, pre_count), (post_start, post_count) = ranges[pre], ranges[post]
        source = source.astype(np.int64) - pre_start
        target = target.astype(np.int64) - post_start
        if len(source) and (
            source.min() < 0 or source.max() >= pre_count or target.min() < 0 or target.max() >= post_count
        ):
            raise InvalidArgumentError(
                f"projection {pre}->{post}: sources must be gids of {pre} and targets gids of {post}"
            )
        if not np.all(np.isfinite(distance)) or np.any(distance < 0):
            raise InvalidArgumentError(f"projection {pre}->{post}: distances must be finite and non-negative (um)")
        order = np.lexsort((source, target))
        checked[key] = (source[order], target[order], distance[order], None if weight is None else weight[order])

    path = Path(path)
    with atomic_file(path, "w+b") as handle, h5py.File(handle, "w") as f:
        _write_h5types(f, ranges, list(checked))
        for (pre, post), (source, target, distance, weight) in checked.items():
            block_index, block_pointer, pointer = _destination_block_sparse(target)
            group = f.create_group(f"Projections/{post}/{pre}")
            edges = group.create_group(EDGES)
            edges.create_dataset(BLOCK_INDEX, data=block_index)
            edges.create_dataset(BLOCK_POINTER, data=block_pointer)
            edges.create_dataset(DESTINATION_POINTER, data=pointer)
            edges.create_dataset(SOURCE_INDEX, data=source.astype(np.uint32))
            group.create_dataset(f"{CONNECTIONS_NAMESPACE}/{DISTANCE}", data=distance.astype(np.float32))
            if weight is not None:
                group.create_dataset(f"{SYNAPSES_NAMESPACE}/{WEIGHT}", data=weight)
    return path


# -- reading ---------------------------------------------------------------------


@contextlib.contextmanager
def _open(path: str | os.PathLike, role: str):
    """Open a NeuroH5 file for reading; turn every h5py/OS failure into a `SystemFileError`."""
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"path must be the path of a NeuroH5 {role}; got {describe(path)}")
    path = Path(path)
    if not path.is_file():
        raise MissingSystemFileError(f"no {role}: {path} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SystemFileError(f"{path} is not a readable HDF5 file ({e}); it is truncated or corrupt") from None
    try:
        with f:
            yield f
    except SystemFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError, RuntimeError) as e:
        raise SystemFileError(f"{path} cannot be read as a NeuroH5 {role} ({type(e).__name__}: {e})") from None


def _dataset(f: h5py.File, path: str, *, dtype_kind: str = "iu") -> np.ndarray:
    """Read a 1-d dataset, checking that it exists and has the expected kind of dtype."""
    item = f.get(path)
    if not isinstance(item, h5py.Dataset):
        raise SystemFileError(f"{f.filename} has no dataset {path!r}")
    if item.ndim != 1 or item.dtype.kind not in dtype_kind:
        raise SystemFileError(
            f"{f.filename}: {path!r} must be a 1-d array of kind {dtype_kind!r}; "
            f"got shape {item.shape} and dtype {item.dtype}"
        )
    return item[()]


def _read_ranges(f: h5py.File) -> dict[str, tuple[int, int]]:
    table = f.get(POPULATIONS_TABLE)
    if not isinstance(table, h5py.Dataset):
        raise SystemFileError(f"{f.filename} has no {POPULATIONS_TABLE!r} table of population ranges")
    fields = table.dtype.names or ()
    if not {"Start", "Count", "Population"} <= set(fields):
        raise SystemFileError(
            f"{f.filename}: {POPULATIONS_TABLE!r} must have the fields Start, Count and Population; got {fields}"
        )
    enum = h5py.check_enum_dtype(table.dtype["Population"])
    if enum is None and isinstance(f.get(POPULATION_LABELS), h5py.Datatype):
        enum = h5py.check_enum_dtype(f[POPULATION_LABELS].dtype)
    if not enum:
        raise SystemFileError(f"{f.filename}: the Population field of {POPULATIONS_TABLE!r} is not an enum of names")
    name_of = {int(value): str(name) for name, value in enum.items()}
    ranges = {}
    for row in table[()]:
        label = int(row["Population"])
        if label not in name_of:
            raise SystemFileError(f"{f.filename}: {POPULATIONS_TABLE!r} has an unnamed population label {label}")
        name = name_of[label]
        if name in ranges:
            raise SystemFileError(f"{f.filename}: population {name!r} appears twice in {POPULATIONS_TABLE!r}")
        ranges[name] = (int(row["Start"]), int(row["Count"]))
    if not ranges:
        raise SystemFileError(f"{f.filename}: {POPULATIONS_TABLE!r} lists no populations")
    ranges = dict(sorted(ranges.items(), key=lambda item: item[1][0]))
    expected = 0
    for name, (start, count) in ranges.items():
        if start != expected:
            raise SystemFileError(
                f"{f.filename}: population gids must be contiguous from 0; {name!r} starts at {start}, "
                f"expected {expected} (ranges: {ranges})"
            )
        expected = start + count
    return ranges


def read_population_ranges(path: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """Population gid ranges of a NeuroH5 file.

    **Arguments**

    - `path`: `cells.h5` (or any file with `H5Types/Populations`).

    **Returns**

    `{name: (start, count)}` ordered by start gid. Raises `SystemFileError` unless
    the ranges tile the gids `0 .. N - 1`.
    """
    with _open(path, "cells file") as f:
        return _read_ranges(f)


def uses_committed_table_types(path: str | os.PathLike) -> bool:
    """Whether a NeuroH5 file stores its `H5Types` tables with the committed types themselves.

    livn wrote files that way before its tables became readable by pyfive (see the module doc);
    such files are read by livn all the same. `livn.system.predefined` rebuilds cached systems
    for which this is True.

    **Arguments**

    - `path`: `cells.h5`, `connections.h5` or `graph.h5`.

    **Returns**

    True if `H5Types/Populations` or `H5Types/Valid population projections` has a committed
    datatype; False if neither has (or the file has neither table). Raises
    `MissingSystemFileError` / `SystemFileError` for a missing or unreadable file.
    """
    with _open(path, "NeuroH5 file") as f:
        tables = (f.get(name) for name in (POPULATIONS_TABLE, VALID_PROJECTIONS))
        return any(isinstance(table, h5py.Dataset) and table.id.get_type().committed() for table in tables)


def _read_axis(f: h5py.File, base: str, count: int) -> np.ndarray:
    """One coordinate (um) per cell of a population, ordered by relative gid."""
    index = _dataset(f, f"{base}/{CELL_INDEX}")
    pointer = _dataset(f, f"{base}/{ATTR_POINTER}").astype(np.int64)
    value = _dataset(f, f"{base}/{ATTR_VALUE}", dtype_kind="fiu").astype(np.float64)
    if len(pointer) != len(index) + 1 or np.any(np.diff(pointer) < 1) or pointer[0] != 0 or pointer[-1] > len(value):
        raise SystemFileError(
            f"{f.filename}: {base!r} has inconsistent pointers ({len(index)} cells, {len(pointer)} pointers, "
            f"{len(value)} values); every cell needs one value"
        )
    index = index.astype(np.int64)
    covered = np.zeros(count, dtype=np.int64)
    inside = (index >= 0) & (index < count)
    np.add.at(covered, index[inside], 1)
    if not np.all(inside) or np.any(covered != 1):
        missing = np.flatnonzero(covered == 0)[:10].tolist()
        raise SystemFileError(
            f"{f.filename}: {base!r} must hold exactly one value for each of the {count} cells of the population; "
            f"cell indices out of range: {int(np.sum(~inside))}, missing (relative) cells: {missing}"
        )
    out = np.empty(count, dtype=np.float64)
    out[index] = value[pointer[:-1]]
    return out


def read_coordinates(path: str | os.PathLike) -> tuple[dict[str, tuple[int, int]], np.ndarray]:
    """Population ranges and soma coordinates from `cells.h5`.

    **Arguments**

    - `path`: the `cells.h5` file.

    **Returns**

    `(ranges, coordinates)`: `{name: (start, count)}` ordered by start gid, and a
    float `[n_neurons, 4]` array of (gid, x, y, z), positions in um, sorted by gid.
    """
    with _open(path, "cells file") as f:
        ranges = _read_ranges(f)
        total = sum(count for _, count in ranges.values())
        coordinates = np.empty((total, 4), dtype=np.float64)
        coordinates[:, 0] = np.arange(total)
        for name, (start, count) in ranges.items():
            if count == 0:
                continue
            base = f"Populations/{name}/{COORDINATES}"
            if not isinstance(f.get(base), h5py.Group):
                raise SystemFileError(f"{f.filename} has no soma coordinates for population {name!r} ({base!r})")
            for column, axis in enumerate(AXES, start=1):
                coordinates[start : start + count, column] = _read_axis(f, f"{base}/{axis}", count)
        if not np.all(np.isfinite(coordinates)):
            raise SystemFileError(f"{f.filename} holds NaN or infinite coordinates")
        return ranges, coordinates


def _decode_edges(f: h5py.File, base: str, n_post: int, n_pre: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative (source, target) of every edge of one projection, in file order."""
    block_index = _dataset(f, f"{base}/{BLOCK_INDEX}").astype(np.int64)
    block_pointer = _dataset(f, f"{base}/{BLOCK_POINTER}").astype(np.int64)
    pointer = _dataset(f, f"{base}/{DESTINATION_POINTER}").astype(np.int64)
    source = _dataset(f, f"{base}/{SOURCE_INDEX}").astype(np.int64)
    n_dest = len(pointer) - 1
    bad = None
    if n_dest < 0 or pointer[0] != 0 or np.any(np.diff(pointer) < 0) or pointer[-1] != len(source):
        bad = "Destination Pointer must rise from 0 to the number of edges"
    elif len(block_index) and len(block_pointer) != len(block_index) + 1:
        bad = "Destination Block Pointer must have one more entry than Destination Block Index"
    elif len(block_index) == 0 and n_dest > 0:
        bad = "there are destinations but no destination blocks"
    elif len(block_index) and (block_pointer[0] != 0 or np.any(np.diff(block_pointer) < 0)):
        bad = "Destination Block Pointer must rise from 0"
    if bad is None and len(block_index):
        ends = np.minimum(block_pointer[1:], n_dest)
        sizes = np.maximum(ends - block_pointer[:-1], 0)
        if sizes.sum() != n_dest or block_pointer[-1] < n_dest:
            bad = "the destination blocks do not cover every destination pointer"
    if bad is not None:
        raise SystemFileError(f"{f.filename}: {base!r} is not a valid destination-block-sparse projection: {bad}")
    destination = np.zeros(n_dest, dtype=np.int64)
    if n_dest:
        offsets = np.arange(n_dest) - np.repeat(block_pointer[:-1], sizes)
        destination = np.repeat(block_index, sizes) + offsets
    target = np.repeat(destination, np.diff(pointer))
    if len(source) and (source.min() < 0 or source.max() >= n_pre or target.min() < 0 or target.max() >= n_post):
        raise SystemFileError(f"{f.filename}: {base!r} refers to cells outside the populations' gid ranges")
    return source, target


def read_projections(path: str | os.PathLike, ranges: Mapping[str, tuple[int, int]]) -> dict[tuple[str, str], Edges]:
    """The edges of every projection in `connections.h5`.

    **Arguments**

    - `path`: the `connections.h5` file.
    - `ranges`: `{name: (start, count)}` from `cells.h5`; if the file has its own
      `H5Types/Populations` it must agree.

    **Returns**

    `(pre, post)` -> `Edges` with absolute gids, in file order; `distance` (um) is
    read from `Projections/<post>/<pre>/Connections/distance` and `weight` (nS) from
    `Projections/<post>/<pre>/Synapses/weight`; each is None where absent.
    """
    with _open(path, "connections file") as f:
        if POPULATIONS_TABLE in f:
            own = _read_ranges(f)
            if own != dict(ranges):
                raise SystemFileError(
                    f"{f.filename}: its population ranges {own} differ from those of cells.h5 {dict(ranges)}"
                )
        projections = {}
        root = f.get("Projections")
        if root is None:
            return projections
        for post, by_pre in root.items():
            for pre in by_pre:
                unknown = [name for name in (pre, post) if name not in ranges]
                if unknown:
                    raise SystemFileError(
                        f"{f.filename}: projection {pre}->{post} names populations {unknown} that cells.h5 "
                        f"does not have (it has {list(ranges)})"
                    )
                base = f"Projections/{post}/{pre}"
                (pre_start, pre_count), (post_start, post_count) = ranges[pre], ranges[post]
                source, target = _decode_edges(f, f"{base}/{EDGES}", post_count, pre_count)
                distance = None
                attribute = f"{base}/{CONNECTIONS_NAMESPACE}/{DISTANCE}"
                if attribute in f:
                    distance = _dataset(f, attribute, dtype_kind="fiu").astype(np.float64)
                    if len(distance) != len(source):
                        raise SystemFileError(
                            f"{f.filename}: {attribute!r} has {len(distance)} values for {len(source)} edges"
                        )
                weight = None
                attribute = f"{base}/{SYNAPSES_NAMESPACE}/{WEIGHT}"
                if attribute in f:
                    weight = _dataset(f, attribute, dtype_kind="f").astype(np.float64)
                    if len(weight) != len(source) or not np.all(np.isfinite(weight)) or np.any(weight < 0):
                        raise SystemFileError(
                            f"{f.filename}: {attribute!r} must hold one finite weight >= 0 nS per edge "
                            f"({len(source)} edges)"
                        )
                projections[(pre, post)] = Edges(source + pre_start, target + post_start, distance, weight)
        return projections
