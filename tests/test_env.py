"""The Env facade on brian2: continuity, determinism, stimulation, and every bad input."""

import math

import numpy as np
import pytest

from livn.errors import InvalidArgumentError, NotInitializedError, RecordingError, UnknownNameError
from livn.env import Env
from livn.system import System


@pytest.fixture(scope="module")
def s2_env(s2_dir):
    env = Env(s2_dir, seed=11).init()
    env.apply_model_defaults()
    env.record_spikes()
    return env


def _same_spikes(a, b):
    it_a, t_a = a
    it_b, t_b = b
    order_a, order_b = np.lexsort((it_a, t_a)), np.lexsort((it_b, t_b))
    np.testing.assert_array_equal(it_a[order_a], it_b[order_b])
    np.testing.assert_allclose(t_a[order_a], t_b[order_b], atol=1e-6)


def test_readme_snippet_runs_offline(s1_dir):
    from livn.io import MEA
    from livn.system import make

    env = Env(s1_dir).init()
    env.apply_model_defaults()
    env.record_spikes()
    env.record_voltage()
    it, t, iv, v = env.run(100)
    assert v.shape == (11, 1000) and np.all(np.isfinite(v))
    system = make("S1")
    mea = MEA.from_directory(system.uri)
    cit, ct = mea.channel_recording(system.neuron_coordinates, it, t)
    assert set(cit) == set(range(16))
    result = env.run(10)
    assert result.it is result[0] and result.v is result[3]


def test_run_continues_the_same_network(s2_env):
    s2_env.clear()
    whole = s2_env.run(400)
    s2_env.clear()
    first = s2_env.run(200)
    second = s2_env.run(200)
    assert len(whole.it) > 20
    joined = (np.concatenate([first.it, second.it]), np.concatenate([first.t, second.t + 200.0]))
    _same_spikes((whole.it, whole.t), joined)
    assert np.all(second.t >= 0) and np.all(second.t < 200)
    assert s2_env.t == pytest.approx(400.0)


def test_same_seed_same_spikes_other_seed_differs(s2_dir, s2_env):
    s2_env.clear()
    reference = s2_env.run(300)
    other = Env(s2_dir, seed=11).init().apply_model_defaults().record_spikes()
    _same_spikes((reference.it, reference.t), tuple(other.run(300)[:2]))
    different = Env(s2_dir, seed=12).init().apply_model_defaults().record_spikes().run(300)
    assert len(different.it) != len(reference.it) or not np.array_equal(different.t, reference.t)


def test_envs_do_not_share_random_state(s2_dir):
    a = Env(s2_dir, seed=3).init().apply_model_defaults().record_spikes()
    b = Env(s2_dir, seed=3).init().apply_model_defaults().record_spikes()
    first_a = a.run(100)
    b.run(100)  # interleaved with a
    second_a = a.run(100)
    solo = Env(s2_dir, seed=3).init().apply_model_defaults().record_spikes()
    solo.run(100)
    _same_spikes(tuple(second_a[:2]), tuple(solo.run(100)[:2]))
    assert len(first_a.it) > 0


def test_clear_returns_to_initial_state_and_keeps_settings(s2_env):
    s2_env.clear()
    first = s2_env.run(150)
    s2_env.clear()
    assert s2_env.t == 0
    again = s2_env.run(150)
    _same_spikes(tuple(first[:2]), tuple(again[:2]))


def test_weights_and_noise_switch_activity_off_and_on(s1_dir):
    env = Env(s1_dir, seed=2).init().record_spikes()
    assert len(env.run(300).it) == 0  # nothing drives the network before defaults
    env.apply_model_defaults()
    assert len(env.run(300).it) > 0
    env.clear().set_noise(mean=0.0, std=0.0)
    assert len(env.run(300).it) == 0


def test_stimulation_drives_neurons_near_the_electrode(s2_dir):
    env = Env(s2_dir, seed=5).init().record_spikes()
    env.set_noise(0.0, 0.0)  # isolate the effect of the electrode from background activity
    channel = 5
    inputs = np.zeros((200, env.io.num_channels))
    inputs[10:190, channel] = 20.0  # uA
    it, t, _, _ = env.run(200, env.cell_stimulus(inputs))
    distance = env.io.distances(env.system.neuron_coordinates)[channel]
    rates = np.bincount(it, minlength=env.num_neurons)
    near = distance <= env.io.input_radius
    far = distance > env.io.input_radius
    assert near.any() and far.any()
    assert rates[near].mean() > 5 and rates[far].sum() == 0


