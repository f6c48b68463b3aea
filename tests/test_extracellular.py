"""The extracellular recording model (livn.io.extracellular) against known answers:
the point-source law, the sampled waveform, band-limited noise, the LFP proxy's formula,
artifact recovery, blanking, windowed synthesis and HDF5 streaming (also after kill -9)."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc

import numpy as np
import pytest
from scipy import signal as scipy_signal

from livn.errors import InvalidArgumentError, RecordingError
from livn.io import MEA
from livn.io.extracellular import (
    ExtracellularRecorder,
    ExtracellularRecording,
    ExtracellularSettings,
    point_source_uv,
    read_recording,
    spike_template,
)
from livn.stimulation import ElectrodeStimulation
from livn.types import SynapticCurrents

FS = 25000.0
SAMPLE_MS = 1000.0 / FS


def line_mea(xs=(0.0, 200.0, 400.0)):
    """Electrodes on the x axis at `xs` um."""
    return MEA([[i, x, 0.0, 0.0] for i, x in enumerate(xs)], input_radius=100.0, output_radius=100.0)


def quiet(**changes):
    """Settings without noise and LFP (one component at a time)."""
    return ExtracellularSettings(**{"noise_uv": 0.0, "lfp": False, **changes})


# -- point-source law and waveform -------------------------------------------------------------------


def test_point_source_law():
    # 6 nA at 10 um in 0.3 S/m: 1000 * 6 / (4 pi 0.3 10) uV
    assert point_source_uv(6.0, 10.0) == pytest.approx(6000 / (4 * math.pi * 3.0))
    r1, r2 = 37.0, 250.0
    v1, v2 = point_source_uv(1.0, [r1, r2])
    assert v1 / v2 == pytest.approx(r2 / r1, rel=1e-12)
    assert point_source_uv(1.0, 2.0) == point_source_uv(1.0, 10.0)  # capped at min_distance_um


def test_spike_amplitudes_follow_distance():
    settings = quiet()
    mea = line_mea((0.0, 300.0))
    coords = [[0, 40.0, 0.0, 0.0]]  # 40 um from channel 0, 260 um from channel 1
    recording = ExtracellularRecorder(settings, mea, coords).record(5.0, [0], [0.0])
    troughs = -recording.traces.min(axis=1)
    assert troughs[0] / troughs[1] == pytest.approx(260.0 / 40.0, rel=1e-3)  # the trough is sampled within 1e-3
    assert troughs[0] == pytest.approx(point_source_uv(6.0, 40.0), rel=2e-3)


def test_template_shape():
    settings = ExtracellularSettings()
    tau = np.linspace(-1, 4, 500001)
    w = spike_template(tau, settings)
    assert w.min() == pytest.approx(-1.0, abs=1e-8) and w.min() >= -1.0 - 1e-12  # the grid misses the trough by < 1e-8
    assert tau[w.argmin()] == pytest.approx(settings.trough_ms, abs=0.01)
    assert np.all(w[tau <= 0] == 0) and np.all(w[tau >= settings.waveform_ms] == 0)
    assert 0.2 < w.max() < 0.4 and tau[w.argmax()] == pytest.approx(settings.repolarisation_ms, abs=0.01)
    half = tau[w < -0.5]
    assert 0.1 <= half.max() - half.min() <= 0.2  # trough width (ms) at half depth
    assert np.all(np.abs(w[tau >= 2.0]) < 1e-3)


def test_one_spike_is_the_template_at_its_offset():
    settings = quiet()
    mea = line_mea()
    coords = [[0, 50.0, 30.0, 0.0], [1, 500.0, 0.0, 0.0]]
    recorder = ExtracellularRecorder(settings, mea, coords)
    recorder.record(10.0, [], [])
    recording = recorder.record(10.0, [0], [2.3])  # at 12.3 ms: 307.5 samples, half a sample off the grid
    k = recording.first_sample + np.arange(recording.n_samples)
    expected = point_source_uv(6.0, mea.distances(np.asarray(coords))[:, :1]) * spike_template(
        k * SAMPLE_MS - 12.3, settings)
    np.testing.assert_allclose(recording.traces, expected, rtol=1e-6, atol=1e-5)
    assert recording.first_sample == 250 and recording.n_samples == 250
    np.testing.assert_allclose(recording.sample_times(), np.arange(250) * SAMPLE_MS, atol=1e-9)
    assert recording.spike_gids.tolist() == [0] and recording.spike_times.tolist() == [2.3]


# -- noise -------------------------------------------------------------------------------------------


def test_noise_rms_band_and_independence():
    settings = ExtracellularSettings(noise_uv=5.0, lfp=False)
    mea = MEA.grid(400.0, 400.0, rows=2, columns=2)
    recorder = ExtracellularRecorder(settings, mea, [[0, 1e5, 0, 0]], seed=3)
    traces = recorder.record(2000.0, [], []).traces.astype(float)
    rms = np.sqrt(np.mean(traces**2, axis=1))
    np.testing.assert_allclose(rms, 5.0, rtol=0.03)
    frequencies, power = scipy_signal.welch(traces, fs=FS, nperseg=4096, axis=-1)
    total = power.sum(axis=-1)
    outside = power[:, (frequencies < 100) | (frequencies > 10000)].sum(axis=-1)
    inside = power[:, (frequencies >= 300) & (frequencies <= 6000)].sum(axis=-1)
    assert np.all(outside < 0.01 * total) and np.all(inside > 0.9 * total)
    correlation = np.corrcoef(traces)
    assert np.all(np.abs(correlation[~np.eye(4, dtype=bool)]) < 0.03)
    again = ExtracellularRecorder(settings, mea, [[0, 1e5, 0, 0]], seed=3).record(100.0, [], []).traces
    other = ExtracellularRecorder(settings, mea, [[0, 1e5, 0, 0]], seed=4).record(100.0, [], []).traces
    np.testing.assert_array_equal(again, traces[:, :2500].astype(np.float32))
    assert not np.allclose(other, again)


# -- local field potential ---------------------------------------------------------------------------


def test_lfp_is_the_weighted_sum_proxy():
    settings = ExtracellularSettings(noise_uv=0.0, spike_current_na=0.0, lfp_dt_ms=0.5)
    mea = line_mea((0.0, 300.0))
    coords = np.array([[0, 20.0, 0, 0], [1, 100.0, 0, 0], [2, 900.0, 0, 0]], float)
    lfp_gids = np.array([0, 1])
    rng = np.random.default_rng(5)
    samples = 120  # 60 ms
    ampa = rng.normal(0, 1, (2, samples))  # either sign: the proxy takes absolute values
    gaba = rng.normal(0, 1, (2, samples))
    recorder = ExtracellularRecorder(settings, mea, coords, lfp_gids=lfp_gids)
    recording = recorder.record(60.0, [], [], currents=SynapticCurrents(lfp_gids, 0.5, ampa, gaba))
    weights = point_source_uv(1.0, mea.distances(coords)[:, :2])  # uV per nA
    delay = 12  # 6 ms of 0.5 ms samples
    delayed = np.zeros_like(ampa)
    delayed[:, delay:] = np.abs(ampa[:, :-delay])
    proxy = -settings.lfp_scale * weights @ (delayed - 1.65 * np.abs(gaba))  # [channels, current samples]
    t = recording.sample_times()
    grid = np.arange(-1, samples) * 0.5  # currents before t = 0 count as 0
    for c in range(2):  # linear interpolation one current sample (0.5 ms) late
        expected = np.interp(t - 0.5, grid, np.r_[0.0, proxy[c]])
        np.testing.assert_allclose(recording.traces[c], expected, rtol=1e-5, atol=1e-5)
    assert np.abs(recording.traces).max() > 1.0


def test_lfp_needs_matching_currents():
    settings = ExtracellularSettings(noise_uv=0.0)
    recorder = ExtracellularRecorder(settings, line_mea(), [[0, 0, 0, 0], [1, 10, 0, 0]], lfp_gids=[0])
    with pytest.raises(InvalidArgumentError, match="currents"):
        recorder.record(10.0, [], [])
    with pytest.raises(InvalidArgumentError, match=r"currents.ampa must be \[1 neurons, 20 samples\]"):
        recorder.record(10.0, [], [], currents=SynapticCurrents(np.array([0]), 0.5, np.zeros((1, 19)), np.zeros((1, 19))))
    with pytest.raises(InvalidArgumentError, match="currents.dt"):
        recorder.record(10.0, [], [], currents=SynapticCurrents(np.array([0]), 1.0, np.zeros((1, 10)), np.zeros((1, 10))))
    with pytest.raises(InvalidArgumentError, match="lfp_gids"):
        recorder.record(10.0, [], [], currents=SynapticCurrents(np.array([1]), 0.5, np.zeros((1, 20)), np.zeros((1, 20))))


# -- stimulation artifacts and blanking ----------------------------------------------------------------


def test_artifact_saturates_and_recovers_with_its_time_constant():
    settings = quiet(spike_current_na=0.0, artifact_decay_ms=0.8, amplifier_range_uv=5000.0)
    mea = line_mea((0.0, 1500.0))
    currents = np.zeros((300, 2))
    currents[100:105, 0] = 2.0  # 2 uA (cathodic) for 0.5 ms from 10 ms, on channel 0
    stimulation = ElectrodeStimulation(currents, 0.1, [0, 1])
    trace = ExtracellularRecorder(settings, mea, [[0, 1e5, 0, 0]]).record(30.0, [], [], stimulation=stimulation).traces
    on_electrode = trace[0].astype(float)
    a = math.exp(-SAMPLE_MS / 0.8)
    x = -point_source_uv(2000.0, 0.0)  # -53 mV at the electrode itself (r_min)
    pulse = np.arange(250, 263)  # the samples in [10, 10.5) ms
    after_pulse = x * (1 - a ** (pulse - 249))
    np.testing.assert_allclose(on_electrode[pulse], np.clip(after_pulse, -5000, 5000), rtol=1e-5)
    assert on_electrode[pulse[3:]].min() == -5000.0  # saturated
    k = np.arange(263, 750)
    expected = after_pulse[-1] * a ** (k - 262)  # recovery with the time constant
    unclipped = np.abs(expected) < 5000
    assert unclipped.sum() > 100 and (~unclipped).sum() > 5
    np.testing.assert_allclose(on_electrode[k][unclipped], expected[unclipped], rtol=1e-5, atol=1e-4)
    assert np.all(on_electrode[k][~unclipped] == -5000.0)
    decay = np.log(on_electrode[k][unclipped][10] / on_electrode[k][unclipped][60]) / (50 * SAMPLE_MS)
    assert 1 / decay == pytest.approx(0.8, rel=1e-4)
    far = trace[1].astype(float)  # 1.5 mm away: 1/r smaller, not saturated
    assert far.min() == pytest.approx(x * 10.0 / 1500.0 * (1 - a**13), rel=1e-5)


def test_blanking_zeroes_stimulation_and_the_time_after():
    settings = ExtracellularSettings(lfp=False, noise_uv=5.0, blanking_ms=2.0)
    mea = line_mea()
    currents = np.zeros((200, 3))
    currents[50:52, 1] = 5.0  # biphasic on channel 1 at 5 ms: 0.2 ms cathodic, 0.2 ms anodic
    currents[52:54, 1] = -5.0
    stimulation = ElectrodeStimulation(currents, 0.1, [0, 1, 2])
    recording = ExtracellularRecorder(settings, mea, [[0, 1e5, 0, 0]], seed=2).record(20.0, [], [],
                                                                                      stimulation=stimulation)
    blank = (recording.sample_times() >= 5.0 - 1e-9) & (recording.sample_times() < 5.4 + 2.0 - 1e-9)
    assert blank.sum() == 60  # 5 to 7.4 ms: 2.4 ms / 0.04 ms
    assert np.all(recording.traces[:, blank] == 0)
    assert np.all(recording.traces[:, ~blank] != 0)
    np.testing.assert_array_equal(recording.blanked_mask(), blank)
    assert recording.blanked.tolist() == [[125, 185]]
    assert recording.window(6.0, 20.0).blanked.tolist() == [[0, 35]]


# -- windows -----------------------------------------------------------------------------------------


def busy_inputs(duration=1000.0, seed=11):
    """Spikes on the 0.1 ms grid, currents every 0.5 ms and biphasic stimulation every 100 ms (0.1 ms rows)."""
    rng = np.random.default_rng(seed)
    n = 40
    coords = np.c_[np.arange(n), rng.uniform(0, 600, (n, 2)), np.zeros(n)]
    count = 2000
    times = np.round(rng.uniform(0, duration, count) * 10) / 10
    times = np.minimum(times, duration - 0.1)
    gids = rng.integers(0, n, count)
    samples = int(duration / 0.5)
    ampa, gaba = rng.gamma(1.0, 0.2, (2, 30, samples))
    rows = np.zeros((int(round(duration / 0.1)), 4))
    for onset in range(50, int(duration), 100):
        rows[onset * 10: onset * 10 + 2, onset // 100 % 4] = 3.0
        rows[onset * 10 + 2: onset * 10 + 4, onset // 100 % 4] = -3.0
    stimulation = ElectrodeStimulation(rows, 0.1, [0, 1, 2, 3])
    return coords, gids, times, np.arange(30), ampa, gaba, stimulation


def record_in_windows(recorder, length, inputs, duration=1000.0):
    _, gids, times, lfp_gids, ampa, gaba, stimulation = inputs
    parts, start = [], 0.0
    while start < duration - 1e-9:
        end = round(min(start + length, duration), 6)
        m0, m1 = math.ceil(start / 0.5 - 1e-9), math.ceil(end / 0.5 - 1e-9)
        keep = (times >= start - 1e-9) & (times < end - 1e-9)
        currents = SynapticCurrents(lfp_gids, 0.5, ampa[:, m0:m1], gaba[:, m0:m1])
        parts.append(recorder.record(round(end - start, 6), gids[keep], np.round(times[keep] - start, 6),
                                     currents=currents, stimulation=stimulation.window(start, end)))
        start = end
    return parts


@pytest.mark.parametrize("blanking_ms", [None, 1.0])
def test_windows_give_the_same_recording(blanking_ms):
    inputs = busy_inputs()
    coords, lfp_gids = inputs[0], inputs[3]
    settings = ExtracellularSettings(blanking_ms=blanking_ms)
    mea = MEA.grid(600.0, 600.0, rows=2, columns=2)
    whole = record_in_windows(ExtracellularRecorder(settings, mea, coords, lfp_gids=lfp_gids, seed=9), 1000.0, inputs)[0]
    assert whole.n_samples == 25000 and len(whole.spike_gids) == 2000
    if blanking_ms is None:
        assert np.abs(whole.traces).max() == 5000.0  # the artifacts saturate the amplifier
    else:
        assert len(whole.blanked) == 10 and np.abs(whole.traces).max() > 500.0  # artifact tails after blanking
    for length in (1.0, 7.3, 250.0):
        parts = record_in_windows(ExtracellularRecorder(settings, mea, coords, lfp_gids=lfp_gids, seed=9), length,
                                  inputs)
        joined = ExtracellularRecording.concat(parts)
        np.testing.assert_allclose(joined.traces, whole.traces, rtol=1e-6, atol=1e-4)
        np.testing.assert_array_equal(joined.spike_gids, whole.spike_gids)
        np.testing.assert_allclose(joined.spike_times, whole.spike_times, atol=1e-9)
        np.testing.assert_array_equal(joined.blanked, whole.blanked)
        assert joined.duration == pytest.approx(1000.0) and joined.first_sample == 0


@pytest.mark.parametrize("fs_hz", [20000.0, 30000.0, 24414.0625])
def test_windows_at_other_sampling_rates(fs_hz):
    inputs = busy_inputs(100.0)
    settings = ExtracellularSettings(fs_hz=fs_hz, noise_band_hz=(300.0, 6000.0))
    mea = MEA.grid(600.0, 600.0, rows=2, columns=2)

    def make():
        return ExtracellularRecorder(settings, mea, inputs[0], lfp_gids=inputs[3], seed=2)

    whole = record_in_windows(make(), 100.0, inputs, 100.0)[0]
    assert whole.n_samples == math.ceil(100.0 * fs_hz / 1000 - 1e-9)
    joined = ExtracellularRecording.concat(record_in_windows(make(), 7.3, inputs, 100.0))
    np.testing.assert_allclose(joined.traces, whole.traces, rtol=1e-6, atol=1e-4)
    cut = ExtracellularRecording.concat([whole.window(0.0, 0.1), whole.window(0.1, 50.0), whole.window(50.0, 100.0)])
    np.testing.assert_array_equal(cut.traces, whole.traces)
    times = whole.first_sample + np.arange(whole.n_samples)
    assert whole.window(0.1, 50.0).first_sample == times[whole.sample_times() >= 0.1 - 1e-9][0]


def test_window_and_concat_round_trip():
    inputs = busy_inputs(100.0)
    recorder = ExtracellularRecorder(ExtracellularSettings(blanking_ms=0.5), MEA.grid(600.0, 600.0, rows=2, columns=2),
                                     inputs[0], lfp_gids=inputs[3], seed=1)
    whole = record_in_windows(recorder, 100.0, inputs, 100.0)[0]
    parts = [whole.window(0.0, 33.3), whole.window(33.3, 60.0), whole.window(60.0, 100.0)]
    assert [p.n_samples for p in parts] == [833, 667, 1000]
    assert parts[1].start_ms == 33.3 and parts[1].first_sample == 833
    joined = ExtracellularRecording.concat(parts)
    np.testing.assert_array_equal(joined.traces, whole.traces)
    np.testing.assert_array_equal(joined.spike_times, whole.spike_times)
    np.testing.assert_array_equal(joined.blanked, whole.blanked)
    with pytest.raises(InvalidArgumentError, match="consecutive"):
        ExtracellularRecording.concat([parts[0], parts[2]])


# -- files -------------------------------------------------------------------------------------------


def test_file_backed_equals_in_memory(tmp_path):
    inputs = busy_inputs(200.0)
    settings = ExtracellularSettings(blanking_ms=1.0)
    mea = MEA.grid(600.0, 600.0, rows=2, columns=2)
    memory = record_in_windows(ExtracellularRecorder(settings, mea, inputs[0], lfp_gids=inputs[3], seed=4), 50.0,
                               inputs, 200.0)
    path = tmp_path / "traces.h5"
    recorder = ExtracellularRecorder(settings, mea, inputs[0], lfp_gids=inputs[3], seed=4, file=path)
    streamed = record_in_windows(recorder, 50.0, inputs, 200.0)
    for a, b in zip(memory, streamed):
        assert b.file == path and a.file is None
        np.testing.assert_array_equal(a.traces, b.traces)
        np.testing.assert_array_equal(a.read(10, 20), b.read(10, 20))
    joined = ExtracellularRecording.concat(streamed)
    assert joined.file == path  # parts of one file stay file-backed
    recorder.close()
    whole = ExtracellularRecording.concat(memory)
    np.testing.assert_array_equal(joined.traces, whole.traces)  # read again after closing
    back = read_recording(path)
    np.testing.assert_array_equal(back.traces, whole.traces)
    np.testing.assert_array_equal(back.spike_gids, whole.spike_gids)
    np.testing.assert_array_equal(back.spike_times, whole.spike_times)
    np.testing.assert_array_equal(back.blanked, whole.blanked)
    assert back.settings == settings and back.duration == 200.0
    np.testing.assert_array_equal(ExtracellularRecording.open(path).read(100, 300), whole.read(100, 300))
    import h5py

    with h5py.File(path, "r") as h5:
        assert h5["traces"].shape == (5000, 4) and h5["traces"].dtype == np.float32
        assert h5["traces"].attrs["unit"] == "uV" and h5["traces"].attrs["fs_hz"] == FS
        assert ExtracellularSettings.from_dict(json.loads(h5.attrs["settings"])) == settings
    with pytest.raises(InvalidArgumentError, match="already exists"):
        ExtracellularRecorder(settings, mea, inputs[0], lfp_gids=inputs[3], file=path)


def test_reset_starts_again_and_empties_the_file(tmp_path):
    settings = ExtracellularSettings(lfp=False)
    recorder = ExtracellularRecorder(settings, line_mea(), [[0, 0, 0, 0]], seed=1, file=tmp_path / "r.h5")
    first = recorder.record(10.0, [0], [1.0])
    kept = first.traces
    recorder.reset()
    again = recorder.record(10.0, [0], [1.0])
    np.testing.assert_array_equal(again.traces, kept)
    with pytest.raises(RecordingError, match="reset"):
        first.read()
    recorder.close()
    assert read_recording(tmp_path / "r.h5").n_samples == 250


CHILD = """
import sys, time, numpy as np
from livn.io import MEA
from livn.io.extracellular import ExtracellularRecorder, ExtracellularSettings
recorder = ExtracellularRecorder(ExtracellularSettings(lfp=False), MEA.grid(400.0, 400.0), [[0, 50.0, 50.0, 0.0]],
                                 seed=5, file=sys.argv[1])
