"""The NeuroH5 layout: livn reads files written by hand from the layout description,
and what livn writes follows that layout."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from livn import neuroh5
from livn.errors import InvalidArgumentError, MissingSystemFileError, SystemFileError
from livn.system import System

# -- a system directory written by hand, as another NeuroH5 tool would ------------------

# EXC gids 0..2, INH gids 3..4; enum labels are not gid order (as in MiV-Simulator files).
EXC_XYZ = np.array([[10.0, 20.0, 0.0], [30.0, 40.0, 0.0], [50.0, 60.0, 5.0]])
INH_XYZ = np.array([[70.0, 80.0, 0.0], [90.0, 100.0, 0.0]])

# (source gid, target gid, distance um) per projection, in no particular order
EXC_EXC = [(1, 0, 1.5), (2, 0, 2.5), (0, 2, 3.5), (1, 2, 4.5)]  # destination 1 has no edges: two blocks
INH_EXC = [(4, 2, 7.0), (3, 0, 5.0), (4, 0, 6.0)]
EXC_INH = [(2, 4, 0.0), (0, 3, 0.0)]  # written without a distance attribute


def _labels(f):
    f["H5Types/Population labels"] = h5py.enum_dtype({"EXC": 10, "INH": 11}, basetype=np.uint16)
    return f["H5Types/Population labels"]


def _h5types(f):
    labels = _labels(f)
    f["H5Types/Population range"] = np.dtype([("Start", "<u8"), ("Count", "<u4"), ("Population", labels.dtype)])
    rows = np.array([(3, 2, 11), (0, 3, 10)], dtype=f["H5Types/Population range"].dtype)  # not in gid order
    f.create_dataset("H5Types/Populations", data=rows, dtype=f["H5Types/Population range"])


def _coordinates(f, pop, xyz, order):
    for axis, column in zip(("X Coordinate", "Y Coordinate", "Z Coordinate"), xyz.T, strict=True):
        g = f.create_group(f"Populations/{pop}/Generated Coordinates/{axis}")
        g["Cell Index"] = np.asarray(order, dtype="<u4")  # relative to the population start
        g["Attribute Pointer"] = np.arange(len(order) + 1, dtype="<u8")
        g["Attribute Value"] = column[order].astype("<f4")


def _projection(f, pre, post, edges, pre_start, post_start, with_distance=True):
    """Destination-block-sparse layout as neuroh5's write_projection produces it."""
    edges = sorted(edges, key=lambda e: (e[1], e[0]))
    destinations = sorted({t - post_start for _, t, _ in edges})
    blocks = [[destinations[0]]]
    for d in destinations[1:]:
        if d == blocks[-1][-1] + 1:
            blocks[-1].append(d)
        else:
            blocks.append([d])
    block_index = [b[0] for b in blocks]
    block_pointer = list(np.cumsum([0] + [len(b) for b in blocks[:-1]])) + [len(destinations) + 1]
    pointer, source = [0], []
    for d in destinations:
        source += [s - pre_start for s, t, _ in edges if t - post_start == d]
        pointer.append(len(source))
    g = f.create_group(f"Projections/{post}/{pre}")
    g["Edges/Destination Block Index"] = np.asarray(block_index, "<u4")
    g["Edges/Destination Block Pointer"] = np.asarray(block_pointer, "<u8")
    g["Edges/Destination Pointer"] = np.asarray(pointer, "<u8")
    g["Edges/Source Index"] = np.asarray(source, "<u4")
    if with_distance:
        g["Connections/distance"] = np.asarray([dist for _, _, dist in edges], "<f4")


@pytest.fixture
def handmade(tmp_path):
    directory = tmp_path / "handmade"
    directory.mkdir()
    with h5py.File(directory / "cells.h5", "w") as f:
        _h5types(f)
        _coordinates(f, "EXC", EXC_XYZ, [2, 0, 1])
        _coordinates(f, "INH", INH_XYZ, [0, 1])
    with h5py.File(directory / "connections.h5", "w") as f:
        _h5types(f)
        _projection(f, "EXC", "EXC", EXC_EXC, 0, 0)
        _projection(f, "INH", "EXC", INH_EXC, 3, 0)
        _projection(f, "EXC", "INH", EXC_INH, 0, 3, with_distance=False)
    return directory


