"""Closed-loop streaming: a controller reads each window of the culture and decides the stimulation ahead.

`Env.stream(duration, period, controller, latency=None, realtime=False)` cuts the
next `duration` ms into windows of `period` ms. After each window is simulated,
`controller(window)` gets a `Window` (its start, its spikes, its spikes per
channel, and whatever else is recorded) and returns electrode inputs in uA,
`[rows, n_channels]` with one row per 1 ms of the stimulus grid, or None.

Latency model. A decision made from data up to time t (the end of the window
the controller just read) takes effect at t + latency, rounded up to the next
1 ms row of the stimulus grid; its rows are applied from there on. A later
decision replaces an earlier one from its own effect time on (the stimulator
holds the latest command); rows that no decision covers are zero, and rows past
the end of the stream are dropped (and counted). The latency is

- `None`: one period (the default): what is decided after window k is applied
  during window k + 2, as on a rig whose processing takes one acquisition block;
- a number of ms >= 0: a constant;
- `RandomLatency(...)`: drawn per decision from a seeded distribution;
- `"measured"` (or `MeasuredLatency()`): the controller's own wall-clock time for
  that decision, so a slow controller is late in simulated time as it would be on a rig.

Real-time pacing (`realtime=True`): simulated time is paced to wall-clock time at
every window boundary (the stream sleeps when ahead); every boundary reached
later than its wall-clock deadline is recorded as a deadline miss.

Units: time ms, electrode current uA, injected current nA.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from livn.errors import InvalidArgumentError, LivnError, describe
from livn.io import check_electrode_inputs
from livn.types import RunResult

#: Time covered by one row of the stimulus grid, ms.
ROW_MS = 1.0


class ControllerError(LivnError, RuntimeError):
    """The controller returned something that cannot be delivered, or raised; `partial` holds what was streamed."""

    def __init__(self, message: str, partial: "StreamResult | None" = None):
        super().__init__(message)
        self.partial = partial


# -- latency models -----------------------------------------------------------------------------------


class Latency:
    """How long after the data a decision takes effect (ms). Subclasses implement `__call__`."""

    def __call__(self, controller_ms: float) -> float:
        """The latency (ms) of one decision whose controller call took `controller_ms` of wall time."""
        raise NotImplementedError


@dataclass(frozen=True)
class ConstantLatency(Latency):
    """The same latency for every decision, ms."""

    ms: float

    def __post_init__(self):
        _check_non_negative("latency", self.ms)

    def __call__(self, controller_ms: float) -> float:
        return float(self.ms)


@dataclass
class RandomLatency(Latency):
    """A latency drawn per decision from a seeded distribution, ms (negative draws count as 0).

    **Arguments**

    - `distribution`: "uniform" (`low`, `high`), "normal" (`mean`, `std`) or "gamma" (`mean`, `std`).
    - `seed`: non-negative integer; the same seed gives the same latencies.
    """

    distribution: str
    seed: int = 0
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    std: float = 0.0
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self):
        if self.distribution not in ("uniform", "normal", "gamma"):
            raise InvalidArgumentError(
                f"distribution must be 'uniform', 'normal' or 'gamma'; got {describe(self.distribution)}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise InvalidArgumentError(f"seed must be a non-negative integer; got {describe(self.seed)}")
        for name in ("low", "high", "mean", "std"):
            _check_non_negative(name, getattr(self, name))
        if self.distribution == "uniform" and self.high < self.low:
            raise InvalidArgumentError(f"high must be >= low; got low={self.low}, high={self.high}")
        if self.distribution == "gamma" and self.mean <= 0:
            raise InvalidArgumentError(f"a gamma latency needs mean > 0 ms; got {self.mean}")
        self._rng = np.random.default_rng(self.seed)

    def __call__(self, controller_ms: float) -> float:
        if self.distribution == "uniform":
            value = self._rng.uniform(self.low, self.high)
        elif self.distribution == "normal":
            value = self._rng.normal(self.mean, self.std)
        elif self.std == 0:
            value = self.mean
        else:  # gamma with the given mean and std: shape k = (mean/std)^2, scale = std^2/mean
            value = self._rng.gamma((self.mean / self.std) ** 2, self.std**2 / self.mean)
        return max(0.0, float(value))


@dataclass(frozen=True)
class MeasuredLatency(Latency):
    """The controller's measured wall time, plus a fixed `extra` ms (e.g. a rig's stimulator delay)."""

    extra: float = 0.0

    def __post_init__(self):
        _check_non_negative("extra", self.extra)

    def __call__(self, controller_ms: float) -> float:
        return float(controller_ms) + float(self.extra)


def as_latency(latency, period: float) -> Latency:
    """The latency model for `Env.stream`'s `latency` argument (see the module docstring)."""
    if latency is None:
        return ConstantLatency(period)
    if isinstance(latency, Latency):
        return latency
    if isinstance(latency, str) and latency == "measured":
        return MeasuredLatency()
    if isinstance(latency, (int, float, np.integer, np.floating)) and not isinstance(latency, bool):
        return ConstantLatency(float(latency))
    raise InvalidArgumentError(
        "latency must be None (one period), a number of ms >= 0, 'measured', or a livn.streaming.Latency; "
        f"got {describe(latency)}"
    )


