"""The compiled brian2 path (cpp_standalone) against the runtime backend, on S1.

One program is compiled for the whole module (100 ms windows, 1 ms stimulus rows) into a
temporary cache; every test reuses it.
"""

import numpy as np
import pytest

from livn.backends.brian2_compiled import MANIFEST, CompiledCulture
from livn.env import Env
from livn.errors import InvalidArgumentError
from livn.stimulation import Pulse, electrode_inputs

DURATION = 100.0  # ms


def _stimulus(env, amplitude: float, channel_index: int):
    """Cell currents (nA) of one 10 ms electrode pulse at 10 ms of `amplitude` uA."""
    channels = env.io.channel_ids
    inputs = electrode_inputs([Pulse(int(channels[channel_index]), amplitude, 10, 10)], DURATION, channels)
    return env.cell_stimulus(inputs)


@pytest.fixture(scope="module")
def runtime(s1_dir):
    """The runtime brian2 Env, noise-free, recording every neuron's spikes."""
    return Env(s1_dir, backend="brian2").init().apply_model_defaults().set_noise(mean=0.0, std=0.0).record_spikes()


@pytest.fixture(scope="module")
def compiled(runtime, tmp_path_factory):
    """The compiled culture of `runtime`, its program built by a first run, and that run."""
    culture = CompiledCulture.from_env(runtime, cache_dir=tmp_path_factory.mktemp("brian2_standalone"))
    first = culture.run(DURATION, _stimulus(runtime, 20.0, 0))
    return culture, first


def test_noise_free_compiled_spikes_are_the_runtime_spikes(runtime, compiled):
    culture, first = compiled
    assert culture.builds == 1
    runtime.clear()
    expected = runtime.run(DURATION, _stimulus(runtime, 20.0, 0))  # the runtime device still works here
    assert len(expected.it) > 5  # the pulse makes spikes
    np.testing.assert_array_equal(first.it, expected.it)
    np.testing.assert_allclose(first.t, expected.t, rtol=0, atol=1e-6)
    assert first.duration == DURATION


def test_another_stimulus_reuses_the_compiled_program(runtime, compiled):
    culture, first = compiled
    manifest = next(culture.cache_dir.glob(f"*/{MANIFEST}"))
    built_at = manifest.stat().st_mtime_ns
    stimulus = _stimulus(runtime, 35.0, 3)
    result = culture.run(DURATION, stimulus)
    assert culture.builds == 1 and manifest.stat().st_mtime_ns == built_at
    assert len(list(culture.cache_dir.iterdir())) == 1
    runtime.clear()
    expected = runtime.run(DURATION, stimulus)
    assert not (len(expected.it) == len(first.it) and np.array_equal(expected.t, first.t))  # another answer
    np.testing.assert_array_equal(result.it, expected.it)
    np.testing.assert_allclose(result.t, expected.t, rtol=0, atol=1e-6)


def test_noise_seed_changes_the_spikes_and_repeats_them(compiled):
    culture, _ = compiled
    noisy = CompiledCulture(culture.network, culture.weights, (0.0, 2.0), cache_dir=culture.cache_dir)
    a, b, again = (noisy.run(DURATION, seed=seed) for seed in (1, 2, 1))
    assert noisy.builds == 0  # noise levels are run arguments, not part of the program
    assert len(a.it) > 20 and len(b.it) > 20
    assert not (len(a.it) == len(b.it) and np.array_equal(a.it, b.it) and np.array_equal(a.t, b.t))
    np.testing.assert_array_equal(a.it, again.it)
    np.testing.assert_array_equal(a.t, again.t)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"duration": -1.0}, "duration"),
        ({"duration": 100.05}, "whole number of integration steps"),
        ({"duration": DURATION, "stimulus": np.zeros((5, 3))}, r"stimulus must have shape \[T, 11\]"),
        ({"duration": DURATION, "stimulus": np.zeros((101, 11))}, "1 <= T <= 100"),
        ({"duration": DURATION, "stimulus": np.full((5, 11), np.nan)}, "NaN"),
        ({"duration": DURATION, "seed": -3}, "seed must be a non-negative integer"),
        ({"duration": DURATION, "stimulus_step": 0.0}, "stimulus_step"),
    ],
)
def test_arguments_are_checked_before_anything_is_built(compiled, kwargs, message):
    culture, _ = compiled
    with pytest.raises(InvalidArgumentError, match=message):
        culture.run(**kwargs)
    assert culture.builds == 1


def test_construction_arguments_are_checked(compiled):
    culture, _ = compiled
    with pytest.raises(InvalidArgumentError, match="weights must be"):
        CompiledCulture(culture.network, np.zeros(3), (0.0, 0.0))
    with pytest.raises(InvalidArgumentError, match="noise must be"):
        CompiledCulture(culture.network, culture.weights, (0.0, -1.0))
    with pytest.raises(InvalidArgumentError, match="threads must be"):
        CompiledCulture(culture.network, culture.weights, (0.0, 0.0), threads=0)
    with pytest.raises(InvalidArgumentError, match="env must be"):
        CompiledCulture.from_env("S1")
