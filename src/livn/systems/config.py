"""System configs: the YAML that `generate` turns into a system directory.

```yaml
name: S2
seed: 20251
culture: {width: 400, height: 400}      # um; somata uniform in this rectangle, z = 0
populations: {EXC: 80, INH: 20}         # gids contiguous in this order, from 0
connectivity:
  kernel: exponential                   # exponential: exp(-d / L); gaussian: exp(-d^2 / (2 L^2))
  length_constant: 600                  # L, um
  projections:                          # target mean in-degree per postsynaptic neuron
    - {pre: EXC, post: EXC, in_degree: 20}
    - {pre: EXC, post: INH, in_degree: 4}
    - {pre: INH, post: EXC, in_degree: 40}
mea: {rows: 4, columns: 4}              # electrode grid spanning the culture
```

Every key is required; unknown keys are errors, so that a typo does not pass silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from livn.errors import InvalidArgumentError, MissingSystemFileError, UnknownNameError, describe, finite_number

#: Distance kernels a config may name.
KERNELS = ("exponential", "gaussian")

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def config_directories() -> list[Path]:
    """Where shipped configs live: the wheel's package data, then the source tree's `systems/config/`."""
    here = Path(__file__).resolve().parent
    return [here / "config", here.parents[2] / "systems" / "config"]


def shipped_configs() -> dict[str, Path]:
    """`{name: path}` of every config shipped with livn."""
    found: dict[str, Path] = {}
    for directory in config_directories():
        if directory.is_dir():
            for file in sorted(directory.glob("*.yml")):
                found.setdefault(file.stem, file)
    return found


def config_path(name: str) -> Path:
    """Path of the config shipped with livn for the predefined system `name`.

    **Arguments**

    - `name`: a predefined system name, e.g. "S1".

    **Returns**

    The YAML file (package data in a wheel, `systems/config/` in a source checkout).
    """
    available = shipped_configs()
    if not isinstance(name, str) or name not in available:
        raise UnknownNameError(
            f"no shipped config for system {describe(name)}; known systems are {', '.join(sorted(available)) or 'none'}"
        )
    return available[name]


def load_config(path: str | os.PathLike) -> dict:
    """Read and validate a system config.

    **Arguments**

    - `path`: a YAML file in the schema above.

    **Returns**

    The validated config as a plain dict (see `check_config`).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"path must be a path to a YAML config; got {describe(path)}")
    path = Path(path)
    if not path.is_file():
        raise MissingSystemFileError(f"no system config: {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise InvalidArgumentError(f"{path} is not valid YAML: {e}") from None
    return check_config(data, source=str(path))


def _fail(source: str, key: str, value, accepted: str):
    raise InvalidArgumentError(f"{source}: {key} must be {accepted}; got {describe(value)}")


def _section(data, key: str, keys: tuple[str, ...], source: str) -> dict:
    if not isinstance(data, Mapping):
        _fail(source, key, data, f"a mapping with the keys {', '.join(keys)}")
    missing = [k for k in keys if k not in data]
    unknown = [k for k in data if k not in keys]
    if missing or unknown:
        problems = ([f"missing {missing}"] if missing else []) + ([f"unknown {unknown}"] if unknown else [])
        raise InvalidArgumentError(
            f"{source}: {key} must have exactly the keys {', '.join(keys)}; {' and '.join(problems)}"
        )
    return dict(data)


def _positive_number(value, key: str, source: str) -> float:
    number = finite_number(value) if isinstance(value, (int, float)) else None
    if number is None or number <= 0:
        _fail(source, key, value, "a positive finite number")
    return number


def _positive_int(value, key: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        _fail(source, key, value, "a positive integer")
    return int(value)


def _name(value, key: str, source: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        _fail(source, key, value, "a non-empty name of letters, digits, '_', '-' and '.'")
    return value


def check_config(data, source: str = "config") -> dict:
    """Validate a system config and return it as plain, JSON-serialisable data.

    **Arguments**

    - `data`: the parsed config (a mapping in the schema of this module).
    - `source`: where it came from, for error messages.

    **Returns**

    A new dict with the same keys; numbers normalised (lengths and in-degrees as
    float, counts as int). Raises `InvalidArgumentError` (a `ValueError`) naming
    the key, the value and what is accepted, or `UnknownNameError` for an unknown
    kernel or population.
    """
    top = _section(data, "the config", ("name", "seed", "culture", "populations", "connectivity", "mea"), source)
    name = _name(top["name"], "name", source)
    seed = top["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        _fail(source, "seed", seed, "a non-negative integer")

    culture = _section(top["culture"], "culture", ("width", "height"), source)
    culture = {k: _positive_number(culture[k], f"culture.{k} (um)", source) for k in ("width", "height")}

    populations = top["populations"]
    if not isinstance(populations, Mapping) or not populations:
        _fail(source, "populations", populations, "a non-empty mapping from population name to neuron count")
    populations = {
        _name(pop, "populations (a population name)", source): _positive_int(count, f"populations.{pop}", source)
        for pop, count in populations.items()
    }

    connectivity = _section(top["connectivity"], "connectivity", ("kernel", "length_constant", "projections"), source)
    kernel = connectivity["kernel"]
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise UnknownNameError(
            f"{source}: connectivity.kernel must be one of {', '.join(KERNELS)}; got {describe(kernel)}"
        )
    length_constant = _positive_number(connectivity["length_constant"], "connectivity.length_constant (um)", source)
    listed = connectivity["projections"]
    if not isinstance(listed, list):
        _fail(source, "connectivity.projections", listed, "a list of {pre, post, in_degree} mappings")
    projections, seen = [], set()
    for i, entry in enumerate(listed):
        key = f"connectivity.projections[{i}]"
        entry = _section(entry, key, ("pre", "post", "in_degree"), source)
        for end in ("pre", "post"):
            if not isinstance(entry[end], str) or entry[end] not in populations:
                raise UnknownNameError(
                    f"{source}: {key}.{end} must be one of the populations {list(populations)}; "
                    f"got {describe(entry[end])}"
                )
        pair = (entry["pre"], entry["post"])
        if pair in seen:
            raise InvalidArgumentError(f"{source}: {key} repeats the projection {pair[0]}->{pair[1]}")
        seen.add(pair)
        in_degree = _positive_number(entry["in_degree"], f"{key}.in_degree", source)
        projections.append({"pre": pair[0], "post": pair[1], "in_degree": in_degree})

    mea = _section(top["mea"], "mea", ("rows", "columns"), source)
    mea = {k: _positive_int(mea[k], f"mea.{k}", source) for k in ("rows", "columns")}

    return {
        "name": name,
        "seed": int(seed),
        "culture": culture,
        "populations": populations,
        "connectivity": {"kernel": kernel, "length_constant": length_constant, "projections": projections},
        "mea": mea,
    }
