"""The package's face: `import livn` and every module import no simulator and change no global state."""

import json
import subprocess
import sys

import livn

PROBE = r"""
import json, os, pkgutil, importlib, sys
import gymnasium  # sets PYGAME_HIDE_SUPPORT_PROMPT itself; what livn changes is measured after it
environ, hook = dict(os.environ), sys.excepthook
import livn
# every module, except the JAX half of the diffrax backend, which that backend imports when it is built
names = [m.name for m in pkgutil.walk_packages(livn.__path__, "livn.") if m.name != "livn.backends._diffrax_core"]
for name in names:
    importlib.import_module(name)
print(json.dumps({
    "modules": names,
    "simulators": sorted(m for m in ("brian2", "jax", "diffrax", "equinox", "neuron", "mpi4py") if m in sys.modules),
    "environ_changed": sorted(set(os.environ.items()) ^ set(environ.items())),
    "excepthook_changed": sys.excepthook is not hook,
}))
"""


def test_importing_every_module_imports_no_simulator_and_changes_nothing():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "livn.backends.brian2" in report["modules"] and "livn.backends.neuron" in report["modules"]
    assert report["simulators"] == []
    assert report["environ_changed"] == []
    assert report["excepthook_changed"] is False


def test_top_level_names(s1_dir):
    assert {"Env", "MEA", "System", "predefined", "make"} <= set(dir(livn))
    from livn.env import Env
    from livn.io import MEA
    from livn.system import System, predefined

    assert (livn.Env, livn.MEA, livn.System, livn.predefined) == (Env, MEA, System, predefined)
    env = livn.make("S1", backend="brian2", seed=5)
    assert isinstance(env, Env) and env.backend is not None and env.seed == 5
    assert env.weights == {k: v for k, v in env.model.default_weights.items() if k in env.projections}
    assert env.noise == (env.model.default_noise_mean, env.model.default_noise_std)
    assert isinstance(livn.system.make("S1"), System)  # the published examples' make keeps returning a System
