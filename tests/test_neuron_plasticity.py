"""Long-term plasticity on the NEURON backend: STDP in real, noise-free simulations.

What every backend must do (the pairing window, brian2's weights on S1, checkpoints in
a new process) is in tests/conformance.py. Here: the NEURON translation's own risks.
Step k's arrivals and postsynaptic spikes are events that NEURON delivers after the
step's update, so the tests check the same-step order (arrival before postsynaptic spike), that
every event of a run's last step is in the weights when the run returns, weights
against a replay of the rule over the recorded spikes, one-step delays across MPI
ranks, 1 vs 2 ranks, and checkpoints.

This file is also the MPI worker: `mpirun -n 2 python test_neuron_plasticity.py SYSTEM OUT DELAYS`
runs `plastic_runs` (DELAYS: "model", or "one step" for ONE_STEP_MODEL) and saves rank 0's
results to OUT.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("neuron")

from conformance import PAIR_PULSE_NA, s1_stimulation  # noqa: E402

from livn.env import Env  # noqa: E402
from livn.models import STDP, CultureModel, InhibitorySTDP, lower_plasticity, stdp_window  # noqa: E402

MPIRUN = Path(sys.executable).parent / "mpirun"
MPI_TIMEOUT = 240
#: Distance (um) of the pair's synapse: 0.5 ms + 150 um / (300 um/ms) = 1.0 ms = 10 steps, so a pulse
#: to the postsynaptic neuron 1 ms after the presynaptic one makes it fire in the step the spike arrives.
PAIR_DISTANCE = 150.0
#: Rules of the network runs: every kind of rule, with steps large enough to move the weights.
NETWORK_RULES = {
    "EXC_EXC": STDP(a_plus=0.02, a_minus=0.021),
    "EXC_INH": STDP(a_plus=0.03, a_minus=0.025, w_max=6.0, weight_dependence="multiplicative"),
    "INH_EXC": InhibitorySTDP(eta=0.05, tau=15.0, target_rate=8.0),
}
#: The network runs' checkpoint (ms): S1 fires from 200 ms on (`s1_stimulation`), spikes are in flight.
SAVE_MS = 215
#: Simulated after the checkpoint, ms.
CONTINUE_MS = 85
#: A model whose every axonal delay is one integration step (NEURON's smallest delay between ranks).
ONE_STEP_MODEL = CultureModel(synaptic_delay=0.1, conduction_velocity=1e9)


def write_pair(directory, pre: str = "EXC", post: str = "EXC"):
    """Two neurons (gid 0, gid 1) and one synapse pre -> post, PAIR_DISTANCE apart. Returns (dir, pre gid, post gid)."""
    from livn import neuroh5
    from livn.io import MEA

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    xyz = np.array([[20.0, 50.0, 0.0], [20.0 + PAIR_DISTANCE, 50.0, 0.0]])
    if pre == post:
        cells, counts, source, target = {pre: xyz}, {pre: 2}, 0, 1
    else:  # gids are dealt population by population in the order given: EXC first
        cells, counts = {"EXC": xyz[:1], "INH": xyz[1:]}, {"EXC": 1, "INH": 1}
        source, target = (0, 1) if pre == "EXC" else (1, 0)
    neuroh5.write_cells(directory / "cells.h5", cells)
    neuroh5.write_connections(directory / "connections.h5", counts,
                              {(pre, post): (np.array([source]), np.array([target]), np.array([PAIR_DISTANCE]))})
    MEA.grid(300.0, 100.0, 2, 2).save(directory / "mea.json")
    return str(directory), source, target


def neuron_env(directory, model=None, seed=1):
    env = Env(directory, model=model, seed=seed, backend="neuron").init()
    env.set_noise(0.0, 0.0)
    return env.record_spikes()


def pairings(env, pre: int, post: int, offsets, duration=100, row=40):
    """One pairing per offset (ms: post pulse minus pre pulse), `clear()` after each.

    Returns `(dt ms, weight before nS, Δw nS)` per pairing, dt = t_post - (t_pre + delay) from
    the recorded spikes and the synapse's delay in whole steps.
    """
    backend = env.backend
    delay = backend.lowered.delay_steps[0] * backend.dt
    dts, before, changes = [], [], []
    for offset in offsets:
        stimulus = np.zeros((duration, 2))
        stimulus[row, pre] = PAIR_PULSE_NA
        stimulus[row + offset, post] = PAIR_PULSE_NA
        w = backend.synapse_weights()[0]
        it, t, _, _ = env.run(duration, stimulus)
        assert sorted(it.tolist()) == [0, 1], f"offset {offset} ms: spikes {it} at {t} ms"
        dts.append(t[it == post][0] - (t[it == pre][0] + delay))
        before.append(w)
        changes.append(backend.synapse_weights()[0] - w)
        env.clear()
    return np.array(dts), np.array(before), np.array(changes)


def replayed_weights(lowered, synapses, initial, gids, steps, end_step) -> np.ndarray:
    """The weights (nS) the rules give for these spikes (gid, step) over steps [0, end_step), in plain Python.

    The update equations of `livn.models.plasticity`, synapse by synapse: an arrival in step k
    (spike step + delay) before a postsynaptic spike in step k, traces decayed over whole steps.
    """
    dt = lowered.dt
    weights = np.array(initial, dtype=float)
    for e in np.flatnonzero(synapses.plastic):
        pre, post, delay = int(lowered.pre[e]), int(lowered.post[e]), int(lowered.delay_steps[e])
        arrivals = [int(k) + delay for k in steps[gids == pre] if k + delay < end_step]
        events = sorted([(k, 0) for k in arrivals] + [(int(k), 1) for k in steps[gids == post]])
        tau_pre, tau_post, w_max = synapses.tau_pre[e], synapses.tau_post[e], synapses.w_max[e]
        pre_offset, pre_w, pre_c = synapses.pre_offset[e], synapses.pre_w[e], synapses.pre_c[e]
        post_w, post_c = synapses.post_w[e], synapses.post_c[e]
        w, a_pre, a_post, last_pre, last_post = weights[e], 0.0, 0.0, 0, 0
        for k, kind in events:
            if kind == 0:
                a_pre = a_pre * math.exp(-(k - last_pre) * dt / tau_pre) + 1
                last_pre = k
                change = (pre_w * w + pre_c) * a_post * math.exp(-(k - last_post) * dt / tau_post)
                w = min(max(w + pre_offset + change, 0.0), w_max)
            else:
                a_post = a_post * math.exp(-(k - last_post) * dt / tau_post) + 1
                last_post = k
                change = (post_w * w + post_c) * a_pre * math.exp(-(k - last_pre) * dt / tau_pre)
                w = min(max(w + change, 0.0), w_max)
        weights[e] = w
    return weights


def plastic_runs(directory, model=None):
    """S1 under noise-free stimulation with NETWORK_RULES; a checkpoint at SAVE_MS, continued twice.

    Returns `{"it", "t", "weights", "initial", "it_again", "t_again", "weights_again"}`: spikes and
    weights of the uninterrupted run, then of the CONTINUE_MS after the checkpoint run once more
    (collective under MPI).
    """
    import tempfile

    from livn._mpi import world

    env = neuron_env(directory, model=model, seed=3).apply_model_defaults()
    env.set_noise(0.0, 0.0)
    env.enable_plasticity(NETWORK_RULES)
    initial = env.synaptic_weights().weight
    stimulus = env.cell_stimulus(s1_stimulation(SAVE_MS + CONTINUE_MS))
    first = env.run(SAVE_MS, stimulus[:SAVE_MS])
    with tempfile.TemporaryDirectory() as scratch:
        path = world().bcast(os.path.join(scratch, "state.h5"))  # rank 0's file
        env.save_state(path)
        second = env.run(CONTINUE_MS, stimulus[SAVE_MS:])
        weights = env.synaptic_weights().weight
        env.load_state(path)
        again = env.run(CONTINUE_MS, stimulus[SAVE_MS:])
        world().barrier()
    return {
        "it": None if first.it is None else np.concatenate([first.it, second.it]),
        "t": None if first.t is None else np.concatenate([first.t, second.t + SAVE_MS]),
        "weights": weights, "initial": initial,
        "it_again": again.it, "t_again": again.t, "weights_again": env.synaptic_weights().weight,
    }


# -- a pair of neurons: the rule's window, the same-step order ------------------------------------------


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(tmp_path_factory.mktemp("pair") / "pair")


OFFSETS = [-30, -10, -2, 0, 1, 2, 10, 30]


@pytest.mark.parametrize("weight_dependence", ["additive", "multiplicative"])
def test_pairing_gives_the_analytic_window_including_an_arrival_in_the_step_of_the_spike(pair, weight_dependence):
    directory, pre, post = pair
    rule = STDP(a_plus=0.01, a_minus=0.012, tau_plus=16.8, tau_minus=33.7, w_max=16.0,
                weight_dependence=weight_dependence)
    env = neuron_env(directory).set_weights({"EXC_EXC": 4.0})
    backend = env.backend
    assert backend.lowered.delay_steps.tolist() == [10]
    backend.set_plasticity(lower_plasticity(backend.lowered, {"EXC_EXC": rule}))
    dts, before, changes = pairings(env, pre, post, OFFSETS)
    np.testing.assert_allclose(dts, np.array(OFFSETS) - 1.0, atol=1e-9)  # both fire 0.9 ms after their pulse
    assert np.sum(np.abs(dts) < 1e-9) == 1  # the spike arrived in the step the neuron fired: pre before post
    expected = np.array([stdp_window(dt, rule, w) for dt, w in zip(dts, before)])
    np.testing.assert_allclose(changes, expected, rtol=1e-9, atol=1e-12)
    assert changes[dts >= 0].min() > 0 > changes[dts < 0].max()
    if weight_dependence == "additive":
        assert changes[np.abs(dts) < 1e-9][0] == pytest.approx(rule.a_plus * rule.w_max, rel=1e-12)


def test_inhibitory_pairing_is_symmetric_and_depresses_each_arrival(tmp_path):
    directory, pre, post = write_pair(tmp_path / "inh", pre="INH", post="EXC")
    rule = InhibitorySTDP(eta=0.02, tau=12.0, target_rate=5.0, w_max=30.0)
    env = neuron_env(directory).set_weights({"INH_EXC": 5.0})
    env.enable_plasticity({"INH_EXC": rule})
    dts, _, changes = pairings(env, pre, post, [-10, -2, 1, 2, 10])
    step = rule.eta * rule.w_max
    np.testing.assert_allclose(changes, step * (np.exp(-np.abs(dts) / rule.tau) - rule.alpha), rtol=1e-9, atol=1e-12)


# -- a network: the rules replayed over its spikes, windows, switching off --------------------------------


def test_network_weights_are_the_rules_replayed_over_the_spikes_after_every_window(s1_dir):
    """Runs of 1 to 9 ms: each returns with every event of its last step in the weights."""
    env = neuron_env(s1_dir, seed=3).apply_model_defaults()
    env.set_noise(0.0, 0.0)
    env.enable_plasticity(NETWORK_RULES)
    backend = env.backend
    lowered, synapses = backend.lowered, lower_plasticity(backend.lowered, NETWORK_RULES)
    initial = backend.synapse_weights()
    stimulus = env.cell_stimulus(s1_stimulation(300))
    per_ms = int(round(1.0 / backend.dt))
    gids, steps, start, checked = [], [], 0, 0
    for length in [1, 2, 3, 5, 7, 9] * 9:
        if start + length > 300:
            break
        result = env.run(length, stimulus[start:start + length])
        gids.append(result.it)
        steps.append(np.rint(result.t / backend.dt).astype(np.int64) + start * per_ms)
        start += length
        expected = replayed_weights(lowered, synapses, initial, np.concatenate(gids), np.concatenate(steps),
                                    start * per_ms)
        np.testing.assert_allclose(backend.synapse_weights(), expected, rtol=1e-12, atol=1e-12)
        checked += 1
    weights = backend.synapse_weights()
    assert checked > 40 and len(np.concatenate(gids)) > 50
    for name in NETWORK_RULES:  # every kind of rule moved its weights
        assert np.any(weights[lowered.edges_of(name)] != initial[lowered.edges_of(name)]), name


def test_switching_plasticity_off_keeps_the_weights_and_stops_learning(s1_dir):
    env = neuron_env(s1_dir, seed=3).apply_model_defaults()
    env.set_noise(0.0, 0.0)
    env.enable_plasticity(NETWORK_RULES)
    stimulus = env.cell_stimulus(s1_stimulation(300))
    initial = env.synaptic_weights().weight
    env.run(215, stimulus[:215])
    learned = env.synaptic_weights().weight
    assert np.any(learned != initial)
    env.disable_plasticity()
    np.testing.assert_array_equal(env.synaptic_weights().weight, learned)
    assert len(env.run(85, stimulus[215:]).it) > 10
    np.testing.assert_array_equal(env.synaptic_weights().weight, learned)
    env.clear()  # back to t = 0, learned weights kept
    np.testing.assert_array_equal(env.synaptic_weights().weight, learned)
    # per-projection weights still set every synapse of the projection
    env.set_weights({"EXC_EXC": 5.0})
    weights, lowered = env.synaptic_weights().weight, env.backend.lowered
    assert np.all(weights[lowered.edges_of("EXC_EXC")] == 5.0)
    np.testing.assert_array_equal(weights[lowered.edges_of("INH_EXC")], learned[lowered.edges_of("INH_EXC")])


def test_only_plastic_synapses_change_and_clear_restarts_the_traces(s1_dir):
    env = neuron_env(s1_dir, seed=3).apply_model_defaults()
    env.set_noise(0.0, 0.0)
    env.enable_plasticity({"EXC_EXC": NETWORK_RULES["EXC_EXC"]})
    lowered = env.backend.lowered
    initial = env.synaptic_weights().weight
    stimulus = env.cell_stimulus(s1_stimulation(300))
    first = env.run(300, stimulus)
    after_first = env.synaptic_weights().weight
    still = np.ones(lowered.num_edges, bool)
    still[lowered.edges_of("EXC_EXC")] = False
    assert np.any(after_first[~still] != initial[~still])
    np.testing.assert_array_equal(after_first[still], initial[still])
    # after clear the same run, from the learned weights, learns as the rules say from there (traces at zero)
    env.clear()
    second = env.run(300, stimulus)
    steps = np.rint(second.t / env.backend.dt).astype(np.int64)
    expected = replayed_weights(lowered, lower_plasticity(lowered, env.plasticity), after_first, second.it, steps,
                                int(round(300 / env.backend.dt)))
    np.testing.assert_allclose(env.synaptic_weights().weight, expected, rtol=1e-12, atol=1e-12)
    assert len(first.it) > 20


# -- checkpoints and MPI -----------------------------------------------------------------------------------


def test_plastic_checkpoint_continues_bit_for_bit(s1_dir):
    result = plastic_runs(s1_dir)
    assert len(result["it"]) > 50 and np.any(result["weights"] != result["initial"])
    late = result["t"] >= SAVE_MS
    assert late.sum() > 20 and (~late).sum() > 20
    np.testing.assert_array_equal(result["it_again"], result["it"][late])
    np.testing.assert_array_equal(result["t_again"], np.round(result["t"][late] - SAVE_MS, 6))
    np.testing.assert_array_equal(result["weights_again"], result["weights"])


@pytest.mark.skipif(not MPIRUN.exists(), reason="mpirun not installed (pip install 'livn[mpi]')")
@pytest.mark.parametrize("delays", ["model", "one step"])
def test_two_ranks_learn_the_weights_of_one_process(s1_dir, tmp_path, delays):
    """Spikes and weights (and a checkpoint's continuation) on 2 ranks are those of one process, bit for bit."""
    out = tmp_path / "ranks.npz"
    command = [str(MPIRUN), "-n", "2", sys.executable, __file__, s1_dir, str(out), delays]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=MPI_TIMEOUT, env={**os.environ})
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(command)} did not finish within {MPI_TIMEOUT} s (a hang):\n{e.stderr}")
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = np.load(out)
    single = plastic_runs(s1_dir, model=ONE_STEP_MODEL if delays == "one step" else None)
    assert len(single["it"]) > 50 and np.any(single["weights"] != single["initial"])
    for key in ("it", "t", "weights", "it_again", "t_again", "weights_again"):
        np.testing.assert_array_equal(ranks[key], single[key], err_msg=key)


def main(directory: str, out: str, delays: str) -> None:
    result = plastic_runs(directory, model=ONE_STEP_MODEL if delays == "one step" else None)
    from livn._mpi import world

    comm = world()
    assert comm.size == 2, comm.size
    if comm.is_root:
        np.savez(out, **result)


if __name__ == "__main__":
    main(*sys.argv[1:4])
