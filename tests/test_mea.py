"""MEA geometry: the documented fall-off, reach of the grid, recording radius, file round trip."""

import json

import numpy as np
import pytest

from livn.errors import InvalidArgumentError, MissingSystemFileError, SystemFileError
from livn.io import MEA


def coordinates(*points):
    return np.array([[gid, x, y, z] for gid, (x, y, z) in enumerate(points)], dtype=float)


@pytest.fixture
def mea():
    return MEA([[0, 0, 0, 0], [1, 100, 0, 0]], input_radius=60, output_radius=30, reference_distance=10, coupling=2.0)


def test_point_source_falloff_and_cutoff(mea):
    neurons = coordinates((0, 0, 0), (5, 0, 0), (40, 0, 0), (0, 59, 0), (0, 61, 0), (200, 0, 0))
    inputs = np.zeros((3, 2))
    inputs[1, 0] = 10.0  # uA on electrode 0 during the second ms
    current = mea.cell_stimulus(neurons, inputs)
    assert current.shape == (3, 6)
    np.testing.assert_allclose(current[0], 0)
    # coupling * I * reference / max(r, reference): 20 nA on top, 20 * 10/40 = 5 nA at 40 um,
    # 20 * 10/59 just inside the radius, nothing beyond it.
    np.testing.assert_allclose(current[1], [20.0, 20.0, 5.0, 200 / 59, 0.0, 0.0])


def test_contributions_of_electrodes_add_up_and_batches_work(mea):
    neurons = coordinates((50, 0, 0))  # 50 um from both electrodes
    both = mea.cell_stimulus(neurons, np.array([[1.0, 1.0]]))
    one = mea.cell_stimulus(neurons, np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(both, 2 * one)
    batch = mea.cell_stimulus(neurons, np.ones((4, 5, 2)))
    assert batch.shape == (4, 5, 1)


def test_recording_radius(mea):
    neurons = coordinates((0, 29, 0), (0, 31, 0), (100, 0, 0), (50, 0, 0))
    it = np.array([0, 1, 2, 3, 0])
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    cit, ct = mea.channel_recording(neurons, it, t)
    assert cit[0].tolist() == [0, 0] and ct[0].tolist() == [1.0, 5.0]
    assert cit[1].tolist() == [2] and ct[1].tolist() == [3.0]


def test_grid_reaches_every_point_of_the_culture():
    mea = MEA.grid(400, 400)
    assert mea.num_channels == 16
    xs, ys = np.meshgrid(np.linspace(0, 400, 41), np.linspace(0, 400, 41))
    points = np.column_stack([np.arange(xs.size), xs.ravel(), ys.ravel(), np.zeros(xs.size)])
    distances = mea.distances(points)
    assert np.all(distances.min(axis=0) <= mea.input_radius)
    assert np.all(distances.min(axis=0) <= mea.output_radius)
    assert mea.input_radius == 71.0  # ceil(hypot(50, 50))


def test_every_neuron_of_a_predefined_system_is_reachable(s2_dir):
    from livn.system import System

    system = System(s2_dir)
    mea = MEA.from_directory(s2_dir)
    assert np.all(mea.distances(system.neuron_coordinates).min(axis=0) <= mea.input_radius)


def test_json_round_trip(tmp_path, mea):
    mea.save(tmp_path)
    again = MEA.from_directory(tmp_path)
    np.testing.assert_array_equal(again.electrode_coordinates, mea.electrode_coordinates)
    assert again.to_dict() == mea.to_dict()


def test_bad_layouts_and_files(tmp_path):
    with pytest.raises(InvalidArgumentError, match="electrode_coordinates"):
        MEA([[0, 1, 2]], 10, 10)
    with pytest.raises(InvalidArgumentError, match="distinct"):
        MEA([[0, 0, 0, 0], [0, 1, 1, 0]], 10, 10)
    with pytest.raises(InvalidArgumentError, match="input_radius"):
        MEA([[0, 0, 0, 0]], -1, 10)
    with pytest.raises(MissingSystemFileError, match="mea.json"):
        MEA.from_directory(tmp_path)
    (tmp_path / "mea.json").write_text('{"electrodes": [[0, 0, 0')
    with pytest.raises(SystemFileError, match="corrupt"):
        MEA.from_directory(tmp_path)
    (tmp_path / "mea.json").write_text(json.dumps({"electrodes": [[0, 0, 0, 0]]}))
    with pytest.raises(InvalidArgumentError, match="input_radius"):
        MEA.from_directory(tmp_path)


def test_bad_recording_arguments(mea):
    neurons = coordinates((0, 0, 0))
    with pytest.raises(InvalidArgumentError, match="equal length"):
        mea.channel_recording(neurons, [0, 0], [1.0])
    with pytest.raises(InvalidArgumentError, match="not in neuron_coordinates"):
        mea.channel_recording(neurons, [5], [1.0])
    with pytest.raises(InvalidArgumentError, match=r"\[n_neurons, 4\]"):
        mea.channel_recording(np.zeros((3, 3)), [], [])


def test_coupling_gives_the_same_answers_as_the_mea(mea):
    neurons = coordinates((0, 0, 0), (40, 0, 0), (100, 5, 0), (300, 0, 0))
    coupling = mea.couple(neurons)
    inputs = np.random.default_rng(0).uniform(-5, 5, (7, 2))
    np.testing.assert_array_equal(coupling.cell_stimulus(inputs), mea.cell_stimulus(neurons, inputs))
    it, t = np.array([0, 2, 1, 3]), np.array([1.0, 2.0, 3.0, 4.0])
    cit, ct = coupling.channel_recording(it, t)
    cit2, ct2 = mea.channel_recording(neurons, it, t)
    assert {c: v.tolist() for c, v in cit.items()} == {c: v.tolist() for c, v in cit2.items()}
    assert {c: v.tolist() for c, v in ct.items()} == {c: v.tolist() for c, v in ct2.items()}


def test_concrete_jax_inputs_are_checked_for_nan(mea):
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(InvalidArgumentError, match="NaN"):
        mea.cell_stimulus(coordinates((0, 0, 0)), jnp.full((3, 2), jnp.nan))


def test_stimulation_features_round_trip():
    from livn.stimulation import Pulse, pulses_from_features, pulses_to_features

    pulses = [Pulse(3, 12.5, 100.0, 10.0), Pulse(15, -4.0, 0.0, 2.0)]
    features = pulses_to_features(pulses)
    assert features.shape == (2, 4) and features.dtype == np.float32
    assert pulses_from_features(features) == pulses
    assert pulses_from_features(features.tolist()) == pulses
    assert pulses_to_features([]).shape == (0, 4) and pulses_from_features([]) == []
    with pytest.raises(ValueError, match="features"):
        pulses_from_features([[1.5, 1, 1, 1]])
    with pytest.raises(ValueError, match="features"):
        pulses_from_features([[1, 1, 1]])
