"""Property tests of the loaders: system configs, datasets and experiments, for any content.

Mappings are perturbed one key at a time (junk in place of a value, a key dropped or added)
and files are written with any text or bytes, truncated or overwritten. Every load either
succeeds or raises a livn error naming the key or the file (tests/_strategies.py); valid
content drawn here always loads, with the values it was given.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from _strategies import CHEAP, HUGE_INT, PROPERTY, junk, satisfies_contract
from conftest import small_config
from hypothesis import given, settings
from hypothesis import strategies as st

from livn.dataset import load
from livn.experiment.spec import load_experiment
from livn.systems.config import check_config, load_config

os.environ["HF_DATASETS_OFFLINE"] = "1"  # a dataset test must never reach the network
os.environ["HF_HUB_OFFLINE"] = "1"

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70),
                    st.sampled_from([HUGE_INT, 0, -1, True]))


def key_paths(data, prefix: str = "") -> list[str]:
    """Every key path of a nested dict/list: `culture`, `culture.width`, `projections[0].pre`, ..."""
    paths = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        path = f"{prefix}[{key}]" if isinstance(data, list) else f"{prefix}.{key}" if prefix else str(key)
        paths += [path, *key_paths(value, path)]
    return paths


def _parent_and_key(data, path: str):
    parts = path.replace("[", ".[").split(".")
    for part in parts[:-1]:
        data = data[int(part[1:-1])] if part.startswith("[") else data[part]
    last = parts[-1]
    return data, int(last[1:-1]) if last.startswith("[") else last


def perturb(valid: dict):
    """`(key path, perturbed copy)`: one value replaced by junk or a number, dropped, or a key added next to it."""
    def apply(drawn):
        path, how, value = drawn
        data = copy.deepcopy(valid)
        parent, key = _parent_and_key(data, path)
        if how == "replace":
            parent[key] = value
        elif how == "drop" and isinstance(parent, dict):
            del parent[key]
        elif how == "add" and isinstance(parent, dict):
            parent["unexpected"] = value
        else:
            parent[key] = value
        return path, data

    return st.tuples(st.sampled_from(key_paths(valid)), st.sampled_from(["replace", "replace", "drop", "add"]),
                     st.one_of(junk, numbers)).map(apply)


def leaf_and_parents(path: str) -> list[str]:
    """`a.b[0].c` -> names an error may use for it: the whole path and each enclosing one, and 'unexpected'."""
    names, current = [], path
    while current:
        names.append(current)
        cut = max(current.rfind("."), current.rfind("["))
        current = current[:cut] if cut > 0 else ""
    return [*names, "unexpected"]


# -- system configs -------------------------------------------------------------------------------------------------

CONFIG = small_config("S9", {"EXC": 8, "INH": 2}, 200.0, projections=[("EXC", "EXC", 3), ("INH", "EXC", 2)])


@CHEAP
@given(junk)
def test_config_that_is_not_a_mapping_is_refused(data):
    satisfies_contract(lambda: check_config(data), "config")


@CHEAP
@given(
    st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,5}", fullmatch=True), st.integers(1, 500), min_size=1, max_size=4),
    st.floats(1.0, 1e5), st.floats(1.0, 1e5), st.sampled_from(["exponential", "gaussian"]), st.floats(1e-3, 1e4),
    st.integers(0, 2**63), st.integers(1, 16), st.integers(1, 16), st.data(),
)
def test_valid_config_is_accepted_as_given(populations, width, height, kernel, length, seed, rows, columns, data):
    names = list(populations)
    pairs = data.draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)), unique=True, max_size=4))
    projections = [{"pre": pre, "post": post, "in_degree": data.draw(st.floats(1e-3, 1e3))} for pre, post in pairs]
    config = {"name": "drawn", "seed": seed, "culture": {"width": width, "height": height},
              "populations": populations, "mea": {"rows": rows, "columns": columns},
              "connectivity": {"kernel": kernel, "length_constant": length, "projections": projections}}
    checked = check_config(config)
    assert checked == config and check_config(checked) == checked


def _yaml_texts(valid: dict):
    text = yaml.safe_dump(valid)
    return st.one_of(
        st.text(max_size=60),
        st.integers(0, len(text)).map(lambda n: text[:n]),  # truncated
        perturb(valid).map(lambda case: yaml.dump(case[1])),  # numpy values get python tags: refused
        st.sampled_from(["culture: [1, 2", "? [a, b]\n: 1\n", "a: &x [*x]\n", "!!python/object:os.system {}\n",
                         f"name: S\nseed: 1\nculture: {{width: {HUGE_INT}, height: 1}}\n", "\t- x", "- 1\n- 2\n"]),
    ).map(str.encode)


@CHEAP
@given(st.one_of(junk, st.sampled_from(["", "/nonexistent/config.yml", "\x00", "."])))
def test_load_config_refuses_what_is_not_a_config_file(path):
    satisfies_contract(lambda: load_config(path), ["path", str(path)])


# -- datasets -------------------------------------------------------------------------------------------------------

README = """---
configs:
- config_name: S1
  data_files:
  - split: train
    path: S1/train-*.parquet
