"""NWB export: what pynwb reads back equals what was written; nwbinspector finds nothing critical."""

import datetime
import json
import os
import sys

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")

from livn.errors import InvalidArgumentError, MissingDependencyError  # noqa: E402
from livn.io import MEA  # noqa: E402
from livn import nwb  # noqa: E402
from livn.nwb import export  # noqa: E402
from livn.stimulation import ElectrodeStimulation  # noqa: E402
from livn.system import make  # noqa: E402
from livn.types import RunResult  # noqa: E402


@pytest.fixture(scope="module")
def s1():
    return make("S1")


def provenance_of(system, t_start_ms=0.0):
    """What Env.run stamps, built by hand (no simulation)."""
    return {
        "system": system.name, "system_uri": str(system.uri), "seed": 7, "backend": "brian2",
        "model": {"dt": 0.1, "tau_m": (20.0, 10.0)},
        "mea": MEA.from_directory(system.uri).to_dict(),
        "populations": {name: [int(first), int(count)] for name, (first, count) in system.population_ranges.items()},
        "neuron_coordinates": np.asarray(system.neuron_coordinates, dtype=float).tolist(),
        "versions": {"livn": "0.0-test", "brian2": "2.x"},
        "t_start_ms": t_start_ms,
    }


def hand_made_result(system, t_start_ms=0.0):
    """50 ms of S1: four spikes, a 0.2 ms charge-balanced biphasic pulse on channel 3, voltage of gids 0 and 5."""
    it = np.array([2, 0, 2, 9], dtype=np.int64)
    t = np.array([1.5, 3.25, 10.0, 49.9])
    mea = MEA.from_directory(system.uri)
    currents = np.zeros((500, mea.num_channels))  # 0.1 ms rows
    column = int(np.flatnonzero(mea.channel_ids == 3)[0])
    currents[100:102, column] = 4.0    # cathodic first (positive in livn's sign), 0.2 ms
    currents[103:105, column] = -4.0   # after a 0.1 ms interphase gap
    currents[300, 0] = 1.5             # a second, unbalanced pulse on another channel
    stimulation = ElectrodeStimulation(currents, 0.1, mea.channel_ids)
    v = np.linspace(-70, -50, 2 * 500).reshape(2, 500)
    return RunResult(it, t, np.array([0, 5]), v, duration=50.0, dt=0.1, stimulation=stimulation,
                     provenance=provenance_of(system, t_start_ms))


def read(path):
    io = pynwb.NWBHDF5IO(str(path), "r")
    return io, io.read()


def critical(path):
    from nwbinspector import Importance, inspect_nwbfile

    messages = list(inspect_nwbfile(nwbfile_path=str(path)))
    return [m for m in messages if m.importance in (Importance.CRITICAL, Importance.ERROR)], messages


