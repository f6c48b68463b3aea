"""An experiment as data: the YAML schema, checked completely before anything runs.

```yaml
name: stimulus_response
system: S2                  # a predefined system or a system directory
backend: brian2             # optional (default: LIVN_BACKEND, else brian2)
seed: 1
recordings: {spikes: true}  # optional: spikes (true, a population or a list), voltage ({population, dt})
period_ms: 10               # the closed loop's period: the pipeline sees every window of this length
latency: null               # null (one period), ms, or "measured" (see livn.streaming)
protocol:
  trials: 20
  parameters: {channel: 5, width_ms: 2}                      # fixed
  roving:
    amplitude_uA: {selector: shuffled, values: [1, 2, 4, 8]}  # options: {...}; response: a result key (staircase)
  windows: {pre_ms: 50, stimulus_ms: 10, post_ms: 100, iti_ms: 100}
  stimulus: pulse           # null, or a pulse of amplitude_uA for width_ms on channel at the stimulus window
  events:                   # actions bound to events
    - {event: trial_end, log: "done"}        # (not `on:`, which YAML reads as true)
    - {event: burst_detected, set: {amplitude_uA: 1}}
pipeline:                   # user steps, in order (livn.experiment.pipeline)
  - {name: counter, step: "my_module:Counter", options: {}, process: false, deadline_ms: 500, policy: skip_trial}
sinks:                      # steps that consume every window after the pipeline decided (saving, display)
  - {name: counts, step: "livn.experiment.steps:ChannelCountsCSV", options: {path: counts.csv}}
mea: null                   # optional: a mea.json file (livn.io.MEA) instead of the system's electrode layout
```

Times are ms, electrode currents uA. `load_experiment(path_or_dict)` returns an
`ExperimentSpec` or raises one `ExperimentError` that lists every problem, each
with its key path (`protocol.roving.amplitude_uA.values`) and what is accepted.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

from livn.errors import InvalidArgumentError, describe, finite_number

#: Events an experiment raises itself; steps may raise any other name.
BUILTIN_EVENTS = ("experiment_start", "experiment_end", "trial_start", "trial_end", "stimulus_delivered",
                  "burst_detected")
#: What an action bound to an event may do.
ACTIONS = ("log", "set", "stop")
STIMULI = (None, "pulse")
TOP_KEYS = {"name", "system", "backend", "seed", "recordings", "period_ms", "latency", "protocol", "pipeline",
            "sinks", "mea"}
PROTOCOL_KEYS = {"trials", "parameters", "roving", "windows", "stimulus", "events"}
WINDOW_KEYS = ("pre_ms", "stimulus_ms", "post_ms", "iti_ms")


class ExperimentError(InvalidArgumentError):
    """An experiment file or dict that cannot run; `problems` lists `(key path, message)`."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "experiment"):
        self.problems = problems
        lines = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"{source} has {len(problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class ExperimentSpec:
    """A checked experiment (see the module docstring); `config` is the whole dict as given."""

    config: dict
    name: str
    system: str
    backend: str | None
    seed: int
    recordings: dict
    period_ms: float
    latency: object
    trials: int
    parameters: dict
    roving: dict
    windows: dict
    stimulus: str | None
    events: list
    pipeline: list
    sinks: list
    mea: str | None

    @property
    def trial_ms(self) -> float:
        """Length of one trial including the inter-trial interval, ms."""
        return sum(self.windows[key] for key in WINDOW_KEYS)


def load_experiment(source) -> ExperimentSpec:
    """Read and check an experiment from a YAML file path or a dict; every problem is reported at once."""
    import yaml

    where = "experiment"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ExperimentError([("(file)", f"no experiment file at {path}")], where)
        try:
            source = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError) as e:
            raise ExperimentError([("(file)", f"cannot be read as YAML text: {e}")], where) from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
            raise ExperimentError([(at, f"malformed YAML: {getattr(e, 'problem', e)}")], where) from None
    if not isinstance(source, dict):
        raise ExperimentError([("(top)", f"an experiment is a mapping of keys; got {describe(source)}")], where)
    checker = _Checker()
    spec = checker.experiment(copy.deepcopy(source))
    if checker.problems:
        raise ExperimentError(checker.problems, where)
    return spec


