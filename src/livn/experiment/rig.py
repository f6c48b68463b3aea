"""Rigs: what an experiment drives. The simulated culture is one; a real MEA driver is another.

An experiment talks to its rig through four things only: the recording
`channels`, the rig's clock `time` (ms), `stimulate` (electrode inputs to deliver)
and `read` (advance and return the spikes per channel). `stream` runs a closed
loop on top of those (`livn.streaming` describes the loop and its latency model);
a rig may implement it natively, as `SimulatedRig` does through `Env.stream`.

Plugging in a real MEA: subclass `Rig` and implement

- `channels`: the electrode ids the experiment may address (ints);
- `time`: ms since the rig was started;
- `stimulate(inputs)`: queue `[rows, n_channels]` electrode currents in uA, one row
  per ms, to be delivered from the start of the next `read` (the rig converts them
  to its stimulator's commands, e.g. biphasic pulses of that amplitude);
- `read(duration)`: acquire `duration` ms while delivering what was queued and
  return a `Reading` with the spikes detected per channel (times in ms from the
  read's start).

`ReplayRig` below is such a subclass: it plays back a recording, ignoring the
stimulation, which is how the tests show that one experiment runs unchanged on
another rig. Units: time ms, electrode current uA.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from livn.errors import InvalidArgumentError, describe
from livn.io import check_electrode_inputs
from livn.streaming import ROW_MS, ControllerError, StreamDriver, StreamResult, as_latency
from livn.types import RunResult


@dataclass(frozen=True)
class Reading:
    """What a rig recorded during one `read`.

    - `start`: ms on the rig's clock; `duration`: ms.
    - `channels`: `(cit, ct)`: channel id -> gids (or -1 where the rig does not know the
      neuron) and channel id -> spike times in ms from `start`.
    - `result`: the neuron-level `RunResult` where the rig knows it (simulated), else None.
    """

    start: float
    duration: float
    channels: tuple
    result: RunResult | None = None


class Rig(abc.ABC):
    """A culture on an MEA that an experiment can stimulate and record (see the module docstring)."""

    @property
    @abc.abstractmethod
    def channels(self) -> np.ndarray:
        """Channel (electrode) ids, int."""

    @property
    @abc.abstractmethod
    def time(self) -> float:
        """ms since the rig started."""

    @abc.abstractmethod
    def stimulate(self, inputs) -> None:
        """Queue `[rows, n_channels]` electrode inputs (uA, one row per ms) for the start of the next `read`."""

    @abc.abstractmethod
    def read(self, duration: float) -> Reading:
        """Acquire `duration` ms (delivering what was queued) and return what was recorded."""

    def describe(self) -> dict:
        """What to write into an audit trail about this rig."""
        return {"rig": type(self).__name__, "channels": [int(c) for c in self.channels]}

    def check_inputs(self, inputs) -> np.ndarray:
        """`inputs` as a float `[rows, n_channels]` array of finite uA, or an error saying what is accepted."""
        return check_electrode_inputs(inputs, len(self.channels), name="electrode inputs", row_ms=ROW_MS)

    def stream(self, duration: float, period: float, controller, latency=None, realtime: bool = False,
               inputs=None) -> StreamResult:
        """A closed loop of `read(period)` and `stimulate(...)`, with `livn.streaming`'s latency rule.

        The controller gets a `livn.streaming.Window` per period (neuron-level fields where
        the rig knows them) and returns electrode inputs or None, as for `Env.stream`.
        """
        driver = StreamDriver(
            start=self.time, n_channels=len(self.channels), n_neurons=0, channels_of=None, to_cells=None,
            duration=duration, period=period, controller=controller, latency=as_latency(latency, period),
            realtime=realtime, inputs=None if inputs is None else self.check_inputs(inputs),
        )
        driver.begin()
        rows = int(round(period / ROW_MS))
        for index in range(driver.windows):
            block = driver.delivered[index * rows : (index + 1) * rows]
            if block.any():
                self.stimulate(block)
            reading = self.read(period)
            result = reading.result
            if result is None:  # channel-level only: gid -1 for every spike
                cit, ct = reading.channels
                times = np.sort(np.concatenate([np.asarray(t, float) for t in ct.values()])) if ct else np.zeros(0)
                result = RunResult(np.full(len(times), -1, np.int64), times, None, None)
            driver.on_window(index, result, reading.channels)
        return driver.finish()


class SimulatedRig(Rig):
    """The simulated culture of an `Env` as a rig; `stream` runs `Env.stream` (fast on every backend)."""

    def __init__(self, env):
        from livn.env import Env

        if not isinstance(env, Env) or env.backend is None:
            raise InvalidArgumentError(f"env must be a built livn.env.Env (Env(...).init()); got {describe(env)}")
        self.env = env
        self._queued = None

    @property
    def channels(self) -> np.ndarray:
        return np.asarray(self.env.io.channel_ids)

    @property
    def time(self) -> float:
        return self.env.t

    def stimulate(self, inputs) -> None:
        self._queued = self.check_inputs(inputs)

    def read(self, duration: float) -> Reading:
        start = self.env.t
        queued, self._queued = self._queued, None
        stimulus = None if queued is None else self.env.cell_stimulus(queued[: int(np.ceil(duration / ROW_MS))])
        result = self.env.run(duration, stimulus)
        channels = self.env.channel_recording(result.it, result.t) if result.it is not None else ({}, {})
        return Reading(start, duration, channels, result)

    def stream(self, duration: float, period: float, controller, latency=None, realtime: bool = False,
               inputs=None) -> StreamResult:
        return self.env.stream(duration, period, controller, latency=latency, realtime=realtime, inputs=inputs)

    def describe(self) -> dict:
        env = self.env
        return {**super().describe(), "system": env.system.name, "backend": env.backend_name, "seed": env.seed}


class ReplayRig(Rig):
    """Plays back recorded spikes per channel, window after window; stimulation is accepted and ignored.

    **Arguments**

    - `channel_spikes`: `(channel ids, times in ms)` of every recorded spike, times from the recording's start.
    - `channels`: the channel ids of the recording.
    - `duration`: ms of recording available; reading past it raises.
    """

    def __init__(self, channel_spikes, channels, duration: float):
        ids, times = (np.asarray(a) for a in channel_spikes)
        if ids.shape != times.shape or ids.ndim != 1:
            raise InvalidArgumentError(f"channel_spikes must be two 1-d arrays of equal length; got {describe(ids)}")
        self._ids, self._times = ids.astype(np.int64), times.astype(float)
        self._channels = np.asarray(channels, dtype=np.int64)
        self._duration = float(duration)
        self._t = 0.0
        self.stimuli = []  # (time ms, inputs uA) of every stimulate call, for inspection

    @classmethod
    def from_result(cls, env, result: RunResult, duration: float) -> "ReplayRig":
        """A replay of a recorded `RunResult` of `env`'s culture (spikes mapped to its channels)."""
        cit, ct = env.channel_recording(result.it, result.t)
        ids = np.concatenate([np.full(len(ct[c]), c) for c in ct]) if ct else np.zeros(0, np.int64)
        times = np.concatenate([np.asarray(ct[c]) for c in ct]) if ct else np.zeros(0)
        return cls((ids, times), env.io.channel_ids, duration)

    @property
    def channels(self) -> np.ndarray:
        return self._channels

    @property
    def time(self) -> float:
        return self._t

    def stimulate(self, inputs) -> None:
        self.stimuli.append((self._t, self.check_inputs(inputs)))

    def read(self, duration: float) -> Reading:
        start, stop = self._t, self._t + duration
        if stop > self._duration + 1e-9:
            raise InvalidArgumentError(f"the replay holds {self._duration} ms; cannot read up to {stop} ms")
        inside = (self._times >= start) & (self._times < stop)
        cit, ct = {}, {}
        for channel in self._channels.tolist():
            mine = inside & (self._ids == channel)
            cit[channel] = np.full(int(mine.sum()), -1, np.int64)
            ct[channel] = np.round(self._times[mine] - start, 6)
        self._t = stop
        return Reading(start, duration, (cit, ct))


__all__ = ["ControllerError", "Reading", "ReplayRig", "Rig", "SimulatedRig"]
