"""Reading a generated system directory with `livn.system.System`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from livn.errors import (
    ChecksumMismatchError,
    InvalidArgumentError,
    MissingSystemFileError,
    SystemFileError,
    UnknownNameError,
)
from livn.io import MEA
from livn.system import Projection, System, make
from livn.systems import generate

CONFIG = {
    "name": "tiny",
    "seed": 7,
    "culture": {"width": 200, "height": 100},
    "populations": {"EXC": 24, "INH": 6},
    "connectivity": {
        "kernel": "exponential",
        "length_constant": 600,
        "projections": [
            {"pre": "EXC", "post": "EXC", "in_degree": 5},
            {"pre": "EXC", "post": "INH", "in_degree": 3},
            {"pre": "INH", "post": "EXC", "in_degree": 4},
        ],
    },
    "mea": {"rows": 2, "columns": 2},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return generate(CONFIG, tmp_path_factory.mktemp("systems") / "tiny")


@pytest.fixture
def copy(built, tmp_path):
    """A private copy of the built system, free to damage."""
    return shutil.copytree(built, tmp_path / "tiny")


def test_properties(built):
    system = System(str(built))
    assert system.uri == str(built.resolve())
    assert system.name == "tiny"
    assert system.populations == ["EXC", "INH"]
    assert system.population_ranges == {"EXC": (0, 24), "INH": (24, 6)}
    assert system.num_neurons == 30
    coords = system.neuron_coordinates
    assert coords.shape == (30, 4) and coords.dtype == np.float64
    assert coords[:, 0].tolist() == list(range(30))
    assert np.all((coords[:, 1] >= 0) & (coords[:, 1] < 200) & (coords[:, 2] >= 0) & (coords[:, 2] < 100))
    assert np.all(coords[:, 3] == 0)
    assert system.gids_of("INH").tolist() == list(range(24, 30))
    assert system.metadata["config"]["name"] == "tiny" and system.metadata["seed"] == 7
    assert set(system.verify()) == {"cells.h5", "connections.h5", "mea.json"}
    assert "tiny" in repr(system)


def test_projections(built):
    system = System(built)
    assert set(system.projections) == {("EXC", "EXC"), ("EXC", "INH"), ("INH", "EXC")}
    xyz = system.neuron_coordinates[:, 1:]
    for (pre, post), projection in system.projections.items():
        assert isinstance(projection, Projection) and (projection.pre, projection.post) == (pre, post)
        assert projection.source.dtype == np.int64 and projection.target.dtype == np.int64
        assert projection.distance.dtype == np.float64
        assert np.all(np.isin(projection.source, system.gids_of(pre)))
        assert np.all(np.isin(projection.target, system.gids_of(post)))
        assert np.all(projection.source != projection.target)
        order = np.lexsort((projection.source, projection.target))
        assert np.array_equal(order, np.arange(projection.num_edges))  # sorted by (target, source)
        expected = np.linalg.norm(xyz[projection.source] - xyz[projection.target], axis=1)
        np.testing.assert_allclose(projection.distance, expected, rtol=1e-5)
        with pytest.raises(ValueError):
            projection.source[0] = 0  # read-only
        with pytest.raises(AttributeError):
            projection.pre = "X"  # frozen


def test_mea_in_directory(built):
    mea = MEA.from_directory(built)
    assert mea.num_channels == 4


def test_missing_directory_and_cells(tmp_path):
    with pytest.raises(MissingSystemFileError, match="does not exist"):
        System(tmp_path / "nowhere")
    with pytest.raises(MissingSystemFileError, match="cells.h5"):
        System(tmp_path)
    with pytest.raises(InvalidArgumentError):
        System(42)


def test_missing_connections_means_no_projections(copy):
    (copy / "connections.h5").unlink()
    (copy / "system.json").unlink()
    system = System(copy)
    assert system.projections == {} and system.num_neurons == 30
    assert system.name == "tiny"  # the directory name


def test_truncated_cells(copy):
    data = (copy / "cells.h5").read_bytes()
    (copy / "cells.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(ChecksumMismatchError, match="cells.h5"):
        System(copy)
    (copy / "system.json").unlink()
    with pytest.raises(SystemFileError, match="cells.h5") as info:
        System(copy)
    assert not isinstance(info.value, ChecksumMismatchError)


def test_truncated_connections(copy):
    data = (copy / "connections.h5").read_bytes()
    (copy / "connections.h5").write_bytes(data[: len(data) // 2])
    (copy / "system.json").unlink()
    with pytest.raises(SystemFileError, match="connections.h5"):
        System(copy)


@pytest.mark.parametrize("name", ["cells.h5", "connections.h5", "mea.json"])
def test_checksum_mismatch(copy, name):
    with open(copy / name, "ab") as f:
        f.write(b"\n")
    with pytest.raises(ChecksumMismatchError, match=name):
        System(copy)


def test_listed_file_missing_and_corrupt_metadata(copy):
    (copy / "mea.json").unlink()
    with pytest.raises(MissingSystemFileError, match="mea.json"):
        System(copy)
    (copy / "system.json").write_text("{not json")
    with pytest.raises(SystemFileError, match="system.json"):
        System(copy)


def test_unknown_population(built):
    system = System(built)
    with pytest.raises(UnknownNameError, match=r"\['EXC', 'INH'\]"):
        system.gids_of("GLIA")
    with pytest.raises(ValueError):
        system.gids_of("GLIA")


def test_make_with_a_path(built):
    assert make(built).num_neurons == 30
    assert make(str(built)).name == "tiny"
    with pytest.raises(UnknownNameError, match="S1, S2"):
        make("no-such-system-or-directory")


def test_metadata_roundtrip(built):
    metadata = json.loads((built / "system.json").read_text())
    assert set(metadata) == {"name", "config", "seed", "livn_version", "checksums"}
    assert metadata["config"]["populations"] == {"EXC": 24, "INH": 6}
