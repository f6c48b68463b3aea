"""Turning a system config into a system directory.

*Placement.* Population k (in config order) gets `count` somata drawn uniformly
in the culture rectangle `[0, width) x [0, height)` um at z = 0 from
`np.random.default_rng(np.random.SeedSequence([seed, k]))`; gids are contiguous
per population, in config order, from 0. Positions are rounded to float32, as
NeuroH5 stores them, before anything else uses them.

*Connection rule.* For projection number m (config order) and each postsynaptic
neuron j, every neuron i of the presynaptic population other than j itself is a
candidate and is connected with probability

    p_ij = min(1, K * k(d_ij) / sum_i k(d_ij))

where K is the projection's `in_degree`, d_ij the soma distance (um) and k the
kernel: `exp(-d / L)` (exponential) or `exp(-d^2 / (2 L^2))` (gaussian), L the
`length_constant`. The expected in-degree is therefore K (less where the cap at 1
binds). When a presynaptic population has no more candidates than K, every
candidate is connected. The Bernoulli draws of neuron j come from
`np.random.default_rng(np.random.SeedSequence([seed, 1000 + m, j]))`, one uniform
per presynaptic neuron in gid order, so the edges do not depend on how the
postsynaptic neurons are split into blocks (e.g. over MPI ranks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from livn import neuroh5
from livn import system_directory as layout
from livn._files import atomic_directory
from livn.errors import InvalidArgumentError, describe
from livn.io import MEA
from livn.systems.config import check_config, load_config

#: Postsynaptic neurons per block of work (and per progress-bar update).
BLOCK_SIZE = 256


def _exponential(d: np.ndarray, length: float) -> np.ndarray:
    return np.exp(-d / length)


def _gaussian(d: np.ndarray, length: float) -> np.ndarray:
    return np.exp(-(d * d) / (2.0 * length * length))


KERNEL_FUNCTIONS = {"exponential": _exponential, "gaussian": _gaussian}


def population_ranges(config: Mapping) -> dict[str, tuple[int, int]]:
    """Gid ranges of the populations of a config.

    **Arguments**

    - `config`: a system config (see `livn.systems.config`).

    **Returns**

    `{population: (first gid, count)}` in gid order (config order, from gid 0).
    """
    config = check_config(config)
    ranges, start = {}, 0
    for name, count in config["populations"].items():
        ranges[name] = (start, count)
        start += count
    return ranges


def place_neurons(config: Mapping) -> dict[str, np.ndarray]:
    """Soma positions of every population of a config.

    **Arguments**

    - `config`: a system config (see `livn.systems.config`).

    **Returns**

    `{population: [count, 3]}` float64 positions (x, y, z) in um, float32-exact,
    in gid order.
    """
    config = check_config(config)
    width, height = config["culture"]["width"], config["culture"]["height"]
    positions = {}
    for index, (name, count) in enumerate(config["populations"].items()):
        rng = np.random.default_rng(np.random.SeedSequence([config["seed"], index]))
        xy = rng.uniform(0.0, 1.0, size=(count, 2)) * np.array([width, height])
        xyz = np.column_stack([xy, np.zeros(count)])
        positions[name] = xyz.astype(np.float32).astype(np.float64)
    return positions


def _inputs_of(xyz, pre_xyz, own, in_degree, kernel, length, key):
    """The synapses onto one neuron from one presynaptic population.

    `xyz` is the neuron's position and `pre_xyz` the `[3, n_pre]` positions of the
    presynaptic population (um); `own` is the neuron's index among them (-1 if it
    is not one of them) and `key` the entropy of its `SeedSequence`. Returns the
    chosen presynaptic indices (ascending) and their distances (um).
    """
    n_pre = pre_xyz.shape[1]
    d = np.sqrt(np.sum((pre_xyz - xyz[:, None]) ** 2, axis=0))
    if n_pre - (own >= 0) <= in_degree:
        chosen = np.arange(n_pre)
    else:
        weight = kernel(d, length)
        if own >= 0:
            weight[own] = 0.0
        total = weight.sum()
        p = np.minimum(1.0, in_degree * weight / total) if total > 0 else weight
        draws = np.random.default_rng(np.random.SeedSequence(key)).random(n_pre)
        chosen = np.flatnonzero(draws < p)
    if own >= 0:
        chosen = chosen[chosen != own]
    return chosen, d[chosen]


def connect(config: Mapping, positions, post_gids) -> dict[tuple[str, str], neuroh5.Edges]:
    """The synapses onto a block of postsynaptic neurons.

    **Arguments**

    - `config`: a system config.
    - `positions`: `[n_neurons, 3]` soma positions (x, y, z) in um of every neuron
      of the system, in gid order (as from `place_neurons`, concatenated).
    - `post_gids`: the postsynaptic gids to connect (any order; duplicates ignored).

    **Returns**

    `{(pre, post): Edges}` for every projection of the config: int64 absolute
    `source` and `target` gids and float64 `distance` (um), sorted by (target,
    source). The result for a gid does not depend on which other gids are in the block.
    """
    config = check_config(config)
    ranges = population_ranges(config)
    n_neurons = sum(count for _, count in ranges.values())
    positions = np.asarray(positions, dtype=np.float64)
    if positions.shape != (n_neurons, 3) or not np.all(np.isfinite(positions)):
        raise InvalidArgumentError(
            f"positions must be a finite [{n_neurons}, 3] array (x, y, z in um); got {describe(positions)}"
        )
    gids = np.asarray(post_gids)
    if gids.ndim != 1 or (gids.size and not np.issubdtype(gids.dtype, np.integer)):
        raise InvalidArgumentError(f"post_gids must be a 1-d array of integer gids; got {describe(post_gids)}")
    gids = np.unique(gids.astype(np.int64))
    if gids.size and (gids[0] < 0 or gids[-1] >= n_neurons):
        raise InvalidArgumentError(f"post_gids must lie in [0, {n_neurons - 1}]; got {gids[0]} .. {gids[-1]}")

    seed = config["seed"]
    kernel = KERNEL_FUNCTIONS[config["connectivity"]["kernel"]]
    length = config["connectivity"]["length_constant"]
    result = {}
    for m, projection in enumerate(config["connectivity"]["projections"]):
        pre, post, in_degree = projection["pre"], projection["post"], projection["in_degree"]
        (pre_start, n_pre), (post_start, n_post) = ranges[pre], ranges[post]
        pre_xyz = np.ascontiguousarray(positions[pre_start : pre_start + n_pre].T)
        targets = gids[(gids >= post_start) & (gids < post_start + n_post)]
        sources, chosen_targets, distances = [], [], []
        for j in targets.tolist():
            own = j - pre_start if pre == post else -1
            key = [seed, 1000 + m, j]
            chosen, d = _inputs_of(positions[j], pre_xyz, own, in_degree, kernel, length, key)
            sources.append(chosen + pre_start)
            chosen_targets.append(np.full(chosen.size, j, dtype=np.int64))
            distances.append(d)
        result[(pre, post)] = neuroh5.Edges(
            np.concatenate(sources).astype(np.int64) if sources else np.zeros(0, np.int64),
            np.concatenate(chosen_targets) if chosen_targets else np.zeros(0, np.int64),
            np.concatenate(distances) if distances else np.zeros(0, np.float64),
        )
    return result


def _connect_blocks(config: dict, positions: np.ndarray, comm, progress: bool):
    """Synapses of the blocks of `BLOCK_SIZE` postsynaptic neurons that belong to this rank.

    Block b goes to rank `b % comm.size`. Returns `{b: {(pre, post): Edges}}`.
    """
    n_neurons = positions.shape[0]
    starts = list(range(0, n_neurons, BLOCK_SIZE))[comm.rank :: comm.size]
    mine = sum(min(start + BLOCK_SIZE, n_neurons) - start for start in starts)
    label = f"livn: building {config['name']}" + (f" (rank 0 of {comm.size})" if comm.size > 1 else "")
    blocks = {}
    with comm.progress(total=mine, desc=label, unit="neuron", disable=not progress) as bar:
        for start in starts:
            stop = min(start + BLOCK_SIZE, n_neurons)
            blocks[start // BLOCK_SIZE] = connect(config, positions, np.arange(start, stop))
            bar.update(stop - start)
    return blocks


def generate(
    config: Mapping | str | os.PathLike,
    out_dir: str | os.PathLike,
    overwrite: bool = False,
    progress: bool = False,
    comm=None,
) -> Path:
    """Build a system directory from a config, on one process or on all ranks of an MPI job.

    Writes `cells.h5`, `connections.h5` (when the config has projections),
    `mea.json` (a `rows` x `columns` grid spanning the culture) and `system.json`
    (name, config, seed, livn version, SHA-256 of each file). The directory is
    built under a temporary name and renamed into place when complete, so an
    error leaves no partial directory. The same config gives identical files.

    Under MPI every rank must call `generate` with the same arguments: the ranks
    connect disjoint blocks of `BLOCK_SIZE` postsynaptic neurons (block b on rank
    b % size), rank 0 gathers them and writes. Because the connection rule draws
    per postsynaptic neuron (see the module docstring), the files are identical
    for any number of ranks. A bad argument or a failure on any rank raises on
    every rank.

    **Arguments**

    - `config`: a config dict or the path of a YAML config.
    - `out_dir`: the system directory to create.
    - `overwrite`: replace `out_dir` if it exists (else `FileExistsError`).
    - `progress`: show a progress bar (on rank 0).
    - `comm`: a `livn._mpi.World`; default `livn._mpi.world()` (serial unless under `mpirun`).

    **Returns**

    The absolute path of the system directory (on every rank).
    """
    from livn._mpi import World, world

    comm = world() if comm is None else comm
    if not isinstance(comm, World):
        raise InvalidArgumentError(f"comm must be a livn._mpi.World or None; got {describe(comm)}")
    with comm.together():
        if isinstance(config, (str, os.PathLike)):
            config = load_config(config)
        elif isinstance(config, Mapping):
            config = check_config(config)
        else:
            raise InvalidArgumentError(f"config must be a config dict or a YAML path; got {describe(config)}")
        if not isinstance(out_dir, (str, os.PathLike)):
            raise InvalidArgumentError(f"out_dir must be a directory path; got {describe(out_dir)}")
        for name, value in (("overwrite", overwrite), ("progress", progress)):
            if not isinstance(value, bool):
                raise InvalidArgumentError(f"{name} must be True or False; got {describe(value)}")
        out_dir = Path(out_dir).expanduser().resolve()
        if out_dir.exists() and not overwrite:
            raise FileExistsError(f"{out_dir} already exists; pass overwrite=True (livn systems generate --overwrite) to replace it")
        if comm.is_root:
            check_writable(out_dir.parent)

    placed = place_neurons(config)
    positions = np.concatenate(list(placed.values()))
    blocks = None
    with comm.together():
        blocks = _connect_blocks(config, positions, comm, progress)
    gathered = comm.gather(blocks)
    with comm.together():
        if comm.is_root:
            merged = {b: edges for part in gathered for b, edges in part.items()}
            _write_system(config, placed, [merged[b] for b in sorted(merged)], out_dir, overwrite)
    return out_dir


def check_writable(directory: Path) -> None:
    """Raise `PermissionError` unless files can be created in `directory` (or in its nearest existing parent)."""
    directory = Path(directory)
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to {directory}: {existing} is not a writable directory")


def _write_system(config: dict, placed: dict, blocks: list, out_dir: Path, overwrite: bool) -> None:
    """Write the system directory from the placed neurons and the connected blocks (in gid order)."""
    parts: dict[tuple[str, str], list[neuroh5.Edges]] = {}
    for block in blocks:
        for key, edges in block.items():
            parts.setdefault(key, []).append(edges)
    projections = {
        key: neuroh5.Edges(*(np.concatenate([getattr(e, name) for e in edges]) for name in ("source", "target", "distance")))
        for key, edges in parts.items()
    }
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        files = [neuroh5.write_cells(tmp / layout.CELLS_FILE, placed).name]
        if projections:
            counts = {name: len(xyz) for name, xyz in placed.items()}
            files.append(neuroh5.write_connections(tmp / layout.CONNECTIONS_FILE, counts, projections).name)
        culture, grid = config["culture"], config["mea"]
        mea = MEA.grid(culture["width"], culture["height"], grid["rows"], grid["columns"])
        files.append(mea.save(tmp / layout.MEA_FILE).name)
        layout.write_metadata(tmp, config, files)
