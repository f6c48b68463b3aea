"""Generating system directories from configs."""

from __future__ import annotations

import copy
import importlib

import numpy as np
import pytest
import yaml

import livn.neuroh5
from livn.errors import InvalidArgumentError, MissingSystemFileError, UnknownNameError
from livn.io import MEA
from livn.system import KNOWN_SYSTEMS, System
from livn.systems import (
    check_config,
    config_path,
    connect,
    generate,
    load_config,
    place_neurons,
    population_ranges,
    shipped_configs,
)

config_module = importlib.import_module("livn.systems.config")


def s2_like(seed=11, **changes) -> dict:
    config = {
        "name": "S2-like",
        "seed": seed,
        "culture": {"width": 400, "height": 400},
        "populations": {"EXC": 80, "INH": 20},
        "connectivity": {
            "kernel": "exponential",
            "length_constant": 600,
            "projections": [
                {"pre": "EXC", "post": "EXC", "in_degree": 20},
                {"pre": "EXC", "post": "INH", "in_degree": 4},
                {"pre": "INH", "post": "EXC", "in_degree": 40},
            ],
        },
        "mea": {"rows": 4, "columns": 4},
    }
    config.update(changes)
    return config


def arrays(system: System) -> dict:
    out = {"coordinates": system.neuron_coordinates}
    for key, p in system.projections.items():
        out[key] = np.stack([p.source, p.target, p.distance])
    return out


@pytest.fixture(scope="module")
def s2(tmp_path_factory):
    return System(generate(s2_like(), tmp_path_factory.mktemp("gen") / "a"))


def test_same_config_gives_identical_arrays_and_files(s2, tmp_path):
    again = System(generate(s2_like(), tmp_path / "b"))
    first, second = arrays(s2), arrays(again)
    assert first.keys() == second.keys()
    for key in first:
        assert np.array_equal(first[key], second[key]), key
    assert s2.metadata["checksums"] == again.metadata["checksums"]


def test_different_seed_differs(s2, tmp_path):
    other = System(generate(s2_like(seed=12), tmp_path / "c"))
    assert not np.array_equal(s2.neuron_coordinates, other.neuron_coordinates)
    a, b = s2.projections[("EXC", "EXC")], other.projections[("EXC", "EXC")]
    assert a.num_edges != b.num_edges or not np.array_equal(a.source, b.source)


def test_mean_in_degree_close_to_target(s2):
    exc, inh = s2.gids_of("EXC"), s2.gids_of("INH")
    ee = np.bincount(s2.projections[("EXC", "EXC")].target, minlength=100)[exc]
    ei = np.bincount(s2.projections[("EXC", "INH")].target, minlength=100)[inh]
    ie = np.bincount(s2.projections[("INH", "EXC")].target, minlength=100)[exc]
    assert abs(ee.mean() - 20) < 2.0
    assert abs(ei.mean() - 4) < 1.5
    assert np.all(ie == 20)  # only 20 INH candidates for an in-degree of 40: all connected
    for p in s2.projections.values():
        assert np.all(p.source != p.target)
        pairs = p.source * 1000 + p.target
        assert len(np.unique(pairs)) == len(pairs)


def test_every_neuron_reaches_an_electrode(s2):
    mea = MEA.from_directory(s2.uri)
    assert mea.num_channels == 16
    distances = mea.distances(s2.neuron_coordinates)
    assert np.all(np.any(distances <= mea.input_radius, axis=0))
    assert np.all(np.any(distances <= mea.output_radius, axis=0))


def test_edges_do_not_depend_on_blocks():
    config = s2_like()
    positions = np.concatenate(list(place_neurons(config).values()))
    whole = connect(config, positions, np.arange(100))
    pieces = [connect(config, positions, block) for block in np.array_split(np.arange(100)[::-1], 9)]
    for key, edges in whole.items():
        parts = [piece[key] for piece in pieces]
        target = np.concatenate([p.target for p in parts])
        order = np.argsort(target, kind="stable")
        for column in range(3):
            joined = np.concatenate([p[column] for p in parts])[order]
            assert np.array_equal(joined, edges[column]), (key, column)


