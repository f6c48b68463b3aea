"""The backend conformance suite: what every backend of `livn.backends.base.Backend` must do.

A backend passes by subclassing, as SpikeInterface's common sorter tests or
Gymnasium's env checker are used (see `tests/test_conformance.py`):

```python
class TestMyBackend(BackendConformance):
    backend = "mine"
```

Every test builds its Envs with `backend=self.backend`. A test that needs a
capability (`livn.backends.base.CAPABILITIES`) is skipped when the backend does
not declare it; the whole class is skipped when the backend's simulator is not
installed. The fixtures `s1_dir`, `s2_dir`, `single_neuron_dir` and
`half_step_dir` come from `tests/conftest.py`.

Backends hold at most `networks_per_process` networks at once (NEURON: one),
so every test builds the Envs it uses, in the order it uses them.

A backend that computes in float32 overrides `exact_arithmetic()` with a context
that switches it to float64 (diffrax: `jax.enable_x64`), so that its voltage trace
is compared with forward Euler of `CultureModel.membrane_derivatives` at
`voltage_rtol`/`voltage_atol` (mV).
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import textwrap
from functools import lru_cache

import numpy as np
import pytest

from livn.backends import MissingCapabilityError, backend_class, backends_with, installed_backends
from livn.backends.base import BATCH, CAPABILITIES, CHECKPOINT, COPIES, NOISE_KEYS, PLASTICITY, UNROLL
from livn.env import Env
from livn.errors import InvalidArgumentError, RecordingError, UnknownNameError
from livn.models import STDP, CultureModel, stdp_window
from livn.types import RunResult

MODEL = CultureModel()
#: The backend every other one is compared with, noise-free.
REFERENCE_BACKEND = "brian2"


# -- helpers (also used by backend-specific test files) ----------------------------------------


def reference_spike_times(a, b, c, d, current_nA, duration):
    """Spike times (ms) of the Izhikevich equations under constant current, by a tight adaptive solver."""
    from scipy.integrate import solve_ivp

    drive = current_nA / MODEL.membrane_capacitance

    def rhs(_, y):
        v, u = y
        return [0.04 * v * v + 5 * v + 140 - u + drive, a * (b * v - u)]

    def peak(_, y):
        return y[0] - MODEL.v_peak

    peak.terminal, peak.direction = True, 1
    t0, y = 0.0, [MODEL.resting_potential(b), b * MODEL.resting_potential(b)]
    spikes = []
    while t0 < duration:
        sol = solve_ivp(rhs, (t0, duration), y, events=peak, rtol=1e-10, atol=1e-10, max_step=0.5)
        if sol.status != 1:
            break
        t0 = sol.t_events[0][0]
        spikes.append(t0)
        y = [c, sol.y_events[0][0][1] + d]
    return np.array(spikes)


def same_spikes(a, b, atol=1e-6):
    """`a` and `b` ((it, t) pairs) hold the same spikes, whatever their order within a time."""
    (it_a, t_a), (it_b, t_b) = a, b
    order_a, order_b = np.lexsort((it_a, t_a)), np.lexsort((it_b, t_b))
    np.testing.assert_array_equal(np.asarray(it_a)[order_a], np.asarray(it_b)[order_b])
    np.testing.assert_allclose(np.asarray(t_a)[order_a], np.asarray(t_b)[order_b], atol=atol)


def s1_stimulation(duration=500):
    """Electrode inputs [duration, 16] (uA) that make S1 fire in three bouts."""
    inputs = np.zeros((duration, 16))
    inputs[50:80, 3] = 15.0
    inputs[200:230, 10] = 15.0
    inputs[300:400, 6] = 8.0
    return inputs


def noise_free_run(directory, backend, inputs, seed=3):
    env = Env(directory, seed=seed, backend=backend).init().apply_model_defaults().record_spikes()
    env.set_noise(0.0, 0.0)
    return env.run(inputs.shape[0], env.cell_stimulus(inputs))


#: Half-step system: (pre gid, post gid, distance um). Delay 0.5 ms + d / 300 um/ms lands on k + 0.5 steps.
HALF_STEP_EDGES = {
    ("EXC", "EXC"): [(0, 1, 15.0), (1, 2, 45.0), (0, 3, 75.0), (2, 3, 105.0)],
    ("EXC", "INH"): [(0, 4, 135.0), (3, 4, 15.0)],
    ("INH", "EXC"): [(4, 1, 165.0), (4, 2, 45.0)],
}
HALF_STEP_WEIGHTS = {"EXC_EXC": 60.0, "EXC_INH": 60.0, "INH_EXC": 20.0}


def write_half_step_system(directory):
    """A 5-neuron system (EXC 0..3, INH 4) whose every axonal delay falls exactly on a half step."""
    from pathlib import Path

    from livn import neuroh5
    from livn.io import MEA

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    xyz = np.array([[20.0 + 30 * i, 50.0, 0.0] for i in range(5)])
    neuroh5.write_cells(directory / "cells.h5", {"EXC": xyz[:4], "INH": xyz[4:]})
    projections = {key: tuple(np.array(column) for column in zip(*edges)) for key, edges in HALF_STEP_EDGES.items()}
    neuroh5.write_connections(directory / "connections.h5", {"EXC": 4, "INH": 1}, projections)
    MEA.grid(200.0, 200.0, 2, 2).save(directory / "mea.json")
    return str(directory)


#: Pair system: gid 0 -> gid 1 (both EXC), 30 um apart: axonal delay 0.5 + 0.1 ms = 6 steps.
PAIR_DELAY_MS = 0.6
#: A 1 ms row of this current (nA) makes a resting regular-spiking neuron fire exactly once, 0.9 ms later.
PAIR_PULSE_NA = 6.0
#: Additive STDP with large steps (so Δw is far above rounding) for the pairing protocol.
PAIR_RULE = STDP(a_plus=0.01, a_minus=0.012, tau_plus=16.8, tau_minus=33.7, w_max=16.0)


def write_pair_system(directory):
    """Two excitatory neurons and one synapse 0 -> 1, for STDP pairing protocols."""
    from pathlib import Path

    from livn import neuroh5
    from livn.io import MEA

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    neuroh5.write_cells(directory / "cells.h5", {"EXC": np.array([[20.0, 50.0, 0.0], [50.0, 50.0, 0.0]])})
    neuroh5.write_connections(
        directory / "connections.h5", {"EXC": 2}, {("EXC", "EXC"): (np.array([0]), np.array([1]), np.array([30.0]))}
    )
    MEA.grid(100.0, 100.0, 2, 2).save(directory / "mea.json")
    return str(directory)


def pairing_protocol(env, offsets, pre_row=40, duration=100):
    """One pre/post pairing per offset (ms, post pulse minus pre pulse), `clear()` between them.

    Returns `(dt_effective ms, Δw nS)` per pairing: dt = t_post - (t_pre + axonal delay) from
    the recorded spikes. Each neuron must fire exactly once per pairing.
    """
    dts, changes = [], []
    for offset in offsets:
        stimulus = np.zeros((duration, 2))
        stimulus[pre_row, 0] = PAIR_PULSE_NA
        stimulus[pre_row + offset, 1] = PAIR_PULSE_NA
        before = env.synaptic_weights().weight[0]
        it, t, _, _ = env.run(duration, stimulus)
        assert sorted(it.tolist()) == [0, 1], f"offset {offset} ms: spikes {it} at {t}"
        dts.append(t[it == 1][0] - (t[it == 0][0] + PAIR_DELAY_MS))
        changes.append(env.synaptic_weights().weight[0] - before)
        env.clear()
    return np.array(dts), np.array(changes)


def plastic_s1_run(directory, backend, inputs, seed=3):
    """Noise-free S1 under electrode stimulation with strong additive STDP; returns (result, weights nS)."""
    env = Env(directory, seed=seed, backend=backend).init().apply_model_defaults().record_spikes()
    env.set_noise(0.0, 0.0)
    env.enable_plasticity({"a_plus": 0.02, "a_minus": 0.021})
    result = env.run(inputs.shape[0], env.cell_stimulus(inputs))
    return result, env.synaptic_weights().weight


#: Synapse trio: EXC 0 -> EXC 1 (30 um: 0.6 ms, 6 steps) and INH 2 -> EXC 1 (60 um: 0.7 ms, 7 steps).
TRIO_EDGES = {("EXC", "EXC"): (0, 1, 30.0), ("INH", "EXC"): (2, 1, 60.0)}
#: Axonal delay of each trio projection, ms (`CultureModel.axonal_delay`: 0.5 ms + distance / 300 um/ms).
TRIO_DELAYS_MS = {"EXC_EXC": 0.6, "INH_EXC": 0.7}
#: Trio weights, nS.
TRIO_WEIGHTS = {"EXC_EXC": 4.0, "INH_EXC": 6.0}


def write_synapse_trio_system(directory):
    """Neurons EXC 0, EXC 1 and INH 2; one AMPA synapse 0 -> 1 and one GABA_A synapse 2 -> 1."""
    from pathlib import Path

    from livn import neuroh5
    from livn.io import MEA

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    neuroh5.write_cells(directory / "cells.h5", {"EXC": np.array([[20.0, 50.0, 0.0], [50.0, 50.0, 0.0]]),
                                                 "INH": np.array([[50.0, 110.0, 0.0]])})
    projections = {key: (np.array([pre]), np.array([post]), np.array([distance]))
                   for key, (pre, post, distance) in TRIO_EDGES.items()}
    neuroh5.write_connections(directory / "connections.h5", {"EXC": 2, "INH": 1}, projections)
    MEA.grid(100.0, 100.0, 2, 2).save(directory / "mea.json")
    return str(directory)


def currents_s1_run(directory, backend, inputs, seed=3, dt=0.1):
    """`noise_free_run` recording every neuron's synaptic currents every `dt` ms; returns (result, currents)."""
    env = Env(directory, seed=seed, backend=backend).init().apply_model_defaults().record_spikes()
    env.set_noise(0.0, 0.0)
    env.backend.record_synaptic_currents(np.arange(env.num_neurons, dtype=np.int64), dt)
    result = env.run(inputs.shape[0], env.cell_stimulus(inputs))
    return result, env.backend.synaptic_currents()


