"""The shipped experiments (examples/experiments/) load, run shortened on S1 and do what they are for."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from livn.experiment.analysis import burst_rate, population_rate, pulses_delivered, recruitment
from livn.experiment.audit import read_audit
from livn.experiment.runner import run_experiment
from livn.experiment.spec import load_experiment

EXAMPLES = Path(__file__).parents[1] / "examples" / "experiments"
SHIPPED = sorted(EXAMPLES.glob("*.yml"))


def shortened(name, duration_ms=None, trials=None, **options):
    """A shipped experiment on S1, with shorter trials and step options changed."""
    config = yaml.safe_load((EXAMPLES / name).read_text())
    config["system"] = "S1"
    if trials is not None:
        config["protocol"]["trials"] = trials
    if duration_ms is not None:
        config["protocol"]["windows"]["post_ms"] = duration_ms
    if options:
        config["pipeline"][0]["options"].update(options)
    return config


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_experiment_loads(path):
    spec = load_experiment(path)
    assert spec.name == path.stem


class FakeAudit:
    """Just what `recruitment` reads of an audit trail: config, completed_trials, trial(i)."""

    def __init__(self, trials, windows):
        self.config = {"protocol": {"windows": windows}}
        self._trials = trials

    @property
    def completed_trials(self):
        return len(self._trials)

    def trial(self, index):
        return self._trials[index]


def fake_trial(amplitude, response, baseline, complete=True):
    return {"complete": complete, "parameters": {"amplitude_uA": amplitude},
            "results": {"response_spikes": {str(c): v for c, v in response.items()},  # JSON keys are strings
                        "baseline_spikes": {str(c): v for c, v in baseline.items()}}}


def test_recruitment_known_answer():
    # response window 20 ms, baseline 10 ms: baseline counts scale by 2.
    windows = {"pre_ms": 10, "stimulus_ms": 5, "post_ms": 15, "iti_ms": 0}
    trials = [
        fake_trial(1, {5: 0, 7: 0}, {5: 0, 7: 1}), fake_trial(1, {5: 2, 7: 1}, {5: 1, 7: 1}),
        fake_trial(2, {5: 2, 7: 2}, {5: 1, 7: 1}), fake_trial(2, {5: 4, 7: 2}, {5: 0, 7: 1}),
        fake_trial(4, {5: 6, 7: 2}, {5: 0, 7: 1}), fake_trial(4, {5: 8, 7: 2}, {5: 0, 7: 1}),
        fake_trial(8, {5: 99, 7: 99}, {5: 99, 7: 99}, complete=False),  # ignored
    ]
    r = recruitment(FakeAudit(trials, windows))
    assert r["amplitudes"] == [1, 2, 4] and r["trials"] == {1: 2, 2: 2, 4: 2}
    assert r["curves"][5] == [1.0, 3.0, 7.0] and r["curves"][7] == [0.5, 2.0, 2.0]
    # channel 5 baseline x2: [0, 2, 2, 0, 0, 0] -> mean 2/3, SE = std(ddof 1)/sqrt(6)
    mean, se = r["baseline"][5]
    base = np.array([0, 2, 2, 0, 0, 0.0])
    assert mean == pytest.approx(2 / 3) and se == pytest.approx(base.std(ddof=1) / np.sqrt(6))
    assert mean + 2 * se == pytest.approx(2 / 3 + 2 * np.sqrt(48 / 45 / 6))  # 1.51: 1.0 at 1 uA below, 3.0 at 2 uA above
    assert r["thresholds"][5] == 2
    # channel 7 baseline x2: always 2 (SE 0): no mean response exceeds 2
    assert r["baseline"][7] == (2.0, 0.0) and r["thresholds"][7] is None


def test_recruitment_needs_a_baseline_window():
    with pytest.raises(Exception, match="baseline"):
        recruitment(FakeAudit([fake_trial(1, {5: 1}, {5: 0})], {"pre_ms": 0, "stimulus_ms": 10, "post_ms": 10}))


def test_stimulus_response_gives_a_recruitment_curve(s1_dir, tmp_path):
    config = shortened("stimulus_response.yml", trials=10)
    config["protocol"]["windows"] = {"pre_ms": 10, "stimulus_ms": 10, "post_ms": 30, "iti_ms": 50}
    r = recruitment(read_audit(run_experiment(config, tmp_path / "sr.h5", progress=False)))
    assert r["amplitudes"] == [0.5, 1, 2, 4, 8] and set(r["trials"].values()) == {2}
    curve = r["curves"][config["protocol"]["parameters"]["channel"]]
    assert curve[-1] > curve[0], curve  # the strongest amplitude recruits more than the weakest
    assert r["thresholds"][5] is not None


def test_activity_clamp_moves_the_rate_to_the_setpoint(s1_dir, tmp_path):
    on = shortened("activity_clamp.yml", duration_ms=1000, trials=1)
    off = shortened("activity_clamp.yml", duration_ms=1000, trials=1, enabled=False)
    setpoint = on["pipeline"][0]["options"]["setpoint_hz"]
    audit_on = read_audit(run_experiment(on, tmp_path / "on.h5", progress=False))
    audit_off = read_audit(run_experiment(off, tmp_path / "off.h5", progress=False))
    res_on, res_off = audit_on.trial(0)["results"], audit_off.trial(0)["results"]
    assert res_off["clamp_mean_uA"] == 0 and not audit_off.trial(0)["stimuli"]  # no control: no stimulation
    assert abs(res_on["clamp_rate_hz"] - setpoint) < abs(res_off["clamp_rate_hz"] - setpoint) / 2, (res_on, res_off)
    assert res_on["clamp_error_pct"] == pytest.approx(100 * abs(res_on["clamp_rate_hz"] - setpoint) / setpoint)
    # the step's own measurement agrees with the recorded spikes
    assert res_on["clamp_rate_hz"] == pytest.approx(population_rate(audit_on, num_neurons=11, second_half=True))
    stimulus = audit_on.trial(0)["stimuli"][0]["inputs_uA"]
    assert np.all(stimulus[:, [0, 1, 2, 3]] == 0) and stimulus[:, 5].max() <= on["pipeline"][0]["options"]["max_uA"]


def test_burst_quieting_closed_and_open_loop_record_their_pulses(s1_dir, tmp_path):
    closed = read_audit(run_experiment(shortened("burst_quieting.yml", duration_ms=500), tmp_path / "c.h5",
                                       progress=False))
    results = closed.trial(0)["results"]
    delivered = pulses_delivered(closed)
    # every scheduled pulse is delivered, but for those decided in the last period (past the trial's end)
    assert 0 < delivered <= results["stimuli"] <= delivered + 20
    assert results["stimulus_rate_hz"] >= 50  # at least the base rate
    inputs = closed.trial(0)["stimuli"][0]["inputs_uA"]
    assert set(np.flatnonzero(inputs.max(axis=0))) <= {0, 3, 5, 6, 9, 10, 12, 15}
    assert np.all(np.isin(inputs, [0, 4]))
    assert burst_rate(closed, num_neurons=11) >= 0

    config = shortened("burst_quieting_open_loop.yml", duration_ms=500, open_loop_stimuli=delivered,
                       open_loop_duration_ms=500)
    opened = read_audit(run_experiment(config, tmp_path / "o.h5", progress=False))
    again = read_audit(run_experiment(config, tmp_path / "o2.h5", progress=False))
    # the schedule is seeded; pulses falling in the first period or after the end are not delivered
    assert delivered - 10 <= pulses_delivered(opened) <= delivered
    assert np.array_equal(opened.trial(0)["stimuli"][0]["inputs_uA"], again.trial(0)["stimuli"][0]["inputs_uA"])