def test_round_trip_of_spikes_stimulation_voltage_and_provenance(s1, tmp_path):
    result = hand_made_result(s1, t_start_ms=200.0)
    start = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    path = export(result, tmp_path / "s1.nwb", identifier="abc", session_start_time=start)
    assert path == tmp_path / "s1.nwb" and sorted(os.listdir(tmp_path)) == ["s1.nwb"]
    io, f = read(path)
    with io:
        assert f.identifier == "abc" and f.session_start_time == start
        # electrodes: the MEA's positions in um, one row per channel, ids = channel ids
        mea = MEA.from_directory(s1.uri)
        electrodes = f.electrodes.to_dataframe()
        assert list(electrodes.index) == mea.channel_ids.tolist() == electrodes["channel_id"].tolist()
        for axis, column in zip("xyz", (1, 2, 3), strict=True):
            np.testing.assert_allclose(electrodes[axis], mea.electrode_coordinates[:, column], rtol=1e-6)
            np.testing.assert_allclose(electrodes[f"rel_{axis}"], mea.electrode_coordinates[:, column], rtol=1e-6)
        assert set(electrodes["location"]) == {"in vitro culture"}
        assert f.devices["MEA"] is f.electrode_groups["MEA"].device

        # units: every neuron, spikes in s since t = 0 of the culture
        units = f.units.to_dataframe()
        assert units["gid"].tolist() == list(range(s1.num_neurons))
        expected = {0: [0.2 + 0.00325], 2: [0.2 + 0.0015, 0.2 + 0.010], 9: [0.2 + 0.0499]}
        for gid in range(s1.num_neurons):
            np.testing.assert_allclose(units["spike_times"][gid], expected.get(gid, []), rtol=0, atol=1e-12)
            np.testing.assert_allclose(units["obs_intervals"][gid], [[0.2, 0.25]])
        exc_first, exc_count = s1.population_ranges["EXC"]
        assert set(units["population"][exc_first:exc_first + exc_count]) == {"EXC"}
        np.testing.assert_allclose(units[["soma_x", "soma_y", "soma_z"]].to_numpy(), s1.neuron_coordinates[:, 1:])
        assert f.units.resolution == pytest.approx(1e-4)

        # stimulation: the delivered array, uA with conversion to A, rate 1 / step
        series = f.stimulus["ElectrodeStimulation"]
        np.testing.assert_array_equal(series.data[:], result.stimulation.currents)
        assert series.unit == "A" and series.conversion == 1e-6
        assert series.rate == pytest.approx(10_000.0) and series.starting_time == pytest.approx(0.2)
        pulses = f.intervals["stimulation_pulses"].to_dataframe()
        assert len(pulses) == 2  # the biphasic pulse is one pulse despite its interphase gap
        biphasic, other = pulses.iloc[0], pulses.iloc[1]
        assert biphasic["start_time"] == pytest.approx(0.2 + 0.010)
        assert biphasic["stop_time"] == pytest.approx(0.2 + 0.0105)
        assert list(biphasic["channels"]) == [3]
        assert (biphasic["max_current"][0], biphasic["min_current"][0]) == (4.0, -4.0)
        assert biphasic["charge"][0] == pytest.approx(0.0, abs=1e-12)  # charge balanced
        assert list(other["channels"]) == [mea.channel_ids[0]] and other["start_time"] == pytest.approx(0.23)
        assert other["charge"][0] == pytest.approx(0.15)  # 1.5 uA for 0.1 ms = 0.15 nC

        # membrane potential: [samples, neurons] in mV, conversion to V
        voltage = f.processing["misc"]["MembranePotential"]
        np.testing.assert_array_equal(voltage.data[:], result.v.T)
        assert voltage.conversion == 1e-3 and voltage.rate == pytest.approx(10_000.0)
        gids = f.processing["misc"]["MembranePotentialNeurons"].to_dataframe()["gid"].tolist()
        assert gids == [0, 5]

        # provenance JSON; versions gain pynwb's
        provenance = json.loads(f.scratch["livn_provenance"].data)
        expected_provenance = json.loads(json.dumps(result.provenance))
        expected_provenance["versions"]["pynwb"] = pynwb.__version__
        assert provenance == expected_provenance
        assert ["pynwb", pynwb.__version__] in [list(row) for row in f.was_generated_by]
    bad, _ = critical(path)
    assert not bad, [m.message for m in bad]


def test_spikes_only_result_without_provenance_lists_the_neurons_that_spiked(tmp_path):
    result = RunResult(np.array([4, 1, 4]), np.array([2.0, 1.0, 0.5]), None, None, duration=10.0)
    path = export(result, tmp_path / "bare.nwb")
    io, f = read(path)
    with io:
        units = f.units.to_dataframe()
        assert units["gid"].tolist() == [1, 4]
        np.testing.assert_allclose(units["spike_times"][0], [0.001])
        np.testing.assert_allclose(units["spike_times"][1], [0.0005, 0.002])
        assert len(f.electrodes or []) == 0 and "ElectrodeStimulation" not in f.stimulus


