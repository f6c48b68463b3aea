"""The single-file system layout upstream livn uses: `graph.h5` holding the cells and the
connections (the same NeuroH5 groups as `cells.h5` and `connections.h5`), written here by hand
with h5py from the layout description, not with livn's writer."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from test_neuroh5 import (
    EXC_EXC,
    EXC_INH,
    EXC_XYZ,
    INH_EXC,
    INH_XYZ,
    _coordinates,
    _h5types,
    _projection,
)

from livn import system_directory as layout
from livn.errors import (
    ChecksumMismatchError,
    InvalidArgumentError,
    MissingSystemFileError,
)
from livn.system import System, neuroh5_files


def _write_cells(f) -> None:
    _h5types(f)
    _coordinates(f, "EXC", EXC_XYZ, [2, 0, 1])
    _coordinates(f, "INH", INH_XYZ, [0, 1])


def _write_projections(f) -> None:
    _projection(f, "EXC", "EXC", EXC_EXC, 0, 0)
    _projection(f, "INH", "EXC", INH_EXC, 3, 0)
    _projection(f, "EXC", "INH", EXC_INH, 0, 3, with_distance=False)


def _write(path, *parts) -> None:
    """A new HDF5 file at `path`, each of `parts` writing its groups into it."""
    with h5py.File(path, "w") as f:
        for part in parts:
            part(f)


@pytest.fixture
def graph_dir(tmp_path):
    """`graph.h5` alone: one `H5Types`, the populations' coordinates and three projections."""
    (tmp_path / "graph").mkdir()
    _write(tmp_path / "graph" / "graph.h5", _write_cells, _write_projections)
    return tmp_path / "graph"


def _edges(system: System) -> dict:
    return {
        key: (p.source.tolist(), p.target.tolist(), p.distance.tolist()) for key, p in system.projections.items()
    }


def test_system_reads_graph_h5(graph_dir, tmp_path):
    system = System(graph_dir)
    assert neuroh5_files(graph_dir) == (graph_dir / "graph.h5", graph_dir / "graph.h5")
    assert system.name == "graph" and system.metadata is None
    assert system.populations == ["EXC", "INH"]
    assert system.population_ranges == {"EXC": (0, 3), "INH": (3, 2)}
    expected = np.column_stack([np.arange(5), np.vstack([EXC_XYZ, INH_XYZ])])
    np.testing.assert_allclose(system.neuron_coordinates, expected)
    assert set(system.projections) == {("EXC", "EXC"), ("INH", "EXC"), ("EXC", "INH")}
    for key, edges in [(("EXC", "EXC"), EXC_EXC), (("INH", "EXC"), INH_EXC)]:
        want = sorted(edges, key=lambda e: (e[1], e[0]))
        source, target, distance = _edges(system)[key]
        assert (source, target) == ([s for s, _, _ in want], [t for _, t, _ in want])
        np.testing.assert_allclose(distance, [d for _, _, d in want])
    projection = system.projections[("EXC", "INH")]  # no distance attribute: the soma distance
    assert (projection.source.tolist(), projection.target.tolist()) == ([0, 2], [3, 4])
    xyz = expected[:, 1:]
    np.testing.assert_allclose(projection.distance, np.linalg.norm(xyz[[0, 2]] - xyz[[3, 4]], axis=1))

    # the same groups in two files read the same
    two_files = tmp_path / "two_files"
    two_files.mkdir()
    _write(two_files / "cells.h5", _write_cells)
    _write(two_files / "connections.h5", _h5types, _write_projections)
    other = System(two_files)
    assert other.population_ranges == system.population_ranges
    np.testing.assert_array_equal(other.neuron_coordinates, system.neuron_coordinates)
    assert _edges(other) == _edges(system)


def test_graph_h5_without_projections(tmp_path):
    _write(tmp_path / "graph.h5", _write_cells)
    system = System(tmp_path)
    assert system.num_neurons == 5 and system.projections == {}


def test_cells_h5_takes_precedence_over_graph_h5(graph_dir):
    with h5py.File(graph_dir / "cells.h5", "w") as f:  # a different culture: EXC only
        f["H5Types/Population labels"] = h5py.enum_dtype({"EXC": 0}, basetype=np.uint16)
        row = [("Start", "<u8"), ("Count", "<u4"), ("Population", f["H5Types/Population labels"].dtype)]
        f["H5Types/Populations"] = np.array([(0, 3, 0)], dtype=row)
        _coordinates(f, "EXC", EXC_XYZ, [0, 1, 2])
    assert neuroh5_files(graph_dir) == (graph_dir / "cells.h5", None)
    system = System(graph_dir)
    assert system.population_ranges == {"EXC": (0, 3)} and system.projections == {}


def test_graph_h5_listed_in_system_json_is_verified(graph_dir):
    layout.write_metadata(graph_dir, {"name": "graph-upstream", "seed": 1}, [layout.GRAPH_FILE])
    system = System(graph_dir)
    assert system.name == "graph-upstream" and list(system.verify()) == ["graph.h5"]
    with h5py.File(graph_dir / "graph.h5", "a") as f:
        f["Populations/EXC/Generated Coordinates/X Coordinate/Attribute Value"][0] = 11.0
    with pytest.raises(ChecksumMismatchError, match="graph.h5"):
        System(graph_dir)


def test_a_directory_with_neither_layout_says_what_was_looked_for(tmp_path):
    expected = r"neither cells\.h5 \(with connections\.h5 where there are synapses\) nor graph\.h5"
    with pytest.raises(MissingSystemFileError, match=expected):
        System(tmp_path)
    _write(tmp_path / "connections.h5", _h5types, _write_projections)  # connections alone are not a system
    with pytest.raises(MissingSystemFileError, match=expected):
        System(tmp_path)
    with pytest.raises(MissingSystemFileError, match=expected):
        neuroh5_files(tmp_path)


def test_neuroh5_files_checks_its_arguments(graph_dir):
    with pytest.raises(InvalidArgumentError, match="directory"):
        neuroh5_files(None)
    with pytest.raises(InvalidArgumentError, match="metadata"):
        neuroh5_files(graph_dir, metadata=["system.json"])
