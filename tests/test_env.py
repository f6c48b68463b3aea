"""The Env facade itself: the README snippet, constructor errors, electrodes, weights reporting.

What every backend must do (continuity, determinism, stimulation, recording rules, bad
arguments) is in the conformance suite, tests/conformance.py."""

import numpy as np
import pytest

from livn.errors import InvalidArgumentError, NotInitializedError, UnknownNameError
from livn.env import Env


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


# -- bad input ---------------------------------------------------------------------------------


def test_run_before_init_is_refused(s1_dir):
    env = Env(s1_dir)
    with pytest.raises(NotInitializedError, match="init"):
        env.run(10)


def test_bad_constructor_arguments(s1_dir, monkeypatch):
    with pytest.raises(InvalidArgumentError, match="system"):
        Env(4.2)  # Env(42) is 42 unconnected neurons (tests/test_unconnected.py)
    with pytest.raises(InvalidArgumentError, match="system"):
        Env([1, 2])
    with pytest.raises(InvalidArgumentError, match="backend_options"):
        Env(s1_dir, backend_options=["transmission_gradients"])
    with pytest.raises(InvalidArgumentError, match="seed"):
        Env(s1_dir, seed=-1)
    with pytest.raises(UnknownNameError, match="brian2"):
        Env(s1_dir, backend="nest")
    monkeypatch.setenv("LIVN_BACKEND", "bogus")
    with pytest.raises(UnknownNameError, match=r"LIVN_BACKEND.*\['brian2', 'diffrax', 'neuron'\]"):
        Env(s1_dir)


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


def test_bad_electrode_inputs(s1_dir):
    env = Env(s1_dir)
    with pytest.raises(InvalidArgumentError, match=r"\[T, 16\]"):
        env.cell_stimulus(np.zeros((10, 3)))
    with pytest.raises(InvalidArgumentError, match="NaN"):
        env.cell_stimulus(np.full((10, 16), np.inf))
