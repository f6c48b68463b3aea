"""Checkpoints: a culture's whole dynamic state in one HDF5 file, to continue exactly later.

`Env.save_state(path)` writes, and `Env.load_state(path)` reads, one HDF5 file:

- attributes `format` ("livn-checkpoint"), `format_version`, `livn_version`,
  `checksum` (SHA-256 over everything below, in a fixed order), and the identity
  of the culture: `system` (name), `system_digest` (SHA-256 over the population
  ranges, soma coordinates and synapses), `model_digest` (SHA-256 over the
  `CultureModel`'s parameters), `seed`, `backend` and `t_ms`;
- group `settings`: the Env's weights (nS per projection) and noise (mean, std in nA);
- group `state`: the backend's own state tree (`Backend.get_state`): membrane and
  synaptic variables, spikes in flight, the noise stream's position.

The file is written under a temporary name and renamed into place, so a crash
leaves the previous checkpoint or the new one. A checkpoint is loaded only into
an Env of the same system, model, seed and backend; a different one, or a file
whose checksum does not match, is refused with a `CheckpointError` before
anything changes.

Trees are dicts (string keys, order kept), lists, tuples, numpy arrays, numpy
scalars, Python ints, floats, bools and strings, and None.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

import livn
from livn._files import atomic_file
from livn.errors import CheckpointError, InvalidArgumentError, describe

FORMAT = "livn-checkpoint"
FORMAT_VERSION = 1
#: Identity attributes that must match between a checkpoint and the Env that loads it.
IDENTITY = ("system", "system_digest", "model_digest", "seed", "backend")


# -- identity --------------------------------------------------------------------------------------


def system_digest(system) -> str:
    """SHA-256 over a system's population ranges, soma coordinates (um) and synapses (gids, um)."""
    digest = hashlib.sha256(json.dumps(system.population_ranges, sort_keys=True).encode())
    arrays = [system.neuron_coordinates]
    for (pre, post), projection in sorted(system.projections.items()):
        digest.update(f"{pre}->{post}".encode())
        arrays += [projection.source, projection.target, projection.distance]
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode() + array.tobytes())
    return digest.hexdigest()


def model_digest(model) -> str:
    """SHA-256 over every parameter of a `CultureModel` (its dataclass repr is exact for floats)."""
    return hashlib.sha256(repr(model).encode()).hexdigest()


# -- trees <-> HDF5 ------------------------------------------------------------------------------------


def _digest_tree(tree, digest) -> None:
    """Feed `tree` into `digest` in a fixed order (the same before writing and after reading)."""
    if isinstance(tree, dict):
        digest.update(b"{")
        for key, value in tree.items():
            digest.update(key.encode() + b":")
            _digest_tree(value, digest)
        digest.update(b"}")
    elif isinstance(tree, (list, tuple)):
        digest.update(b"(" if isinstance(tree, tuple) else b"[")
        for value in tree:
            _digest_tree(value, digest)
        digest.update(b")")
    elif isinstance(tree, (np.ndarray, np.generic)):
        array = np.ascontiguousarray(tree)
        digest.update(f"a{array.dtype.str}{array.shape}".encode() + array.tobytes())
    else:
        digest.update(f"{type(tree).__name__}:{tree!r};".encode())


def tree_checksum(*trees) -> str:
    digest = hashlib.sha256()
    for tree in trees:
        _digest_tree(tree, digest)
    return digest.hexdigest()


def _write_tree(group, name: str, tree) -> None:
    if isinstance(tree, dict):
        child = group.create_group(name)
        child.attrs["kind"] = "dict"
        child.attrs["keys"] = json.dumps(list(tree))
        for index, (key, value) in enumerate(tree.items()):
            if not isinstance(key, str):
                raise TypeError(f"checkpoint trees need string keys; got {key!r}")
            _write_tree(child, str(index), value)
    elif isinstance(tree, (list, tuple)):
        child = group.create_group(name)
        child.attrs["kind"] = "tuple" if isinstance(tree, tuple) else "list"
        child.attrs["length"] = len(tree)
        for index, value in enumerate(tree):
            _write_tree(child, str(index), value)
    elif tree is None:
        group.create_group(name).attrs["kind"] = "none"
    elif isinstance(tree, (np.ndarray, np.generic)):
        data = group.create_dataset(name, data=np.asarray(tree))
        data.attrs["kind"] = "array" if isinstance(tree, np.ndarray) else "scalar"
    elif isinstance(tree, (bool, int, float, str)):
        child = group.create_group(name)
        child.attrs["kind"] = type(tree).__name__
        child.attrs["value"] = repr(tree) if not isinstance(tree, str) else tree
    else:
        raise TypeError(f"checkpoint trees cannot hold {describe(tree)}")