def test_consecutive_windows_export_as_one(s1, tmp_path):
    result = hand_made_result(s1)
    parts = [result.window(0, 20), result.window(20, 50)]
    io, f = read(export(parts, tmp_path / "joined.nwb"))
    with io:
        np.testing.assert_allclose(np.sort(np.concatenate(f.units.to_dataframe()["spike_times"].to_list())),
                                   np.sort([0.00325, 0.0015, 0.010, 0.0499]))
        np.testing.assert_array_equal(f.stimulus["ElectrodeStimulation"].data[:], result.stimulation.currents)


def test_a_short_brian2_run_round_trips(tmp_path):
    from livn.env import Env

    env = Env(make("S1"), seed=3, backend="brian2").init()
    env.apply_model_defaults()
    env.record_spikes()
    inputs = np.zeros((100, env.io.num_channels))
    inputs[20:25, :4] = 20.0
    result = env.run(100, inputs=inputs)
    assert len(result.it) > 0
    io, f = read(export(result, tmp_path / "run.nwb"))
    with io:
        units = f.units.to_dataframe()
        for gid in range(env.num_neurons):
            np.testing.assert_allclose(units["spike_times"][gid] * 1000.0, np.sort(result.t[result.it == gid]),
                                       atol=1e-9)
        np.testing.assert_array_equal(f.stimulus["ElectrodeStimulation"].data[:], result.stimulation.currents)
        assert json.loads(f.scratch["livn_provenance"].data)["seed"] == 3
        pulses = f.intervals["stimulation_pulses"].to_dataframe()  # four channels pulsed together: one row
        assert len(pulses) == 1 and list(pulses["channels"][0]) == env.io.channel_ids[:4].tolist()
        assert (pulses["start_time"][0], pulses["stop_time"][0]) == (pytest.approx(0.02), pytest.approx(0.025))
        np.testing.assert_allclose(pulses["charge"][0], [100.0] * 4)  # 20 uA for 5 ms = 100 nC
    bad, _ = critical(tmp_path / "run.nwb")
    assert not bad, [m.message for m in bad]


def test_a_brian2_run_with_file_backed_traces_round_trips(tmp_path):
    from livn.env import Env
    from livn.stimulation import BiphasicPulse, electrode_inputs

    env = Env(make("S1"), seed=5, backend="brian2").init()
    env.apply_model_defaults()
    env.record_spikes()
    env.record_extracellular(fs_hz=20_000.0, noise_uv=2.0, file=tmp_path / "traces.h5", blanking_ms=1.0)
    pulse = BiphasicPulse(int(env.io.channel_ids[0]), 30.0, 20.0, 0.2, 0.1)
    inputs = electrode_inputs([pulse], 60.0, env.io.channel_ids, step=0.1)
    result = env.run(60.0, inputs=inputs, stimulus_step=0.1)
    recording = result.extracellular
    assert recording.file is not None and len(recording.blanked) >= 1
    io, f = read(export(result, tmp_path / "run.nwb"))
    with io:
        series = f.acquisition["ExtracellularTraces"]
        np.testing.assert_array_equal(series.data[:], recording.traces.T)  # float32 uV, bit for bit
        assert series.data.dtype == np.float32 and series.conversion == 1e-6 and series.rate == 20_000.0
        assert series.starting_time == recording.first_sample / 20_000.0
        units = f.units.to_dataframe()
        for gid in range(env.num_neurons):  # ground truth: every neuron's spikes, in s
            mine = recording.spike_gids == gid
            np.testing.assert_allclose(units["spike_times"][gid], np.sort(recording.spike_times[mine]) / 1000.0,
                                       atol=1e-12)
        invalid = f.invalid_times.to_dataframe()
        np.testing.assert_allclose(invalid["start_time"], (recording.first_sample + recording.blanked[:, 0]) / 20e3)
        assert invalid["start_time"][0] == pytest.approx(0.020)  # blanking starts at the pulse's onset
        provenance = json.loads(f.scratch["livn_provenance"].data)
        assert provenance["extracellular"] == json.loads(json.dumps(recording.settings.to_dict()))
    bad, _ = critical(tmp_path / "run.nwb")
    assert not bad, [m.message for m in bad]