def test_system_reads_a_handwritten_neuroh5_directory(handmade):
    system = System(handmade)
    assert system.name == "handmade"
    assert system.metadata is None
    assert system.verify() == {}
    assert system.populations == ["EXC", "INH"]
    assert system.population_ranges == {"EXC": (0, 3), "INH": (3, 2)}
    assert system.num_neurons == 5
    expected = np.column_stack([np.arange(5), np.vstack([EXC_XYZ, INH_XYZ])])
    np.testing.assert_allclose(system.neuron_coordinates, expected)
    assert set(system.projections) == {("EXC", "EXC"), ("INH", "EXC"), ("EXC", "INH")}
    for key, edges in [(("EXC", "EXC"), EXC_EXC), (("INH", "EXC"), INH_EXC)]:
        projection = system.projections[key]
        want = sorted(edges, key=lambda e: (e[1], e[0]))
        assert projection.source.tolist() == [s for s, _, _ in want]
        assert projection.target.tolist() == [t for _, t, _ in want]
        np.testing.assert_allclose(projection.distance, [d for _, _, d in want])
        assert projection.source.dtype == np.int64 and projection.distance.dtype == np.float64
    # without a distance attribute, the soma distance is used
    projection = system.projections[("EXC", "INH")]
    assert list(zip(projection.source.tolist(), projection.target.tolist(), strict=True)) == [(0, 3), (2, 4)]
    xyz = expected[:, 1:]
    np.testing.assert_allclose(projection.distance, np.linalg.norm(xyz[[0, 2]] - xyz[[3, 4]], axis=1))


def test_connections_without_h5types_and_without_connections(handmade):
    with h5py.File(handmade / "connections.h5", "a") as f:
        del f["H5Types"]
    assert len(System(handmade).projections) == 3
    (handmade / "connections.h5").unlink()
    assert System(handmade).projections == {}


def test_connections_with_disagreeing_population_ranges(handmade):
    with h5py.File(handmade / "connections.h5", "a") as f:
        table = f["H5Types/Populations"]
        rows = table[()]
        rows["Start"], rows["Count"] = [2, 0], [3, 2]  # INH gids 2..4, EXC 0..1: valid, but not cells.h5's
        table[...] = rows
    with pytest.raises(SystemFileError, match="differ"):
        System(handmade)


def test_missing_coordinates_and_bad_pointers(handmade):
    with h5py.File(handmade / "cells.h5", "a") as f:
        del f["Populations/INH/Generated Coordinates/Y Coordinate/Cell Index"]
    with pytest.raises(SystemFileError, match="Cell Index"):
        System(handmade)


def test_projection_of_unknown_population(handmade):
    with h5py.File(handmade / "connections.h5", "a") as f:
        del f["H5Types"]
        f.copy(f["Projections/EXC/EXC"], "Projections/EXC/STIM")
    with pytest.raises(SystemFileError, match="STIM"):
        System(handmade)


def test_invalid_destination_pointers(handmade):
    with h5py.File(handmade / "connections.h5", "a") as f:
        pointer = f["Projections/EXC/EXC/Edges/Destination Pointer"]
        values = pointer[()]
        values[-1] += 3
        pointer[...] = values
    with pytest.raises(SystemFileError, match="destination-block-sparse"):
        System(handmade)


def test_not_hdf5_and_missing(tmp_path):
    (tmp_path / "cells.h5").write_bytes(b"this is not HDF5")
    with pytest.raises(SystemFileError, match="not a readable HDF5 file"):
        neuroh5.read_coordinates(tmp_path / "cells.h5")
    with pytest.raises(MissingSystemFileError):
        neuroh5.read_coordinates(tmp_path / "nothing.h5")
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    with pytest.raises(SystemFileError, match="H5Types/Populations"):
        neuroh5.read_population_ranges(tmp_path / "empty.h5")


# -- what livn writes ----------------------------------------------------------------------


def _decode_like_neuroh5(edges_group, pre_start, post_start):
    """neuroh5's append_edge_map, transcribed: (source, target) pairs in file order."""
    block_pointer = edges_group["Destination Block Pointer"][()]
    block_index = edges_group["Destination Block Index"][()]
    pointer = edges_group["Destination Pointer"][()]
    source = edges_group["Source Index"][()]
    pairs = []
    for b in range(len(block_pointer) - 1):
        for ii, i in enumerate(range(block_pointer[b], block_pointer[b + 1])):
            if i < len(pointer) - 1:
                for j in range(pointer[i], pointer[i + 1]):
                    pairs.append((int(source[j]) + pre_start, int(block_index[b]) + ii + post_start))
    return pairs