def test_stimulus_rows_are_one_millisecond(single_neuron_dir):
    env = Env(single_neuron_dir).init().record_voltage()
    stimulus = np.zeros((20, 1))
    stimulus[10] = 0.5  # nA during [10, 11) ms only
    _, _, _, v = env.run(20, stimulus)
    dv = np.diff(v[0])
    assert np.all(np.abs(dv[:100]) < 1e-9)  # at rest before 10 ms
    assert dv[100] > 0.4  # 0.5 nA / 0.1 nF * 0.1 ms = 0.5 mV in the first step of row 10


# -- bad input ---------------------------------------------------------------------------------


def test_run_before_init_is_refused(s1_dir):
    env = Env(s1_dir)
    with pytest.raises(NotInitializedError, match="init"):
        env.run(10)


@pytest.mark.parametrize("duration", [0, -5, math.nan, math.inf, "10", None, 0.01])
def test_bad_durations(s1_dir, duration):
    env = Env(s1_dir).init()
    with pytest.raises(InvalidArgumentError, match="duration"):
        env.run(duration)


def test_bad_stimulus(s1_dir):
    env = Env(s1_dir).init()
    with pytest.raises(InvalidArgumentError, match=r"shape \[T, 11\]"):
        env.run(10, np.zeros((10, 5)))
    with pytest.raises(InvalidArgumentError, match=r"1 <= T <= 10"):
        env.run(10, np.zeros((50, 11)))
    bad = np.zeros((10, 11))
    bad[3, 2] = np.nan
    with pytest.raises(InvalidArgumentError, match="NaN"):
        env.run(10, bad)
    with pytest.raises(InvalidArgumentError, match=r"\[T, 16\]"):
        env.cell_stimulus(np.zeros((10, 3)))
    with pytest.raises(InvalidArgumentError, match="NaN"):
        env.cell_stimulus(np.full((10, 16), np.inf))
    assert env.t == 0  # nothing ran


def test_bad_constructor_arguments(s1_dir, monkeypatch):
    with pytest.raises(InvalidArgumentError, match="system"):
        Env(42)
    with pytest.raises(InvalidArgumentError, match="seed"):
        Env(s1_dir, seed=-1)
    with pytest.raises(UnknownNameError, match="brian2"):
        Env(s1_dir, backend="nest")
    monkeypatch.setenv("LIVN_BACKEND", "bogus")
    with pytest.raises(UnknownNameError, match=r"LIVN_BACKEND.*\['brian2', 'diffrax', 'neuron'\]"):
        Env(s1_dir)


def test_bad_weights_and_noise(s1_dir):
    env = Env(s1_dir).init()
    with pytest.raises(UnknownNameError, match="EXC_EXC"):
        env.set_weights({"EXC_GLIA": 1.0})
    with pytest.raises(InvalidArgumentError, match="EXC_EXC"):
        env.set_weights({"EXC_EXC": -1.0})
    with pytest.raises(InvalidArgumentError, match="std"):
        env.set_noise(std=-0.1)
    with pytest.raises(InvalidArgumentError, match="mean"):
        env.set_noise(mean=float("nan"))


def test_recording_after_a_run_is_refused(s1_dir):
    env = Env(s1_dir).init()
    env.run(5)
    with pytest.raises(RecordingError, match="before the first run"):
        env.record_spikes()
    with pytest.raises(RecordingError):
        env.record_voltage()
    env.clear().record_voltage(gids=[0, 3], dt=0.5)
    _, _, iv, v = env.run(10)
    assert iv.tolist() == [0, 3] and v.shape == (2, 20)


def test_bad_voltage_recording_arguments(s1_dir):
    env = Env(s1_dir).init()
    with pytest.raises(InvalidArgumentError, match=r"\[0, 10\]"):
        env.record_voltage(gids=[0, 11])
    with pytest.raises(InvalidArgumentError, match="multiple"):
        env.record_voltage(dt=0.15)


def test_unknown_brian2_code_target_is_named(s1_dir):
    import os
    import subprocess
    import sys

    code = f"from livn.env import Env; Env({s1_dir!r}).init()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "LIVN_BRIAN2_TARGET": "cuda"})
    assert result.returncode != 0
    assert "LIVN_BRIAN2_TARGET='cuda'" in result.stderr and "('cython', 'numpy')" in result.stderr


def test_weights_report_what_was_set(s1_dir):
    env = Env(s1_dir).init()
    assert set(env.weights) == set(env.projections) and not any(env.weights.values())
    env.apply_model_defaults()
    assert env.weights == {name: env.model.default_weights[name] for name in env.projections}
    env.set_weights({"EXC_INH": 1.5})
    assert env.weights["EXC_INH"] == 1.5
    env.weights["EXC_INH"] = 99.0  # a copy: the Env is not changed through it
    assert env.weights["EXC_INH"] == 1.5
