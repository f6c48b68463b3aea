"""`livn systems tune` under `mpirun -n 2` on S1: improvement, the Pareto front, promotion."""

import json

import pytest

from _mpirun import livn
from livn.errors import InvalidArgumentError, UnknownNameError
from livn.systems.tune import DEFAULT_TARGETS, TuningPlan, distances, load_targets

BUDGET, POPULATION, DURATION = 24, 6, 3000


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    from livn.systems import config_path

    root = tmp_path_factory.mktemp("tune")
    system = root / "S1"
    assert livn("systems", "generate", "--config", config_path("S1"), "--out", system).returncode == 0
    result = livn(
        "systems", "tune", "--system", system, "--budget", BUDGET, "--population", POPULATION,
        "--duration", DURATION, "--out", root / "front", ranks=2,
    )
    assert result.returncode == 0, result.stderr
    return system, root / "front", result.stdout


def test_tuning_improves_on_its_first_evaluations(tuned):
    _, front, stdout = tuned
    report = json.loads((front / "pareto.json").read_text())
    trials = report["trials"]
    assert len(trials) == BUDGET and [t["number"] for t in trials] == list(range(BUDGET))
    assert report["plan"]["ranks"] == 2
    totals = [sum(t["objectives"]) for t in trials]
    chosen = report["chosen"]
    assert chosen in report["pareto"]
    assert totals[chosen] < min(totals[:POPULATION]), "the search found nothing better than its first population"
    assert totals[chosen] == min(totals)
    # the first evaluation is where the system started: the model's defaults
    assert trials[0]["params"]["w_EXC_EXC"] == 8.0 and trials[0]["params"]["noise_std"] == 0.15
    for number in report["pareto"]:  # nothing on the front is dominated
        mine = trials[number]["objectives"]
        assert not any(all(a <= b for a, b in zip(t["objectives"], mine)) and t["objectives"] != mine for t in trials)
    assert "promoted to" in stdout and "chosen" in stdout
    assert (front / "pareto.png").read_bytes().startswith(b"\x89PNG")


def test_the_chosen_point_is_what_apply_model_defaults_uses(tuned):
    from livn.analysis import summarize
    from livn.env import Env
    from livn.system import System

    system_dir, front, _ = tuned
    report = json.loads((front / "pareto.json").read_text())
    chosen = report["trials"][report["chosen"]]
    system = System(system_dir)  # checksums (now including tuned.json) still verify
    assert "tuned.json" in system.metadata["checksums"]
    parameters = system.tuned_parameters
    assert parameters["noise"]["std"] == pytest.approx(chosen["params"]["noise_std"])
    env = Env(system, backend="diffrax").init().apply_model_defaults().record_spikes()
    assert env.noise[1] == pytest.approx(chosen["params"]["noise_std"])
    it, t, _, _ = env.run(DURATION)
    summary = summarize(it, t, system.num_neurons, DURATION)
    assert {k: getattr(summary, k) for k in DEFAULT_TARGETS} == pytest.approx(chosen["statistics"], nan_ok=True)
    untuned = Env(system, backend="diffrax").init().apply_model_defaults(tuned=False)
    assert untuned.noise[1] == 0.15


def test_targets_and_distances():
    assert load_targets({"mean_rate": 5}) == {**DEFAULT_TARGETS, "mean_rate": 5.0}
    assert distances(dict(DEFAULT_TARGETS), DEFAULT_TARGETS) == [0.0, 0.0, 0.0, 0.0]
    silent = {"mean_rate": 0.0, "isi_cv": float("nan"), "active_fraction": 0.0, "burst_rate": 0.0}
    assert all(d > 0 for d in distances(silent, DEFAULT_TARGETS))
    with pytest.raises(UnknownNameError, match="known targets"):
        load_targets({"mean_rates": 2})
    with pytest.raises(InvalidArgumentError, match="budget"):
        TuningPlan.create(budget=-3)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--system", "S9"], "S1, S2, S3, S4"),
        (["--system", "S1", "--budget", "-1"], "budget must be an integer >= 2"),
        (["--system", "S1", "--targets", "TARGETS"], "unknown target 'burst_frequency'"),
        (["--system", "S1", "--duration", "0"], "duration must be a positive"),
    ],
)
def test_bad_arguments_fail_before_any_work(args, message, tmp_path):
    targets = tmp_path / "targets.yml"
    targets.write_text("mean_rate: 3\nburst_frequency: 4\n")
    args = [str(targets) if a == "TARGETS" else a for a in args]
    result = livn("systems", "tune", *args, "--out", tmp_path / "front", ranks=2, timeout=120)
    assert result.returncode != 0
    assert result.stderr.count("Error:") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "front").exists()