class _Checker:
    """Collects every problem with its key path instead of stopping at the first."""

    def __init__(self):
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def keys(self, data: dict, known: set, path: str) -> None:
        for key in sorted(set(data) - known, key=str):
            self.fail(f"{path}.{key}" if path else str(key), f"unknown key; accepted keys: {sorted(known)}")

    def number(self, data: dict, key: str, path: str, default=None, minimum=0.0, strict=False, integer=False):
        value = data.get(key, default)
        number = finite_number(value) if isinstance(value, (int, float)) else None
        ok = number is not None and (number > minimum if strict else number >= minimum)
        ok = ok and (not integer or number.is_integer())
        if not ok:
            kind = "an integer" if integer else "a number"
            bound = f"> {minimum}" if strict else f">= {minimum}"
            self.fail(f"{path}.{key}" if path else key, f"must be {kind} {bound}; got {describe(value)}")
            return default if default is not None else minimum
        return int(value) if integer else float(value)

    def experiment(self, data: dict) -> ExperimentSpec | None:
        self.keys(data, TOP_KEYS, "")
        for key in ("name", "system"):
            if not isinstance(data.get(key), str) or not data.get(key):
                self.fail(key, f"is required: a non-empty string; got {describe(data.get(key))}")
        backend = data.get("backend")
        if backend is not None:
            from livn.backends import BACKENDS

            if not isinstance(backend, str) or backend not in BACKENDS:
                self.fail("backend", f"must be one of {sorted(BACKENDS)}; got {describe(backend)}")
        seed = self.number(data, "seed", "", default=0, integer=True)
        recordings = data.get("recordings", {"spikes": True})
        if not isinstance(recordings, dict) or set(recordings) - {"spikes", "voltage"}:
            self.fail("recordings", f"must be a mapping with spikes and/or voltage; got {describe(recordings)}")
            recordings = {"spikes": True}
        period = self.number(data, "period_ms", "", default=10.0, minimum=0.0, strict=True)
        if not float(period).is_integer():
            self.fail("period_ms", f"must be a multiple of the 1 ms stimulus grid; got {period}")
        latency = data.get("latency")
        if not (latency is None or (isinstance(latency, str) and latency == "measured") or (
                isinstance(latency, (int, float)) and finite_number(latency) is not None and latency >= 0)):
            self.fail("latency", f"must be null (one period), a number of ms >= 0 or 'measured'; got {describe(latency)}")
        protocol = data.get("protocol")
        if not isinstance(protocol, dict):
            self.fail("protocol", f"is required: a mapping; got {describe(protocol)}")
            protocol = {}
        proto = self.protocol(protocol, period)
        pipeline = self.pipeline(data.get("pipeline", []), "pipeline")
        sinks = self.pipeline(data.get("sinks", []), "sinks", taken={s.name for s in pipeline})
        mea = data.get("mea")
        if mea is not None and not (isinstance(mea, str) and Path(mea).is_file()):
            self.fail("mea", f"must be null (the system's electrodes) or the path of a mea.json file; got {describe(mea)}")
        if self.problems:
            return None
        return ExperimentSpec(
            config=data, name=data["name"], system=data["system"], backend=backend, seed=seed, recordings=recordings,
            period_ms=period, latency=latency, pipeline=pipeline, sinks=sinks, mea=mea, **proto,
        )

    def protocol(self, data: dict, period: float) -> dict:
        self.keys(data, PROTOCOL_KEYS, "protocol")
        trials = self.number(data, "trials", "protocol", default=1, minimum=1, integer=True)
        parameters = data.get("parameters", {})
        if not isinstance(parameters, dict):
            self.fail("protocol.parameters", f"must be a mapping of name -> value; got {describe(parameters)}")
            parameters = {}
        roving = {}
        raw_roving = data.get("roving", {})
        if not isinstance(raw_roving, dict):
            self.fail("protocol.roving", f"must be a mapping of name -> selector; got {describe(raw_roving)}")
            raw_roving = {}
        for name, entry in raw_roving.items():
            roving[name] = self.selector(entry, f"protocol.roving.{name}")
            if name in parameters:
                self.fail(f"protocol.roving.{name}", "is also a fixed parameter; a parameter is fixed or roving")
        windows = data.get("windows", {})
        if not isinstance(windows, dict):
            self.fail("protocol.windows", f"must be a mapping with {list(WINDOW_KEYS)}; got {describe(windows)}")
            windows = {}
        self.keys(windows, set(WINDOW_KEYS), "protocol.windows")
        windows = {key: self.number(windows, key, "protocol.windows", default=0.0) for key in WINDOW_KEYS}
        total = sum(windows.values())
        if total <= 0:
            self.fail("protocol.windows", "a trial must last > 0 ms (pre_ms + stimulus_ms + post_ms + iti_ms)")
        elif period > 0 and abs(total / period - round(total / period)) > 1e-9:
            self.fail("protocol.windows", f"a trial ({total} ms with its interval) must be a whole number of periods "
                                          f"(period_ms = {period} ms), so that trial windows do not overlap the "
                                          "loop's windows")
        stimulus = data.get("stimulus")
        if stimulus not in STIMULI:
            self.fail("protocol.stimulus", f"must be one of {list(STIMULI)}; got {describe(stimulus)}")
        if stimulus == "pulse":
            known = set(parameters) | set(roving)
            for needed in ("channel", "amplitude_uA", "width_ms"):
                if needed not in known:
                    self.fail("protocol.stimulus", f"a pulse needs the parameter {needed!r} (fixed or roving)")
            width = parameters.get("width_ms")
            if isinstance(width, (int, float)) and width > windows.get("stimulus_ms", 0):
                self.fail("protocol.parameters.width_ms", f"{width} ms does not fit the stimulus window "
                                                          f"({windows.get('stimulus_ms')} ms): windows would overlap")
        events = []
        raw_events = data.get("events", [])
        if not isinstance(raw_events, list):
            self.fail("protocol.events", f"must be a list of {{event: NAME, ACTION: ...}}; got {describe(raw_events)}")
            raw_events = []
        for index, event in enumerate(raw_events):
            path = f"protocol.events[{index}]"
            if not isinstance(event, dict) or not isinstance(event.get("event"), str):
                self.fail(path, f"must be a mapping with 'event' (an event name) and one action; got {describe(event)}")
                continue
            actions = set(event) - {"event"}
            if len(actions) != 1 or not actions <= set(ACTIONS):
                self.fail(path, f"must bind exactly one action from {list(ACTIONS)}; got {sorted(actions)}")
                continue
            if "set" in event and not isinstance(event["set"], dict):
                self.fail(f"{path}.set", f"must be a mapping of parameter -> value; got {describe(event['set'])}")
            events.append(dict(event))
        return {"trials": trials, "parameters": dict(parameters), "roving": roving, "windows": windows,
                "stimulus": stimulus, "events": events}

    def selector(self, entry, path: str) -> dict:
        from livn.experiment.selectors import SELECTORS, make_selector

        if not isinstance(entry, dict):
            self.fail(path, f"must be a mapping with selector and values; got {describe(entry)}")
            return {}
        self.keys(entry, {"selector", "values", "options", "response"}, path)
        kind = entry.get("selector", "sequential")
        if not isinstance(kind, str) or kind not in SELECTORS:
            self.fail(f"{path}.selector", f"must be one of {sorted(SELECTORS)}; got {describe(kind)}")
            return {}
        values = entry.get("values")
        if not isinstance(values, list) or not values:
            self.fail(f"{path}.values", f"a selector without values: give a non-empty list; got {describe(values)}")
            return {}
        options = entry.get("options", {})
        try:
            make_selector(kind, values, seed=0, **(options if isinstance(options, dict) else {}))
        except (InvalidArgumentError, TypeError) as e:
            self.fail(path, str(e))
        response = entry.get("response")
        if kind == "staircase" and not isinstance(response, str):
            self.fail(f"{path}.response", "a staircase needs the name of the trial result it adapts to")
        return {"selector": kind, "values": list(values), "options": dict(options or {}), "response": response}

    def pipeline(self, steps, key: str, taken: set = frozenset()) -> list:
        from livn.experiment.pipeline import StepSpec, load_step_class

        if not isinstance(steps, list):
            self.fail(key, f"must be a list of steps; got {describe(steps)}")
            return []
        out, names = [], set(taken)
        for index, entry in enumerate(steps):
            where = f"{key}[{index}]"
            try:
                spec = StepSpec.from_dict(entry, where)
                load_step_class(spec.target, f"{where}.step")
            except InvalidArgumentError as e:
                path, _, message = str(e).partition(": ")
                self.fail(path if path.startswith(where) else where, message or str(e))
                continue
            if spec.name in names:
                self.fail(f"{where}.name", f"{spec.name!r} names an earlier step too; step names are unique")
            names.add(spec.name)
            out.append(spec)
        return out
