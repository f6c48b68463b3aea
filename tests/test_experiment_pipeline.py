"""livn.experiment.pipeline: user steps in or out of their own process, failures, deadlines, policies."""

import os

import numpy as np
import pytest

from livn.errors import InvalidArgumentError
from livn.experiment.pipeline import (
    Pipeline,
    PipelineStopped,
    StepError,
    StepRunner,
    StepSpec,
    step_source,
)

FLAKY = "experiment_steps_sample:Flaky"
SEEN = "experiment_steps_sample:Seen"
CONTEXT = {"n_channels": 4}
COUNTS = np.array([0, 2, 1, 5])


def trial(action="ok"):
    return {"channel_counts": COUNTS, "action": action}


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def child():
    """One Flaky step in its own process, reused across tests (each test leaves it answering again)."""
    runner = StepRunner(
        StepSpec("flaky", FLAKY, {"factor": 3.0}, process=True, deadline_ms=1000, where="pipeline[0]"), CONTEXT
    )
    runner.start()
    yield runner
    runner.stop()


def test_a_step_gives_the_same_updates_in_process_and_in_its_own_process(child):
    here = StepRunner(StepSpec("flaky", FLAKY, {"factor": 3.0}), CONTEXT)
    here.start()
    a, b = here.call(trial()), child.call(trial())
    assert a.ok and b.ok
    np.testing.assert_array_equal(a.updates["stimulus"], b.updates["stimulus"])
    np.testing.assert_array_equal(b.updates["stimulus"][0], 3.0 * COUNTS)  # options reach the constructor
    assert b.updates["n_channels"] == 4  # context reaches setup
    assert a.updates["pid"] == os.getpid() != b.updates["pid"] == child.pid


def test_a_step_that_raises_is_recorded_with_its_traceback_and_keeps_its_process(child):
    pid = child.pid
    for runner in (StepRunner(StepSpec("flaky", FLAKY), CONTEXT), child):
        outcome = runner.call(trial("raise"))
        assert (outcome.ok, outcome.failure, outcome.error_type) == (False, "raised", "ValueError")
        assert 'raise ValueError("the window looks wrong")  # the raising line' in outcome.traceback
        assert "the window looks wrong" in outcome.message
    assert child.pid == pid and child.call(trial()).ok


def test_a_child_past_its_deadline_is_killed_with_its_stack_recorded_and_restarted(child):
    pid, restarts = child.pid, child.restarts
    outcome = child.call(trial("sleep"))
    assert (outcome.ok, outcome.failure) == (False, "deadline")
    assert 1000 <= outcome.wall_ms < 5000
    assert "experiment_steps_sample.py" in outcome.traceback and "process" in outcome.traceback
    assert gone(pid)
    again = child.call(trial())
    assert again.ok and again.updates["pid"] == child.pid != pid
    assert child.restarts == restarts + 1


@pytest.mark.parametrize("action, code", [("exit", 3), ("sigkill", -9)])
def test_a_child_that_dies_is_recorded_with_its_exit_code_and_restarted(child, action, code):
    pid = child.pid
    outcome = child.call(trial(action))
    assert (outcome.ok, outcome.failure, outcome.exitcode) == (False, "died", code)
    assert ("SIGKILL" if code < 0 else "code 3") in outcome.message
    assert gone(pid)
    assert child.call(trial()).ok


def test_unpicklable_data_to_or_from_a_child_is_reported_by_key(child):
    out = child.call(trial("unpicklable"))
    assert (out.ok, out.failure) == (False, "raised")
    assert "'lock'" in out.message and "'fine'" not in out.message
    data = trial() | {"callback": lambda: None}
    into = child.call(data)
    assert (into.ok, into.failure) == (False, "raised")
    assert "input cannot be pickled" in into.message and "'callback'" in into.message
    assert child.call(trial()).ok


def test_an_in_process_step_past_its_deadline_runs_to_its_end_and_its_updates_are_discarded():
    runner = StepRunner(StepSpec("late", FLAKY, deadline_ms=10), CONTEXT)
    runner.start()
    outcome = runner.call(trial("late"))
    assert (outcome.ok, outcome.failure, outcome.updates) == (False, "deadline", None)
    assert outcome.wall_ms >= 50 and "in-process" in outcome.message
    assert runner.call(trial()).ok


def pipeline_of(policy, fallback=None):
    first = StepSpec("first", FLAKY, policy=policy, fallback=fallback)
    return Pipeline([first, StepSpec("seen", SEEN)], CONTEXT)


def test_policy_stop_raises_after_recording_what_the_trial_had():
    with pipeline_of("stop") as pipeline:
        with pytest.raises(PipelineStopped, match=r"step 'first' failed \(raised\).*policy is 'stop'") as caught:
            pipeline.run(trial("raise"))
    assert caught.value.outcome.error_type == "ValueError"
    assert caught.value.result.data["action"] == "raise"  # what was acquired is kept
    assert [o.step for o in caught.value.result.outcomes] == ["first"]


def test_policy_skip_trial_runs_no_later_step():
    with pipeline_of("skip_trial") as pipeline:
        result = pipeline.run(trial("raise"))
        assert result.skip_trial and "seen" not in result.data
        assert [o.failure for o in result.failures] == ["raised"]
        assert not pipeline.run(trial()).skip_trial


