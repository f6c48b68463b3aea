"""The files livn writes are read by pyfive, the pure-Python HDF5 reader upstream livn uses
where neuroh5 is not installed, with the same values as h5py; the NeuroH5 committed types
stay in `H5Types`; and a predefined system cached in the older layout is rebuilt."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pyfive
import pytest
from test_neuroh5 import _decode_like_neuroh5

from livn import neuroh5
from livn.errors import InvalidArgumentError, MissingSystemFileError
from livn.system import System, predefined

# EXC gids 0..2, INH gids 3..4; weights make `write_connections` store a second edge attribute namespace.
XYZ = {"EXC": np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 0.5], [5.0, 6.0, 0.0]]), "INH": np.array([[7.0, 8.0, 0.0], [9.0, 1.0, 2.0]])}
EDGES = {
    ("EXC", "INH"): ([0, 2, 1], [3, 3, 4], [10.0, 20.0, 30.0], [0.5, 0.25, 1.0]),
    ("INH", "EXC"): ([4, 3], [0, 2], [40.0, 50.0], [2.0, 3.0]),
    ("EXC", "EXC"): ([1, 0], [0, 2], [60.0, 70.0], [0.1, 0.2]),
}


@pytest.fixture(scope="module")
def weighted_dir(tmp_path_factory):
    """A two-population system with distances and weights, written by livn's NeuroH5 writer."""
    directory = tmp_path_factory.mktemp("weighted")
    neuroh5.write_cells(directory / "cells.h5", XYZ)
    neuroh5.write_connections(
        directory / "connections.h5", {"EXC": 3, "INH": 2}, {key: tuple(map(np.array, e)) for key, e in EDGES.items()}
    )
    return directory


def _datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file, read with h5py: `{path: values}`."""
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return found


def _assert_pyfive_reads_every_dataset_like_h5py(path: Path) -> dict[str, np.ndarray]:
    """Read every dataset h5py sees with pyfive; same field names, dtypes and values. Returns pyfive's."""
    expected = _datasets(path)
    read = {}
    with pyfive.File(str(path)) as f:
        for name, want in expected.items():
            got = f[name][()]
            assert got.dtype.names == want.dtype.names, name
            if want.dtype.names:
                for field in want.dtype.names:
                    assert got.dtype[field] == want.dtype[field], (name, field)
                    np.testing.assert_array_equal(got[field], want[field], err_msg=f"{name}/{field}")
            else:
                assert got.dtype == want.dtype, name
                np.testing.assert_array_equal(got, want, err_msg=name)
            read[name] = got
    return read


def _ranges_from(tables: dict[str, np.ndarray]) -> dict[str, tuple[int, int]]:
    """Population ranges from a pyfive-read `H5Types/Populations`, named through its enum."""
    table = tables["H5Types/Populations"]
    enum = table.dtype["Population"].metadata["enum"]
    name_of = {int(label): name for name, label in enum.items()}
    return {name_of[int(row["Population"])]: (int(row["Start"]), int(row["Count"])) for row in table}


def _check_system_through_pyfive(directory) -> None:
    """Populations, ranges, coordinates, edges and edge attributes of a directory, via pyfive, against System."""
    system = System(directory)
    cells = _assert_pyfive_reads_every_dataset_like_h5py(Path(directory) / "cells.h5")
    connections = _assert_pyfive_reads_every_dataset_like_h5py(Path(directory) / "connections.h5")

    assert _ranges_from(cells) == system.population_ranges
    assert _ranges_from(connections) == system.population_ranges
    for name, (start, count) in system.population_ranges.items():
        for column, axis in enumerate(neuroh5.AXES, start=1):
            base = f"Populations/{name}/{neuroh5.COORDINATES}/{axis}"
            index, pointer = cells[f"{base}/Cell Index"], cells[f"{base}/Attribute Pointer"]
            xyz = np.empty(count)
            xyz[index] = cells[f"{base}/Attribute Value"][pointer[:-1]]
            np.testing.assert_allclose(xyz, system.neuron_coordinates[start : start + count, column], rtol=1e-6)

    with pyfive.File(str(Path(directory) / "connections.h5")) as f:
        assert sorted((pre, post) for post in f["Projections"] for pre in f["Projections"][post]) == sorted(system.projections)
        for (pre, post), projection in system.projections.items():
            base = f"Projections/{post}/{pre}"
            pairs = _decode_like_neuroh5(f[f"{base}/Edges"], system.population_ranges[pre][0], system.population_ranges[post][0])
            assert sorted(pairs, key=lambda p: (p[1], p[0])) == list(
                zip(projection.source.tolist(), projection.target.tolist(), strict=True)
            )
            # file order is (target, source) order, as System holds them
            np.testing.assert_allclose(connections[f"{base}/Connections/distance"], projection.distance, rtol=1e-6)
            if projection.weight is not None:
                np.testing.assert_array_equal(connections[f"{base}/Synapses/weight"], projection.weight)


def test_pyfive_reads_a_generated_system(s2_dir):
    system = System(s2_dir)
    assert system.populations == ["EXC", "INH"] and sum(p.num_edges for p in system.projections.values()) > 0
    _check_system_through_pyfive(s2_dir)


