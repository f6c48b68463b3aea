"""Experiments end to end: YAML -> trials on a rig -> audit trail; kill -9 and resume; policies; a replay rig."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from livn.experiment.audit import read_audit
from livn.experiment.rig import ReplayRig
from livn.experiment.runner import resume_experiment, run_experiment
from livn.experiment.spec import ExperimentError, load_experiment

EXAMPLES = Path(__file__).parents[1] / "examples" / "experiments"
TESTS = str(Path(__file__).parent)


def small(trials=5, **protocol):
    """examples/experiments/stimulus_response.yml on S1, shortened."""
    config = yaml.safe_load((EXAMPLES / "stimulus_response.yml").read_text())
    config["system"] = "S1"
    config["protocol"]["trials"] = trials
    config["protocol"]["windows"] = {"pre_ms": 10, "stimulus_ms": 10, "post_ms": 30, "iti_ms": 50}
    config["protocol"].update(protocol)
    return config


def trial_data(audit, index):
    trial = audit.trial(index)
    return trial["parameters"], trial["spikes"], [s["inputs_uA"] for s in trial["stimuli"]]


def test_a_protocol_runs_into_its_audit_trail(s1_dir, tmp_path):
    out = run_experiment(small(5), tmp_path / "run.h5", progress=False)
    audit = read_audit(out)
    assert audit.status == "complete" and audit.completed_trials == 5
    assert sorted(audit.trial(i)["parameters"]["amplitude_uA"] for i in range(5)) == [0.5, 1, 2, 4, 8]  # one pass
    assert audit.provenance["simulators"].keys() == {"brian2"}
    for index in range(5):
        trial = audit.trial(index)
        assert trial["complete"] and trial["start_ms"] == pytest.approx(100 * index)
        (stimulus,) = trial["stimuli"]
        pulse = np.flatnonzero(stimulus["inputs_uA"][:, 5])
        assert pulse.tolist() == [10, 11]  # width 2 ms at the stimulus window (pre = 10 ms)
        assert np.all(stimulus["inputs_uA"][10:12, 5] == trial["parameters"]["amplitude_uA"])
        assert [e["name"] for e in trial["events"]][:2] == ["trial_start", "stimulus_delivered"]
        when = {e["name"]: e["time_ms"] for e in trial["events"]}  # each event at the time it happened
        assert when["trial_start"] == pytest.approx(trial["start_ms"])
        assert when["stimulus_delivered"] == pytest.approx(trial["start_ms"] + 10)
        assert when["trial_end"] == pytest.approx(trial["start_ms"] + 100)
        assert len(trial["latency_ms"]) == 10  # 100 ms trials, 10 ms period
        assert set(trial["results"]) >= {"baseline_spikes", "response_spikes", "responded", "selectors"}
        gids, times = trial["spikes"]
        assert np.all((times >= 100 * index) & (times < 100 * (index + 1)))
    strong = [audit.trial(i) for i in range(5) if audit.trial(i)["parameters"]["amplitude_uA"] == 8][0]
    assert strong["results"]["responded"]
    assert not list(tmp_path.glob("run.h5.state-*"))  # checkpoints are removed once the run is complete


def test_kill_9_then_resume_gives_the_uninterrupted_run(s1_dir, tmp_path):
    config = small(8)
    (tmp_path / "experiment.yml").write_text(yaml.safe_dump(config))
    reference = read_audit(run_experiment(config, tmp_path / "reference.h5", progress=False))

    out = tmp_path / "killed.h5"
    command = [sys.executable, "-m", "livn.cli", "experiment", "run", str(tmp_path / "experiment.yml"),
               "--out", str(out)]
    worker = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": TESTS}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and worker.poll() is None:
        if out.exists() and read_audit(out).completed_trials >= 3:
            break
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    interrupted = read_audit(out)
    assert 3 <= interrupted.completed_trials < 8, "the kill came too late to test resuming"

    resume_experiment(out, progress=False)
    resumed = read_audit(out)
    assert resumed.status == "complete" and resumed.completed_trials == 8
    for index in range(8):
        got, want = trial_data(resumed, index), trial_data(reference, index)
        assert got[0] == want[0]
        np.testing.assert_array_equal(got[1][0], want[1][0])
        np.testing.assert_array_equal(got[1][1], want[1][1])
        assert all(np.array_equal(a, b) for a, b in zip(got[2], want[2]))


def test_steps_change_parameters_and_failures_follow_their_policy(s1_dir, tmp_path):
    config = small(3)
    config["pipeline"] = [
        {"name": "quieter", "step": "experiment_steps_runner:Quieter", "options": {"limit": 0}},
        {"name": "decoder", "step": "experiment_steps_runner:FailsInTrial", "policy": "skip_trial"},
    ]
    audit = read_audit(run_experiment(config, tmp_path / "run.h5", progress=False))
    assert audit.completed_trials == 3 and audit.status == "complete"
    skipped = audit.trial(1)
    assert not skipped["complete"] and skipped["duration_ms"] == pytest.approx(30)  # stopped after 3 windows
    (error,) = skipped["errors"]
    assert error["step"] == "decoder" and error["policy"] == "skip_trial"
    assert "the decoder lost its channel map" in error["traceback"]
    assert audit.trial(0)["results"]["windows_seen"] == 10
    changes = [c for i in range(3) for c in audit.trial(i)["changes"]]
    if changes:  # the culture spiked in some window: the width changes from the next trial on
        assert changes[0]["name"] == "width_ms" and changes[0]["new"] == 1 and changes[0]["who"] == "pipeline"

    config["pipeline"][1]["policy"] = "stop"
    stopped = read_audit(run_experiment(config, tmp_path / "stopped.h5", progress=False))
    assert stopped.status == "stopped" and stopped.completed_trials == 2


def test_sinks_see_every_window_and_an_mea_file_replaces_the_systems(s1_dir, tmp_path):
    import csv

    from livn.io import MEA

    mea = MEA.grid(40, 40, rows=2, columns=8)
    (tmp_path / "mea.json").write_text(json.dumps(mea.to_dict()))
    config = small(2)
    config["mea"] = str(tmp_path / "mea.json")
    config["sinks"] = [{"name": "counts", "step": "livn.experiment.steps:ChannelCountsCSV",
                        "options": {"path": str(tmp_path / "counts.csv")}}]
    audit = read_audit(run_experiment(config, tmp_path / "run.h5", progress=False))
    rows = list(csv.DictReader(open(tmp_path / "counts.csv")))
    assert len(rows) == 20 and [float(r["start_ms"]) for r in rows[:3]] == [0, 10, 20]
    assert "counts" in audit.step_sources
    from livn.experiment.runner import ExperimentRun

    culture = ExperimentRun._culture(load_experiment(config), None)  # how the runner builds the culture
    assert culture.io.to_dict() == mea.to_dict()
    total = sum(int(v) for r in rows for k, v in r.items() if k.startswith("channel_"))
    assert total == sum(len(audit.trial(i)["channel_spikes"][1][c]) for i in range(2) for c in range(16))


def test_a_stimulus_that_cannot_be_delivered_stops_the_run_keeping_what_was_recorded(s1_dir, tmp_path):
    config = small(3)
    config["pipeline"] = [{"name": "bad", "step": "experiment_steps_runner:BadStimulus"}]
    audit = read_audit(run_experiment(config, tmp_path / "run.h5", progress=False))
    assert audit.status == "stopped" and audit.completed_trials == 2
    assert audit.trial(0)["complete"] and not audit.trial(1)["complete"]
    (error,) = audit.errors
    assert "NaN" in error["type"] + error["message"] + error["traceback"] and error["trial"] == 1


def test_the_same_experiment_runs_unchanged_on_a_replay_rig(s1_dir, tmp_path):
    from livn.env import Env

    env = Env(s1_dir).init().apply_model_defaults().record_spikes()
    recording = env.run(500, env.cell_stimulus(np.tile(np.eye(16)[5] * 3.0, (500, 1))))
    rig = ReplayRig.from_result(env, recording, 500)
    audit = read_audit(run_experiment(small(5), tmp_path / "replay.h5", progress=False, rig=rig))
    assert audit.completed_trials == 5 and audit.provenance["simulators"] == {}
    assert [t for t, _ in rig.stimuli] == [100.0 * i + 10 for i in range(5)]
    replayed = np.concatenate([audit.trial(i)["spikes"][1] for i in range(5)])
    _, ct = env.channel_recording(recording.it, recording.t)
    np.testing.assert_allclose(replayed, np.sort(np.concatenate(list(ct.values()))), atol=1e-6)  # channel spikes


def test_an_experiment_file_is_checked_completely_before_anything_runs(tmp_path):
    bad = small(0)
    bad["speed"] = "fast"
    bad["period_ms"] = 2.5
    bad["protocol"]["roving"]["amplitude_uA"]["values"] = []
    bad["protocol"]["parameters"]["width_ms"] = 20  # longer than the 10 ms stimulus window
    bad["pipeline"] = [{"name": "x", "step": "no_such_module:Step"}]
    with pytest.raises(ExperimentError) as caught:
        load_experiment(bad)
    paths = [path for path, _ in caught.value.problems]
    assert paths == ["speed", "period_ms", "protocol.trials", "protocol.roving.amplitude_uA.values",
                     "protocol.parameters.width_ms", "pipeline[0].step"]
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\nprotocol: {trials: [1\n")
    with pytest.raises(ExperimentError, match="malformed YAML"):
        load_experiment(broken)
    assert not list(tmp_path.glob("*.h5"))


def test_cli_runs_shows_and_resumes(s1_dir, tmp_path):
    from click.testing import CliRunner

    from livn.cli import main

    (tmp_path / "e.yml").write_text(yaml.safe_dump(small(2)))
    runner = CliRunner()
    done = runner.invoke(main, ["experiment", "run", str(tmp_path / "e.yml"), "--out", str(tmp_path / "r.h5")])
    assert done.exit_code == 0, done.output
    shown = runner.invoke(main, ["experiment", "show", str(tmp_path / "r.h5"), "--plot", str(tmp_path / "r.png")])
    assert shown.exit_code == 0, shown.output
    assert "2 of 2 trials" in shown.output and (tmp_path / "r.png").stat().st_size > 10_000
    again = runner.invoke(main, ["experiment", "resume", str(tmp_path / "r.h5")])
    assert again.exit_code != 0 and "finished" in again.output
