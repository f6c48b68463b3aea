"""The user steps of a closed-loop experiment, run as isolated actors.

Every trial the experiment acquires a window of the culture, passes it through
the user's steps in order (process, decide), then stimulates and writes to its
sinks. A step is a Python class that subclasses `Step`:

```python
import numpy as np
from livn.experiment.pipeline import Step

class QuietBurst(Step):
    # Stimulate one channel for 5 ms while the culture is quiet.

    def __init__(self, channel=3, threshold=10, amplitude=2.0):
        self.channel, self.threshold, self.amplitude = channel, threshold, amplitude  # amplitude in uA

    def setup(self, context):
        self.n_channels = context["n_channels"]

    def process(self, data, context):
        if data["channel_counts"].sum() >= self.threshold:
            return None
        stimulus = np.zeros((5, self.n_channels))
        stimulus[:, self.channel] = self.amplitude
        return {"stimulus": stimulus}
```

The experiment file names the class as `"package.module:ClassName"` (or
`"path/to/file.py:ClassName"`) and gives its `options`, passed to the
constructor as keyword arguments. The interface:

- `__init__(**options)`: the step's parameters, from the experiment file.
- `setup(context)`: once, before the first trial, in the process the step runs
  in. `context` holds what is known before the run (e.g. `n_channels`, `period_ms`).
- `process(data, context) -> dict | None`: once per trial. `data` holds what the
  earlier stages produced (e.g. `window`, `spikes`, `channel_counts`, and the
  updates of earlier steps); treat it as read-only. The dict returned is merged
  into `data` for the later steps (e.g. `{"stimulus": array [rows, n_channels] in uA}`
  or `{"parameters": {...}}`); `None` changes nothing.
- `teardown()`: once, at the end of the run, if `setup` succeeded.

Isolation. A step declared with `process: true` runs in a child process of its
own (started with `spawn`, so nothing but its target, options and context is
shared); what goes to and from it must be picklable (numpy arrays, numbers,
strings, lists, dicts). The child ignores Ctrl-C (the experiment stops it) and
is daemonic, so it cannot start processes of its own with `multiprocessing`.

Failures. A step that raises, misses its deadline or whose process dies gives a
`StepOutcome` recording what happened: the kind of failure, the exception type,
the traceback (for a hung child, the stack it was stuck in) and the exit code.
The pipeline records every outcome and applies the policy the step declares:
`stop` (raise `PipelineStopped` after recording, so the experiment can stop
cleanly), `skip_trial` (no later step runs and nothing is stimulated this
trial), or `fallback` (merge the step's declared `fallback`, e.g. a stimulus,
into the data and go on).

Deadlines (`deadline_ms`, wall-clock time of one `process` call). A step in its
own process is stopped when the deadline passes: its stack is dumped, the child
is killed, and a fresh child is started at once in the background (import,
construct, `setup`); the next call waits for it to be ready, and the deadline
clock of a call starts only once the data is sent. A step running in the
experiment's process cannot be interrupted safely (a Python thread cannot be
killed, and an exception injected into it could land in any library call and
leave the step half-updated), so it always runs to its end; a call that took
longer than its deadline is then reported as a `deadline` failure and its
updates are discarded, as a rig that missed its deadline would. Give a step that
might hang `process: true`. An in-process step keeps its state after a failure;
a child process is restarted only after a deadline miss or its death.
"""

from __future__ import annotations

import faulthandler
import hashlib
import importlib
import importlib.util
import math
import multiprocessing
import os
import pickle
import signal
import sys
import tempfile
import time
import traceback as traceback_module
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from livn.errors import InvalidArgumentError, LivnError, describe

POLICIES = ("stop", "skip_trial", "fallback")
FAILURES = ("raised", "deadline", "died")
SPEC_KEYS = ("name", "step", "options", "process", "deadline_ms", "policy", "fallback")


class Step:
    """Base class of user steps. Subclasses implement `process`; `setup` and `teardown` are optional."""

    def setup(self, context: dict) -> None:
        """Called once before the first trial, in the process the step runs in."""

    def process(self, data: dict, context: dict) -> dict | None:
        """Called once per trial; returns updates merged into `data` for later stages, or None."""
        raise NotImplementedError

    def teardown(self) -> None:
        """Called once at the end of the run, if `setup` succeeded."""


