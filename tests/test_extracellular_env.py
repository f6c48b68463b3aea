"""Env.record_extracellular: traces in runs and streams, what the recording keeps, and bad arguments.

The synthesis itself is tested against analytic answers in tests/test_extracellular.py, and the
agreement of every backend in tests/conformance.py; here the Env's part: which spikes, currents and
electrode inputs reach the recording, in a run and in a closed loop.
"""

import numpy as np
import pytest

from livn.env import Env
from livn.errors import InvalidArgumentError, RecordingError
from livn.io.extracellular import read_recording
from livn.stimulation import BiphasicPulse, electrode_inputs
from livn.system import make


def s2_env(**settings):
    env = Env(make("S2"), seed=2).init().apply_model_defaults().record_spikes("EXC")
    env.record_extracellular(fs_hz=20000.0, noise_uv=3.0, **settings)
    return env


def test_a_stream_records_the_traces_of_the_same_inputs_run_open_loop():
    """The controller sees each window's traces; the stream's traces (artifacts of what it delivered
    included) equal an open-loop run of the delivered inputs from the same state."""
    seen = []

    def controller(window):
        seen.append(window.result.extracellular.n_samples)
        inputs = np.zeros((20, 16))
        if window.index % 3 == 0:
            inputs[2:4, 5] = 8.0
        return inputs

    env = s2_env()
    streamed = env.stream(200, 20, controller)
    assert seen == [400] * 10 and streamed.delivered.any()
    whole = streamed.result.extracellular
    assert whole.n_samples == 4000
    env.clear()
    open_loop = env.run(200, inputs=streamed.delivered)
    np.testing.assert_array_equal(open_loop.it, streamed.result.it)
    np.testing.assert_array_equal(open_loop.extracellular.spike_gids, whole.spike_gids)
    np.testing.assert_allclose(whole.traces, open_loop.extracellular.traces, atol=1e-3)
    exc = env.system.gids_of("EXC")
    assert np.isin(streamed.result.it, exc).all() and not np.isin(whole.spike_gids, exc).all()


def test_biphasic_pulses_leave_their_artifact_and_blanking_on_the_traces():
    env = s2_env(blanking_ms=0.5)
    pulse = BiphasicPulse(channel=5, amplitude=2.0, start=50.0, phase_width=0.2, interphase_gap=0.1)
    result = env.run(100, inputs=electrode_inputs([pulse], 100, env.io.channel_ids, step=0.1), stimulus_step=0.1)
    recording = result.extracellular
    onset, end = 50.0, 50.5 + 0.5  # the pulse (0.5 ms) and the blanking after it
    np.testing.assert_array_equal(recording.blanked, [[round(onset * 20), round(end * 20)]])
    times = recording.sample_times()
    assert not recording.traces[:, (times >= onset) & (times < end)].any()
    channel = list(env.io.channel_ids).index(5)
    after = recording.traces[channel, (times >= end) & (times < end + 0.5)]
    assert np.abs(after).min() > 100.0  # still recovering from the artifact (uV)
    assert result.stimulation.step == pytest.approx(0.1)


def test_long_recordings_stream_to_a_file_that_reads_back(tmp_path):
    path = tmp_path / "traces.h5"
    env = s2_env(file=path, chunk_ms=100)
    first, second = env.run(250), env.run(150)
    assert first.extracellular.file == path
    saved = read_recording(path)
    assert saved.n_samples == 8000
    np.testing.assert_array_equal(saved.read(0, 5000), first.extracellular.traces)
    np.testing.assert_array_equal(saved.read(5000, 8000), second.extracellular.traces)
    env.extracellular.close()
    with pytest.raises(InvalidArgumentError, match="exists"):
        Env(make("S2"), seed=2).init().record_extracellular(file=path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fs_hz": 0}, "fs_hz"),
        ({"fs_hz": float("nan")}, "fs_hz"),
        ({"fs_hz": "25k"}, "fs_hz"),
        ({"noise_uv": -1.0}, "noise_uv"),
        ({"chunk_ms": 0.5}, "chunk_ms"),
        ({"blanking_ms": -1.0}, "blanking_ms"),
        ({"no_such_setting": 1.0}, "no_such_setting"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    env = Env(make("S1"), seed=2).init()
    with pytest.raises(InvalidArgumentError, match=match):
        env.record_extracellular(**kwargs)
    assert env.extracellular is None


def test_recording_is_set_before_running_and_refuses_what_it_cannot_synthesise():
    env = Env(make("S1"), seed=2).init().apply_model_defaults()
    env.run(10)
    with pytest.raises(RecordingError, match="before the first run"):
        env.record_extracellular()
    env.clear()
    env.record_extracellular()
    batch = np.zeros((2, 10, env.num_neurons))
    with pytest.raises(InvalidArgumentError):
        env.run(10, batch)