class ChunkedRecording:
    """A stand-in for a file-backed ExtracellularRecording that remembers the largest block read."""

    def __init__(self, traces, fs_hz, channel_ids, start_ms):
        self._traces = traces.astype(np.float32)
        self.fs_hz, self.channel_ids, self.start_ms = fs_hz, np.asarray(channel_ids), start_ms
        self.first_sample = round(start_ms * fs_hz / 1000.0)
        self.n_samples = traces.shape[1]
        self.spike_gids, self.spike_times = np.array([1], dtype=np.int64), np.array([0.5])
        self.largest_read = 0

    def read(self, start=0, stop=None):
        stop = self.n_samples if stop is None else stop
        self.largest_read = max(self.largest_read, stop - start)
        return self._traces[:, start:stop]


def test_traces_are_written_chunk_by_chunk(s1, tmp_path):
    mea = MEA.from_directory(s1.uri)
    fs, samples = 25_000.0, 600_000  # 24 s of 16 channels: 38 MB of float32
    traces = np.random.default_rng(0).normal(0, 5, (mea.num_channels, samples)).astype(np.float32)
    recording = ChunkedRecording(traces, fs, mea.channel_ids, start_ms=40.0)
    result = RunResult(None, None, None, None, duration=samples / fs * 1000, extracellular=recording,
                       provenance=provenance_of(s1, 40.0))
    io, f = read(export(result, tmp_path / "traces.nwb"))
    with io:
        series = f.acquisition["ExtracellularTraces"]
        assert series.data.shape == (samples, mea.num_channels)
        np.testing.assert_array_equal(series.data[:], traces.T)
        assert series.conversion == 1e-6 and series.rate == fs and series.starting_time == pytest.approx(0.04)
        assert series.electrodes.table is f.electrodes
        assert [int(i) for i in series.electrodes.to_dataframe().index] == mea.channel_ids.tolist()
        assert f.units.to_dataframe()["spike_times"][1].tolist() == [pytest.approx(0.0405)]
    # never more than the write buffer in memory (the recording is twice as large)
    assert recording.largest_read * mea.num_channels * 4 <= nwb._BUFFER_BYTES < traces.nbytes / 2


@pytest.mark.parametrize("bad, message", [
    ("not a result", "RunResult"),
    ((np.array([1]), np.array([1.0]), None, None), "RunResult"),
    ([], "non-empty list"),
    (RunResult(None, None, None, None), "record_spikes"),
])
def test_bad_results_are_refused(bad, message, tmp_path):
    with pytest.raises(InvalidArgumentError, match=message):
        export(bad, tmp_path / "x.nwb")
    assert not list(tmp_path.iterdir())


def test_bad_paths_are_refused_before_any_work(s1, tmp_path):
    result = hand_made_result(s1)
    (tmp_path / "a_file").write_text("")
    for path, message in [
        (tmp_path / "x.h5", r"end in \.nwb"),
        (tmp_path / "missing" / "x.nwb", "does not exist"),
        (tmp_path / "a_file" / "x.nwb", "does not exist"),
        (42, "file path"),
    ]:
        with pytest.raises(InvalidArgumentError, match=message):
            export(result, path)
    (tmp_path / "dir.nwb").mkdir()
    with pytest.raises(InvalidArgumentError, match="is a directory"):
        export(result, tmp_path / "dir.nwb")
    with pytest.raises(InvalidArgumentError, match="timezone-aware"):
        export(result, tmp_path / "x.nwb", session_start_time=datetime.datetime(2026, 1, 1))