class StepError(LivnError, RuntimeError):
    """A step failed; `outcome` is the `StepOutcome` that records how."""

    def __init__(self, message: str, outcome: StepOutcome):
        super().__init__(message)
        self.outcome = outcome


class PipelineStopped(StepError):
    """A step whose policy is `stop` failed; `result` holds the data and outcomes of the trial so far."""

    def __init__(self, message: str, outcome: StepOutcome, result: PipelineResult):
        super().__init__(message, outcome)
        self.result = result


@dataclass(frozen=True)
class StepSpec:
    """One user step as the experiment file declares it.

    **Arguments**
    - `name`: the step's name in records and messages.
    - `target`: the class, `"package.module:ClassName"` or `"path/to/file.py:ClassName"`.
    - `options`: keyword arguments of the constructor.
    - `process`: run the step in a child process of its own.
    - `deadline_ms`: wall-clock limit of one `process` call in ms, or None.
    - `policy`: what a failure does: `"stop"`, `"skip_trial"` or `"fallback"`.
    - `fallback`: with `policy="fallback"`, the updates used instead (e.g. `{"stimulus": ...}` in uA).
    - `where`: the key path of this entry in the experiment file (e.g. `"pipeline[1]"`), for messages.
    """

    name: str
    target: str
    options: dict = field(default_factory=dict)
    process: bool = False
    deadline_ms: float | None = None
    policy: str = "stop"
    fallback: dict | None = None
    where: str = ""

    def __post_init__(self):
        where = self.where or f"step {self.name!r}"
        object.__setattr__(self, "where", where)
        if not isinstance(self.name, str) or not self.name:
            raise InvalidArgumentError(f"{where}.name: got {describe(self.name)}; a step needs a non-empty name")
        if not isinstance(self.target, str) or self.target.count(":") != 1:
            raise InvalidArgumentError(
                f"{where}.step: got {describe(self.target)}; "
                "write 'package.module:ClassName' or 'path/to/file.py:ClassName'"
            )
        if not isinstance(self.options, dict):
            raise InvalidArgumentError(
                f"{where}.options: got {describe(self.options)}; expected a mapping of keyword arguments"
            )
        if not isinstance(self.process, bool):
            raise InvalidArgumentError(f"{where}.process: got {describe(self.process)}; expected true or false")
        if self.deadline_ms is not None and (
            isinstance(self.deadline_ms, bool)
            or not isinstance(self.deadline_ms, (int, float))
            or not math.isfinite(self.deadline_ms)
            or self.deadline_ms <= 0
        ):
            raise InvalidArgumentError(
                f"{where}.deadline_ms: got {describe(self.deadline_ms)}; expected a number of ms > 0, or null"
            )
        if self.policy not in POLICIES:
            raise InvalidArgumentError(
                f"{where}.policy: got {describe(self.policy)}; expected one of {', '.join(POLICIES)}"
            )
        if self.policy == "fallback" and not isinstance(self.fallback, dict):
            raise InvalidArgumentError(
                f"{where}.fallback: got {describe(self.fallback)}; policy 'fallback' needs the updates to use instead, "
                "e.g. {'stimulus': ...}"
            )
        if self.policy != "fallback" and self.fallback is not None:
            raise InvalidArgumentError(
                f"{where}.fallback: given, but policy is {self.policy!r}; set policy: fallback to use it"
            )

    @classmethod
    def from_dict(cls, entry: dict, where: str) -> StepSpec:
        """A spec from an experiment-file entry (keys in `SPEC_KEYS`; `step` is the target); `where` is its key path."""
        if not isinstance(entry, dict):
            raise InvalidArgumentError(
                f"{where}: got {describe(entry)}; expected a mapping with keys {', '.join(SPEC_KEYS)}"
            )
        unknown = sorted(set(entry) - set(SPEC_KEYS))
        if unknown:
            raise InvalidArgumentError(
                f"{where}: unknown key(s) {', '.join(map(str, unknown))}; accepted: {', '.join(SPEC_KEYS)}"
            )
        for key in ("name", "step"):
            if key not in entry:
                raise InvalidArgumentError(f"{where}.{key}: missing; every step needs a name and a step class")
        return cls(
            name=entry["name"],
            target=entry["step"],
            options=entry.get("options") or {},
            process=entry.get("process", False),
            deadline_ms=entry.get("deadline_ms"),
            policy=entry.get("policy", "stop"),
            fallback=entry.get("fallback"),
            where=where,
        )