def _read_tree(node):
    kind = node.attrs["kind"]
    if kind == "dict":
        keys = json.loads(node.attrs["keys"])
        return {key: _read_tree(node[str(index)]) for index, key in enumerate(keys)}
    if kind in ("list", "tuple"):
        values = [_read_tree(node[str(index)]) for index in range(int(node.attrs["length"]))]
        return tuple(values) if kind == "tuple" else values
    if kind == "none":
        return None
    if kind == "array":
        return node[()] if node.shape == () else node[...]
    if kind == "scalar":
        return node[()]
    value = node.attrs["value"]
    if kind == "str":
        return str(value)
    if kind == "bool":
        return value == "True"
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    raise CheckpointError(f"unknown node kind {kind!r}")


# -- files -----------------------------------------------------------------------------------------------


def _check_path(path, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"path must be a file path (str or os.PathLike) to {what}; got {describe(path)}")
    return Path(path).expanduser()


def write(path, identity: dict, settings: dict, state) -> Path:
    """Write a checkpoint atomically; returns its path.

    **Arguments**: `path`; `identity` (the `IDENTITY` keys and `t_ms`); `settings` and
    `state`, trees (see the module docstring).
    """
    import h5py

    path = _check_path(path, "write the checkpoint to")
    if path.is_dir():
        raise InvalidArgumentError(f"path must be a file, not the directory {path}")
    checksum = tree_checksum(identity, settings, state)
    with atomic_file(path, "w+b") as f, h5py.File(f, "w") as h5:
        h5.attrs["format"] = FORMAT
        h5.attrs["format_version"] = FORMAT_VERSION
        h5.attrs["livn_version"] = livn.__version__
        h5.attrs["checksum"] = checksum
        h5.attrs["identity"] = json.dumps(identity)
        for key, value in identity.items():
            h5.attrs[key] = value
        _write_tree(h5, "settings", settings)
        _write_tree(h5, "state", state)
    return path


def read(path) -> tuple[dict, dict, object]:
    """Read and verify a checkpoint: `(identity, settings, state)`; `CheckpointError` if it is not intact."""
    import h5py

    path = _check_path(path, "read the checkpoint from")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: the file does not exist")
    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("format") != FORMAT:
                raise CheckpointError(f"{path} is not a livn checkpoint (no format attribute {FORMAT!r})")
            if int(h5.attrs.get("format_version", -1)) != FORMAT_VERSION:
                raise CheckpointError(
                    f"{path} has checkpoint format version {h5.attrs.get('format_version')}; "
                    f"this livn reads version {FORMAT_VERSION}"
                )
            identity = json.loads(h5.attrs["identity"])
            checksum = str(h5.attrs["checksum"])
            settings = _read_tree(h5["settings"])
            state = _read_tree(h5["state"])
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - h5py, json and KeyError all mean a damaged file
        raise CheckpointError(f"{path} is not a readable livn checkpoint ({type(e).__name__}: {e})") from None
    if tree_checksum(identity, settings, state) != checksum:
        raise CheckpointError(f"{path} is corrupt: its contents do not match the checksum written with it")
    return identity, settings, state


def check_identity(saved: dict, expected: dict, path) -> None:
    """Raise `CheckpointError` naming every identity field in which `saved` differs from `expected`."""
    differences = [
        f"{key}: checkpoint {saved.get(key)!r}, this Env {expected[key]!r}"
        for key in IDENTITY
        if saved.get(key) != expected[key]
    ]
    if differences:
        raise CheckpointError(
            f"{path} is the state of another culture and cannot be loaded into this Env ("
            + "; ".join(differences) + "); a checkpoint loads only into an Env of the same system, model, seed and backend"
        )