def extracellular_s1_run(directory, backend, inputs, seed=3):
    """`noise_free_run` with electrode inputs and an extracellular recording without noise (LFP and artifacts on)."""
    env = Env(directory, seed=seed, backend=backend).init().apply_model_defaults().record_spikes()
    env.set_noise(0.0, 0.0)
    env.record_extracellular(fs_hz=20000.0, noise_uv=0.0, lfp=True, chunk_ms=200)
    return env.run(inputs.shape[0], inputs=inputs)


def half_step_stimulus(duration=300):
    """Pulses into neuron 0 only (nA per neuron, 1 ms per row)."""
    stimulus = np.zeros((duration, 5))
    for start in (20, 90, 160, 230):
        stimulus[start:start + 3, 0] = 4.0
    return stimulus


def half_step_run(directory, backend):
    env = Env(directory, seed=1, backend=backend).init().set_weights(HALF_STEP_WEIGHTS).record_spikes()
    env.set_noise(0.0, 0.0)
    stimulus = half_step_stimulus()
    return env.run(stimulus.shape[0], stimulus)


@lru_cache(maxsize=None)
def _reference(kind: str, directory: str):
    """Noise-free results of the reference backend, computed once per process."""
    if kind == "s1":
        return noise_free_run(directory, REFERENCE_BACKEND, s1_stimulation())
    if kind == "half_step":
        return half_step_run(directory, REFERENCE_BACKEND)
    if kind == "plastic_s1":
        return plastic_s1_run(directory, REFERENCE_BACKEND, s1_stimulation())
    if kind == "currents_s1":
        return currents_s1_run(directory, REFERENCE_BACKEND, s1_stimulation())
    if kind == "extracellular_s1":
        return extracellular_s1_run(directory, REFERENCE_BACKEND, s1_stimulation())
    raise ValueError(kind)


def _s2_spontaneous(directory, backend, seed, duration):
    from livn.analysis import summarize

    env = Env(directory, seed=seed, backend=backend).init().apply_model_defaults().record_spikes()
    env.run(1000)  # let the onset transient pass
    it, t, _, _ = env.run(duration)
    return summarize(it, t, env.num_neurons, duration)


@lru_cache(maxsize=None)
def _spontaneous(directory, backend, seeds, duration):
    return [_s2_spontaneous(directory, backend, seed, duration) for seed in seeds]