def test_writer_follows_the_layout(tmp_path):
    coordinates = {"EXC": EXC_XYZ, "INH": INH_XYZ}
    neuroh5.write_cells(tmp_path / "cells.h5", coordinates)
    edges = {
        ("EXC", "EXC"): tuple(map(np.array, zip(*EXC_EXC, strict=True))),
        ("INH", "EXC"): tuple(map(np.array, zip(*INH_EXC, strict=True))),
        ("EXC", "INH"): (np.zeros(0, int), np.zeros(0, int), np.zeros(0)),
    }
    neuroh5.write_connections(tmp_path / "connections.h5", {"EXC": 3, "INH": 2}, edges)

    with h5py.File(tmp_path / "cells.h5", "r") as f:
        enum = h5py.check_enum_dtype(f["H5Types/Population labels"].dtype)
        assert enum == {"EXC": 0, "INH": 1}
        table = f["H5Types/Populations"][()]
        assert table.dtype["Start"] == np.uint64 and table.dtype["Count"] == np.uint32
        assert [(int(r["Start"]), int(r["Count"])) for r in table] == [(0, 3), (3, 2)]
        g = f["Populations/INH/Generated Coordinates/X Coordinate"]
        assert g["Cell Index"].dtype == np.uint32 and g["Cell Index"][()].tolist() == [0, 1]
        assert g["Attribute Pointer"].dtype == np.uint64 and g["Attribute Pointer"][()].tolist() == [0, 1, 2]
        assert g["Attribute Value"].dtype == np.float32
        np.testing.assert_allclose(g["Attribute Value"][()], INH_XYZ[:, 0])

    with h5py.File(tmp_path / "connections.h5", "r") as f:
        assert "H5Types/Populations" in f
        valid = f["H5Types/Valid population projections"][()]
        assert sorted((int(r["Source"]), int(r["Destination"])) for r in valid) == [(0, 0), (0, 1), (1, 0)]
        e = f["Projections/EXC/EXC/Edges"]
        assert e["Destination Block Index"].dtype == np.uint32 and e["Source Index"].dtype == np.uint32
        assert e["Destination Block Pointer"].dtype == np.uint64 and e["Destination Pointer"].dtype == np.uint64
        assert e["Destination Block Index"][()].tolist() == [0, 2]  # destination 1 has no edges
        assert e["Destination Block Pointer"][()].tolist() == [0, 1, 3]  # last = destinations + 1
        assert _decode_like_neuroh5(e, 0, 0) == sorted(((s, t) for s, t, _ in EXC_EXC), key=lambda p: (p[1], p[0]))
        assert _decode_like_neuroh5(f["Projections/EXC/INH/Edges"], 3, 0) == [(3, 0), (4, 0), (4, 2)]
        np.testing.assert_allclose(f["Projections/EXC/INH/Connections/distance"][()], [5.0, 6.0, 7.0])
        assert f["Projections/EXC/INH/Connections/distance"].dtype == np.float32
        assert f["Projections/INH/EXC/Edges/Source Index"].shape == (0,)

    system = System(tmp_path)
    assert system.projections[("EXC", "INH")].num_edges == 0
    assert system.projections[("EXC", "EXC")].num_edges == 4


def test_writer_validates(tmp_path):
    with pytest.raises(InvalidArgumentError, match="coordinates of population 'EXC'"):
        neuroh5.write_cells(tmp_path / "cells.h5", {"EXC": np.zeros((3, 2))})
    with pytest.raises(InvalidArgumentError, match="population names"):
        neuroh5.write_cells(tmp_path / "cells.h5", {"A/B": np.zeros((3, 3))})
    with pytest.raises(InvalidArgumentError, match="gids of INH"):
        neuroh5.write_connections(
            tmp_path / "connections.h5", {"EXC": 3, "INH": 2}, {("EXC", "INH"): ([0], [1], [1.0])}
        )
    with pytest.raises(InvalidArgumentError, match="pairs of the populations"):
        neuroh5.write_connections(
            tmp_path / "connections.h5", {"EXC": 3, "INH": 2}, {("EXC", "STIM"): ([0], [1], [1.0])}
        )
    assert list(tmp_path.iterdir()) == []  # nothing half-written
