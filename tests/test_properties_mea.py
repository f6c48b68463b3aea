"""Property tests of `livn.io.MEA`: construction, files and stimulation/recording, for any input.

Every call either succeeds or raises a livn error naming the argument (tests/_strategies.py);
valid inputs drawn here always succeed, with the answers the MEA's formulas give.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _strategies import CHEAP, PROPERTY, arrays, finite_arrays, junk, near_arrays, satisfies_contract
from hypothesis import given
from hypothesis import strategies as st

from livn.errors import LivnError
from livn.io import MEA

NEURONS = np.array([[0, 0.0, 0.0, 0.0], [1, 50.0, 0.0, 0.0], [2, 0.0, 80.0, 10.0]])
ELECTRODES = [[0, 0.0, 0.0, 0.0], [1, 100.0, 0.0, 0.0], [2, 0.0, 100.0, 0.0]]
VALID = {"electrode_coordinates": ELECTRODES, "input_radius": 60.0, "output_radius": 60.0,
         "reference_distance": 10.0, "coupling": 1.0}

MEA_3 = MEA(**VALID)

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70),
                    st.sampled_from([10**400, np.float32(2.5), np.int8(-3)]))


def perturbed(valid: dict, strategies: dict):
    """`valid` with one argument replaced by a draw from its strategy: `(argument name, arguments)`."""
    return st.sampled_from(sorted(strategies)).flatmap(
        lambda name: strategies[name].map(lambda value: (name, {**valid, name: value})))


MEA_ARGUMENTS = {
    "electrode_coordinates": st.one_of(junk, near_arrays((3, 4))),
    **{name: st.one_of(numbers, junk) for name in ("input_radius", "output_radius", "reference_distance", "coupling")},
}


@CHEAP
@given(perturbed(VALID, MEA_ARGUMENTS))
def test_mea_construction_fails_only_by_naming_the_argument(case):
    name, arguments = case
    satisfies_contract(lambda: MEA(**arguments), name)


@CHEAP
@given(
    st.lists(st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4), st.floats(-1e3, 1e3)), min_size=1, max_size=8),
    st.floats(1e-3, 1e4), st.floats(1e-3, 1e4), st.floats(1e-3, 1e3), st.floats(1e-3, 1e3),
)
def test_valid_mea_is_built_and_survives_its_json(points, input_radius, output_radius, reference, coupling):
    electrodes = [[i, *xyz] for i, xyz in enumerate(points)]
    mea = MEA(electrodes, input_radius, output_radius, reference, coupling)
    assert mea.num_channels == len(points) and mea.channel_ids.tolist() == list(range(len(points)))
    again = MEA.from_dict(json.loads(json.dumps(mea.to_dict())))
    np.testing.assert_array_equal(again.electrode_coordinates, mea.electrode_coordinates)
    assert (again.input_radius, again.output_radius, again.coupling) == (input_radius, output_radius, coupling)


GRID_VALID = {"width": 400.0, "height": 300.0, "rows": 2, "columns": 3, "origin": (0.0, 0.0), "z": 0.0}
GRID_ARGUMENTS = {
    "width": st.one_of(numbers, junk), "height": st.one_of(numbers, junk),
    "rows": st.one_of(st.integers(-3, 40), st.floats(), junk), "columns": st.one_of(st.integers(-3, 40), st.floats(), junk),
    "origin": st.one_of(junk, st.tuples(numbers, numbers), st.lists(numbers, max_size=3)),
    "z": st.one_of(numbers, junk),
    "input_radius": st.one_of(numbers, junk),
}


@CHEAP
@given(perturbed(GRID_VALID, GRID_ARGUMENTS))
def test_mea_grid_fails_only_by_naming_the_argument(case):
    name, arguments = case
    error = satisfies_contract(lambda: MEA.grid(**arguments), name)
    if error is None:
        mea = MEA.grid(**arguments)
        assert mea.num_channels == arguments["rows"] * arguments["columns"]


@CHEAP
@given(st.one_of(
    junk,
    st.dictionaries(st.sampled_from(["electrodes", "electrode_coordinates", "input_radius", "output_radius",
                                     "reference_distance", "coupling", "extra"]), st.one_of(numbers, junk)),
    perturbed({"electrodes": ELECTRODES, "input_radius": 60.0, "output_radius": 60.0},
              {"electrodes": st.one_of(junk, near_arrays((3, 4))), "input_radius": numbers,
               "output_radius": numbers}).map(lambda case: case[1]),
))
def test_mea_from_dict_fails_only_by_naming_a_key(data):
    keys = ["electrodes", "electrode_coordinates", "input_radius", "output_radius", "reference_distance",
            "coupling", "MEA description"]
    satisfies_contract(lambda: MEA.from_dict(data), keys)


def _json_texts():
    valid = json.dumps(MEA(**VALID).to_dict())
    return st.one_of(
        st.text(max_size=40),
        st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),  # truncated
        st.recursive(st.one_of(st.none(), st.booleans(), st.floats(), st.text(max_size=4)),
                     lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=4), c, max_size=3)),
                     max_leaves=6).map(json.dumps),
    )


@PROPERTY
@given(st.one_of(_json_texts().map(str.encode), st.binary(max_size=64)))
def test_mea_file_that_is_corrupt_is_refused_by_name(content):
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "mea.json").write_bytes(content)
        satisfies_contract(lambda: MEA.from_directory(directory), ["mea.json", "electrodes", "electrode_coordinates",
                                                                   "input_radius", "output_radius", "MEA description"])


@CHEAP
@given(st.one_of(junk, st.sampled_from(["", "\x00", "/nonexistent/livn"])))
def test_mea_from_directory_refuses_what_is_not_a_system_directory(directory):
    satisfies_contract(lambda: MEA.from_directory(directory), ["directory", "mea.json"])


@CHEAP
@given(junk.filter(lambda value: not isinstance(value, str)))  # a string is a path: it would write there
def test_mea_save_refuses_what_is_not_a_path(path):
    satisfies_contract(lambda: MEA_3.save(path), "path")


def test_mea_save_writes_what_from_directory_reads(tmp_path):
    MEA_3.save(tmp_path)
    assert MEA.from_directory(tmp_path).to_dict() == MEA_3.to_dict()


# -- stimulation and recording ----------------------------------------------------------------------------------

@CHEAP
@given(st.one_of(junk, near_arrays((3, 4))))
def test_neuron_coordinates_are_checked_by_name(coordinates):
    for method in (MEA_3.distances, MEA_3.stimulus_transfer, MEA_3.recording_mask, MEA_3.couple):
        satisfies_contract(lambda: method(coordinates), "neuron_coordinates")
    satisfies_contract(lambda: MEA_3.cell_stimulus(coordinates, np.ones((2, 3))), "neuron_coordinates")
    satisfies_contract(lambda: MEA_3.channel_recording(coordinates, [0], [1.0]), "neuron_coordinates")


@CHEAP
@given(st.one_of(junk, near_arrays((4, 3)), near_arrays((2, 4, 3))))
def test_mea_cell_stimulus_fails_only_by_naming_channel_inputs(channel_inputs):
    satisfies_contract(lambda: MEA_3.cell_stimulus(NEURONS, channel_inputs), "channel_inputs")


@CHEAP
@given(st.integers(1, 5), finite_arrays((5, 3)))
def test_mea_cell_stimulus_is_the_transfer_matrix_applied(rows, currents):
    currents = currents[:rows]
    injected = MEA_3.cell_stimulus(NEURONS, currents)
    # neuron 0 is on electrode 0 (capped at reference_distance: coupling nA/uA), neuron 1 is 50 um from
    # electrodes 0 and 1 (10/50 each), neuron 2 is 80.6 um from electrode 0 and 22.4 um from electrode 2.
    expected = np.stack([currents[:, 0], 0.2 * currents[:, 0] + 0.2 * currents[:, 1],
                         currents[:, 2] * 10 / np.hypot(80 - 100, 10)], axis=1)
    np.testing.assert_allclose(injected, expected, rtol=1e-12, atol=1e-9)


@CHEAP
@given(
    st.sampled_from(["it", "t"]),
    st.one_of(junk, near_arrays((3,)), st.lists(st.integers(-5, 5), max_size=3)),
)
def test_channel_recording_fails_only_by_naming_it_or_t(name, value):
    arguments = {"it": [0, 1, 2], "t": [1.0, 2.0, 3.0], name: value}
    satisfies_contract(lambda: MEA_3.channel_recording(NEURONS, arguments["it"], arguments["t"]), name)


@CHEAP
@given(st.lists(st.tuples(st.sampled_from([0, 1, 2]), st.floats(0, 1e6)), max_size=10))
def test_channel_recording_sorts_every_spike_into_the_channels_that_see_it(spikes):
    it = [gid for gid, _ in spikes]
    t = [time for _, time in spikes]
    cit, ct = MEA_3.channel_recording(NEURONS, it, t)
    seen_by = {0: {0, 1}, 1: {1}, 2: {2}}  # within output_radius (60 um) of each electrode
    for channel, gids in seen_by.items():
        assert cit[channel].tolist() == [g for g in it if g in gids]
        assert ct[channel].tolist() == [time for g, time in spikes if g in gids]


def test_contract_helper_fails_on_a_raw_exception():
    """The helper itself must let a foreign exception through (or the properties could not fail)."""
    with pytest.raises(ZeroDivisionError):
        satisfies_contract(lambda: 1 / 0, "x")
    with pytest.raises(AssertionError, match="does not name"):
        satisfies_contract(lambda: (_ for _ in ()).throw(LivnError("something else")), "x")
    assert satisfies_contract(lambda: arrays, "x") is None
