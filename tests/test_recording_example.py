"""examples/recording/mea_signals.py: its signal processing against known answers, and a smoke run.

The smoke run (`quick=True`, as `--quick`) checks that the script runs end to end and writes its table, summary
and figures, not the size of any effect (examples/recording/README.md has the measured numbers).
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _examples import load_example

from livn.analysis import band_power
from livn.errors import InvalidArgumentError
from livn.io.extracellular import ExtracellularRecording

SCRIPT = Path(__file__).parents[1] / "examples" / "recording" / "mea_signals.py"


@pytest.fixture(scope="module")
def example():
    return load_example("recording/mea_signals.py")


def test_detection_finds_spikes_at_the_noise_threshold(example):
    """White noise of 5 uV RMS plus livn's spike waveform with a 200 uV trough at known times:
    every spike is found once (the band-pass rings into a second dip 1.2 ms later, inside the
    dead time), within 0.6 ms of its onset; the threshold is -5 x the band-passed noise's
    standard deviation; noise alone crosses it rarely."""
    from scipy.signal import butter, sosfilt

    from livn.io.extracellular import spike_template

    fs = 25000.0
    rng = np.random.default_rng(3)
    traces = rng.normal(0.0, 5.0, size=(2, int(fs * 2)))
    spikes_ms = np.arange(50.0, 1950.0, 47.3)
    waveform = 200.0 * spike_template(np.arange(0.0, 3.0, 1000.0 / fs))  # trough -200 uV at 0.4 ms
    for t in spikes_ms:
        k = int(round(t * fs / 1000))
        traces[0, k:k + waveform.size] += waveform
    recording = ExtracellularRecording(traces, fs, [0, 1])
    cit, ct, thresholds = example.detect_spikes(recording)
    assert set(ct) == {0, 1} and all(len(cit[c]) == len(ct[c]) for c in ct)
    band = sosfilt(butter(3, example.SPIKE_BAND_HZ, btype="bandpass", fs=fs, output="sos"), traces[1])
    assert thresholds[1] == pytest.approx(-5 * band[2500:].std(), rel=0.1)
    found = ct[0]
    nearest = np.abs(found[:, None] - spikes_ms[None, :]).min(axis=0)
    assert np.all(nearest < 0.6)  # every spike detected (the trough is 0.4 ms after onset)
    assert len(found) == len(spikes_ms)  # and nothing else (5 sigma: ~1 false crossing in 3e6 samples)
    assert len(ct[1]) <= 2


def test_field_potential_keeps_slow_rhythms(example):
    """A 10 Hz, 20 uV sinusoid at 25 kHz comes out at 1 kHz with its amplitude (alpha band power
    A^2 / 2 = 200 uV^2); a 2 kHz one is removed."""
    fs = 25000.0
    t = np.arange(int(fs * 4)) / fs
    traces = np.stack([20 * np.sin(2 * np.pi * 10 * t), 20 * np.sin(2 * np.pi * 2000 * t)])
    lfp = example.field_potential(ExtracellularRecording(traces, fs, [0, 1]))
    assert lfp.shape == (2, 4000)
    steady = lfp[:, 500:]
    assert np.abs(steady[0]).max() == pytest.approx(20.0, rel=0.02)
    assert np.abs(steady[1]).max() < 0.01
    assert band_power(lfp[:, 1000:], fs_hz=1000.0)["alpha"][0] == pytest.approx(200.0, rel=0.05)


def test_direct_activation_threshold(example):
    # fraction of trials with a direct spike per amplitude; a fluke at 1 uA does not make a threshold
    amplitudes = np.repeat([1.0, 2.0, 4.0, 8.0], 4)
    fired = np.array([1, 0, 0, 0,  0, 0, 1, 0,  1, 1, 0, 1,  1, 1, 1, 1], dtype=bool)
    values, probability, threshold = example.direct_activation(amplitudes, fired)
    assert values.tolist() == [1.0, 2.0, 4.0, 8.0]
    assert probability.tolist() == [0.25, 0.25, 0.75, 1.0]
    assert threshold == 4.0
    # a dip below 50 % breaks the run; nothing reliable at the top means no threshold
    assert example.direct_activation([1, 1, 2, 2, 4, 4], [1, 1, 0, 0, 1, 1])[2] == 4.0
    assert example.direct_activation([1, 1, 2, 2], [1, 1, 0, 0])[2] is None
    assert example.charge_per_phase("monophasic", 8.0) == pytest.approx(8.0)  # 8 uA x 1 ms
    assert example.charge_per_phase("biphasic", 8.0) == pytest.approx(1.6)  # 8 uA x 0.2 ms


def test_bad_settings_are_refused_before_any_simulation(example, tmp_path):
    with pytest.raises(InvalidArgumentError, match="seed"):
        example.main(seed=-1, out=tmp_path)
    with pytest.raises(InvalidArgumentError, match="interval"):
        example.main(out=tmp_path, interval=200.0)
    with pytest.raises(InvalidArgumentError, match="unknown settings"):
        example.main(out=tmp_path, duration=5.0)
    with pytest.raises(InvalidArgumentError, match="amplitudes"):
        example.main(out=tmp_path, quick=True, amplitudes=(2.0, -1.0))
    assert not any(tmp_path.iterdir())


def test_command_line_arguments(example):
    arguments = example._arguments(["--quick", "--out", "somewhere", "--seed", "2", "--electrode", "5"])
    assert (arguments.quick, arguments.out, arguments.seed, arguments.electrode) == (True, "somewhere", 2, 5)
    defaults = example._arguments([])
    assert (defaults.quick, defaults.seed, defaults.electrode) == (False, 1, None)
    assert Path(defaults.out) == SCRIPT.parent / "figures"


def test_quick_run(example, tmp_path, capsys):
    returned = example.main(seed=1, out=tmp_path, quick=True)
    printed = capsys.readouterr().out
    assert "avalanches (detected)" in printed and "charge biphasic / monophasic" in printed
    names = {"spontaneous_traces.png", "spontaneous_analysis.png", "recruitment.png", "stimulation_artifact.png"}
    assert names <= {p.name for p in tmp_path.iterdir()}
    assert all((tmp_path / name).stat().st_size > 10_000 for name in names)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == json.loads(json.dumps(example._plain(returned)))
    assert summary["quick"] is True and summary["settings"]["amplitudes"] == [4.0, 64.0]

    # the electrode's reach, from the MEA's geometry
    from livn.env import Env
    from livn.system import predefined

    env = Env(predefined("S2"), seed=1)
    distances = env.io.distances(env.system.neuron_coordinates)
    channel = summary["electrode"]["channel"]
    row = env.io.channel_ids.tolist().index(channel)
    assert (distances <= env.io.input_radius).sum(axis=1).max() == (distances[row] <= env.io.input_radius).sum()
    assert summary["electrode"]["near_gids"] == np.flatnonzero(distances[row] <= env.io.input_radius).tolist()

    # every trial is accounted for: 2 amplitudes x 1 trial per kind
    for kind in ("monophasic", "biphasic"):
        trials = summary["recruitment"][kind]["near"]["trials"]
        assert sorted(trials["amplitude_ua"]) == [4.0, 64.0]
        assert all(n >= 0 for n in trials["response_spikes"] + trials["baseline_spikes"])

    # blanking: from each pulse's onset to 2 ms after its end, at 25 kHz: the 1 ms pulse 3 ms
    # (75 samples), the 0.5 ms biphasic pulse 2.5 ms (62 or 63 samples)
    assert summary["artifact"]["blanked_samples"] in (137, 138)
    assert summary["artifact"]["clipped_samples_raw"] > 0  # 16 uA saturates the amplifier (+-5 mV)

    spontaneous = summary["spontaneous"]
    assert spontaneous["duration_ms"] == 1000.0
    fractions = spontaneous["lfp_band_fraction"].values()
    assert math.isclose(sum(fractions), 1.0) and all(f > 0 for f in fractions)
    assert spontaneous["detection"]["detected_events"] > 0