def test_an_existing_file_is_kept_unless_overwrite_and_never_half_written(s1, tmp_path):
    path = tmp_path / "kept.nwb"
    path.write_bytes(b"precious")
    result = hand_made_result(s1)
    with pytest.raises(InvalidArgumentError, match="already exists"):
        export(result, path)
    assert path.read_bytes() == b"precious"

    class Failing(ChunkedRecording):
        def read(self, start=0, stop=None):
            if start > 0:
                raise RuntimeError("disk vanished")
            return super().read(start, stop)

    mea = MEA.from_directory(s1.uri)
    failing = Failing(np.zeros((mea.num_channels, 600_000)), 25_000.0, mea.channel_ids, 0.0)
    with pytest.raises(RuntimeError, match="disk vanished"):
        export(result._replace(extracellular=failing, duration=24_000.0), path, overwrite=True)
    assert path.read_bytes() == b"precious" and sorted(os.listdir(tmp_path)) == ["kept.nwb"]

    export(result, path, overwrite=True)
    io, f = read(path)
    with io:
        assert len(f.units) == s1.num_neurons


def test_missing_pynwb_names_the_extra(s1, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynwb", None)
    with pytest.raises(MissingDependencyError, match=r"livn\[nwb\]"):
        export(hand_made_result(s1), tmp_path / "x.nwb")


def test_an_experiment_audit_trail_exports_with_a_trials_table(s1, tmp_path):
    from livn.experiment.audit import AuditTrail
    from livn.nwb import export_experiment

    config = {"name": "probe", "system": "S1", "seed": 4, "recordings": {"spikes": "EXC"}}
    trail = AuditTrail.create(tmp_path / "run.h5", config, 4, {"brian2": "2.x"}, {})
    n = MEA.from_directory(s1.uri).num_channels
    pulse = np.zeros((2, n))
    pulse[:, 3] = 2.0
    trail.begin_trial(0, 0.0, {"amplitude_uA": 2.0, "channel": 3})
    trail.record_stimulus(50.0, pulse)
    trail.record_spikes([1, 2], [51.0, 60.0])
    trail.end_trial({"responded": True, "count": 2}, end_ms=200.0)
    trail.begin_trial(1, 200.0, {"amplitude_uA": 4, "channel": 3})
    trail.record_stimulus(250.0, 2 * pulse)
    trail.record_spikes([3], [255.5])
    trail.end_trial({"responded": False, "count": 1, "note": [1, 2]}, end_ms=400.0, complete=False)
    trail.finish()

    path = export_experiment(tmp_path / "run.h5", tmp_path / "run.nwb")
    io, f = read(path)
    with io:
        trials = f.trials.to_dataframe()
        assert trials["start_time"].tolist() == [0.0, 0.2] and trials["stop_time"].tolist() == [0.2, 0.4]
        assert trials["complete"].tolist() == [True, False]
        assert trials["amplitude_uA"].tolist() == [2.0, 4.0] and trials["channel"].tolist() == [3, 3]
        assert trials["result_responded"].tolist() == [True, False]
        assert trials["result_note"].tolist() == ["null", "[1, 2]"]  # not in every trial: JSON
        units = f.units.to_dataframe()
        exc_first, exc_count = s1.population_ranges["EXC"]
        assert units["gid"].tolist() == list(range(exc_first, exc_first + exc_count))  # only recorded neurons
        assert [list(units["spike_times"][g]) for g in (1, 2, 3)] == [[0.051], [0.060], [0.2555]]
        currents = f.stimulus["ElectrodeStimulation"].data[:]
        assert currents.shape == (400, n) and currents[50:52, 3].tolist() == [2.0, 2.0]
        assert currents[250:252, 3].tolist() == [4.0, 4.0] and np.count_nonzero(currents) == 4
        provenance = json.loads(f.scratch["livn_provenance"].data)
        assert provenance["experiment"]["config"] == config and provenance["seed"] == 4
    bad, _ = critical(path)
    assert not bad, [m.message for m in bad]

    from click.testing import CliRunner

    from livn.cli import main

    outcome = CliRunner().invoke(main, ["experiment", "export", str(tmp_path / "run.h5"), str(path)])
    assert outcome.exit_code != 0 and "exists" in outcome.output  # never over an existing file unasked
    outcome = CliRunner().invoke(main, ["experiment", "export", str(tmp_path / "run.h5"), str(path), "--overwrite"])
    assert outcome.exit_code == 0, outcome.output
    io, f = read(path)
    with io:
        assert len(f.trials) == 2
