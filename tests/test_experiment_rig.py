"""Rigs: the simulated culture, the generic read/stimulate loop, and a replay rig running the same controller."""

import numpy as np
import pytest

from livn.env import Env
from livn.errors import InvalidArgumentError
from livn.experiment.rig import ReplayRig, Rig, SimulatedRig


def controller(window):
    """Pulse channel 5 for 3 ms after every quiet window."""
    quiet = sum(len(t) for t in window.channels[1].values()) == 0
    inputs = np.zeros((3, 16))
    inputs[:, 5] = 4.0 if quiet else 0.0
    return inputs


def culture(s1_dir):
    return Env(s1_dir, backend="brian2").init().apply_model_defaults().record_spikes()


def test_the_generic_rig_loop_equals_env_stream(s1_dir):
    """Rig.stream built from read/stimulate delivers what Env.stream delivers, spike for spike."""
    native = SimulatedRig(culture(s1_dir)).stream(100, 10, controller, latency=2)
    generic = Rig.stream(SimulatedRig(culture(s1_dir)), 100, 10, controller, latency=2)
    assert native.delivered.any()
    np.testing.assert_array_equal(generic.delivered, native.delivered)
    np.testing.assert_array_equal(generic.result.it, native.result.it)
    np.testing.assert_array_equal(generic.result.t, native.result.t)
    assert [d["effect_at"] for d in generic.decisions] == [d["effect_at"] for d in native.decisions]


def test_the_same_controller_runs_unchanged_on_a_replay(s1_dir):
    env = culture(s1_dir)
    recorded = env.run(100)
    rig = ReplayRig.from_result(env, recorded, 100)
    assert rig.time == 0 and list(rig.channels) == list(env.io.channel_ids)
    replayed = rig.stream(100, 10, controller, latency=0)
    # the replay hands back the recording: the same spikes per channel, window after window
    cit, ct = env.channel_recording(recorded.it, recorded.t)
    expected = np.sort(np.concatenate([ct[c] for c in ct]))
    np.testing.assert_allclose(replayed.result.t, expected, atol=1e-6)
    assert rig.time == 100
    blocks_with_stimulation = [w for w in range(10) if replayed.delivered[w * 10 : (w + 1) * 10].any()]
    assert blocks_with_stimulation and [t for t, _ in rig.stimuli] == [10.0 * w for w in blocks_with_stimulation]
    with pytest.raises(InvalidArgumentError, match="replay holds 100"):
        rig.read(10)


def test_rigs_check_what_they_are_given(s1_dir):
    rig = SimulatedRig(culture(s1_dir))
    with pytest.raises(InvalidArgumentError, match=r"shape \[rows, 16\]"):
        rig.stimulate(np.ones((3, 4)))
    with pytest.raises(InvalidArgumentError, match="NaN"):
        rig.stimulate(np.full((3, 16), np.nan))
    with pytest.raises(InvalidArgumentError, match="built"):
        SimulatedRig(Env(s1_dir))
    rig.stimulate(np.full((5, 16), 3.0))
    reading = rig.read(20)
    assert reading.start == 0 and reading.duration == 20 and rig.time == 20
    assert set(reading.channels[0]) == set(range(16))
    assert rig.describe()["backend"] == "brian2"