@dataclass
class StepOutcome:
    """What one call of a step (or its setup or teardown) gave.

    `failure` is None when `ok`, else `"raised"`, `"deadline"` or `"died"`;
    `traceback` is the exception's traceback, or the stack a hung child was
    stopped in; `exitcode` is the dead child's exit code (negative: the signal
    number); `wall_ms` is the wall-clock time of the call in ms.
    """

    step: str
    ok: bool
    updates: dict | None = None
    failure: str | None = None
    error_type: str | None = None
    message: str = ""
    traceback: str | None = None
    exitcode: int | None = None
    wall_ms: float = 0.0
    stage: str = "process"

    def record(self) -> dict:
        """This outcome without the updates, as JSON-ready values for the audit trail."""
        record = asdict(self)
        del record["updates"]
        return record


@dataclass
class PipelineResult:
    """One trial through the pipeline: the merged `data`, every step's outcome, and what the policies did."""

    data: dict
    outcomes: list[StepOutcome] = field(default_factory=list)
    skip_trial: bool = False
    fallbacks: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[StepOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.ok]


def load_step_class(target: str, where: str) -> type[Step]:
    """The `Step` subclass named by `target`; `InvalidArgumentError` naming `where` if it cannot be imported or used."""
    if not isinstance(target, str) or target.count(":") != 1:
        raise InvalidArgumentError(
            f"{where}: got {describe(target)}; write 'package.module:ClassName' or 'path/to/file.py:ClassName'"
        )
    module_name, _, class_name = target.partition(":")
    try:
        module = _import_module(module_name)
    except Exception as error:
        raise InvalidArgumentError(
            f"{where}: cannot import {module_name!r} for step {target!r}: {type(error).__name__}: {error}"
        ) from error
    cls = getattr(module, class_name, None)
    if cls is None:
        raise InvalidArgumentError(f"{where}: module {module_name!r} has no {class_name!r} (step {target!r})")
    if not (isinstance(cls, type) and issubclass(cls, Step)):
        raise InvalidArgumentError(
            f"{where}: {target!r} is {describe(cls)}, not a subclass of livn.experiment.pipeline.Step"
        )
    if cls.process is Step.process:
        raise InvalidArgumentError(f"{where}: {target!r} does not implement process(data, context)")
    return cls


