"""Running an experiment: trials through a rig, the pipeline in the loop, everything into the audit trail.

Per trial:

1. parameters: the fixed ones (as changed so far) and each roving one's next value;
2. the trial (pre, stimulus, post and inter-trial windows, ms) is streamed through the
   rig with the protocol's stimulus delivered open loop; every `period_ms` the pipeline
   sees the window (`data = {"window", "trial", "parameters", "time_ms"}`) and its steps
   may return `stimulus` (uA `[rows, n_channels]`, closed loop, with the experiment's
   latency), `parameter_changes` (applied from the next trial, recorded), `events`
   (names) and `results` (merged into the trial's results);
3. built-in results: spikes per channel in the baseline (pre) and response (stimulus +
   post) windows, and `responded` (any response-window spike more than in baseline);
4. events (trial_start, stimulus_delivered, burst_detected, trial_end, and the steps'
   own) fire the actions bound to them (log, set a parameter, stop);
5. the culture's state is checkpointed next to the audit file, then the trial is
   committed to the audit trail (`livn.experiment.audit`): a `kill -9` loses at most the
   trial in progress, and `resume_experiment` continues from the last committed trial.

A step failure applies the step's policy: `stop` ends the experiment after recording
the partial trial; `skip_trial` ends the trial there (recorded as incomplete);
`fallback` uses the step's declared updates. Units: time ms, electrode current uA.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import numpy as np

from livn.errors import InvalidArgumentError, describe
from livn.experiment.audit import AuditTrail
from livn.experiment.pipeline import Pipeline, PipelineStopped
from livn.experiment.rig import Rig, SimulatedRig
from livn.experiment.selectors import Selector, make_selector
from livn.experiment.spec import ExperimentSpec, load_experiment
from livn.streaming import ControllerError

#: Fraction of the culture's neurons (or of the channels, on a rig without gids) active in one
#: window above which `burst_detected` fires (once per burst).
BURST_FRACTION = 0.25


class _StopTrial(Exception):
    """Raised inside the loop to end a trial early (a step's skip_trial policy)."""


def _checkpoint_path(out: Path, trial: int) -> Path:
    return out.with_name(f"{out.name}.state-{trial % 2}.h5")


def _selector_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, 101, index]).generate_state(1)[0])


