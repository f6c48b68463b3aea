"""`livn systems tune` survives kill -9: the study on disk, --resume, settings checks, --noise-seeds.

What the kill test compares: a run killed part-way and resumed with `--resume` against the same
plan run uninterrupted in this process. NSGA-II is reseeded from (seed, evaluations finished) before
each ask, so the resumed run must ask for the same parameters in the same order: its completed
trials (parameters, statistics, objectives, in order) and its reported Pareto front and chosen point
must equal the uninterrupted run's, the trials completed before the kill must be unchanged, and the
front must be the non-dominated set of its completed trials (computed here independently).
"""

import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from _mpirun import command, environment, livn
from livn.backends import MissingCapabilityError
from livn.errors import InvalidArgumentError
from livn.systems.tune import Evaluator, TuningPlan, distances, tune
from livn.systems.tune_study import STUDY_FILE, close_study, open_study

BUDGET, POPULATION, DURATION = 8, 2, 200
CLI_PLAN = ["--system", "S1", "--budget", BUDGET, "--population", POPULATION, "--duration", DURATION, "--no-promote"]


def nondominated(trials):
    """Numbers of the trials no other trial dominates (all objectives <=, one <)."""
    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b)) and a != b

    return sorted(t["number"] for t in trials if not any(dominates(o["objectives"], t["objectives"]) for o in trials))