def step_source(cls: type) -> str:
    """The source text of the module that defines `cls`, for the audit trail."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if path is None or not Path(path).is_file():
        raise InvalidArgumentError(
            f"step class {cls.__qualname__!r}: its module {cls.__module__!r} has no source file to record"
        )
    return Path(path).read_text()


def _import_module(name: str):
    if not name.endswith(".py"):
        return importlib.import_module(name)
    path = Path(name).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no file {str(path)!r}")
    module_name = f"_livn_step_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _checked_updates(updates, spec: StepSpec) -> dict:
    if updates is None:
        return {}
    if not isinstance(updates, dict) or not all(isinstance(key, str) for key in updates):
        raise InvalidArgumentError(
            f"step {spec.name!r} ({spec.target}) returned {describe(updates)} from process(); "
            "return a dict of updates with str keys, or None"
        )
    return updates


def _unpicklable(values: dict) -> str:
    """A message naming the keys of `values` that cannot be pickled."""
    bad = []
    for key, value in values.items():
        try:
            pickle.dumps(value)
        except Exception as error:
            bad.append(f"{key!r} ({describe(value)}: {type(error).__name__}: {error})")
    return ", ".join(bad) or "(a value that fails only in combination)"


def _exit_description(code: int | None) -> str:
    if code is None:
        return "its process died"
    if code < 0:
        try:
            return f"its process was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"its process was killed by signal {-code}"
    return f"its process exited with code {code}"


class StepRunner:
    """Runs one step, in this process or in a child process of its own.

    The class is imported when the runner is made, so an unknown target fails
    before the run. `start()` constructs the step and calls `setup` (raising
    `StepError` if either fails), `call(data)` runs one trial and never raises
    for a failure of the step (it returns a `StepOutcome`), `stop()` calls
    `teardown` and ends the child (returning a failure outcome, or None).
    """

    def __init__(
        self,
        spec: StepSpec,
        context: dict | None = None,
        *,
        startup_timeout_s: float = 60.0,
        stop_timeout_s: float = 5.0,
    ):
        self.spec = spec
        self.context = dict(context or {})
        self.step_class = load_step_class(spec.target, f"{spec.where}.step")
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.restarts = 0
        self._started = False
        self._step = None
        self._process = None
        self._conn = None
        self._ready = False
        self._dump_path = None
        self._last_exitcode = None
        if spec.process:
            for what, values in (("context", self.context), (f"{spec.where}.options", spec.options)):
                try:
                    pickle.dumps(values)
                except Exception:
                    raise InvalidArgumentError(
                        f"{spec.where}: step {spec.name!r} runs in its own process, and its {what} cannot be pickled: "
                        f"{_unpicklable(values)}"
                    ) from None

    @property
    def pid(self) -> int | None:
        """The process id of the step's child process, or None (in-process step, or not running)."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Construct the step and call its `setup`; `StepError` if either fails."""
        self._begin()
        failure = self._finish_start()
        if failure is not None:
            raise _start_error(self.spec, failure)

    def _begin(self) -> None:
        self._started = True
        if self.spec.process:
            self._spawn()

    def _finish_start(self) -> StepOutcome | None:
        if self.spec.process:
            return self._await_ready()
        start = time.perf_counter()
        try:
            step = self.step_class(**self.spec.options)
            step.setup(self.context)
        except Exception as error:
            return self._failure("raised", error, start, stage="setup")
        self._step = step
        return None

    def call(self, data: dict) -> StepOutcome:
        """Run the step on one trial's `data`; a failure is returned as a `StepOutcome`, never raised."""
        if not self._started:
            self.start()
        if self.spec.process:
            return self._call_child(data)
        if self._step is None:
            failure = self._finish_start()
            if failure is not None:
                return failure
        start = time.perf_counter()
        try:
            updates = _checked_updates(self._step.process(dict(data), self.context), self.spec)
        except Exception as error:
            return self._failure("raised", error, start)
        outcome = StepOutcome(self.spec.name, True, updates, wall_ms=(time.perf_counter() - start) * 1e3)
        if self.spec.deadline_ms is not None and outcome.wall_ms > self.spec.deadline_ms:
            return StepOutcome(
                self.spec.name, False, None, "deadline", None,
                f"took {outcome.wall_ms:.1f} ms, past its deadline of {self.spec.deadline_ms:g} ms "
                "(in-process: it ran to its end and its updates were discarded)",
                wall_ms=outcome.wall_ms,
            )
        return outcome

    def stop(self) -> StepOutcome | None:
        """Call `teardown` and end the child process; a failure outcome (stage `teardown`), or None."""
        self._started = False
        if not self.spec.process:
            step, self._step = self._step, None
            if step is None:
                return None
            start = time.perf_counter()
            try:
                step.teardown()
            except Exception as error:
                return self._failure("raised", error, start, stage="teardown")
            return None
        if self._process is None:
            return None
        start = time.perf_counter()
        outcome = None
        try:
            self._conn.send(("stop", None))
            deadline = start + self.stop_timeout_s + (0 if self._ready else self.startup_timeout_s)
            while outcome is None and self._conn.poll(max(deadline - time.perf_counter(), 0)):
                message = self._conn.recv()
                if message[0] == "raised":
                    outcome = self._child_failure(message, start, stage="teardown")
                elif message[0] == "stopped":
                    break
        except (EOFError, OSError):
            pass
        self._process.join(self.stop_timeout_s)
        self._end_child(dump=False)
        return outcome

    # child processes

    def _spawn(self, restart: bool = False) -> None:
        self.restarts += restart
        context = multiprocessing.get_context("spawn")
        descriptor, self._dump_path = tempfile.mkstemp(prefix=f"livn-step-{self.spec.name}-", suffix=".stack")
        os.close(descriptor)
        parent, child = context.Pipe()
        process = context.Process(
            target=_child_main,
            args=(child, self.spec, self.context, self._dump_path),
            name=f"livn-step-{self.spec.name}",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._conn, self._ready = process, parent, False

    def _await_ready(self) -> StepOutcome | None:
        start = time.perf_counter()
        ready = wait([self._conn, self._process.sentinel], self.startup_timeout_s)
        if self._conn in ready:
            try:
                message = self._conn.recv()
            except EOFError:
                message = None
            if message is not None and message[0] == "ready":
                self._ready = True
                return None
            if message is not None:
                outcome = self._child_failure(message, start, stage="setup")
                self._end_child(dump=False)
                return outcome
        if not ready:
            stack = self._end_child(dump=True)
            return StepOutcome(
                self.spec.name, False, None, "deadline", None,
                f"did not finish starting (import, constructor, setup) within {self.startup_timeout_s:g} s",
                stack, wall_ms=(time.perf_counter() - start) * 1e3, stage="setup",
            )
        self._end_child(dump=False)
        return self._died(start, stage="setup")

    def _call_child(self, data: dict) -> StepOutcome:
        if self._process is None:
            self._spawn(restart=True)
        if not self._ready:
            failure = self._await_ready()
            if failure is not None:
                return failure
        start = time.perf_counter()
        try:
            self._conn.send(("call", data))
        except (EOFError, BrokenPipeError):
            self._process.join(1.0)
            self._end_child(dump=False)
            outcome = self._died(start)
            self._spawn(restart=True)
            return outcome
        except Exception as error:
            return StepOutcome(
                self.spec.name, False, None, "raised", type(error).__name__,
                f"runs in its own process, and its input cannot be pickled: {_unpicklable(data)}",
                wall_ms=(time.perf_counter() - start) * 1e3,
            )
        timeout = None if self.spec.deadline_ms is None else self.spec.deadline_ms / 1e3
        ready = wait([self._conn, self._process.sentinel], timeout)
        if self._conn in ready:
            try:
                message = self._conn.recv()
            except EOFError:
                message = None
            if message is not None and message[0] == "ok":
                return StepOutcome(self.spec.name, True, message[1], wall_ms=(time.perf_counter() - start) * 1e3)
            if message is not None:
                return self._child_failure(message, start)
        if not ready:
            wall_ms = (time.perf_counter() - start) * 1e3
            stack = self._end_child(dump=True)
            self._spawn(restart=True)
            return StepOutcome(
                self.spec.name, False, None, "deadline", None,
                f"did not answer within its deadline of {self.spec.deadline_ms:g} ms; "
                "its process was killed and restarted",
                stack, wall_ms=wall_ms,
            )
        self._process.join(1.0)
        self._end_child(dump=False)
        outcome = self._died(start)
        self._spawn(restart=True)
        return outcome

    def _end_child(self, dump: bool) -> str | None:
        """Kill the child (after dumping its stack, if `dump`); the stack text, or None."""
        process, self._process, self._ready = self._process, None, False
        stack = None
        if dump and process.is_alive() and hasattr(signal, "SIGUSR1"):
            os.kill(process.pid, signal.SIGUSR1)
            stack = _read_stack(self._dump_path, timeout=0.5)
        if process.is_alive():
            process.kill()
        process.join(self.stop_timeout_s)
        self._last_exitcode = process.exitcode
        self._conn.close()
        try:
            os.unlink(self._dump_path)
        except OSError:
            pass
        return stack

    def _died(self, start: float, stage: str = "process") -> StepOutcome:
        code = self._last_exitcode
        return StepOutcome(
            self.spec.name, False, None, "died", None, _exit_description(code),
            exitcode=code, wall_ms=(time.perf_counter() - start) * 1e3, stage=stage,
        )

    def _child_failure(self, message: tuple, start: float, stage: str = "process") -> StepOutcome:
        _, error_type, text, trace = message
        return StepOutcome(
            self.spec.name, False, None, "raised", error_type, text, trace,
            wall_ms=(time.perf_counter() - start) * 1e3, stage=stage,
        )

    def _failure(self, failure: str, error: BaseException, start: float, stage: str = "process") -> StepOutcome:
        return StepOutcome(
            self.spec.name, False, None, failure, type(error).__name__, f"{type(error).__name__}: {error}",
            "".join(traceback_module.format_exception(error)),
            wall_ms=(time.perf_counter() - start) * 1e3, stage=stage,
        )


def _start_error(spec: StepSpec, failure: StepOutcome) -> StepError:
    text = f"{spec.where}: step {spec.name!r} could not start: {failure.message}"
    return StepError(f"{text}\n{failure.traceback}" if failure.traceback else text, failure)


def _read_stack(path: str, timeout: float) -> str | None:
    """The stack faulthandler writes to `path`, once it stops growing (at most `timeout` s)."""
    end, size = time.perf_counter() + timeout, -1
    while time.perf_counter() < end:
        current = os.path.getsize(path)
        if current > 0 and current == size:
            break
        size = current
        time.sleep(0.02)
    text = Path(path).read_text(errors="replace")
    return text or None


def _raised(error: BaseException) -> tuple:
    trace = "".join(traceback_module.format_exception(error))
    return ("raised", type(error).__name__, f"{type(error).__name__}: {error}", trace)


def _child_main(conn, spec: StepSpec, context: dict, dump_path: str) -> None:
    """The loop of a step's child process: set up, answer calls until told to stop or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    dump = open(dump_path, "w")
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, file=dump, all_threads=True)
    try:
        step = load_step_class(spec.target, f"{spec.where}.step")(**spec.options)
        step.setup(context)
    except Exception as error:
        conn.send(_raised(error))
        return
    conn.send(("ready", None))
    while True:
        try:
            kind, data = conn.recv()
        except EOFError:
            return
        if kind == "stop":
            try:
                step.teardown()
            except Exception as error:
                conn.send(_raised(error))
            conn.send(("stopped", None))
            return
        try:
            updates = _checked_updates(step.process(data, context), spec)
        except Exception as error:
            conn.send(_raised(error))
            continue
        try:
            conn.send(("ok", updates))
        except Exception as error:
            conn.send((
                "raised", type(error).__name__,
                f"returned updates that cannot be pickled back from its process: {_unpicklable(updates)}", None,
            ))


class Pipeline:
    """The user steps of an experiment, in order.

    Making a pipeline imports every step class, so a target that cannot be
    imported fails before the run. `start()` starts every step (children in
    parallel), `run(data)` passes one trial through them and applies each
    failed step's policy, `stop()` tears them down. Use it as a context manager.
    """

    def __init__(self, steps, context: dict | None = None, *, startup_timeout_s: float = 60.0):
        steps = list(steps)
        seen = {}
        for spec in steps:
            if not isinstance(spec, StepSpec):
                raise InvalidArgumentError(f"steps: got {describe(spec)}; expected StepSpec (see StepSpec.from_dict)")
            if spec.name in seen:
                raise InvalidArgumentError(
                    f"{spec.where}.name: {spec.name!r} is also the name of {seen[spec.name]}; step names must differ"
                )
            seen[spec.name] = spec.where
        self.context = dict(context or {})
        self.runners = [StepRunner(spec, self.context, startup_timeout_s=startup_timeout_s) for spec in steps]
        self._started = False

    def sources(self) -> dict[str, str]:
        """The source text of each step's module, by step name, for the audit trail."""
        return {runner.spec.name: step_source(runner.step_class) for runner in self.runners}

    def start(self) -> None:
        """Construct and set up every step; `StepError` (after stopping the others) if one fails."""
        for runner in self.runners:
            runner._begin()
        for runner in self.runners:
            failure = runner._finish_start()
            if failure is not None:
                self.stop()
                raise _start_error(runner.spec, failure)
        self._started = True

    def run(self, data: dict) -> PipelineResult:
        """Pass one trial's `data` through the steps; `PipelineStopped` if a step whose policy is `stop` fails."""
        if not self._started:
            self.start()
        result = PipelineResult(dict(data))
        for runner in self.runners:
            spec = runner.spec
            outcome = runner.call(result.data)
            result.outcomes.append(outcome)
            if outcome.ok:
                result.data.update(outcome.updates)
            elif spec.policy == "stop":
                raise PipelineStopped(
                    f"{spec.where}: step {spec.name!r} failed ({outcome.failure}): {outcome.message}; "
                    "its policy is 'stop'",
                    outcome,
                    result,
                )
            elif spec.policy == "skip_trial":
                result.skip_trial = True
                return result
            else:
                result.data.update(spec.fallback)
                result.fallbacks.append(spec.name)
        return result

    def stop(self) -> list[StepOutcome]:
        """Tear every step down; the outcomes of the teardowns that failed."""
        self._started = False
        return [outcome for outcome in (runner.stop() for runner in self.runners) if outcome is not None]

    def __enter__(self) -> Pipeline:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
