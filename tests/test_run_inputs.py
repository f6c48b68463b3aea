"""Env.run with electrode inputs (uA) and stimulus rows finer than 1 ms; provenance of results."""

import json

import numpy as np
import pytest

from livn.env import Env
from livn.errors import InvalidArgumentError
from livn.stimulation import ElectrodeStimulation
from livn.system import make
from livn.types import RunResult


@pytest.fixture(scope="module")
def env():
    env = Env(make("S1"), seed=3).init()
    env.apply_model_defaults()
    env.record_spikes()
    return env


def _bout(env, rows=100, start=10, stop=20, amplitude=5.0):
    inputs = np.zeros((rows, env.io.num_channels))
    inputs[start:stop] = amplitude
    return inputs


def test_inputs_reach_the_neurons_through_the_mea(env):
    inputs = _bout(env)
    env.clear()
    through_inputs = env.run(100, inputs=inputs)
    env.clear()
    through_stimulus = env.run(100, env.cell_stimulus(inputs))
    assert len(through_inputs.it) > 0
    np.testing.assert_array_equal(through_inputs.it, through_stimulus.it)
    np.testing.assert_array_equal(through_inputs.t, through_stimulus.t)
    delivered = through_inputs.stimulation
    assert isinstance(delivered, ElectrodeStimulation) and delivered.step == 1.0
    np.testing.assert_array_equal(delivered.currents, inputs)
    assert through_stimulus.stimulation is None


def test_inputs_and_stimulus_add_up(env):
    inputs = _bout(env, rows=40)
    extra = np.zeros((60, env.num_neurons))
    extra[30:50, 0] = 1.0
    env.clear()
    both = env.run(100, extra, inputs=inputs)
    env.clear()
    total = np.zeros((60, env.num_neurons))
    total[:40] += env.cell_stimulus(inputs)
    total += extra
    summed = env.run(100, total)
    np.testing.assert_array_equal(both.it, summed.it)
    np.testing.assert_array_equal(both.t, summed.t)
    assert both.stimulation.currents.shape == (100, env.io.num_channels)  # padded to the window


def test_fine_rows_repeat_coarse_rows(env):
    """A 1 ms-row stimulus and the same rows repeated ten times at 0.1 ms are the same stimulus."""
    inputs = _bout(env)
    env.clear()
    coarse = env.run(100, inputs=inputs)
    env.clear()
    fine = env.run(100, inputs=np.repeat(inputs, 10, axis=0), stimulus_step=0.1)
    np.testing.assert_array_equal(coarse.it, fine.it)
    np.testing.assert_array_equal(coarse.t, fine.t)
    assert fine.stimulation.step == pytest.approx(0.1) and fine.stimulation.currents.shape[0] == 1000
    env.clear()
    wrapped = env.run(100, inputs=ElectrodeStimulation(np.repeat(inputs, 10, axis=0), 0.1, env.io.channel_ids))
    np.testing.assert_array_equal(wrapped.t, fine.t)


def test_results_say_what_produced_them(env):
    env.clear()
    env.run(20)
    result = env.run(30)
    provenance = result.provenance
    assert provenance["system"] == "S1" and provenance["seed"] == 3 and provenance["backend"] == env.backend_name
    assert provenance["t_start_ms"] == pytest.approx(20.0)
    assert provenance["mea"] == env.io.to_dict()
    assert provenance["populations"] == {k: list(v) for k, v in env.system.population_ranges.items()}
    assert len(provenance["neuron_coordinates"]) == env.num_neurons
    assert provenance["weights"] == env.weights and provenance["versions"]["livn"]
    json.dumps(provenance)  # JSON as it is, for NWB and audit files
    joined = RunResult.concat([result.window(0, 10), result.window(10, 30)])
    assert joined.provenance == provenance


def test_inputs_windows_and_concat(env):
    env.clear()
    result = env.run(100, inputs=_bout(env))
    parts = [result.window(0, 15), result.window(15, 100)]
    assert parts[0].stimulation.currents.shape[0] == 15
    joined = RunResult.concat(parts)
    assert joined.stimulation == result.stimulation
    with pytest.raises(InvalidArgumentError, match="results\\[1\\] lacks stimulation"):
        RunResult.concat([parts[0], parts[1]._replace(stimulation=None)])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"inputs": np.zeros((101, 16))}, "inputs must be electrode currents"),
        ({"inputs": np.zeros((10, 3))}, "inputs must be electrode currents"),
        ({"inputs": np.full((10, 16), np.nan)}, "NaN"),
        ({"inputs": np.zeros((10, 16)), "stimulus_step": 0.3}, "stimulus_step must be one of"),
        ({"stimulus_step": 0.05}, "stimulus_step must be one of"),
        ({"stimulus_step": "1"}, "stimulus_step must be one of"),
        ({"inputs": ElectrodeStimulation(np.zeros((10, 16)), 0.1, np.arange(16)), "stimulus_step": 1.0},
         "omit stimulus_step"),
        ({"inputs": ElectrodeStimulation(np.zeros((10, 2)), 1.0, [0, 1])}, "inputs are for channels"),
    ],
)
def test_bad_inputs_are_refused_before_running(env, kwargs, match):
    env.clear()
    with pytest.raises(InvalidArgumentError, match=match):
        env.run(100, **kwargs)
    assert env.t == 0