---

# a hand-written livn dataset
"""


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """A valid one-system, one-split, two-sample dataset in the layout `livn systems sample` writes."""
    from livn.systems.sample import PLAN_FILE, write_shard

    root = tmp_path_factory.mktemp("dataset")
    (root / "S1").mkdir()
    (root / "S1" / PLAN_FILE).write_text("{}")
    write_shard(root / "S1" / "train-00000-of-00001.parquet", {
        "seed": [1, 2], "trials": [1, 1], "t_end": [10.0, 10.0],
        "features": [[[0.0, 5.0, 1.0, 1.0]], [[3.0, 2.0, 4.0, 1.0]]],
        "trial_it": [[[0, 3]], [[]]], "trial_t": [[[1.5, 2.5]], [[]]],
    })
    (root / "README.md").write_text(README)
    return root


def test_the_hand_written_dataset_loads(dataset_dir, tmp_path):
    train = load(dataset_dir, "S1", split="train", cache_dir=tmp_path)
    assert train.num_rows == 2 and train[0]["trial_t"] == [[1.5, 2.5]]


DATASET_ARGUMENTS = {
    "system": st.one_of(junk, st.text(max_size=6)),
    "split": st.one_of(junk, st.sampled_from(["train", "test", "TRAIN", ""])),
    "online": st.one_of(junk.filter(lambda v: v is not True), st.sampled_from([0, 1, "yes"])),  # True downloads
    "cache_dir": junk.filter(lambda value: not isinstance(value, str)),  # a string is a directory to create
}


@PROPERTY
@given(name=st.sampled_from(sorted(DATASET_ARGUMENTS)), data=st.data())
def test_dataset_load_fails_only_by_naming_the_argument(dataset_dir, name, data):
    value = data.draw(DATASET_ARGUMENTS[name], label=name)
    with tempfile.TemporaryDirectory() as cache:
        arguments = {"path": dataset_dir, "system": "S1", "split": "train", "online": False, "cache_dir": cache,
                     name: value}
        satisfies_contract(lambda: load(**arguments), name)


@PROPERTY
@given(st.one_of(junk, st.sampled_from(["", "/nonexistent/dataset", "not-a-hub/repo", "\x00"])))
def test_dataset_path_that_is_not_a_dataset_is_refused_by_name(path):
    satisfies_contract(lambda: load(path, "S1"), ["path", str(path)])


@settings(PROPERTY, max_examples=PROPERTY.max_examples // 2)  # each example copies and loads a dataset
@given(
    file=st.sampled_from(["README.md", "S1/train-00000-of-00001.parquet"]),
    damage=st.sampled_from(["truncate", "overwrite", "replace", "delete"]),
    offset=st.floats(0, 1), junk_bytes=st.binary(min_size=1, max_size=16),
)
def test_damaged_dataset_is_refused_by_name(dataset_dir, file, damage, offset, junk_bytes):
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "dataset"
        shutil.copytree(dataset_dir, root)
        target = root / file
        content = target.read_bytes()
        at = int(offset * len(content))
        if damage == "truncate":
            target.write_bytes(content[:at])
        elif damage == "overwrite":
            target.write_bytes(content[:at] + junk_bytes + content[at + len(junk_bytes):])
        elif damage == "replace":
            target.write_bytes(junk_bytes)
        else:
            target.unlink()
        satisfies_contract(lambda: load(root, "S1", split="train", cache_dir=Path(scratch) / "cache"),
                           ["path", str(root), str(target)])


# -- experiments ----------------------------------------------------------------------------------------------------

EXPERIMENT = {
    "name": "drawn", "system": "S1", "backend": "brian2", "seed": 3, "recordings": {"spikes": True},
    "period_ms": 10, "latency": None,
    "protocol": {
        "trials": 4, "parameters": {"channel": 5, "width_ms": 2},
        "roving": {"amplitude_uA": {"selector": "shuffled", "values": [1, 2, 4]}},
        "windows": {"pre_ms": 20, "stimulus_ms": 10, "post_ms": 40, "iti_ms": 30},
        "stimulus": "pulse",
        "events": [{"event": "trial_end", "log": "done"}, {"event": "burst_detected", "set": {"amplitude_uA": 1}}],
    },
    "pipeline": [], "sinks": [], "mea": None,
}


@pytest.mark.parametrize(("loader", "valid"), [(check_config, CONFIG), (load_experiment, EXPERIMENT)],
                         ids=["config", "experiment"])
@CHEAP
@given(data=st.data())
def test_mapping_fails_only_by_naming_the_key(loader, valid, data):
    path, mapping = data.draw(perturb(valid), label="perturbed")
    satisfies_contract(lambda: loader(mapping), leaf_and_parents(path))


@CHEAP
@given(st.one_of(junk.filter(lambda v: not isinstance(v, (str, dict))), st.lists(st.dictionaries(
    st.sampled_from(["name", "step", "options", "process", "deadline_ms", "policy", "fallback", "x"]),
    st.one_of(junk, st.sampled_from(["a:b", "livn.experiment.steps:Nothing", "os:path", "math:pi"]))), max_size=3)))
def test_experiment_pipeline_of_any_content_is_refused_by_name(steps):
    satisfies_contract(lambda: load_experiment({**EXPERIMENT, "pipeline": steps}), "pipeline")


@pytest.mark.parametrize(("loader", "valid"), [(load_config, CONFIG), (load_experiment, EXPERIMENT)],
                         ids=["config", "experiment"])
@PROPERTY
@given(data=st.data())
def test_file_with_any_content_is_refused_by_its_name(loader, valid, data):
    content = data.draw(st.one_of(_yaml_texts(valid), st.binary(max_size=64)), label="content")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "drawn.yml"
        path.write_bytes(content)
        satisfies_contract(lambda: loader(path), [str(path)])


@CHEAP
@given(st.one_of(junk.filter(lambda v: not isinstance(v, dict)), st.sampled_from(["", "/nonexistent.yml", "\x00"])))
def test_experiment_source_that_is_neither_file_nor_mapping_is_refused(source):
    satisfies_contract(lambda: load_experiment(source), ["experiment", str(source)])


@CHEAP
@given(period=st.integers(1, 50), periods=st.lists(st.integers(0, 6), min_size=4, max_size=4).filter(any),
       trials=st.integers(1, 1000), amplitudes=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=5))
def test_valid_experiment_loads_as_given(period, periods, trials, amplitudes):
    windows = dict(zip(["pre_ms", "stimulus_ms", "post_ms", "iti_ms"], [k * period for k in periods]))
    data = {"name": "drawn", "system": "S1", "period_ms": period,
            "protocol": {"trials": trials, "windows": windows,
                         "roving": {"amplitude_uA": {"selector": "sequential", "values": amplitudes}}}}
    spec = load_experiment(data)
    assert (spec.period_ms, spec.trials, spec.windows) == (period, trials, {k: float(v) for k, v in windows.items()})
    assert spec.roving["amplitude_uA"]["values"] == amplitudes and spec.trial_ms == sum(windows.values())
    assert np.isclose(spec.trial_ms % period, 0)