class ExperimentRun:
    """One run of an `ExperimentSpec` on a rig, writing the audit trail `out`."""

    def __init__(self, spec: ExperimentSpec, out, backend: str | None = None, realtime: bool = False, rig=None):
        self.spec, self.out, self.realtime = spec, Path(out), realtime
        if rig is None:
            rig = SimulatedRig(self._culture(spec, backend))
        elif not isinstance(rig, Rig):
            raise InvalidArgumentError(f"rig must be a livn.experiment.rig.Rig; got {describe(rig)}")
        self.rig = rig
        self.env = rig.env if isinstance(rig, SimulatedRig) else None  # checkpoints need a simulated culture
        self.selectors: dict[str, Selector] = {
            name: make_selector(entry["selector"], entry["values"], seed=_selector_seed(spec.seed, i), **entry["options"])
            for i, (name, entry) in enumerate(spec.roving.items())
        }
        self.parameters = dict(spec.parameters)
        self.sinks = Pipeline(spec.sinks, {"experiment": spec.name, "seed": spec.seed, "period_ms": spec.period_ms})
        self.pipeline = Pipeline(spec.pipeline, {  # what steps know before the run (see livn.experiment.pipeline)
            "experiment": spec.name, "seed": spec.seed, "period_ms": spec.period_ms, "n_channels": len(rig.channels),
            "num_neurons": self.env.num_neurons if self.env is not None else None})
        self.stopped = False

    @staticmethod
    def _culture(spec: ExperimentSpec, backend: str | None):
        from livn.env import Env
        from livn.system import make

        io = None
        if spec.mea is not None:
            import json

            from livn.io import MEA

            io = MEA.from_dict(json.loads(Path(spec.mea).read_text()))
        env = Env(make(spec.system), io=io, seed=spec.seed, backend=backend or spec.backend).init()
        env.apply_model_defaults()
        spikes = spec.recordings.get("spikes", True)
        env.record_spikes(None if spikes is True else spikes)
        voltage = spec.recordings.get("voltage")
        if voltage:
            env.record_voltage(voltage.get("population"), dt=voltage.get("dt"))
        return env

    def simulators(self) -> dict:
        if self.env is None:
            return {}
        name = self.env.backend_name
        module = type(self.env.backend).simulator_module
        try:
            return {name: importlib.metadata.version(module)}
        except importlib.metadata.PackageNotFoundError:
            return {name: "unknown"}

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, audit: AuditTrail, first_trial: int = 0, progress: bool = True) -> None:
        from tqdm import tqdm

        spec = self.spec
        if first_trial == 0:
            audit.record_event(self.rig.time, "experiment_start", self.rig.describe())
        self.pipeline.start()
        self.sinks.start()
        try:
            bar = tqdm(range(first_trial, spec.trials), desc=f"livn: {spec.name}", unit="trial", disable=not progress,
                       initial=first_trial, total=spec.trials)
            for index in bar:
                self.trial(audit, index)
                if self.stopped:
                    break
        finally:
            self.pipeline.stop()
            self.sinks.stop()
        audit.record_event(self.rig.time, "experiment_end", {"stopped": self.stopped})
        audit.finish("stopped" if self.stopped else "complete", end_ms=self.rig.time)

    def trial(self, audit: AuditTrail, index: int) -> None:
        spec = self.spec
        parameters = dict(self.parameters)
        for name, selector in self.selectors.items():
            parameters[name] = selector.next()
        start = self.rig.time
        audit.begin_trial(index, start, parameters)
        fired = [(start, "trial_start")]  # (time ms, event), recorded when it happened
        inputs = self._protocol_stimulus(parameters)
        if inputs is not None:
            fired.append((start + spec.windows["pre_ms"], "stimulus_delivered"))
        results, changes, burst = {}, {}, {"on": False}

        def controller(window):
            data = {"window": window, "trial": index, "parameters": parameters, "time_ms": window.start}
            self._detect_burst(window, burst, fired)
            try:
                outcome = self.pipeline.run(data)
            except PipelineStopped as stop:
                self._record_failures(audit, [stop.outcome], window.start)
                self.stopped = True
                raise _StopTrial() from None
            self._record_failures(audit, outcome.failures, window.start)
            if outcome.skip_trial:
                raise _StopTrial()
            updates = outcome.data
            self._sink(audit, updates, results, fired, window.start)
            changes.update(updates.get("parameter_changes") or {})
            results.update(updates.get("results") or {})
            fired.extend((window.start, name) for name in updates.get("events") or [])
            return updates.get("stimulus")

        complete = True
        try:
            stream = self.rig.stream(spec.trial_ms, spec.period_ms, controller, latency=spec.latency,
                                     realtime=self.realtime, inputs=inputs)
        except ControllerError as error:
            stream, complete = error.partial, False
            if not isinstance(error.__cause__, _StopTrial):  # a step returned a stimulus that cannot be delivered
                import traceback

                audit.record_error(self.rig.time, "pipeline", str(error), "".join(traceback.format_exception(error)),
                                   "stop")
                self.stopped = True
        self._record_stream(audit, start, stream, inputs)
        results.update(self._responses(stream))
        fired.append((self.rig.time, "trial_end"))
        for time_ms, name in sorted(fired, key=lambda event: event[0]):
            audit.record_event(time_ms, name)
            self._act(audit, name, time_ms)
        for name, value in changes.items():
            audit.record_parameter_change(self.rig.time, name, self.parameters.get(name), value, who="pipeline")
            self.parameters[name] = value
        for name, entry in spec.roving.items():
            if entry.get("response") is not None and entry["response"] in results:
                self.selectors[name].update(bool(results[entry["response"]]))
        results["selectors"] = {name: selector.state() for name, selector in self.selectors.items()}
        results["parameters_after"] = dict(self.parameters)
        if self.env is not None:
            self.env.save_state(_checkpoint_path(self.out, index))
        audit.end_trial(results, end_ms=self.rig.time, complete=complete)

    # -- pieces -------------------------------------------------------------------------------------

    def _protocol_stimulus(self, parameters: dict):
        """The protocol's open-loop stimulus for one trial, `[rows, n_channels]` uA, or None."""
        if self.spec.stimulus != "pulse":
            return None
        windows = self.spec.windows
        channel, amplitude, width = parameters["channel"], parameters["amplitude_uA"], parameters["width_ms"]
        channels = list(self.rig.channels)
        if channel not in channels:
            raise InvalidArgumentError(f"parameter channel={describe(channel)} is not a channel of the rig: {channels}")
        inputs = np.zeros((int(round(self.spec.trial_ms)), len(channels)))
        first = int(round(windows["pre_ms"]))
        inputs[first : first + int(round(width)), channels.index(channel)] = float(amplitude)
        return inputs

    def _detect_burst(self, window, burst: dict, fired: list) -> None:
        if window.it is None:
            return
        known = window.it[window.it >= 0]
        if len(known) and self.env is not None:
            active = len(np.unique(known)) / self.env.num_neurons
        else:
            active = sum(1 for t in window.channels[1].values() if len(t)) / max(1, len(self.rig.channels))
        if active >= BURST_FRACTION and not burst["on"]:
            fired.append((window.start, "burst_detected"))
        burst["on"] = active >= BURST_FRACTION

    def _act(self, audit: AuditTrail, event: str, time_ms: float) -> None:
        for binding in self.spec.events:
            if binding["event"] != event:
                continue
            if "log" in binding:
                audit.record_event(time_ms, "log", {"event": event, "message": binding["log"]})
            elif "set" in binding:
                for name, value in binding["set"].items():
                    audit.record_parameter_change(time_ms, name, self.parameters.get(name), value, who=f"event:{event}")
                    self.parameters[name] = value
            elif binding.get("stop"):
                self.stopped = True

    def _sink(self, audit: AuditTrail, data: dict, results: dict, fired: list, time_ms: float) -> None:
        """Hand the window's data, with the pipeline's decision, to the sinks; keep only their results and events."""
        if not self.spec.sinks:
            return
        try:
            outcome = self.sinks.run(dict(data))
        except PipelineStopped as stop:
            self._record_failures(audit, [stop.outcome], time_ms)
            self.stopped = True
            raise _StopTrial() from None
        self._record_failures(audit, outcome.failures, time_ms)
        results.update(outcome.data.get("results") or {})
        fired.extend((time_ms, name) for name in outcome.data.get("events") or [])
        if outcome.skip_trial:
            raise _StopTrial()

    def _record_failures(self, audit: AuditTrail, outcomes, time_ms: float) -> None:
        for outcome in outcomes:
            policy = next(s.policy for s in [*self.spec.pipeline, *self.spec.sinks] if s.name == outcome.step)
            error = f"{outcome.error_type}: {outcome.message}" if outcome.error_type else str(outcome.failure)
            audit.record_error(time_ms, outcome.step, error, outcome.traceback or "", policy)

    def _record_stream(self, audit: AuditTrail, start: float, stream, inputs) -> None:
        if stream.delivered.any():
            audit.record_stimulus(start, stream.delivered)
        result = stream.result
        if result is not None and result.it is not None:
            cit, ct = stream.channel_spikes
            shift = lambda times: np.round(times + start, 6)  # noqa: E731 - ms, at the backends' resolution
            audit.record_spikes(result.it, shift(result.t), (cit, {c: shift(t) for c, t in ct.items()}))
        for ms in stream.iteration_ms:
            audit.record_latency(float(ms))

    def _responses(self, stream) -> dict:
        """Spikes per channel in the baseline (pre) and response (stimulus + post) windows of a trial."""
        windows = self.spec.windows
        if stream.result is None or stream.result.it is None:
            return {}
        pre, stop = windows["pre_ms"], windows["pre_ms"] + windows["stimulus_ms"] + windows["post_ms"]
        cit, ct = stream.channel_spikes
        baseline = {int(c): int(np.sum(np.asarray(t) < pre)) for c, t in ct.items()}
        response = {int(c): int(np.sum((np.asarray(t) >= pre) & (np.asarray(t) < stop))) for c, t in ct.items()}
        responded = sum(response.values()) > sum(baseline.values())
        return {"baseline_spikes": baseline, "response_spikes": response, "responded": bool(responded)}