def test_placement_and_ranges():
    config = s2_like()
    assert population_ranges(config) == {"EXC": (0, 80), "INH": (80, 20)}
    placed = place_neurons(config)
    assert [xyz.shape for xyz in placed.values()] == [(80, 3), (20, 3)]
    assert np.array_equal(placed["EXC"], placed["EXC"].astype(np.float32))
    # a population's positions depend only on the seed and its index
    fewer = place_neurons(s2_like(populations={"EXC": 80, "INH": 5}))
    assert np.array_equal(fewer["EXC"], placed["EXC"])


def test_gaussian_kernel_and_no_projections(tmp_path):
    config = s2_like()
    config["connectivity"] = dict(config["connectivity"], kernel="gaussian", length_constant=100)
    system = System(generate(config, tmp_path / "g"))
    assert len(system.projections) == 3
    config["connectivity"] = dict(config["connectivity"], projections=[])
    system = System(generate(config, tmp_path / "none"))
    assert system.projections == {} and not (tmp_path / "none" / "connections.h5").exists()


def test_build_is_atomic(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(livn.neuroh5, "write_connections", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        generate(s2_like(), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_overwrite(s2, tmp_path):
    target = generate(s2_like(), tmp_path / "x")
    with pytest.raises(FileExistsError):
        generate(s2_like(), target)
    generate(s2_like(seed=3), target, overwrite=True)
    assert System(target).metadata["seed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_generate_from_yaml_path(tmp_path):
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(s2_like(populations={"EXC": 8, "INH": 2})))
    system = System(generate(path, tmp_path / "tiny"))
    assert system.num_neurons == 10 and system.name == "S2-like"


def _broken(change):
    config = copy.deepcopy(s2_like())
    change(config)
    return config


BAD = {
    "missing key": (lambda c: c.pop("mea"), InvalidArgumentError, "missing \\['mea'\\]"),
    "unknown key": (lambda c: c.update(colour="red"), InvalidArgumentError, "unknown \\['colour'\\]"),
    "negative count": (lambda c: c["populations"].update(INH=-3), InvalidArgumentError, "populations.INH.*-3"),
    "zero count": (lambda c: c["populations"].update(EXC=0), InvalidArgumentError, "populations.EXC.*positive"),
    "unknown kernel": (
        lambda c: c["connectivity"].update(kernel="boxcar"),
        UnknownNameError,
        "kernel.*exponential, gaussian.*boxcar",
    ),
    "zero length": (
        lambda c: c["connectivity"].update(length_constant=0),
        InvalidArgumentError,
        "length_constant.*positive.*0",
    ),
    "unknown population": (
        lambda c: c["connectivity"]["projections"].append({"pre": "GLIA", "post": "EXC", "in_degree": 1}),
        UnknownNameError,
        "projections\\[3\\].pre.*\\['EXC', 'INH'\\].*GLIA",
    ),
    "duplicate projection": (
        lambda c: c["connectivity"]["projections"].append({"pre": "EXC", "post": "EXC", "in_degree": 1}),
        InvalidArgumentError,
        "repeats the projection EXC->EXC",
    ),
    "bad in-degree": (
        lambda c: c["connectivity"]["projections"][0].update(in_degree="many"),
        InvalidArgumentError,
        "in_degree.*'many'",
    ),
    "negative seed": (lambda c: c.update(seed=-1), InvalidArgumentError, "seed.*non-negative.*-1"),
    "no mea rows": (lambda c: c["mea"].update(rows=0), InvalidArgumentError, "mea.rows.*positive"),
    "zero width": (lambda c: c["culture"].update(width=0), InvalidArgumentError, "culture.width.*0"),
    "no populations": (lambda c: c.update(populations={}), InvalidArgumentError, "populations.*non-empty"),
    "bad name": (lambda c: c.update(name="../x"), InvalidArgumentError, "name.*'../x'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_configs(case, tmp_path):
    change, error, message = BAD[case]
    with pytest.raises(error, match=message):
        generate(_broken(change), tmp_path / "out")
    with pytest.raises(ValueError):
        check_config(_broken(change))
    assert not (tmp_path / "out").exists()


def test_bad_arguments(tmp_path):
    with pytest.raises(InvalidArgumentError, match="config"):
        generate(42, tmp_path / "x")
    with pytest.raises(InvalidArgumentError, match="overwrite"):
        generate(s2_like(), tmp_path / "x", overwrite="yes")
    positions = np.concatenate(list(place_neurons(s2_like()).values()))
    with pytest.raises(InvalidArgumentError, match="post_gids must lie"):
        connect(s2_like(), positions, [100])
    with pytest.raises(InvalidArgumentError, match="positions"):
        connect(s2_like(), positions[:10], [0])


def test_load_config_errors(tmp_path):
    with pytest.raises(MissingSystemFileError):
        load_config(tmp_path / "absent.yml")
    (tmp_path / "bad.yml").write_text("name: [unclosed")
    with pytest.raises(InvalidArgumentError, match="YAML"):
        load_config(tmp_path / "bad.yml")
    (tmp_path / "list.yml").write_text("- 1\n- 2\n")
    with pytest.raises(InvalidArgumentError, match="the config must be a mapping"):
        load_config(tmp_path / "list.yml")


SIZES = {
    "S1": ({"EXC": 7, "INH": 4}, (40, 40)),
    "S2": ({"EXC": 80, "INH": 20}, (400, 400)),
    "S3": ({"EXC": 800, "INH": 200}, (4000, 4000)),
    "S4": ({"EXC": 8000, "INH": 2000}, (4000, 4000)),
    "E": ({"EXC": 2600}, (1600, 3200)),
    "E5I": ({"EXC": 2167, "INH": 433}, (1600, 3200)),
    "E3I": ({"EXC": 1950, "INH": 650}, (1600, 3200)),
    "EI": ({"EXC": 1300, "INH": 1300}, (1600, 3200)),
}


@pytest.mark.parametrize("name", KNOWN_SYSTEMS)
def test_shipped_configs(name):
    config = load_config(config_path(name))
    populations, (width, height) = SIZES[name]
    assert config["name"] == name
    assert config["populations"] == populations
    assert (config["culture"]["width"], config["culture"]["height"]) == (width, height)
    assert config["connectivity"]["kernel"] == "exponential"
    assert config["connectivity"]["length_constant"] == 600
    degrees = {(p["pre"], p["post"]): p["in_degree"] for p in config["connectivity"]["projections"]}
    expected = {("EXC", "EXC"): 20, ("EXC", "INH"): 4, ("INH", "EXC"): 40}
    assert degrees == {k: v for k, v in expected.items() if set(k) <= set(populations)}
    assert config["mea"] == {"rows": 4, "columns": 4}


def test_config_path_finds_package_data_then_source_tree(tmp_path, monkeypatch):
    package, source = tmp_path / "package", tmp_path / "source"
    for directory, names in ((package, ["S1"]), (source, ["S1", "S2"])):
        directory.mkdir()
        for name in names:
            (directory / f"{name}.yml").write_text("name: x\n")
    monkeypatch.setattr(config_module, "config_directories", lambda: [tmp_path / "missing", package, source])
    assert config_path("S1") == package / "S1.yml"
    assert config_path("S2") == source / "S2.yml"
    with pytest.raises(UnknownNameError, match="S1, S2"):
        config_path("S9")


def test_shipped_configs_cover_known_systems():
    assert set(KNOWN_SYSTEMS) <= set(shipped_configs())
