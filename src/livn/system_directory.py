"""The system directory: its file names, `system.json`, and adding files to it atomically.

This module is the one place that knows how a system directory is laid out;
`livn.system` reads through it, `livn.systems.generate` writes a new directory
through it and `livn.systems.tune` promotes `tuned.json` through it.

| file | holds | written by |
|---|---|---|
| `cells.h5` | populations and soma coordinates (NeuroH5, see `livn.neuroh5`) | generate |
| `connections.h5` | synapses (NeuroH5); absent means no connections | generate |
| `graph.h5` | cells and synapses in one NeuroH5 file, read where there is no `cells.h5` | other tools |
| `mea.json` | the electrode layout (`livn.io.MEA`) | generate |
| `tuned.json` | fitted weights and noise (`livn.systems.tune`) | tune |
| `system.json` | name, config, seed, livn version, SHA-256 of every file above | both |

`system.json` is the directory's table of contents. Its `checksums` map each
file's *name* (the names above) to its SHA-256 digest; an optional `files`
entry maps a name to the file on disk that holds it, where they differ. A
directory from another NeuroH5 tool has no `system.json`; its files are read
under their names, unchecked.

*Adding files atomically* (`add_files`). `system.json` is the only file ever
replaced in place, and its rename is the single commit point:

1. each new file is written under a fresh, content-addressed name
   (`tuned.json` -> `tuned.<16 hex digits of its SHA-256>.json`) that the current
   `system.json` does not reference, so nothing a reader can see changes;
2. the new `system.json`, listing the new names in `files` and their checksums,
   is written to a temporary file and renamed over the old one (atomic);
3. files that neither the new nor the previous `system.json` reference are removed
   (superseded versions, temporaries of an earlier crash).

A crash before the rename in step 2 leaves the old `system.json`, which still
names the old files, untouched; a crash after it leaves the new one, whose files
are complete (written, flushed and renamed in step 1). Either way every listed
checksum matches; at worst an unreferenced file is left behind, and the next
`add_files` removes it. Readers need no repair step and no write permission.
The previous version survives one more commit, so a reader that read the old
`system.json` just before a commit still finds its files. Writers of one
directory serialise on a lock file `.system.json.lock` in it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import livn
from livn._files import atomic_file, sha256, write_json
from livn.errors import (
    ChecksumMismatchError,
    InvalidArgumentError,
    MissingSystemFileError,
    SystemFileError,
    describe,
)

#: Populations and soma coordinates (NeuroH5).
CELLS_FILE = "cells.h5"
#: Synapses (NeuroH5); optional.
CONNECTIONS_FILE = "connections.h5"
#: Cells and synapses in one NeuroH5 file, as upstream livn ships systems; read where there is no `cells.h5`.
GRAPH_FILE = "graph.h5"
#: Electrode layout.
MEA_FILE = "mea.json"
#: Metadata: name, config, seed, livn version, checksums (and `files`, see above).
METADATA_FILE = "system.json"
#: Tuned weights and noise (written by `livn systems tune`).
TUNED_FILE = "tuned.json"

_LOCK_FILE = f".{METADATA_FILE}.lock"
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


# -- reading ---------------------------------------------------------------------------


def _check_directory(directory) -> Path:
    if not isinstance(directory, (str, os.PathLike)):
        raise InvalidArgumentError(f"directory must be a path to a system directory; got {describe(directory)}")
    return Path(directory).expanduser()


def _check_name(name, what: str = "name") -> str:
    if not isinstance(name, str) or not _PLAIN_NAME.match(name) or name == METADATA_FILE:
        raise InvalidArgumentError(
            f"{what} must be a plain file name (letters, digits, '_', '-', '.'; not {METADATA_FILE}); "
            f"got {describe(name)}"
        )
    return name


def read_json_object(file: str | os.PathLike) -> dict | None:
    """The JSON object in `file`; None where there is no such file; `SystemFileError` if it is corrupt."""
    file = Path(file)
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SystemFileError(f"{file} is not valid JSON ({e}); the file is corrupt") from None
    if not isinstance(data, dict):
        raise SystemFileError(f"{file} must hold a JSON object; got {describe(data)}")
    return data


def _check_table(data: dict, key: str, file: Path, what: str) -> None:
    table = data.get(key, {})
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise SystemFileError(f"{file}: {key!r} must map file names to {what}; got {describe(table)}")
    bad = [v for v in (table.values() if key == "files" else ()) if not _PLAIN_NAME.match(v)]
    if bad:
        raise SystemFileError(f"{file}: 'files' must name files inside the directory; got {bad[0]!r}")


def read_metadata(directory: str | os.PathLike) -> dict | None:
    """Contents of `system.json` in `directory`, or None where there is none.

    Raises `SystemFileError` if it is not a JSON object whose `checksums` (and
    `files`, if present) map file names to strings.
    """
    file = _check_directory(directory) / METADATA_FILE
    data = read_json_object(file)
    if data is not None:
        _check_table(data, "checksums", file, "SHA-256 hex digests")
        _check_table(data, "files", file, "the names of the files on disk")
    return data


def locate(directory: str | os.PathLike, name: str, metadata: dict | None = None) -> Path:
    """The file on disk that holds `name` (e.g. `TUNED_FILE`) in a system directory.

    **Arguments**

    - `directory`: the system directory.
    - `name`: a file name of the layout (`CELLS_FILE`, `MEA_FILE`, `TUNED_FILE`, ...).
    - `metadata`: `system.json` as already read (`read_metadata`); read if None.

    **Returns**

    The path (which need not exist).
    """
    directory = _check_directory(directory)
    name = _check_name(name)
    if metadata is None:
        metadata = read_metadata(directory) or {}
    return directory / metadata.get("files", {}).get(name, name)


def verify(directory: str | os.PathLike, metadata: dict | None = None) -> dict[str, str]:
    """Check every file listed in `system.json` against its SHA-256 checksum.

    **Arguments**

    - `directory`: the system directory.
    - `metadata`: `system.json` as already read; read if None.

    **Returns**

    `{file name: checksum}` of the files checked (empty without `system.json`).
    Raises `ChecksumMismatchError` naming the first file that differs and
    `MissingSystemFileError` for a listed file that is gone.
    """
    directory = _check_directory(directory)
    if metadata is None:
        metadata = read_metadata(directory) or {}
    checksums = metadata.get("checksums", {})
    for name, expected in checksums.items():
        _check_file(locate(directory, name, metadata), expected)
    return dict(checksums)


def _check_file(file: Path, expected: str) -> None:
    if not file.is_file():
        raise MissingSystemFileError(f"{file} is listed in {METADATA_FILE} but does not exist")
    actual = sha256(file)
    if actual != expected:
        raise ChecksumMismatchError(
            f"{file} has changed since it was written: SHA-256 {actual} differs from {expected} "
            f"recorded in {METADATA_FILE}; regenerate the system"
        )


def read_listed_json(directory: str | os.PathLike, name: str) -> dict | None:
    """The JSON object `name` (e.g. `TUNED_FILE`) as `system.json` lists it now, checksum verified.

    **Returns**

    The object, or None where the directory has no such file.
    """
    directory = _check_directory(directory)
    metadata = read_metadata(directory) or {}
    file = locate(directory, name, metadata)
    expected = metadata.get("checksums", {}).get(name)
    if expected is not None:
        _check_file(file, expected)
    return read_json_object(file)


# -- writing ---------------------------------------------------------------------------


def write_metadata(directory: str | os.PathLike, config: Mapping, files: list[str]) -> dict:
    """Write `system.json` of a directory being built (e.g. inside `livn._files.atomic_directory`).

    **Arguments**

    - `directory`: the directory, holding the `files` already.
    - `config`: the validated config it was generated from (with `name` and `seed`).
    - `files`: names of the files in `directory` to list with their SHA-256 checksums.

    **Returns**

    The metadata written: `name`, `config`, `seed`, `livn_version`, `checksums`.
    """
    directory = _check_directory(directory)
    if not isinstance(config, Mapping) or "name" not in config or "seed" not in config:
        raise InvalidArgumentError(f"config must be a validated system config with a name and a seed; got {describe(config)}")
    if not isinstance(files, (list, tuple)):
        raise InvalidArgumentError(f"files must be a list of file names; got {describe(files)}")
    names = [_check_name(name, "each of files") for name in files]
    metadata = {
        "name": config["name"],
        "config": dict(config),
        "seed": config["seed"],
        "livn_version": livn.__version__,
        "checksums": {name: sha256(directory / name) for name in names},
    }
    write_json(directory / METADATA_FILE, metadata)
    return metadata


def _versioned(name: str, digest: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{digest[:16]}.{suffix}" if dot and stem else f"{name}.{digest[:16]}"


def _is_version_of(file_name: str, name: str) -> bool:
    stem, dot, suffix = name.rpartition(".")
    if not (dot and stem):
        stem, suffix = name, ""
    pattern = re.escape(stem) + r"\.[0-9a-f]{16}" + (r"\." + re.escape(suffix) if suffix else "")
    return file_name == name or re.fullmatch(pattern, file_name) is not None


def _encode(name: str, content) -> bytes:
    if isinstance(content, (bytes, bytearray)):
        return bytes(content)
    if isinstance(content, Mapping):
        return (json.dumps(content, indent=2) + "\n").encode()
    raise InvalidArgumentError(f"files[{name!r}] must be bytes or a JSON object (dict); got {describe(content)}")


def add_files(directory: str | os.PathLike, files: Mapping[str, bytes | Mapping]) -> dict[str, Path]:
    """Add or replace files of an existing system directory, with their checksums, atomically as a whole.

    After a crash at any point the directory holds either all of the old files or
    all of the new ones, each matching its checksum (see the module docstring).
    Where the directory has no `system.json`, one is created that lists the new files.

    **Arguments**

    - `directory`: an existing system directory.
    - `files`: `{name: content}`; a name is a plain file name other than
      `system.json` (e.g. `TUNED_FILE`), content is bytes or a dict (written as JSON).

    **Returns**

    `{name: path of the file on disk that now holds it}`.
    """
    from filelock import FileLock

    directory = _check_directory(directory)
    if not directory.is_dir():
        raise MissingSystemFileError(f"no system directory: {directory} does not exist or is not a directory")
    if not isinstance(files, Mapping) or not files:
        raise InvalidArgumentError(f"files must be a non-empty mapping from file name to content; got {describe(files)}")
    contents = {_check_name(name, "each name in files"): _encode(name, content) for name, content in files.items()}

    with FileLock(str(directory / _LOCK_FILE)):
        old = read_metadata(directory)
        metadata = dict(old or {"livn_version": livn.__version__})
        checksums, on_disk = dict(metadata.get("checksums", {})), dict(metadata.get("files", {}))
        written = {}
        for name, content in contents.items():  # step 1: new files under names nobody references
            digest = hashlib.sha256(content).hexdigest()
            written[name] = directory / _versioned(name, digest)
            with atomic_file(written[name], "wb") as f:
                f.write(content)
            checksums[name], on_disk[name] = digest, written[name].name
        metadata["checksums"], metadata["files"] = checksums, on_disk
        write_json(directory / METADATA_FILE, metadata)  # step 2: the commit
        _remove_unreferenced(directory, list(contents), [metadata, old or {}])  # step 3
    return written


def _remove_unreferenced(directory: Path, names: list[str], versions: list[dict]) -> None:
    """Remove versions of `names` and temporaries that none of the `versions` of `system.json` reference."""
    keep = {locate(directory, name, metadata).name for name in names for metadata in versions}
    prefixes = tuple(f".{n}" for n in [METADATA_FILE, *(name.rpartition(".")[0] or name for name in names)])
    for file in directory.iterdir():
        stale_version = file.name not in keep and any(_is_version_of(file.name, name) for name in names)
        stale_temporary = file.name.startswith(prefixes) and file.name.endswith(".tmp")
        if (stale_version or stale_temporary) and file.is_file():
            file.unlink(missing_ok=True)