def test_policy_fallback_continues_with_the_declared_stimulus_and_teardown_runs_in_the_child(tmp_path):
    fallback = {"stimulus": np.full((5, 4), 0.5)}
    path = tmp_path / "teardown.txt"
    first = StepSpec("first", FLAKY, {"teardown_path": str(path)}, process=True, policy="fallback", fallback=fallback)
    with Pipeline([first, StepSpec("seen", SEEN)], CONTEXT) as pipeline:
        result = pipeline.run(trial("exit"))
        assert result.fallbacks == ["first"] and not result.skip_trial
        assert result.failures[0].failure == "died" and result.failures[0].record()["exitcode"] == 3
        np.testing.assert_array_equal(result.data["seen"], fallback["stimulus"])
        result = pipeline.run(trial())  # the restarted child answers
        assert result.fallbacks == [] and result.data["seen"].shape == (5, 4)
    assert path.read_text() == "torn down"


def test_a_step_that_fails_to_set_up_in_its_own_process_stops_the_start_with_its_traceback():
    spec = StepSpec("broken", "experiment_steps_sample:BrokenSetup", process=True, where="pipeline[2]")
    expected = r"pipeline\[2\]: step 'broken' could not start.*no amplifier attached"
    with pytest.raises(StepError, match=expected) as caught:
        Pipeline([spec]).start()
    assert caught.value.outcome.stage == "setup" and "raise RuntimeError" in caught.value.outcome.traceback


def test_unknown_options_stop_the_start():
    with pytest.raises(StepError, match=r"step 'flaky' could not start: TypeError.*gain"):
        StepRunner(StepSpec("flaky", FLAKY, {"gain": 2}), CONTEXT).start()


@pytest.mark.parametrize(
    "target, expected",
    [
        ("no_such_module:Step", r"pipeline\[1\]\.step: cannot import 'no_such_module'.*ModuleNotFoundError"),
        ("experiment_steps_sample:Missing", r"pipeline\[1\]\.step: module 'experiment_steps_sample' has no 'Missing'"),
        ("experiment_steps_sample:NotAStep", r"pipeline\[1\]\.step: .*not a subclass of livn\.experiment\.pipeline"),
        ("experiment_steps_sample.Flaky", r"pipeline\[1\]\.step: .*'package\.module:ClassName'"),
    ],
)
def test_a_step_class_that_cannot_be_used_is_refused_before_the_run_naming_where(target, expected):
    entry = {"name": "decide", "step": target, "process": True}
    with pytest.raises(InvalidArgumentError, match=expected):
        Pipeline([StepSpec.from_dict(entry, "pipeline[1]")])


def test_a_step_in_a_file_next_to_the_experiment_is_loaded_and_its_source_recorded(tmp_path):
    source = (
        "from livn.experiment.pipeline import Step\n\n"
        "class Constant(Step):\n    def process(self, data, context):\n        return {'parameters': {'gain': 2}}\n"
    )
    (tmp_path / "my_steps.py").write_text(source)
    pipeline = Pipeline([StepSpec("constant", f"{tmp_path / 'my_steps.py'}:Constant")])
    assert pipeline.sources() == {"constant": source}
    with pipeline:
        assert pipeline.run({}).data == {"parameters": {"gain": 2}}
    (tmp_path / "broken.py").write_text("def oops(:\n")
    with pytest.raises(InvalidArgumentError, match=r"pipeline\[0\]\.step: cannot import .*broken\.py.*SyntaxError"):
        Pipeline([StepSpec.from_dict({"name": "b", "step": f"{tmp_path / 'broken.py'}:B"}, "pipeline[0]")])


def test_step_source_is_the_module_text():
    from experiment_steps_sample import Flaky

    assert "class Flaky(Step):" in step_source(Flaky)


@pytest.mark.parametrize(
    "entry, expected",
    [
        ({"name": "x", "step": FLAKY, "policy": "retry"}, r"\[0\]\.policy: got 'retry'; expected one of stop, skip_trial"),
        ({"name": "x", "step": FLAKY, "policy": "fallback"}, r"pipeline\[0\]\.fallback: .*policy 'fallback' needs"),
        ({"name": "x", "step": FLAKY, "fallback": {"stimulus": 0}}, r"\[0\]\.fallback: given, but policy is 'stop'"),
        ({"name": "x", "step": FLAKY, "deadline_ms": -5}, r"pipeline\[0\]\.deadline_ms: got -5"),
        ({"name": "x", "step": FLAKY, "timeout": 5}, r"pipeline\[0\]: unknown key\(s\) timeout"),
        ({"step": FLAKY}, r"pipeline\[0\]\.name: missing"),
    ],
)
def test_bad_step_entries_are_refused_naming_the_key(entry, expected):
    with pytest.raises(InvalidArgumentError, match=expected):
        StepSpec.from_dict(entry, "pipeline[0]")


def test_duplicate_names_and_unpicklable_context_are_refused_before_the_run():
    with pytest.raises(InvalidArgumentError, match=r"pipeline\[1\]\.name: 'a' is also the name of pipeline\[0\]"):
        Pipeline([StepSpec("a", FLAKY, where="pipeline[0]"), StepSpec("a", SEEN, where="pipeline[1]")])
    with pytest.raises(InvalidArgumentError, match=r"its context cannot be pickled: 'clock'"):
        Pipeline([StepSpec("a", FLAKY, process=True)], {"clock": lambda: 0})
