"""Loading livn datasets: a local one written by `livn systems sample` (the default), or the published one.

```python
from livn.dataset import load

dataset = load("./my-dataset", "S1")             # offline: a directory on disk
sample = dataset["train_with_noise"][0]
published = load(HUB_REPOSITORY, "S1", online=True)   # downloads from the Hugging Face hub
```

Both have one config per system and the splits `train`, `test` and
`train_with_noise`, with the columns `seed, trials, t_end, features, trial_it,
trial_t` (see `livn.systems.sample`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from livn.errors import InvalidArgumentError, MissingSystemFileError, SystemFileError, UnknownNameError, describe

#: The published livn dataset on the Hugging Face hub.
HUB_REPOSITORY = "livn-org/livn"


def local_systems(path: str | os.PathLike) -> list[str]:
    """Names of the systems (configs) of a local dataset directory, from its sampling plans."""
    from livn.systems.sample import PLAN_FILE

    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise MissingSystemFileError(f"no dataset directory: {directory} does not exist")
    return sorted(file.parent.name for file in directory.glob(f"*/{PLAN_FILE}"))


def load(path: str | os.PathLike = HUB_REPOSITORY, system: str = "S1", split: str | None = None,
         online: bool = False, cache_dir: str | os.PathLike | None = None):
    """A livn dataset as a `datasets.DatasetDict` (or one `Dataset` when `split` is given).

    **Arguments**

    - `path`: a local dataset directory, or (with `online=True`) a hub repository id.
    - `system`: the config to load, e.g. "S1".
    - `split`: "train", "test" or "train_with_noise"; default all.
    - `online`: allow `path` to name a hub repository (this downloads it); local
      directories never need the network.
    - `cache_dir`: where `datasets` keeps its Arrow cache (default: its own).

    **Returns**: what `datasets.load_dataset(path, name=system, split=split)` returns.
    Raises `SystemFileError` naming the directory when its files cannot be read (truncated or
    corrupt shards, a damaged README.md), `UnknownNameError` for a split it does not hold.
    """
    from livn.systems.sample import SPLITS

    if not isinstance(system, str) or not system:
        raise InvalidArgumentError(f"system must be a system (config) name such as 'S1'; got {describe(system)}")
    if split is not None and not (isinstance(split, str) and split in SPLITS):
        raise UnknownNameError(f"split must be one of {SPLITS} or None; got {describe(split)}")
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"path must be a dataset directory or a hub repository id; got {describe(path)}")
    if not isinstance(online, bool):
        raise InvalidArgumentError(f"online must be True or False; got {describe(online)}")
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise InvalidArgumentError(f"cache_dir must be None or a directory path; got {describe(cache_dir)}")
    options = {"name": system, "split": split}
    if cache_dir is not None:
        options["cache_dir"] = str(cache_dir)
    local = Path(path).expanduser()
    if local.is_dir():
        known = local_systems(local)
        if system not in known:
            raise UnknownNameError(
                f"{local} has no system {system!r}; it holds {', '.join(known) or 'none'} "
                "(write one with: livn systems sample)"
            )
        readme = local / "README.md"
        if not readme.is_file():
            raise MissingSystemFileError(
                f"{local} has no README.md: the sampling run did not finish; run it again, or "
                f"`livn systems sample --merge --out {local} ...` to finalize"
            )
        held = sorted({file.name.split("-")[0] for file in (local / system).glob("*.parquet")})
        if split is not None and split not in held:
            raise UnknownNameError(f"split {split!r} is not in {local / system}; it holds {', '.join(held) or 'none'}")
        return _read(str(local), options)
    if not online:
        raise MissingSystemFileError(
            f"path: no dataset directory {local}; to download {describe(str(path))} from the Hugging Face hub "
            "pass online=True"
        )
    return _read(str(path), options)


def _read(path: str, options: dict):
    """`datasets.load_dataset(path, **options)`, its failures on damaged files as `SystemFileError` naming `path`."""
    import yaml
    from datasets import load_dataset
    from datasets.exceptions import DatasetsError
    from pyarrow import ArrowException

    try:
        return load_dataset(path, **options)
    # datasets, pyarrow and yaml (README.md's front matter) raise all of these for damaged files
    except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError, DatasetsError, ArrowException) as error:
        raise SystemFileError(
            f"path: {path} cannot be read as a livn dataset (config {options['name']!r}, split "
            f"{options['split']!r}); a file is damaged or was not written by `livn systems sample`: "
            f"{type(error).__name__}: {error}"
        ) from error


def plan_of(path: str | os.PathLike, system: str) -> dict:
    """The sampling plan recorded for `system` in a local dataset (counts, t_end, seeds, stimulation)."""
    from livn.systems.sample import PLAN_FILE

    file = Path(path).expanduser() / system / PLAN_FILE
    if not file.is_file():
        raise MissingSystemFileError(f"no sampling plan: {file} does not exist")
    return json.loads(file.read_text())