def run_experiment(experiment, out, *, backend: str | None = None, realtime: bool = False, overwrite: bool = False,
                   progress: bool = True, rig: Rig | None = None) -> Path:
    """Run an experiment (a YAML path, a dict or an `ExperimentSpec`) and write its audit trail to `out`.

    **Arguments**: `backend` overrides the file's; `realtime` paces the culture to wall-clock
    time; `rig` runs the experiment on another rig than the simulated culture (e.g. a
    `ReplayRig` or a real MEA driver; no checkpoints then, so no resume).

    **Returns**: the path of the audit trail (`.h5`).
    """
    spec = experiment if isinstance(experiment, ExperimentSpec) else load_experiment(experiment)
    if not isinstance(out, (str, os.PathLike)):
        raise InvalidArgumentError(f"out must be a file path for the audit trail; got {describe(out)}")
    out = Path(out)
    run = ExperimentRun(spec, out, backend=backend, realtime=realtime, rig=rig)
    config = {**spec.config, "backend": run.env.backend_name} if run.env is not None else dict(spec.config)
    sources = {**run.pipeline.sources(), **run.sinks.sources()}
    audit = AuditTrail.create(out, config, spec.seed, run.simulators(), sources, overwrite=overwrite)
    run.run(audit, 0, progress)
    _remove_checkpoints(out)
    return out


def resume_experiment(out, *, progress: bool = True) -> Path:
    """Continue an interrupted run from its last committed trial (the culture from its checkpoint)."""
    audit = AuditTrail.open(out)
    out = Path(out)
    spec = load_experiment(audit.config)
    done = audit.completed_trials
    run = ExperimentRun(spec, out, backend=audit.config.get("backend"))
    if done:
        last = audit.trial(done - 1)["results"]
        run.env.load_state(_checkpoint_path(out, done - 1))
        for name, state in last["selectors"].items():
            run.selectors[name].restore(state)
        run.parameters = dict(last["parameters_after"])
    run.run(audit, done, progress)
    _remove_checkpoints(out)
    return out


def _remove_checkpoints(out: Path) -> None:
    for parity in (0, 1):
        _checkpoint_path(out, parity).unlink(missing_ok=True)