while True:
    recorder.record(20.0, [0], [3.0])
    time.sleep(0.01)
"""


def test_file_survives_kill_9(tmp_path):
    path = tmp_path / "killed.h5"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), str(path)])
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(0.2)
            try:
                if read_recording(path).duration >= 200.0:
                    break
            except (InvalidArgumentError, OSError, KeyError):
                continue
        else:
            pytest.fail("the child wrote nothing")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    recording = read_recording(path)
    windows = round(recording.duration / 20.0)
    assert windows >= 10 and recording.n_samples == windows * 500
    recorder = ExtracellularRecorder(ExtracellularSettings(lfp=False), MEA.grid(400.0, 400.0), [[0, 50.0, 50.0, 0.0]],
                                     seed=5)
    expected = ExtracellularRecording.concat([recorder.record(20.0, [0], [3.0]) for _ in range(windows)])
    np.testing.assert_array_equal(recording.traces, expected.traces)
    np.testing.assert_array_equal(recording.spike_times, expected.spike_times)


def test_memory_does_not_grow_with_length(tmp_path):
    rng = np.random.default_rng(0)
    coords = np.c_[np.arange(200), rng.uniform(0, 1000, (200, 2)), np.zeros(200)]
    recorder = ExtracellularRecorder(ExtracellularSettings(lfp=False), MEA.grid(1000.0, 1000.0), coords, seed=1,
                                     file=tmp_path / "long.h5")
    peaks = []
    for _ in range(12):
        gids, times = rng.integers(0, 200, 200), np.round(rng.uniform(0, 99.9, 200), 1)
        tracemalloc.start()
        recording = recorder.record(100.0, gids, times)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        del recording
    assert max(peaks[6:]) < 1.2 * max(peaks[1:6])
    recorder.close()


# -- arguments ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, name", [
    ({"fs_hz": 0}, "fs_hz"), ({"fs_hz": -1.0}, "fs_hz"), ({"fs_hz": math.nan}, "fs_hz"), ({"fs_hz": math.inf}, "fs_hz"),
    ({"fs_hz": "25k"}, "fs_hz"), ({"noise_uv": -1.0}, "noise_uv"), ({"noise_band_hz": (0.0, 100.0)}, "noise_band_hz"),
    ({"noise_band_hz": (300.0, 13000.0)}, "noise_band_hz"), ({"noise_band_hz": (600.0, 300.0)}, "noise_band_hz"),
    ({"noise_band_hz": 300.0}, "noise_band_hz"), ({"blanking_ms": -1.0}, "blanking_ms"),
    ({"lfp_delay_ms": 6.2}, "lfp_delay_ms"), ({"lfp": "yes"}, "lfp"), ({"conductivity": 0.0}, "conductivity"),
    ({"repolarisation_ms": 0.3}, "repolarisation_ms"), ({"noise_filter_order": 0}, "noise_filter_order"),
])
def test_bad_settings(changes, name):
    with pytest.raises(InvalidArgumentError, match=name):
        ExtracellularSettings(**changes)


def test_settings_round_trip_through_json():
    settings = ExtracellularSettings(fs_hz=30000.0, noise_band_hz=(250.0, 5000.0), blanking_ms=1.5, lfp=False)
    assert ExtracellularSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    with pytest.raises(InvalidArgumentError, match="unknown"):
        ExtracellularSettings.from_dict({"sampling": 1})


def test_bad_recorder_arguments(tmp_path):
    settings = quiet()
    mea = line_mea()
    coords = [[0, 0, 0, 0], [1, 10, 0, 0]]
    with pytest.raises(InvalidArgumentError, match="settings"):
        ExtracellularRecorder({"fs_hz": 1}, mea, coords)
    with pytest.raises(InvalidArgumentError, match="neuron_coordinates"):
        ExtracellularRecorder(settings, mea, [[0, 0, 0]])
    with pytest.raises(InvalidArgumentError, match="seed"):
        ExtracellularRecorder(settings, mea, coords, seed=-1)
    recorder = ExtracellularRecorder(settings, mea, coords)
    with pytest.raises(InvalidArgumentError, match="duration_ms"):
        recorder.record(0.0, [], [])
    with pytest.raises(InvalidArgumentError, match="same length"):
        recorder.record(10.0, [0, 1], [1.0])
    with pytest.raises(InvalidArgumentError, match="spike_times"):
        recorder.record(10.0, [0], [10.5])
    with pytest.raises(InvalidArgumentError, match="spike_gids contains gids \\[7\\]"):
        recorder.record(10.0, [7], [1.0])
    with pytest.raises(InvalidArgumentError, match="stimulation"):
        recorder.record(10.0, [], [], stimulation=np.zeros((10, 3)))
    with pytest.raises(InvalidArgumentError, match="not on the MEA"):
        recorder.record(10.0, [], [], stimulation=ElectrodeStimulation(np.zeros((10, 1)), 1.0, [9]))
    with pytest.raises(InvalidArgumentError, match="longer than the window"):
        recorder.record(10.0, [], [], stimulation=ElectrodeStimulation(np.zeros((11, 3)), 1.0, [0, 1, 2]))
    assert recorder.t == 0.0  # nothing was recorded by the failed calls
    recording = recorder.record(10.0, [], [])
    with pytest.raises(InvalidArgumentError, match="window"):
        recording.window(5.0, 11.0)
    with pytest.raises(InvalidArgumentError, match="stop"):
        recording.read(0, 251)
    with pytest.raises(InvalidArgumentError, match="traces"):
        ExtracellularRecording(np.zeros((2, 10)), FS, [0, 1, 2])
