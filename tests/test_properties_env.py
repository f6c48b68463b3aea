"""Property tests of `Env`: construction, `cell_stimulus` and `run`, for any input.

One S1 Env (brian2) serves the module. Every call either succeeds or raises a livn error
naming the argument (tests/_strategies.py); inputs that pass the checks simulate at most
5 ms, and valid ones drawn here always succeed.
"""

from __future__ import annotations

import numpy as np
import pytest
from _strategies import CHEAP, HUGE_INT, PROPERTY, finite_arrays, junk, near_arrays, satisfies_contract
from hypothesis import given, settings
from hypothesis import strategies as st

from livn.env import Env
from livn.io import MEA

#: Durations (ms) that are never long: numbers up to 5 ms (NaN, inf, zero and negative included),
#: numbers too large for a float, and things that are not numbers at all.
short_durations = st.one_of(
    st.floats(max_value=5.0), st.integers(max_value=5), st.sampled_from([HUGE_INT, np.float32(2.0), np.int16(1)]),
    junk.filter(lambda value: not isinstance(value, (int, float, np.number))),
)


@pytest.fixture(scope="module")
def env(s1_dir):
    env = Env(s1_dir, backend="brian2").init()
    env.apply_model_defaults()
    env.record_spikes()
    return env


@CHEAP
@given(value=st.one_of(junk, near_arrays((3, 16)), near_arrays((2, 3, 16))))
def test_cell_stimulus_fails_only_by_naming_inputs(env, value):
    satisfies_contract(lambda: env.cell_stimulus(value), "inputs")


@CHEAP
@given(currents=finite_arrays((3, 16), -1e6, 1e6))
def test_cell_stimulus_is_the_mea_transfer_of_the_culture(env, currents):
    expected = currents @ env.io.stimulus_transfer(env.system.neuron_coordinates)
    np.testing.assert_allclose(env.cell_stimulus(currents), expected, rtol=1e-12)


@CHEAP
@given(name=st.sampled_from(["it", "t"]), value=st.one_of(junk, near_arrays((2,)), st.lists(st.integers(-3, 12))))
def test_channel_recording_fails_only_by_naming_it_or_t(env, name, value):
    arguments = {"it": [0, 10], "t": [0.5, 1.5], name: value}
    satisfies_contract(lambda: env.channel_recording(arguments["it"], arguments["t"]), name)


@PROPERTY
@given(duration=short_durations)
def test_run_fails_only_by_naming_duration(env, duration):
    before = env.t
    error = satisfies_contract(lambda: env.run(duration), "duration")
    if error is None:
        assert env.t == pytest.approx(before + float(duration))


@PROPERTY
@given(stimulus=st.one_of(junk, near_arrays((2, 11)), near_arrays((1, 2, 11))))
def test_run_fails_only_by_naming_stimulus(env, stimulus):
    satisfies_contract(lambda: env.run(2.0, stimulus=stimulus), "stimulus")


@PROPERTY
@given(inputs=st.one_of(junk, near_arrays((2, 16))))
def test_run_fails_only_by_naming_inputs(env, inputs):
    satisfies_contract(lambda: env.run(2.0, inputs=inputs), "inputs")


@PROPERTY
@given(name=st.sampled_from(["stimulus_step", "unroll", "key"]), value=st.one_of(junk, st.floats(0, 2)))
def test_run_fails_only_by_naming_its_options(env, name, value):
    satisfies_contract(lambda: env.run(1.0, **{name: value}), name)


@settings(PROPERTY, max_examples=PROPERTY.max_examples // 3)  # each one simulates 3 ms
@given(rows=st.integers(1, 3), stimulus=finite_arrays((3, 11), -1e3, 1e3), currents=finite_arrays((3, 16), -50, 50))
def test_valid_run_succeeds_and_reports_its_window(env, rows, stimulus, currents):
    result = env.run(3.0, stimulus=stimulus[:rows], inputs=currents[:rows])
    assert result.duration == 3.0
    assert np.all((result.t >= 0) & (result.t < 3.0)) and len(result.it) == len(result.t)
    np.testing.assert_allclose(result.stimulation.currents[:rows], currents[:rows])
    assert np.all(result.stimulation.currents[rows:] == 0)


ENV_ARGUMENTS = {
    "model": junk, "io": st.one_of(junk, st.just(MEA([[0, 0.0, 0.0, 0.0]], 10.0, 10.0))), "seed": junk,
    "backend": st.one_of(junk, st.text(max_size=8)), "backend_options": junk,
}


@PROPERTY
@given(name=st.sampled_from(sorted(ENV_ARGUMENTS)), data=st.data())
def test_env_construction_fails_only_by_naming_the_argument(s1_dir, name, data):
    value = data.draw(ENV_ARGUMENTS[name], label=name)
    satisfies_contract(lambda: Env(s1_dir, **{name: value}), name)


# Positive counts build a culture of that many neurons (System.unconnected), so only small ones are drawn.
@PROPERTY
@given(system=st.one_of(junk.filter(lambda v: not isinstance(v, (int, np.integer, dict))),
                        st.integers(-3, 0), st.dictionaries(st.text(max_size=3), st.integers(-2, 2), max_size=2)))
def test_env_construction_fails_only_by_naming_the_system(system):
    satisfies_contract(lambda: Env(system), ["system", "neurons"])