def test_pyfive_reads_distances_and_weights(weighted_dir):
    _check_system_through_pyfive(weighted_dir)
    system = System(weighted_dir)
    assert system.projections[("EXC", "INH")].weight.tolist() == [0.5, 0.25, 1.0]  # sorted by (target, source)
    tables = _assert_pyfive_reads_every_dataset_like_h5py(weighted_dir / "connections.h5")
    pairs = tables["H5Types/Valid population projections"]
    assert sorted((int(r["Source"]), int(r["Destination"])) for r in pairs) == [(0, 0), (0, 1), (1, 0)]


def test_committed_types_stay_in_h5types(weighted_dir):
    for file in ("cells.h5", "connections.h5"):
        with h5py.File(weighted_dir / file, "r") as f:
            labels = f["H5Types/Population labels"]
            assert isinstance(labels, h5py.Datatype) and labels.id.committed()
            assert h5py.check_enum_dtype(labels.dtype) == {"EXC": 0, "INH": 1}
            assert labels.dtype.base == np.uint16

            population_range = f["H5Types/Population range"]
            assert isinstance(population_range, h5py.Datatype) and population_range.id.committed()
            assert population_range.dtype.names == ("Start", "Count", "Population")
            assert population_range.dtype["Start"] == np.uint64 and population_range.dtype["Count"] == np.uint32
            assert h5py.check_enum_dtype(population_range.dtype["Population"]) == {"EXC": 0, "INH": 1}

            projections = f["H5Types/Population projections"]
            assert isinstance(projections, h5py.Datatype) and projections.id.committed()
            assert projections.dtype.names == ("Source", "Destination")
            for field in projections.dtype.names:
                assert h5py.check_enum_dtype(projections.dtype[field]) == {"EXC": 0, "INH": 1}

            # the tables: uncommitted types with the committed types' layout, byte for byte
            table = f["H5Types/Populations"]
            assert not table.id.get_type().committed()
            assert table.dtype == population_range.dtype
            assert h5py.check_enum_dtype(table.dtype["Population"]) == {"EXC": 0, "INH": 1}
            valid = f["H5Types/Valid population projections"]
            assert not valid.id.get_type().committed()
            assert valid.dtype.itemsize == projections.dtype.itemsize
            assert [valid.dtype.fields[n][1] for n in ("Source", "Destination")] == [
                projections.dtype.fields[n][1] for n in ("Source", "Destination")
            ]
            assert all(valid.dtype[n] == np.uint16 for n in ("Source", "Destination"))
        assert neuroh5.uses_committed_table_types(weighted_dir / file) is False


def _commit_tables(path: Path) -> None:
    """Rewrite the `H5Types` tables with the committed types, as livn wrote them before."""
    with h5py.File(path, "a") as f:
        for table, committed in (("Populations", "Population range"), ("Valid population projections", "Population projections")):
            rows = f[f"H5Types/{table}"][()].astype(f[f"H5Types/{committed}"].dtype)
            del f[f"H5Types/{table}"]
            f.create_dataset(f"H5Types/{table}", data=rows, dtype=f[f"H5Types/{committed}"])


def test_older_layout_is_detected_and_still_read(weighted_dir, tmp_path):
    for file in ("cells.h5", "connections.h5"):
        (tmp_path / file).write_bytes((weighted_dir / file).read_bytes())
        _commit_tables(tmp_path / file)
        assert neuroh5.uses_committed_table_types(tmp_path / file) is True
        with pyfive.File(str(tmp_path / file)) as f, pytest.raises(NotImplementedError):
            f["H5Types/Populations"][()]  # what pyfive 1.3 made of the older layout
    old, new = System(tmp_path), System(weighted_dir)
    assert old.population_ranges == new.population_ranges
    np.testing.assert_array_equal(old.neuron_coordinates, new.neuron_coordinates)
    for key, projection in new.projections.items():
        np.testing.assert_array_equal(old.projections[key].source, projection.source)
        np.testing.assert_array_equal(old.projections[key].target, projection.target)


def test_uses_committed_table_types_checks_its_argument(tmp_path):
    with pytest.raises(InvalidArgumentError, match="path"):
        neuroh5.uses_committed_table_types(3)
    with pytest.raises(MissingSystemFileError):
        neuroh5.uses_committed_table_types(tmp_path / "nothing.h5")


def test_a_cached_system_in_the_older_layout_is_rebuilt(tmp_path):
    directory = Path(predefined("S1", cache_dir=tmp_path))
    before = System(directory)
    for file in ("cells.h5", "connections.h5"):
        _commit_tables(directory / file)
    assert predefined("S1", cache_dir=tmp_path) == str(directory)
    for file in ("cells.h5", "connections.h5"):
        assert neuroh5.uses_committed_table_types(directory / file) is False
    after = System(directory)  # rebuilt: checksums match again
    assert after.population_ranges == before.population_ranges
    np.testing.assert_array_equal(after.neuron_coordinates, before.neuron_coordinates)
    _check_system_through_pyfive(directory)