def _flip_bytes_of_the_largest_state_array(path) -> bytes:
    """The checkpoint file's bytes with the stored values of its largest state array flipped (bitwise not)."""
    import h5py

    found = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.id.get_offset() is not None and obj.id.get_storage_size() >= 8:
                found.append((obj.id.get_storage_size(), obj.id.get_offset(), name))
        f["state"].visititems(visit)
    assert found, "no contiguous array in the checkpoint's state"
    size, offset, _ = max(found)
    data = bytearray(open(path, "rb").read())
    data[offset:offset + min(size, 64)] = bytes(b ^ 0xFF for b in data[offset:offset + min(size, 64)])
    return bytes(data)


# -- the suite ---------------------------------------------------------------------------------------------


class BackendConformance:
    """The backend contract as tests; subclass it with `backend = "<name>"` (see the module docstring)."""

    __test__ = False  # collected only through subclasses, which set __test__ = True by inheriting below

    backend: str = ""
    voltage_rtol: float = 1e-12
    voltage_atol: float = 1e-9  # mV
    #: How many networks the backend holds at once in one process (None: any number).
    networks_per_process: int | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__test__ = bool(cls.backend)

    # -- gating ----------------------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _installed(self):
        if self.backend not in installed_backends():
            pytest.skip(f"the {self.backend!r} backend's simulator is not installed")

    @property
    def capabilities(self) -> frozenset:
        return backend_class(self.backend).capabilities

    def needs(self, capability: str) -> None:
        if capability not in self.capabilities:
            pytest.skip(f"the {self.backend!r} backend does not declare {capability!r}")

    def env(self, directory, seed=5, **kwargs) -> Env:
        return Env(directory, seed=seed, backend=self.backend, **kwargs).init()

    def params(self, env):
        params = MODEL.neuron_parameters(env.system.population_ranges, env.seed)
        return tuple(params[k][0] for k in "abcd")

    # -- one neuron against its equations ----------------------------------------------------------------

    def test_rests_without_input(self, single_neuron_dir):
        env = self.env(single_neuron_dir).record_spikes().record_voltage(dt=0.1)
        _, b, _, _ = self.params(env)
        it, _, iv, v = env.run(200)
        assert len(it) == 0 and iv.tolist() == [0] and v.shape == (1, 2000)
        assert MODEL.resting_potential(b) == pytest.approx(-70.0)
        np.testing.assert_allclose(v, MODEL.resting_potential(b), atol=max(1e-6, self.voltage_atol))

    def test_integration_step_is_forward_euler_of_the_model(self, single_neuron_dir):
        """Voltage trace = forward Euler of `CultureModel.membrane_derivatives` at dt, reset included."""
        with self.exact_arithmetic():
            self._check_forward_euler(single_neuron_dir)

    def exact_arithmetic(self):
        """A context in which the backend computes in float64 (a backend in float32 overrides it)."""
        return contextlib.nullcontext()

    def _check_forward_euler(self, single_neuron_dir):
        env = self.env(single_neuron_dir).record_spikes().record_voltage()
        a, b, c, d = self.params(env)
        stimulus = np.zeros((60, 1))
        stimulus[10:60] = 1.5  # nA
        it, t, _, trace = env.run(60, stimulus)
        params = MODEL.neuron_parameters(env.system.population_ranges, env.seed)
        v, u = MODEL.initial_state({key: np.array([params[key][0]]) for key in "abcd"})
        v, u = float(v[0]), float(u[0])
        expected, spikes = [], []
        for step in range(600):
            expected.append(v)
            dv, du = MODEL.membrane_derivatives(v, u, a, b, stimulus[step // 10, 0])
            v, u = v + MODEL.dt * dv, u + MODEL.dt * du
            if v >= MODEL.v_peak:
                spikes.append(round(step * MODEL.dt, 6))
                v, u = c, u + d
        assert len(spikes) >= 3 and t.tolist() == spikes and it.tolist() == [0] * len(spikes)
        np.testing.assert_allclose(trace[0], expected, rtol=self.voltage_rtol, atol=self.voltage_atol)

    def test_stimulus_rows_are_one_millisecond(self, single_neuron_dir):
        env = self.env(single_neuron_dir).record_voltage()
        stimulus = np.zeros((20, 1))
        stimulus[10] = 0.5  # nA during [10, 11) ms only
        _, _, _, v = env.run(25, stimulus)  # rows after T are zero
        dv = np.diff(v[0])
        assert np.all(np.abs(dv[:100]) < max(1e-9, self.voltage_atol))  # at rest before 10 ms
        assert dv[100] == pytest.approx(0.5, abs=max(1e-6, self.voltage_atol))  # 0.5 nA / 0.1 nF * 0.1 ms
        assert dv[110] < 0  # off again at 11 ms

    def test_fires_exactly_when_the_equations_do(self, single_neuron_dir):
        # Near threshold (subcritical Hopf, bistable) a step from rest may fire a single onset
        # spike or none: the simulation must agree with the equations solved independently.
        env = self.env(single_neuron_dir).record_spikes()
        a, b, c, d = self.params(env)
        fired = {}
        for current in (0.1, 0.25, 0.30, 0.37, 0.40, 1.0):
            env.clear()
            it, t, _, _ = env.run(1000, np.full((1000, 1), current))
            reference = reference_spike_times(a, b, c, d, current, 1000.0)
            assert (len(it) > 0) == (len(reference) > 0), current
            fired[current] = len(it) > 0
            if current == 1.0:
                assert len(it) == pytest.approx(len(reference), abs=1) and t[0] == pytest.approx(reference[0], abs=1.0)
        assert not fired[0.1] and fired[0.40]

    def test_regular_spiking_rate_matches_the_equations(self, single_neuron_dir):
        env = self.env(single_neuron_dir).record_spikes()
        a, b, c, d = self.params(env)
        duration = 2000.0
        for current in (0.6, 1.0, 2.0):
            env.clear()
            it, t, _, _ = env.run(duration, np.full((int(duration), 1), current))
            reference = reference_spike_times(a, b, c, d, current, duration)
            assert len(reference) > 5
            # Steady-state rate (after adaptation settles): last half of the run.
            simulated_rate = np.sum(t >= duration / 2) / (duration / 2000)
            reference_rate = np.sum(reference >= duration / 2) / (duration / 2000)
            assert simulated_rate == pytest.approx(reference_rate, rel=0.05, abs=1.0), current
            # The first spike (latency from rest) agrees within a few integration steps.
            assert t[0] == pytest.approx(reference[0], abs=1.0), current


    # -- stimulus rows finer than 1 ms (stimulus_step) -------------------------------------------------------

    def test_fine_rows_repeating_one_millisecond_rows_are_the_same_stimulus(self, s1_dir):
        """A 1 ms-row stimulus and the same rows repeated at 0.5 and 0.1 ms give identical spikes and voltage."""
        env = self.env(s1_dir, seed=4).apply_model_defaults().record_spikes().record_voltage()  # noise on
        inputs = np.zeros((120, env.io.num_channels))
        inputs[20:60:7] = 12.0  # uA: 1 ms pulses on every electrode, then a bout on four of them
        inputs[60:100, 5:9] = 6.0
        stimulus = np.asarray(env.cell_stimulus(inputs))
        results = {}
        for step in (1.0, 0.5, 0.1):
            env.clear()
            repeated = np.repeat(stimulus, int(round(1.0 / step)), axis=0)
            results[step] = env.run(120, repeated, stimulus_step=step)
        coarse = results[1.0]
        assert len(coarse.it) > 10 and coarse.v.shape == (11, 1200)
        for step in (0.5, 0.1):
            np.testing.assert_array_equal(results[step].it, coarse.it)
            np.testing.assert_array_equal(results[step].t, coarse.t)
            np.testing.assert_array_equal(results[step].v, coarse.v)

    def test_a_pulse_on_the_integration_grid_acts_from_its_onset_step(self, single_neuron_dir):
        """0.3 ms of 2 nA from 2.3 ms (0.1 ms rows): the voltage is the unstimulated one up to 2.3 ms,
        then rises by I dt / C = 2 mV per step for exactly three steps (noise-free)."""
        env = self.env(single_neuron_dir).record_voltage()
        _, _, _, rest = env.run(5)
        env.clear()
        stimulus = np.zeros((50, 1))
        stimulus[23:26] = 2.0  # nA during [2.3, 2.6) ms
        _, _, _, v = env.run(5, stimulus, stimulus_step=0.1)
        tolerance = max(1e-9, self.voltage_atol)
        np.testing.assert_array_equal(v[0, :24], rest[0, :24])  # samples up to the state at 2.3 ms
        difference = v[0] - rest[0]
        per_step = 2.0 * MODEL.dt / MODEL.membrane_capacitance  # mV
        assert difference[24] == pytest.approx(per_step, abs=tolerance)  # the state at 2.4 ms: one step
        increments = np.diff(difference)
        assert np.all(increments[23:26] > 0.8 * per_step)  # pushed during the three pulse steps
        assert np.all(np.abs(increments[26:]) < 0.3 * per_step)  # only the membrane's own relaxation after
        assert np.all(np.abs(difference[24:]) > tolerance)

    # -- continuity, replay, determinism --------------------------------------------------------------------

    def test_split_windows_equal_one_run(self, s2_dir):
        env = self.env(s2_dir, seed=11).apply_model_defaults().record_spikes()  # noise on
        env.record_voltage(gids=[3, 1, 3], dt=0.5)
        whole = env.run(300)
        assert env.t == pytest.approx(300)
        env.clear()
        assert env.t == 0
        first, second = env.run(120), env.run(180)  # windows on the voltage sampling grid
        assert env.t == pytest.approx(300)
        assert len(whole.it) > 50
        np.testing.assert_array_equal(np.concatenate([first.it, second.it]), whole.it)
        np.testing.assert_allclose(np.concatenate([first.t, second.t + 120]), whole.t, atol=1e-6)
        assert np.all(np.diff(whole.t) >= 0) and whole.t.min() >= 0 and whole.t.max() < 300
        assert first.iv.tolist() == [3, 1, 3] and first.v.shape == (3, 240) and second.v.shape == (3, 360)
        np.testing.assert_array_equal(np.concatenate([first.v, second.v], axis=1), whole.v)
        env.clear()
        first, second = env.run(113.7), env.run(186.3)  # windows off the 1 ms stimulus grid
        same_spikes((whole.it, whole.t), (np.concatenate([first.it, second.it]),
                                          np.concatenate([first.t, second.t + 113.7])), atol=1e-4)
        assert np.all(second.t >= 0) and np.all(second.t < 186.3)
        # voltage is sampled on the grid of multiples of dt since t = 0, whatever the windows
        np.testing.assert_array_equal(np.concatenate([first.v, second.v], axis=1), whole.v)

    def test_clear_replays_and_keeps_settings(self, s1_dir):
        env = self.env(s1_dir, seed=2).record_spikes()
        assert len(env.run(300).it) == 0  # nothing drives the network before defaults
        env.clear().apply_model_defaults()
        first = env.run(300)
        assert len(first.it) > 0
        env.clear()
        assert env.t == 0 and env.weights["EXC_EXC"] == MODEL.default_weights["EXC_EXC"]
        again = env.run(300)
        same_spikes(tuple(first[:2]), tuple(again[:2]))
        env.clear().set_noise(mean=0.0, std=0.0)
        assert len(env.run(300).it) == 0

    def test_same_seed_same_spikes_other_seed_differs(self, s2_dir):
        def spikes(seed, **settings):
            env = self.env(s2_dir, seed=seed).apply_model_defaults().record_spikes()
            if "weights" in settings:
                env.set_weights(settings["weights"])
            return env.run(300)

        reference = spikes(11)
        assert len(reference.it) > 20
        same_spikes(tuple(reference[:2]), tuple(spikes(11)[:2]))
        different = spikes(12)
        assert len(different.it) != len(reference.it) or not np.array_equal(different.t, reference.t)
        assert len(spikes(11, weights={"EXC_EXC": 0.0, "EXC_INH": 0.0}).it) < len(reference.it)

    def test_envs_do_not_share_random_state(self, s2_dir):
        if self.networks_per_process == 1:
            pytest.skip(f"the {self.backend!r} backend holds one network per process")
        a = self.env(s2_dir, seed=3).apply_model_defaults().record_spikes()
        b = self.env(s2_dir, seed=3).apply_model_defaults().record_spikes()
        first_a = a.run(100)
        b.run(100)  # interleaved with a
        second_a = a.run(100)
        solo = self.env(s2_dir, seed=3).apply_model_defaults().record_spikes()
        solo.run(100)
        same_spikes(tuple(second_a[:2]), tuple(solo.run(100)[:2]))
        assert len(first_a.it) > 0

    # -- electrodes -------------------------------------------------------------------------------------------

    def test_stimulation_drives_neurons_near_the_electrode(self, s2_dir):
        env = self.env(s2_dir).record_spikes()
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
        cit, _ = env.channel_recording(it, t)
        assert sum(len(v) for v in cit.values()) > 0

    # -- recording rules ------------------------------------------------------------------------------------

    def test_recording_after_a_run_is_refused(self, s1_dir):
        env = self.env(s1_dir)
        env.run(5)
        with pytest.raises(RecordingError, match="before the first run"):
            env.record_spikes()
        with pytest.raises(RecordingError):
            env.record_voltage()
        env.clear().record_voltage(gids=[0, 3], dt=0.5)
        _, _, iv, v = env.run(10)
        assert iv.tolist() == [0, 3] and v.shape == (2, 20)

    def test_recording_by_population(self, s1_dir):
        env = self.env(s1_dir).apply_model_defaults()
        exc, inh = env.system.gids_of("EXC"), env.system.gids_of("INH")
        stimulus = np.full((60, env.num_neurons), 1.0)  # nA: every neuron fires
        env.record_spikes("INH").record_voltage(["EXC"])
        part = env.run(60, stimulus)
        env.clear().record_spikes().record_voltage()
        whole = env.run(60, stimulus)
        assert set(whole.it.tolist()) & set(inh.tolist()) and set(whole.it.tolist()) & set(exc.tolist())
        keep = np.isin(whole.it, inh)
        np.testing.assert_array_equal(part.it, whole.it[keep])
        np.testing.assert_array_equal(part.t, whole.t[keep])
        assert part.iv.tolist() == exc.tolist() and part.v.shape == (len(exc), 600)
        np.testing.assert_array_equal(part.v, whole.v[exc])
        env.clear()
        with pytest.raises(UnknownNameError, match=r"\['EXC', 'INH'\]"):
            env.record_spikes("GLIA")
        with pytest.raises(UnknownNameError, match=r"\['EXC', 'INH'\]"):
            env.record_voltage(["EXC", "GLIA"])

    def test_bad_voltage_recording_arguments(self, s1_dir):
        env = self.env(s1_dir)
        with pytest.raises(InvalidArgumentError, match=r"\[0, 10\]"):
            env.record_voltage(gids=[0, 11])
        with pytest.raises(InvalidArgumentError, match="multiple"):
            env.record_voltage(dt=0.15)


    # -- synaptic currents (record_synaptic_currents) -------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def trio_dir(cls, tmp_path_factory):
        return write_synapse_trio_system(tmp_path_factory.mktemp("systems") / "trio")

    def test_synaptic_currents_of_one_spike_are_the_model_s_conductance(self, trio_dir):
        """One presynaptic spike per synapse: each current is 0 until the spike arrives (spike time + axonal
        delay), then g = I / (1e-3 (E - v)), with v the recorded voltage, is w x (x = 1: first spike) decaying
        as the model integrates dg/dt = -g / tau: forward Euler, from the end of the arrival step,
        g = w (1 - dt / tau)^(m - 1) at m steps after the arrival, i.e. w exp(-(t - t_arrival) / tau) to
        O(dt / tau). Neurons without synapses carry no current."""
        with self.exact_arithmetic():
            env = self.env(trio_dir, seed=1).set_weights(TRIO_WEIGHTS).record_spikes().record_voltage()
            env.set_noise(0.0, 0.0)
            env.backend.record_synaptic_currents(np.array([0, 1, 2], dtype=np.int64), MODEL.dt)
            stimulus = np.zeros((100, 3))
            stimulus[10, 0] = stimulus[50, 2] = PAIR_PULSE_NA  # nA: neurons 0 and 2 fire once each
            it, t, _, v = env.run(100, stimulus)
            currents = env.backend.synaptic_currents()
        assert sorted(it.tolist()) == [0, 2], (it, t)
        assert currents.gids.tolist() == [0, 1, 2] and currents.dt == pytest.approx(MODEL.dt)
        assert currents.ampa.shape == currents.gaba.shape == v.shape == (3, 1000)
        for row in (0, 2):
            assert not np.any(currents.ampa[row]) and not np.any(currents.gaba[row])
        dt = MODEL.dt
        times = np.arange(1000) * dt
        for receptor, pre, projection, current in (("AMPA", 0, "EXC_EXC", currents.ampa[1]),
                                                   ("GABA_A", 2, "INH_EXC", currents.gaba[1])):
            reversal, tau = MODEL.receptors[receptor].reversal_potential, MODEL.receptors[receptor].time_constant
            arrival = t[it == pre][0] + TRIO_DELAYS_MS[projection]  # ms
            step = int(round(arrival / dt))
            np.testing.assert_array_equal(current[: step + 1], 0.0)  # not before the end of the arrival step
            g = current[step + 1:] / (1e-3 * (reversal - v[1, step + 1:]))  # nS
            m = np.arange(1, len(g) + 1)  # steps since the arrival
            w = TRIO_WEIGHTS[projection]
            np.testing.assert_allclose(g, w * (1 - dt / tau) ** (m - 1), rtol=1e-9, atol=1e-12)
            first_tau = times[step + 1:] - arrival <= tau
            np.testing.assert_allclose(g[first_tau], w * np.exp(-(times[step + 1:] - arrival) / tau)[first_tau],
                                       rtol=1.5 * dt / tau)
            assert np.all(current[step + 1:] * np.sign(reversal - v[1, step + 1:]) > 0)  # toward E

    def test_synaptic_currents_are_sampled_like_the_voltage(self, trio_dir):
        """Every 0.5 ms: the same samples as every 0.1 ms, one in five, and exactly the voltage's sample count,
        also for windows that do not start on the sampling grid."""
        stimulus = np.zeros((100, 3))
        stimulus[10, 0] = stimulus[50, 2] = PAIR_PULSE_NA
        recorded = {}
        env = self.env(trio_dir, seed=1).set_weights(TRIO_WEIGHTS).record_spikes()
        env.set_noise(0.0, 0.0)
        for dt in (MODEL.dt, 0.5):
            env.clear().record_voltage(dt=dt)
            env.backend.record_synaptic_currents(np.array([1, 2], dtype=np.int64), dt)
            result = env.run(100, stimulus)
            recorded[dt] = env.backend.synaptic_currents()
            assert recorded[dt].ampa.shape == recorded[dt].gaba.shape == (2, result.v.shape[1])
        fine, coarse = recorded[MODEL.dt], recorded[0.5]
        assert coarse.dt == pytest.approx(0.5) and coarse.ampa.shape == (2, 200)
        assert np.any(fine.ampa[0]) and np.any(fine.gaba[0])
        np.testing.assert_array_equal(coarse.ampa, fine.ampa[:, ::5])
        np.testing.assert_array_equal(coarse.gaba, fine.gaba[:, ::5])
        for duration in (33.3, 16.7, 0.4, 10.0):  # windows from 100, 133.3, 150, 150.4 ms
            result = env.run(duration)
            currents = env.backend.synaptic_currents()
            assert currents.ampa.shape == currents.gaba.shape == result.v[[1, 2]].shape, duration

    def test_synaptic_currents_are_none_unless_recorded(self, s1_dir):
        env = self.env(s1_dir).apply_model_defaults()
        env.run(5)
        assert env.backend.synaptic_currents() is None
        env.clear()
        env.backend.record_synaptic_currents(np.array([0, 4], dtype=np.int64), 0.5)
        env.run(5)
        currents = env.backend.synaptic_currents()
        assert currents.gids.tolist() == [0, 4] and currents.ampa.shape == currents.gaba.shape == (2, 10)
        env.clear()
        env.backend.record_synaptic_currents(None, MODEL.dt)
        env.run(5)
        assert env.backend.synaptic_currents() is None

    def test_split_windows_record_the_synaptic_currents_of_one_run(self, s2_dir):
        env = self.env(s2_dir, seed=11).apply_model_defaults().record_spikes()  # noise on
        gids = np.arange(0, 100, 7, dtype=np.int64)  # both populations
        env.backend.record_synaptic_currents(gids, 0.5)
        env.run(300)
        whole = env.backend.synaptic_currents()
        assert whole.gids.tolist() == gids.tolist() and whole.ampa.shape == (len(gids), 600)
        assert np.any(whole.ampa > 0) and np.any(whole.gaba < 0)  # AMPA depolarises, GABA_A (-75 mV) not
        for durations in ((120, 180), (113.7, 186.3)):  # on and off the sampling grid
            env.clear()
            parts = []
            for duration in durations:
                env.run(duration)
                parts.append(env.backend.synaptic_currents())
            np.testing.assert_array_equal(np.concatenate([p.ampa for p in parts], axis=1), whole.ampa)
            np.testing.assert_array_equal(np.concatenate([p.gaba for p in parts], axis=1), whole.gaba)

    def test_noise_free_s1_synaptic_currents_equal_brian2s(self, s1_dir):
        """The same stimulation gives brian2's spikes and, sample for sample, its currents (float64 arithmetic:
        spike for spike, as the plastic S1 test requires; 1e-6 nA is far below one arrival's ~0.5 nA)."""
        if self.backend == REFERENCE_BACKEND:
            pytest.skip("the reference backend itself")
        reference, reference_currents = _reference("currents_s1", s1_dir)
        with self.exact_arithmetic():
            result, currents = currents_s1_run(s1_dir, self.backend, s1_stimulation())
        assert len(reference.it) > 50 and np.abs(reference_currents.ampa).max() > 0.1
        np.testing.assert_array_equal(result.it, reference.it)
        np.testing.assert_allclose(result.t, reference.t, atol=1e-6)
        np.testing.assert_array_equal(currents.gids, reference_currents.gids)
        assert currents.ampa.shape == reference_currents.ampa.shape == (11, 5000)
        np.testing.assert_allclose(currents.ampa, reference_currents.ampa, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(currents.gaba, reference_currents.gaba, rtol=1e-6, atol=1e-6)

    # -- extracellular recording (Env.record_extracellular over the contract's spikes and currents) ----------------

    def test_extracellular_ground_truth_is_every_spike_and_windows_do_not_matter(self, s2_dir):
        """Whatever record_spikes selects, the recording's ground truth is every neuron's spikes; synthesis
        windows (chunk_ms) and run windows change no sample (noise, LFP and waveforms carry over)."""
        def recording(chunk_ms, durations):
            env = self.env(s2_dir, seed=4).apply_model_defaults().record_spikes("EXC")
            env.record_extracellular(fs_hz=25000.0, noise_uv=5.0, chunk_ms=chunk_ms)
            return env, RunResult.concat([env.run(d) for d in durations])

        env, whole = recording(1000, [300])
        _, split = recording(50, [120, 180])
        traces = whole.extracellular
        assert traces.traces.shape == (env.io.num_channels, 7500) and traces.fs_hz == 25000.0
        inh = env.system.gids_of("INH")
        assert np.isin(traces.spike_gids, inh).any() and not np.isin(whole.it, inh).any()
        np.testing.assert_array_equal(np.sort(whole.it), np.sort(traces.spike_gids[~np.isin(traces.spike_gids, inh)]))
        np.testing.assert_array_equal(split.extracellular.spike_gids, traces.spike_gids)
        np.testing.assert_allclose(split.extracellular.traces, traces.traces, atol=1e-3)

    def test_noise_free_s1_extracellular_traces_equal_brian2s(self, s1_dir):
        """Spikes, synaptic currents and electrode inputs equal brian2's, so the traces do (uV, float32)."""
        if self.backend == REFERENCE_BACKEND:
            pytest.skip("the reference backend itself")
        reference = _reference("extracellular_s1", s1_dir)
        with self.exact_arithmetic():
            result = extracellular_s1_run(s1_dir, self.backend, s1_stimulation())
        expected = reference.extracellular
        assert len(expected.spike_gids) > 50 and np.abs(expected.traces).max() > 20.0
        np.testing.assert_array_equal(result.extracellular.spike_gids, expected.spike_gids)
        np.testing.assert_allclose(result.extracellular.traces, expected.traces, atol=1e-2)

    # -- bad arguments, refused before the backend runs -----------------------------------------------------------

    @pytest.fixture
    def guarded(self, s1_dir, monkeypatch):
        """An S1 Env whose backend fails the test if its `run` is ever called."""
        env = self.env(s1_dir)

        def run(*args, **kwargs):
            pytest.fail("the backend ran although the arguments were bad")

        monkeypatch.setattr(env.backend, "run", run)
        return env

    @pytest.mark.parametrize("duration", [0, -5, math.nan, math.inf, "10", None, 0.01])
    def test_bad_durations(self, guarded, duration):
        with pytest.raises(InvalidArgumentError, match="duration"):
            guarded.run(duration)
        assert guarded.t == 0

    def test_bad_stimulus(self, guarded):
        env = guarded
        with pytest.raises(InvalidArgumentError, match=r"shape \[T, 11\]"):
            env.run(10, np.zeros((10, 5)))
        with pytest.raises(InvalidArgumentError, match=r"1 <= T <= 10"):
            env.run(10, np.zeros((50, 11)))
        bad = np.zeros((10, 11))
        bad[3, 2] = np.nan
        with pytest.raises(InvalidArgumentError, match="NaN"):
            env.run(10, bad)
        with pytest.raises(InvalidArgumentError, match="NaN"):
            env.run(5, np.full((5, 11), np.inf))
        with pytest.raises(InvalidArgumentError, match="stimulus"):
            env.run(5, "abc")
        with pytest.raises(InvalidArgumentError, match="unroll"):
            env.run(10, unroll="dense")
        assert env.t == 0  # nothing ran

    def test_bad_weights_and_noise(self, guarded):
        env = guarded
        with pytest.raises(UnknownNameError, match="EXC_EXC"):
            env.set_weights({"EXC_GLIA": 1.0})
        with pytest.raises(InvalidArgumentError, match="EXC_EXC"):
            env.set_weights({"EXC_EXC": -1.0})
        with pytest.raises(InvalidArgumentError, match="std"):
            env.set_noise(std=-0.1)
        with pytest.raises(InvalidArgumentError, match="mean"):
            env.set_noise(mean=float("nan"))
        assert env.t == 0 and env.noise == (0.0, 0.0) and not any(env.weights.values())

    def test_unknown_backend_options_are_refused(self, s1_dir):
        cls = backend_class(self.backend)
        with pytest.raises(UnknownNameError, match="accepted options") as error:
            Env(s1_dir, backend=self.backend, backend_options={"no_such_option": 1})
        assert "no_such_option" in str(error.value) and all(name in str(error.value) for name in cls.options)

    # -- capabilities ------------------------------------------------------------------------------------------

    def test_declared_capabilities_are_known(self, s1_dir):
        assert set(self.capabilities) <= set(CAPABILITIES)
        env = Env(s1_dir, backend=self.backend)
        assert env.capabilities == self.capabilities

    def test_missing_capabilities_are_refused_naming_who_has_them(self, guarded):
        env = guarded
        key = np.zeros(2, np.uint32)
        calls = {
            NOISE_KEYS: [lambda: env.run(5, key=key), lambda: env.run_key],
            UNROLL: [lambda: env.run(5, unroll="mask")],
            COPIES: [lambda: env.copy_states(2)],
            CHECKPOINT: [lambda: env.save_state("unused.h5"), lambda: env.load_state("unused.h5")],
        }
        missing = [capability for capability in calls if capability not in self.capabilities]
        if BATCH not in self.capabilities:
            with pytest.raises(InvalidArgumentError, match=r"\[T, 11\]"):
                env.run(10, np.zeros((2, 10, 11)))
        if not missing:
            pytest.skip(f"the {self.backend!r} backend declares every capability tested here")
        for capability in missing:
            for call in calls[capability]:
                with pytest.raises(MissingCapabilityError, match=repr(capability)) as error:
                    call()
                for other in backends_with(capability):
                    assert repr(other) in str(error.value)
        assert env.t == 0

    # -- agreement across backends, noise-free -------------------------------------------------------------------

    def test_noise_free_s1_agrees_spike_for_spike_with_brian2(self, s1_dir):
        if self.backend == REFERENCE_BACKEND:
            pytest.skip("the reference backend itself")
        from livn.analysis import matched_spikes

        reference = _reference("s1", s1_dir)
        result = noise_free_run(s1_dir, self.backend, s1_stimulation())
        assert len(reference.it) > 50
        assert len(result.it) == pytest.approx(len(reference.it), rel=0.05)
        matched = matched_spikes(reference.it, reference.t, result.it, result.t, tolerance=0.5)
        assert matched >= 0.95 * len(reference.it)

    def test_half_step_delays_give_brian2s_spikes_exactly(self, half_step_dir):
        if self.backend == REFERENCE_BACKEND:
            pytest.skip("the reference backend itself")
        reference = _reference("half_step", half_step_dir)
        result = half_step_run(half_step_dir, self.backend)
        assert set(reference.it.tolist()) == {0, 1, 2, 3, 4}  # every synapse carried spikes
        np.testing.assert_array_equal(result.it, reference.it)
        np.testing.assert_array_equal(result.t, reference.t)

    def test_spontaneous_s2_statistics_agree_with_brian2(self, s2_dir):
        """Mean rate and network-burst rate within 15 % of brian2 over 4 seeds x 20 s (brian2's run once)."""
        if self.backend == REFERENCE_BACKEND:
            pytest.skip("the reference backend itself")
        seeds, duration = (1, 2, 3, 4), 20_000.0
        stats = {}
        for backend in (REFERENCE_BACKEND, self.backend):
            summaries = _spontaneous(s2_dir, backend, seeds, duration)
            stats[backend] = (np.mean([s.mean_rate for s in summaries]), np.mean([s.burst_rate for s in summaries]))
        assert stats[REFERENCE_BACKEND][0] > 1.0
        assert stats[self.backend][0] == pytest.approx(stats[REFERENCE_BACKEND][0], rel=0.15)
        assert stats[self.backend][1] == pytest.approx(stats[REFERENCE_BACKEND][1], rel=0.15)

    # -- checkpoints (capability `checkpoint`) -----------------------------------------------------------------

    def _checkpointed(self, directory, path):
        """Run 100 ms with noise, save; then replay 200 ms uninterrupted. Returns the 200 ms result."""
        env = self.env(directory, seed=7).apply_model_defaults().record_spikes().record_voltage(dt=0.5)
        env.run(100)
        env.save_state(path)
        assert path.exists()
        env.clear()
        return env.run(200)

    def test_checkpoint_continues_bit_identically_in_a_new_process(self, s1_dir, tmp_path):
        self.needs(CHECKPOINT)
        path = tmp_path / "state.h5"
        whole = self._checkpointed(s1_dir, path)
        script = textwrap.dedent("""
            import sys
            import numpy as np
            from livn.env import Env
            system, backend, path, out = sys.argv[1:]
            env = Env(system, seed=7, backend=backend).init().record_spikes().record_voltage(dt=0.5)
            env.load_state(path)
            assert abs(env.t - 100) < 1e-9, env.t
            r = env.run(100)
            np.savez(out, it=r.it, t=r.t, v=r.v)
        """)
        out = tmp_path / "continued.npz"
        done = subprocess.run([sys.executable, "-c", script, s1_dir, self.backend, str(path), str(out)],
                              capture_output=True, text=True, timeout=300, env={**os.environ})
        assert done.returncode == 0, done.stderr[-3000:]
        continued = np.load(out)
        late = whole.t >= 100
        assert late.sum() > 0
        np.testing.assert_array_equal(continued["it"], whole.it[late])
        np.testing.assert_array_equal(continued["t"], np.round(whole.t[late] - 100, 6))
        np.testing.assert_array_equal(continued["v"], whole.v[:, 200:])

    def test_checkpoint_of_another_culture_or_a_corrupt_file_is_refused(self, s1_dir, single_neuron_dir, tmp_path):
        self.needs(CHECKPOINT)
        from livn.checkpoint import CheckpointError

        path = tmp_path / "state.h5"
        self._checkpointed(s1_dir, path)
        corrupt = tmp_path / "corrupt.h5"
        corrupt.write_bytes(_flip_bytes_of_the_largest_state_array(path))
        others = [(s1_dir, 8, self.backend, "seed"), (single_neuron_dir, 7, self.backend, "system")]
        others += [(s1_dir, 7, name, "backend") for name in backends_with(CHECKPOINT) if name != self.backend]
        for directory, seed, backend, what in others:
            env = Env(directory, seed=seed, backend=backend).init().record_spikes()
            with pytest.raises(CheckpointError, match=what):
                env.load_state(path)
            assert env.t == 0
        env = self.env(s1_dir, seed=7).record_spikes()
        env.run(3)
        with pytest.raises(CheckpointError):
            env.load_state(corrupt)
        assert env.t == pytest.approx(3)  # left unchanged

    # -- plasticity (capability `plasticity`) ------------------------------------------------------------------

    def test_stdp_window_of_a_pairing_protocol_is_the_rules_analytic_window(self, pair_dir):
        """Pre/post pairings on two neurons change the weight by exactly `stdp_window(dt)` (noise-free)."""
        self.needs(PLASTICITY)
        with self.exact_arithmetic():
            env = self.env(pair_dir, seed=1).set_weights({"EXC_EXC": 4.0}).record_spikes()
            env.set_noise(0.0, 0.0)
            env.enable_plasticity({"EXC_EXC": PAIR_RULE})
            offsets = [-30, -10, -3, -1, 0, 1, 2, 3, 10, 30]
            dts, changes = pairing_protocol(env, offsets)
        assert (dts > 0).sum() >= 4 and (dts < 0).sum() >= 4  # both sides of the window
        np.testing.assert_allclose(changes, stdp_window(dts, PAIR_RULE), rtol=1e-9, atol=1e-12)
        assert changes[dts > 0].min() > 0 > changes[dts < 0].max()

    def test_noise_free_plastic_s1_learns_brian2s_weights(self, s1_dir):
        """The same stimulation with STDP on gives the same spikes and final weights as brian2, to float tolerance."""
        self.needs(PLASTICITY)
        if self.backend == REFERENCE_BACKEND:
            pytest.skip("the reference backend itself")
        reference, reference_weights = _reference("plastic_s1", s1_dir)
        with self.exact_arithmetic():
            result, weights = plastic_s1_run(s1_dir, self.backend, s1_stimulation())
        assert np.sum(reference_weights != 8.0) > 10  # the protocol did change weights
        np.testing.assert_array_equal(result.it, reference.it)
        np.testing.assert_allclose(result.t, reference.t, atol=1e-6)
        np.testing.assert_allclose(weights, reference_weights, rtol=1e-9, atol=1e-9)

    def test_learned_weights_survive_clear_and_save_system(self, pair_dir, tmp_path):
        """clear() keeps learned weights; save_system writes them and a new Env on this backend loads them."""
        self.needs(PLASTICITY)
        env = self.env(pair_dir, seed=1).set_weights({"EXC_EXC": 4.0}).record_spikes()
        env.set_noise(0.0, 0.0)
        env.enable_plasticity({"EXC_EXC": PAIR_RULE})
        pairing_protocol(env, [2, 2, 2])
        learned = env.synaptic_weights()
        assert learned.weight[0] > 4.0
        env.clear()
        np.testing.assert_array_equal(env.synaptic_weights().weight, learned.weight)
        saved = env.save_system(tmp_path / "learned")
        with pytest.raises(FileExistsError, match="overwrite=True"):
            env.save_system(tmp_path / "learned")
        again = self.env(saved, seed=1).apply_model_defaults()
        loaded = again.synaptic_weights()
        np.testing.assert_array_equal(loaded.pre, learned.pre)
        np.testing.assert_array_equal(loaded.projection, learned.projection)
        np.testing.assert_allclose(loaded.weight, learned.weight, rtol=1e-14)

    def test_plastic_checkpoint_continues_with_the_same_weights_in_a_new_process(self, s1_dir, tmp_path):
        self.needs(PLASTICITY)
        self.needs(CHECKPOINT)
        path = tmp_path / "state.h5"
        env = self.env(s1_dir, seed=7).apply_model_defaults().record_spikes()
        env.enable_plasticity({"a_plus": 0.02, "a_minus": 0.021})
        stimulus = env.cell_stimulus(s1_stimulation(300))
        env.run(100, stimulus[:100])
        env.save_state(path)
        whole = env.run(200, stimulus[100:])
        final = env.synaptic_weights().weight
        script = textwrap.dedent("""
            import sys
            import numpy as np
            from livn.env import Env
            from livn.system import System
            system, backend, path, out = sys.argv[1:]
            env = Env(system, seed=7, backend=backend).init().record_spikes()
            env.load_state(path)
            assert env.plasticity is not None
            stimulus = env.cell_stimulus(np.load(out + ".in.npy"))
            r = env.run(200, stimulus)
            np.savez(out, it=r.it, t=r.t, w=env.synaptic_weights().weight)
        """)
        out = tmp_path / "continued.npz"
        np.save(str(out) + ".in.npy", s1_stimulation(300)[100:])
        done = subprocess.run([sys.executable, "-c", script, s1_dir, self.backend, str(path), str(out)],
                              capture_output=True, text=True, timeout=300, env={**os.environ})
        assert done.returncode == 0, done.stderr[-3000:]
        continued = np.load(out)
        assert len(whole.it) > 0 and np.any(final != 8.0)
        np.testing.assert_array_equal(continued["it"], whole.it)
        np.testing.assert_array_equal(continued["t"], whole.t)
        np.testing.assert_array_equal(continued["w"], final)
