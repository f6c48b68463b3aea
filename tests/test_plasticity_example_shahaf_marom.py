"""examples/plasticity/shahaf_marom.py: the protocol's bookkeeping with tiny settings (not the effect size)."""


import numpy as np
import pytest
from _examples import load_example


@pytest.fixture(scope="module")
def sm():
    return load_example("plasticity/shahaf_marom.py")


def test_criterion_is_a_sliding_count(sm):
    assert not sm.criterion_met([], (1, 10))
    assert sm.criterion_met([False, True], (1, 10))
    assert sm.criterion_met([True, False, True], (2, 3))
    assert not sm.criterion_met([True, False, False, True], (2, 3))  # the first response slid out
    assert sm.first_criterion([False, True, False, False, True, True], (2, 3)) == 6
    assert sm.first_criterion([True, False, False, False], (2, 10)) is None


def test_target_is_a_low_evoked_response_off_the_stimulated_channel(sm):
    hits, spont = np.zeros((10, 6), bool), np.zeros((10, 6), bool)
    hits[:, 0] = True                      # the stimulated channel: excluded
    hits[:3, 1] = True                     # 0.3: evoked, but at or above the criterion 2/10
    hits[:1, 3] = True                     # 0.1: evoked (reference 0), in range
    hits[:1, 4], spont[:1, 4] = True, True  # 0.1, but as often in the reference window: not evoked
    hits[:1, 5] = True                     # 0.1, evoked, a tie with channel 3 (channel 2 never responds)
    assert sm.choose_target(hits, spont, 0, (2, 10), 0.1) == (3, "evoked, in range")
    assert sm.choose_target(hits, spont, 0, (2, 10), 0.2) == (3, "evoked, lowest")
    spont[:, 1:] = True                    # nothing is evoked
    assert sm.choose_target(hits, spont, 0, (2, 10), 0.1) == (3, "lowest")
    hits, spont = np.zeros((20, 3), bool), np.zeros((20, 3), bool)
    hits[:1, 1], hits[:3, 2] = True, True  # 0.05 and 0.15, both evoked
    assert sm.choose_target(hits, spont, 0, (2, 10), 0.1) == (2, "evoked, in range")
    assert sm.choose_target(hits, spont, 0, (2, 10), 0.1, selection="lowest") == (1, "lowest")


@pytest.fixture(scope="module")
def out(sm):
    # 100 ms between pulses, 3-pulse probes, 2 cycles of at most 4 pulses, no warm-up or rests: one stream
    # per probe and per cycle (each brian2 run costs about 1 s of set-up).
    return sm.main(seeds=(1,), period=100.0, spont_window=(70.0, 90.0), warmup_s=0.0, probe=3, cycles=2,
                   max_stimuli=4, rest_s=0.0, criterion=(1, 2), chunk=4)


def _responses_from_recording(cycle, window):
    """Whether the target spiked in `window` after each delivered pulse, from the stream's recording."""
    spikes = np.asarray(cycle["target_spikes_ms"])
    lo, hi = window
    return [bool(np.any((spikes >= t + lo) & (spikes < t + hi))) for t in cycle["delivered_onsets_ms"]]


def test_outputs_are_computed(sm, out):
    assert [(r["seed"], r["condition"]) for r in out["runs"]] == [(1, "contingent"), (1, "random"), (1, "frozen")]
    for r in out["runs"]:
        assert len(r["stimuli_to_criterion"]) == len(r["seconds_to_criterion"]) == len(r["cycles"]) == 2
        assert 0 <= r["R_pre"] <= 1 and 0 <= r["R_post"] <= 1 and 0 <= r["R_cycles_spont"] <= 1
        assert len(r["pre_ratio"]) == len(r["post_ratio"]) == 16
        assert r["target"] != out["settings"]["stim_channel"]
    assert set(out["summary"]) == {"contingent", "random", "frozen"}
    # the same culture and selection probe in every condition: the same target
    assert len({r["target"] for r in out["runs"]}) == 1
    frozen = next(r for r in out["runs"] if r["condition"] == "frozen")
    assert frozen["weights_before"] == frozen["weights_after"]  # plasticity off: weights do not move
    report = sm.report(out)
    assert "contingent" in report and "stimuli to criterion" in report


def test_withdrawal_happens_exactly_at_the_criterion(out):
    s = out["settings"]
    criterion, window, period = tuple(s["criterion"]), tuple(s["window"]), s["period"]
    for r in out["runs"]:
        for cycle in r["cycles"]:
            onsets = cycle["delivered_onsets_ms"]
            # one pulse per period, and the controller saw exactly the pulses the stream delivered
            assert onsets == cycle["pulse_times_ms"]
            assert np.allclose(np.diff(onsets), period)
            recorded = _responses_from_recording(cycle, window)
            assert recorded == cycle["responses"]
            first = next((j for j in range(1, len(recorded) + 1)
                          if sum(recorded[:j][-criterion[1]:]) >= criterion[0]), None)
            if r["condition"] in ("contingent", "frozen"):
                # withdrawn right after the first stimulus whose response met the criterion, or at the cap
                assert len(onsets) == (first if first is not None else s["max_stimuli"])
                assert cycle["stimuli_to_criterion"] == first
            else:
                assert cycle["stimuli_to_criterion"] == first  # not contingent: only measured
            assert cycle["withdrawn_at_ms"] == onsets[-1] + period
    contingent = next(r for r in out["runs"] if r["condition"] == "contingent")
    random = next(r for r in out["runs"] if r["condition"] == "random")
    # random withdrawal: the contingent run's stimuli per cycle, reordered (same total)
    assert sorted(random["stimuli_per_cycle"]) == sorted(contingent["stimuli_per_cycle"])


def test_pulses_continue_exactly_across_stream_chunks(sm):
    """A decision made after a stream's last window is delivered at the first row of the next stream."""
    s = sm._settings(period=100.0, spont_window=(70.0, 90.0), chunk=2)
    env = sm.new_culture(s, 1)
    target = 0
    controller, spikes, onsets, idle = sm.stimulate(env, s, target, lambda r: False, 5)  # streams of 2, 2, 1
    assert list(onsets) == [0.0, 100.0, 200.0, 300.0, 400.0] == controller.pulse_times
    assert idle == 0.0 and env.t == 500.0
    cycle = {"target_spikes_ms": spikes, "delivered_onsets_ms": onsets}
    assert _responses_from_recording(cycle, s["window"]) == controller.responses
