"""The `livn` command, run as a user runs it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LIVN = shutil.which("livn", path=str(Path(sys.executable).parent)) or "livn"


def livn(*args, cwd=None):
    return subprocess.run([LIVN, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env={**os.environ})


def test_run_prints_a_summary_and_writes_the_figure(tmp_path):
    result = livn("run", "S1", "--duration", "300", "--stimulate", "0:30:50:20", "--plot", "raster.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for line in ("neurons", "spikes", "mean rate", "active channels", "network bursts", "raster.png"):
        assert line in result.stdout
    png = (tmp_path / "raster.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_run_json_summary(tmp_path):
    result = livn("run", "S1", "--duration", "200", "--json", "--no-plot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["num_neurons"] == 11 and report["num_channels"] == 16
    assert report["num_spikes"] == pytest.approx(report["mean_rate"] * 11 * 0.2)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "S9"], "S1, S2, S3, S4"),
        (["run", "S1", "--duration", "-5"], "positive"),
        (["run", "S1", "--stimulate", "3:20"], "CHANNEL:AMPLITUDE_uA:START_ms:WIDTH_ms"),
        (["run", "S1", "--stimulate", "99:20:0:10", "--duration", "50"], "not on this MEA"),
        (["run", "S1", "--stimulate", "1:20:40:20", "--duration", "50"], "within"),
        (["run", "S1", "--backend", "nest"], "known backends"),
    ],
)
def test_bad_arguments_give_one_clear_line(args, message, tmp_path):
    result = livn(*args, "--no-plot", cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_run_writes_an_nwb_file_with_the_delivered_biphasic_train(tmp_path):
    pynwb = pytest.importorskip("pynwb")
    result = livn("run", "S1", "--duration", "100", "--stimulate", "0:30:20:10",
                  "--stimulate-biphasic", "3:20:50:0.2:0.1 x 3 @ 100Hz", "--nwb", "run.nwb", "--json", "--no-plot",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["nwb"] == "run.nwb"
    with pynwb.NWBHDF5IO(str(tmp_path / "run.nwb"), "r") as io:
        f = io.read()
        units = f.units.to_dataframe()
        assert len(units) == 11 and sum(len(s) for s in units["spike_times"]) == report["num_spikes"]
        stimulation = f.stimulus["ElectrodeStimulation"]
        assert stimulation.data.shape == (1000, 16) and stimulation.rate == 10_000.0  # 0.1 ms rows
        pulses = f.intervals["stimulation_pulses"].to_dataframe()
        assert pulses["start_time"].tolist() == pytest.approx([0.020, 0.050, 0.060, 0.070])
        assert [list(c) for c in pulses["channels"]] == [[0], [3], [3], [3]]
        assert [c[0] for c in pulses["charge"]] == pytest.approx([300.0, 0.0, 0.0, 0.0])  # uA x ms = nC
        assert json.loads(f.scratch["livn_provenance"].data)["seed"] == 123


@pytest.mark.parametrize(
    "args, message",
    [
        (["--nwb", "run.h5"], "end in .nwb"),
        (["--nwb", "missing/run.nwb"], "does not exist"),
        (["--fs", "1000"], "--traces"),
        (["--traces", "--fs", "nan"], "fs_hz must be a finite number of Hz"),
        (["--traces", "--fs", "0"], "fs_hz"),
        (["--traces", "--noise-uv", "-1"], "noise_uv must be >= 0 uV"),
        (["--stimulate-biphasic", "3:20"], "CHANNEL"),
    ],
)
def test_bad_nwb_and_trace_options_fail_before_simulating(args, message, tmp_path):
    result = livn("run", "S1", "--duration", "50", "--no-plot", *args, cwd=tmp_path)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "spikes" not in result.stdout


def test_an_existing_nwb_file_needs_overwrite(tmp_path):
    (tmp_path / "run.nwb").write_bytes(b"precious")
    result = livn("run", "S1", "--duration", "50", "--no-plot", "--nwb", "run.nwb", cwd=tmp_path)
    assert result.returncode != 0 and "--overwrite" in result.stderr
    assert (tmp_path / "run.nwb").read_bytes() == b"precious"


def test_run_with_traces_draws_the_trace_panel_and_exports_them(tmp_path):
    pynwb = pytest.importorskip("pynwb")
    result = livn("run", "S1", "--duration", "50", "--traces", "--fs", "20000", "--noise-uv", "3",
                  "--stimulate", "0:30:10:5", "--plot", "fig.png", "--nwb", "run.nwb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "traces          16 channels at 20000 Hz" in result.stdout
    assert (tmp_path / "fig.png").read_bytes().startswith(b"\x89PNG")
    with pynwb.NWBHDF5IO(str(tmp_path / "run.nwb"), "r") as io:
        series = io.read().acquisition["ExtracellularTraces"]
        assert series.data.shape == (1000, 16) and series.rate == 20_000.0


def test_the_figure_gains_a_trace_panel_of_the_most_active_channels():
    import numpy as np

    from livn.io.extracellular import ExtracellularRecording
    from livn.plot import envelope, recording_figure

    fs, samples = 25_000.0, 50_000  # 2 s
    traces = np.random.default_rng(1).normal(0, 5, (16, samples))
    recording = ExtracellularRecording(traces, fs, np.arange(16))
    ct = {c: np.linspace(0, 2000, 3 * c, endpoint=False) for c in range(16)}  # channel 15 most active
    cit = {c: np.zeros(len(ct[c]), dtype=int) for c in ct}
    without = recording_figure([0], [1.0], 2000.0, {"EXC": (0, 8), "INH": (8, 3)}, cit, ct)
    panel = recording_figure([0], [1.0], 2000.0, {"EXC": (0, 8), "INH": (8, 3)}, cit, ct, traces=recording,
                             trace_channels=3)
    assert len(panel.axes) == len(without.axes) + 1  # raster, channels (+ colour bar), traces, rate
    assert [label.get_text() for label in panel.axes[2].get_yticklabels()] == ["ch 13", "ch 14", "ch 15"]
    first, low, high = envelope(recording.read, samples, [15], columns=100)
    assert first.tolist() == list(range(0, samples, 500))  # 500 samples per column
    np.testing.assert_array_equal(low[0, 7], recording.traces[15, 3500:4000].min())
    np.testing.assert_array_equal(high[0, 7], recording.traces[15, 3500:4000].max())


def test_long_traces_stream_through_a_temporary_file_that_is_removed(tmp_path, monkeypatch):
    pynwb = pytest.importorskip("pynwb")
    from click.testing import CliRunner

    import livn.cli

    import livn.env

    monkeypatch.setattr(livn.cli, "_TRACES_IN_MEMORY_BYTES", 0)  # any recording counts as long
    files, record = [], livn.env.Env.record_extracellular

    def spy(self, *args, file=None, **kwargs):
        files.append(file)
        return record(self, *args, file=file, **kwargs)

    monkeypatch.setattr(livn.env.Env, "record_extracellular", spy)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(livn.cli.main, ["run", "S1", "--duration", "30", "--traces", "--no-plot",
                                                "--nwb", "run.nwb"])
    assert result.exit_code == 0, result.output
    assert len(files) == 1 and files[0].parent.parent == tmp_path  # streamed next to the NWB file
    assert sorted(os.listdir(tmp_path)) == ["run.nwb"]  # and removed
    with pynwb.NWBHDF5IO("run.nwb", "r") as io:
        assert io.read().acquisition["ExtracellularTraces"].data.shape == (750, 16)