def stored(path):
    """(number, state) of every trial in a study file, read with sqlite3 alone."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        return db.execute("SELECT number, state FROM trials ORDER BY number").fetchall()


def completed(path):
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    (summary,) = storage.get_all_studies()
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    return {t.number: (t.params, t.values) for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    plan = TuningPlan.create(budget=BUDGET, population=POPULATION, duration=DURATION)
    return tune("S1", plan, out=out, promote=False, progress=False)


def test_kill_9_then_resume_gives_the_uninterrupted_search(uninterrupted, tmp_path):
    out = tmp_path / "front"
    process = subprocess.Popen(command("systems", "tune", *CLI_PLAN, "--out", out), env=environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while True:
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        try:
            states = [state for _, state in stored(out / STUDY_FILE)]
        except sqlite3.Error:  # not created yet
            states = []
        if states.count("COMPLETE") >= 2 and "RUNNING" in states:
            break
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    before = completed(out / STUDY_FILE)
    running = [number for number, state in stored(out / STUDY_FILE) if state == "RUNNING"]
    assert 2 <= len(before) < BUDGET, "the run was not interrupted part-way"
    assert not (out / "pareto.json").exists()

    resumed = livn("systems", "tune", *CLI_PLAN, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"({len(before)} from the stored study)" in resumed.stdout
    assert "livn: tuning" not in resumed.stderr, "a progress bar was drawn on a pipe without --progress"
    states = dict(stored(out / STUDY_FILE))
    assert "RUNNING" not in states.values()
    assert all(states[number] == "FAIL" for number in running), "a trial killed while running was not failed"
    assert list(states.values()).count("COMPLETE") == BUDGET

    report = json.loads((out / "pareto.json").read_text())
    trials = report["trials"]
    after = completed(out / STUDY_FILE)
    assert {n: after[n] for n in before} == before, "a trial completed before the kill changed or went missing"
    # the same evaluations as the uninterrupted run, in the same order (numbers shift by the failed ones)
    strip = lambda ts: [{k: v for k, v in t.items() if k != "number"} for t in ts]  # noqa: E731
    assert strip(trials) == strip(uninterrupted.trials)
    position = {t["number"]: i for i, t in enumerate(trials)}
    reference = {t["number"]: i for i, t in enumerate(uninterrupted.trials)}
    assert sorted(position[n] for n in report["pareto"]) == sorted(reference[n] for n in uninterrupted.pareto)
    assert position[report["chosen"]] == reference[uninterrupted.chosen]
    assert report["pareto"] == nondominated(trials)
    assert report["study"]["stored_before_this_run"] == len(before)


def test_a_study_is_not_reused_by_accident(uninterrupted):
    out = uninterrupted.out
    plan = TuningPlan.create(budget=BUDGET, population=POPULATION, duration=DURATION)
    with pytest.raises(InvalidArgumentError, match="pass --resume"):
        tune("S1", plan, out=out, promote=False)
    other = TuningPlan.create(budget=BUDGET, population=POPULATION, duration=300, seed=4, targets={"isi_cv": 1.0})
    with pytest.raises(InvalidArgumentError, match="differing") as error:
        tune("S1", other, out=out, promote=False, resume=True)
    message = str(error.value)
    for setting in ("duration_ms: stored 200.0, asked 300.0", "seed: stored 0, asked 4", "targets"):
        assert setting in message
    assert "population" not in message and "backend" not in message
    # a larger budget on resume only adds evaluations; the stored ones stay
    more = tune("S1", TuningPlan.create(budget=BUDGET + 1, population=POPULATION, duration=DURATION), out=out,
                promote=False, progress=False, resume=True)
    assert len(more.trials) == BUDGET + 1 and more.stored == BUDGET
    assert more.trials[:BUDGET] == uninterrupted.trials


SETTINGS = {"system": "toy", "targets": {"a": 1.0, "b": 2.0}, "seed": 0}


def test_trials_running_when_killed_are_failed_and_queued_again(tmp_path):
    study, created = open_study(tmp_path, SETTINGS, resume=False, population=2, seed=0)
    assert created
    trial = study.ask()
    x = trial.suggest_float("x", 0.1, 1.0)
    close_study(tmp_path)  # the process "dies" with trial 0 running
    study, created = open_study(tmp_path, SETTINGS, resume=True, population=2, seed=0)
    assert not created
    states = [(t.number, t.state.name) for t in study.trials]
    assert states == [(0, "FAIL"), (1, "WAITING")]
    again = study.ask()
    assert again.number == 1 and again.suggest_float("x", 0.1, 1.0) == x
    with pytest.raises(InvalidArgumentError, match="another process is tuning"):
        open_study(tmp_path, SETTINGS, resume=True, population=2, seed=0)
    close_study(tmp_path)


def test_noise_seeds_average_the_distances_over_noise_keys(s1_dir):
    from livn.system import System

    system = System(s1_dir)
    params = {"w_EXC_EXC": 8.0, "w_INH_EXC": 4.0, "w_EXC_INH": 4.0, "noise_std": 0.3}
    one = Evaluator(system, TuningPlan.create(budget=2, duration=DURATION))(params)
    plan = TuningPlan.create(budget=2, duration=DURATION, noise_seeds=3)
    three = Evaluator(system, plan)(params)
    per_seed = three["statistics_per_seed"]
    assert len(per_seed) == 3 and per_seed[0] == one["statistics"]  # seed 0 is the Env's own stream, as before
    assert per_seed[1] != per_seed[0] and per_seed[2] != per_seed[1], "the noise seeds gave the same run"
    each = [distances(s, plan.targets) for s in per_seed]
    assert three["objectives"] == pytest.approx([sum(c) / 3 for c in zip(*each)], rel=1e-12)
    assert three["statistics"]["mean_rate"] == pytest.approx(sum(s["mean_rate"] for s in per_seed) / 3)
    assert set(one) == {"statistics", "objectives"}


def test_noise_seeds_are_checked():
    with pytest.raises(InvalidArgumentError, match="noise_seeds must be an integer >= 1"):
        TuningPlan.create(budget=4, noise_seeds=0)
    with pytest.raises(MissingCapabilityError, match="noise_keys"):
        TuningPlan.create(budget=4, noise_seeds=2, backend="brian2")


def test_noise_seeds_under_mpirun(tmp_path):
    result = livn("systems", "tune", "--system", "S1", "--budget", 4, "--population", 2, "--duration", DURATION,
                  "--noise-seeds", 2, "--no-promote", "--progress", "--out", tmp_path, ranks=2)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "pareto.json").read_text())
    assert report["plan"]["ranks"] == 2 and report["plan"]["noise_seeds"] == 2
    assert [t["number"] for t in report["trials"]] == [0, 1, 2, 3]
    for trial in report["trials"]:
        each = [distances(s, report["targets"]) for s in trial["statistics_per_seed"]]
        assert len(each) == 2 and trial["objectives"] == pytest.approx([(a + b) / 2 for a, b in zip(*each)], rel=1e-12)
    assert result.stderr.count("livn: tuning S1:   0%|") == 1, result.stderr  # one bar (rank 0's), asked for
    assert "livn: tuning S1: 100%|██████████| 4/4" in result.stderr