def _check_non_negative(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise InvalidArgumentError(f"{name} must be a finite number of ms >= 0; got {describe(value)}")


# -- what the controller sees, and what a stream returns -------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One window of a stream, as the controller sees it.

    - `index`: 0 for the first window.
    - `start`: ms since the Env's t = 0; `duration`: ms.
    - `it`, `t`: spiking gids and spike times (ms from the window's start), or None if not recorded.
    - `channels`: `(cit, ct)`, spikes per recording channel (channel id -> gids, times in ms).
    - `result`: the window's `RunResult` (voltage too, if recorded).
    """

    index: int
    start: float
    duration: float
    it: np.ndarray | None
    t: np.ndarray | None
    channels: tuple
    result: RunResult


@dataclass
class StreamResult:
    """What a stream recorded and delivered.

    - `result`: the whole stream as one `RunResult` (times from the stream's start, ms).
    - `delivered`: `[rows, n_channels]` electrode inputs (uA) applied, one row per ms.
    - `decisions`: one dict per controller call: `window`, `decided_at` (ms from the stream's
      start), `latency` (ms), `effect_at` (ms, on the stimulus grid, or None), `rows` (applied),
      `dropped_rows` (past the stream's end), `controller_ms` (wall time).
    - `deadline_misses`: with `realtime=True`, `(simulated ms, lateness ms)` of every window
      boundary reached after its wall-clock deadline.
    - `iteration_ms`: wall time of each window, simulation and controller included (ms).
    - `channel_spikes`: `(cit, ct)`, spikes per channel over the whole stream (times from its start, ms).
    """

    result: RunResult | None
    delivered: np.ndarray
    decisions: list
    deadline_misses: list
    iteration_ms: np.ndarray
    channel_spikes: tuple = ({}, {})


# -- the stream driver: one place for every backend --------------------------------------------------------


class StreamDriver:
    """Turns controller decisions into the stimulus schedule a backend streams (used by `Env.stream` and rigs).

    `schedule` is `[rows, n_neurons]` injected current (nA) on the 1 ms grid from the stream's
    start; `on_window(index, result)` is what the backend calls after each window and returns
    the half-open range of schedule rows it changed (or None).

    **Arguments** (keyword-only): `start` (ms), `n_channels`, `n_neurons` (0: no neuron-level
    schedule, as on a rig), `channels_of(result) -> (cit, ct)`, `to_cells(inputs uA) -> nA`
    (None without a schedule), `duration`, `period` (ms), `controller`, `latency` (a `Latency`),
    `realtime`, `voltage_dt` (ms, stamped on results with voltage), `inputs`: open-loop electrode
    inputs (uA, `[rows, n_channels]`) delivered as well, decisions adding to them; `on_result`:
    None, or `on_result(index, result) -> result`, applied to each window's result before the
    controller sees it (the Env adds the extracellular traces there).
    """

    def __init__(self, *, start: float, n_channels: int, n_neurons: int, channels_of, to_cells, duration: float,
                 period: float, controller, latency: Latency, realtime: bool, voltage_dt: float | None = None,
                 inputs=None, on_result=None):
        self.start = start
        self.on_result = on_result
        self.channels_of = channels_of
        self.to_cells = to_cells
        self.period = period
        self.controller = controller
        self.latency = latency
        self.realtime = realtime
        self.voltage_dt = voltage_dt
        self.rows = int(round(duration / ROW_MS))
        self.windows = int(round(duration / period))
        self.base = np.zeros((self.rows, n_channels))
        if inputs is not None:
            self.base[: len(inputs)] = inputs[: self.rows]
        self.delivered = self.base.copy()
        self.schedule = np.zeros((self.rows, n_neurons))
        if inputs is not None and n_neurons:
            self.schedule[:] = to_cells(self.delivered)
        self.results, self.decisions, self.misses, self.iteration_ms = [], [], [], []
        self.window_channels = []
        self._wall_start = None
        self._last = None

    def begin(self) -> None:
        self._wall_start = self._last = time.perf_counter()

    def on_window(self, index: int, result: RunResult, channels: tuple | None = None):
        """Called by the backend after window `index`: ask the controller, schedule its decision.

        `channels` are the window's spikes per channel where the caller has them (a rig), else
        they are computed from `result`.
        """
        result = result._replace(duration=self.period, dt=self.voltage_dt if result.v is not None else None)
        if self.on_result is not None:
            result = self.on_result(index, result)
        self.results.append(result)
        if channels is None:
            channels = self.channels_of(result)
        self.window_channels.append(channels)
        window = Window(index, self.start + index * self.period, self.period, result.it, result.t, channels, result)
        began = time.perf_counter()
        try:
            inputs = self.controller(window)
        except Exception as e:  # noqa: BLE001 - reported with what was streamed so far
            raise ControllerError(
                f"the controller raised {type(e).__name__} at window {index} (t = {window.start} ms): {e}",
                self.finish(),
            ) from e
        controller_ms = (time.perf_counter() - began) * 1e3
        changed = None if inputs is None else self._schedule(index, inputs, controller_ms)
        if inputs is None:
            self.decisions.append({"window": index, "decided_at": (index + 1) * self.period, "latency": None,
                                   "effect_at": None, "rows": 0, "dropped_rows": 0, "controller_ms": controller_ms})
        self._pace(index)
        return changed

    def _schedule(self, index: int, inputs, controller_ms: float):
        try:
            inputs = check_electrode_inputs(inputs, self.delivered.shape[1], name="the controller's inputs",
                                            row_ms=ROW_MS)
        except InvalidArgumentError as e:
            raise ControllerError(f"at window {index}: {e}", self.finish()) from None
        decided_at = (index + 1) * self.period
        latency = self.latency(controller_ms)
        first = math.ceil((decided_at + latency) / ROW_MS - 1e-9)
        stop = min(self.rows, first + inputs.shape[0])
        applied = max(0, stop - first)
        if applied:
            self.delivered[first:stop] = self.base[first:stop] + inputs[:applied]
            if self.schedule.shape[1]:
                self.schedule[first:stop] = self.to_cells(self.delivered[first:stop])
        self.decisions.append({
            "window": index, "decided_at": decided_at, "latency": latency, "effect_at": first * ROW_MS,
            "rows": applied, "dropped_rows": int(inputs.shape[0] - applied), "controller_ms": controller_ms,
        })
        return (first, stop) if applied else None

    def _pace(self, index: int) -> None:
        now = time.perf_counter()
        self.iteration_ms.append((now - self._last) * 1e3)
        if self.realtime:
            deadline = self._wall_start + (index + 1) * self.period / 1e3
            if now > deadline:
                self.misses.append(((index + 1) * self.period, (now - deadline) * 1e3))
            else:
                time.sleep(deadline - now)
        self._last = time.perf_counter()

    def finish(self) -> StreamResult:
        """The stream so far as a `StreamResult`."""
        whole = RunResult.concat(self.results) if self.results else None
        cit, ct = {}, {}
        for index, (gids, times) in enumerate(self.window_channels):
            for channel in times:
                cit.setdefault(channel, []).append(np.asarray(gids[channel], np.int64))
                ct.setdefault(channel, []).append(np.round(np.asarray(times[channel], float) + index * self.period, 6))
        channels = ({c: np.concatenate(v) for c, v in cit.items()}, {c: np.concatenate(v) for c, v in ct.items()})
        return StreamResult(whole, self.delivered, list(self.decisions), list(self.misses),
                            np.asarray(self.iteration_ms), channels)
