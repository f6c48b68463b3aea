"""Built-in closed-loop steps, named in experiment files as `livn.experiment.steps:ClassName`.

- `RateClamp`: holds the population firing rate at a setpoint with a PI controller on the
  stimulation amplitude (after the response clamp of Wallach et al. 2011 and the optogenetic
  feedback control of Newman et al. 2015); `examples/experiments/activity_clamp.yml`.
- `ChannelCountsCSV` (a sink): appends every window's spike count per channel to a CSV file.
- `BurstQuieting`: distributed brief pulses on a rotating set of electrodes, at a rate that
  rises with the recent population rate (after Wagenaar et al. 2005), or the same number of
  pulses at seeded random times (open loop); `examples/experiments/burst_quieting.yml`.

Both see one window of `period_ms` per call (`data["window"]`: its gids `it` and times `t`)
and return `stimulus` in uA, `[rows, n_channels]` with one row per ms, applied with the
experiment's latency (by default one period later). Rates are in Hz, times in ms.
"""

from __future__ import annotations

import numpy as np

from livn.errors import InvalidArgumentError
from livn.experiment.pipeline import Step


def _population_rate(window, neurons: int) -> float:
    """Spikes in the window per neuron per second (Hz)."""
    spikes = 0 if window.it is None else int(np.count_nonzero(np.asarray(window.it) >= 0))
    return spikes / neurons / (window.duration / 1e3)


def _neurons(option, context: dict) -> int:
    neurons = option if option is not None else context.get("num_neurons")
    if not isinstance(neurons, int) or neurons < 1:
        raise InvalidArgumentError(
            f"neurons: the number of neurons of the culture is not known to the step (context num_neurons = "
            f"{context.get('num_neurons')!r}); give the option `neurons` (an integer >= 1)"
        )
    return neurons


def _know_the_culture(step, context: dict) -> None:
    """Set `step.neurons` and `step.n_channels` from the context; check `step.channels` against them."""
    step.neurons = _neurons(step.neurons_option, context)
    step.n_channels = int(context.get("n_channels") or 16)
    bad = [c for c in step.channels if not 0 <= c < step.n_channels]
    if bad:
        raise InvalidArgumentError(f"channels: {bad} are not channels 0..{step.n_channels - 1}")


class RateClamp(Step):
    """Clamp the population firing rate at `setpoint_hz` with a PI controller on the stimulation amplitude.

    Every period the step measures the population rate `r` (spikes in the window / neurons /
    period, Hz), smooths it with a first-order filter of time constant `smoothing_ms` (0: none),
    and sets the amplitude for the next period:

        e = setpoint_hz - r_smoothed
        amplitude = clip(kp * e + ki * integral(e dt), min_uA, max_uA)     (uA; dt in s)

    on every electrode in `channels` (constant current for the whole period). Anti-windup by
    conditional integration: the integral does not grow while the output is saturated in the
    direction the error pushes it.

    Results (updated every period, so the trial's last value covers the whole trial):
    `clamp_rate_hz` (mean rate over the second half of the trial's windows so far),
    `clamp_error_pct` (100 * |that - setpoint| / setpoint), `clamp_mean_uA` (mean amplitude
    delivered over the same windows; 0 when not `enabled`), `clamp_setpoint_hz`.

    **Arguments**
    - `setpoint_hz`: the target population rate, Hz (> 0).
    - `kp`: proportional gain, uA per Hz; `ki`: integral gain, uA per (Hz s).
    - `channels`: the electrodes to stimulate (channel ids, positions in the rig's channels).
    - `max_uA`, `min_uA`: the output range, uA.
    - `smoothing_ms`: time constant of the rate filter, ms.
    - `neurons`: the number of neurons (default: the culture's, from the context).
    - `enabled`: False records the rate without stimulating (the uncontrolled control condition).
    """

    def __init__(self, setpoint_hz: float, kp: float = 0.1, ki: float = 1.0, channels=(5, 6, 9, 10),
                 max_uA: float = 10.0, min_uA: float = 0.0, smoothing_ms: float = 0.0, neurons: int | None = None,
                 enabled: bool = True):
        if not setpoint_hz > 0:
            raise InvalidArgumentError(f"setpoint_hz must be > 0 Hz; got {setpoint_hz!r}")
        if not max_uA >= min_uA:
            raise InvalidArgumentError(f"max_uA must be >= min_uA; got min_uA={min_uA!r}, max_uA={max_uA!r}")
        self.setpoint, self.kp, self.ki = float(setpoint_hz), float(kp), float(ki)
        self.channels, self.max_uA, self.min_uA = [int(c) for c in channels], float(max_uA), float(min_uA)
        self.smoothing_ms, self.neurons_option, self.enabled = float(smoothing_ms), neurons, bool(enabled)

    def setup(self, context: dict) -> None:
        _know_the_culture(self, context)
        self.trial = None

    def _new_trial(self, trial) -> None:
        self.trial, self.integral, self.smoothed = trial, 0.0, None
        self.rate_sums, self.amplitude_sums, self.amplitude = [0.0], [0.0], 0.0

    def process(self, data: dict, context: dict) -> dict:
        window = data["window"]
        if data["trial"] != self.trial:
            self._new_trial(data["trial"])
        rate = _population_rate(window, self.neurons)
        self.rate_sums.append(self.rate_sums[-1] + rate)
        delivered = self.amplitude if self.enabled else 0.0  # what this window received (one period late: approx.)
        self.amplitude_sums.append(self.amplitude_sums[-1] + delivered)
        if self.smoothed is None or self.smoothing_ms <= 0:
            self.smoothed = rate if self.smoothed is None or self.smoothing_ms <= 0 else self.smoothed
        else:
            alpha = 1.0 - np.exp(-window.duration / self.smoothing_ms)
            self.smoothed += alpha * (rate - self.smoothed)
        error = self.setpoint - self.smoothed
        dt = window.duration / 1e3
        proposed = self.integral + error * dt
        raw = self.kp * error + self.ki * proposed
        if not ((raw > self.max_uA and error > 0) or (raw < self.min_uA and error < 0)):  # anti-windup
            self.integral = proposed
        self.amplitude = float(np.clip(self.kp * error + self.ki * self.integral, self.min_uA, self.max_uA))
        n = len(self.rate_sums) - 1
        half = n // 2
        mean_rate = (self.rate_sums[n] - self.rate_sums[half]) / (n - half)
        results = {
            "clamp_setpoint_hz": self.setpoint,
            "clamp_rate_hz": mean_rate,
            "clamp_error_pct": 100.0 * abs(mean_rate - self.setpoint) / self.setpoint,
            "clamp_mean_uA": (self.amplitude_sums[n] - self.amplitude_sums[half]) / (n - half),
        }
        if not self.enabled:
            return {"results": results}
        stimulus = np.zeros((int(round(window.duration)), self.n_channels))
        stimulus[:, self.channels] = self.amplitude
        return {"stimulus": stimulus, "results": results}


class BurstQuieting(Step):
    """Distributed brief pulses whose rate follows the recent population activity (closed loop), or open loop.

    Closed loop: every period the step updates a smoothed population rate `r` (time constant
    `smoothing_ms`) and sets the aggregate pulse rate

        rate = clip(base_rate_hz + gain * max(0, r - threshold_hz), 0, max_rate_hz)     (pulses/s)

    so stimulation rises as activity builds toward a burst. Pulses (`amplitude_uA` for
    `pulse_ms`, on one electrode each, taking `channels` in turn) are spread evenly over the
    next period; a fractional pulse count carries over to the next period.

    Open loop (`open_loop_stimuli` given): `open_loop_stimuli` pulses at times drawn uniformly
    over `open_loop_duration_ms` from the trial start with `open_loop_seed`, rotating over the
    same channels, whatever the culture does: the control for the closed loop's timing.

    Results (updated every period): `stimuli` (pulses scheduled in this trial so far) and
    `stimulus_rate_hz` (their mean rate over the trial so far).

    **Arguments**
    - `channels`: the electrodes taken in turn (channel ids).
    - `amplitude_uA`, `pulse_ms`: each pulse, uA and whole ms.
    - `base_rate_hz`, `gain` (pulses/s per Hz of population rate), `threshold_hz`, `max_rate_hz`,
      `smoothing_ms`: the closed-loop rate law above.
    - `neurons`: the number of neurons (default: the culture's, from the context).
    - `open_loop_stimuli`, `open_loop_duration_ms`, `open_loop_seed`: the open-loop schedule.
    """

    def __init__(self, channels=(0, 3, 5, 6, 9, 10, 12, 15), amplitude_uA: float = 8.0, pulse_ms: int = 1,
                 base_rate_hz: float = 10.0, gain: float = 10.0, threshold_hz: float = 4.0, max_rate_hz: float = 100.0,
                 smoothing_ms: float = 20.0, neurons: int | None = None, open_loop_stimuli: int | None = None,
                 open_loop_duration_ms: float | None = None, open_loop_seed: int = 0):
        if not channels:
            raise InvalidArgumentError("channels: give at least one electrode to stimulate")
        if open_loop_stimuli is not None and not (open_loop_duration_ms and open_loop_duration_ms > 0):
            raise InvalidArgumentError("open_loop_duration_ms: an open-loop schedule needs the trial length (ms > 0)")
        self.channels = [int(c) for c in channels]
        self.amplitude, self.pulse_ms = float(amplitude_uA), max(1, int(pulse_ms))
        self.base, self.gain, self.threshold, self.max_rate = float(base_rate_hz), float(gain), float(threshold_hz), \
            float(max_rate_hz)
        self.smoothing_ms, self.neurons_option = float(smoothing_ms), neurons
        self.open_loop = None
        if open_loop_stimuli is not None:
            rng = np.random.default_rng(int(open_loop_seed))
            self.open_loop = np.sort(rng.uniform(0.0, float(open_loop_duration_ms), int(open_loop_stimuli)))

    def setup(self, context: dict) -> None:
        _know_the_culture(self, context)
        self.trial, self.next_channel = None, 0

    def process(self, data: dict, context: dict) -> dict:
        window = data["window"]
        if data["trial"] != self.trial:
            self.trial, self.trial_start, self.smoothed, self.credit, self.count = data["trial"], window.start, 0.0, \
                0.0, 0
        rows = int(round(window.duration))
        if self.open_loop is not None:
            # the pulses due in the period this decision is applied to: with the default latency (one
            # period) what is decided after window k is applied during window k + 2
            lo = window.start - self.trial_start + 2 * window.duration
            times = self.open_loop[(self.open_loop >= lo) & (self.open_loop < lo + window.duration)]
            offsets = np.floor(times - lo).astype(int)
        else:
            rate = _population_rate(window, self.neurons)
            alpha = 1.0 - np.exp(-window.duration / self.smoothing_ms) if self.smoothing_ms > 0 else 1.0
            self.smoothed += alpha * (rate - self.smoothed)
            pulse_rate = np.clip(self.base + self.gain * max(0.0, self.smoothed - self.threshold), 0.0, self.max_rate)
            self.credit += pulse_rate * window.duration / 1e3
            n = int(self.credit)
            self.credit -= n
            offsets = (np.arange(n) * rows // max(n, 1)).astype(int)
        results = {"stimuli": self.count + len(offsets)}
        if not len(offsets):
            self.count = results["stimuli"]
            results["stimulus_rate_hz"] = 1e3 * self.count / (window.start - self.trial_start + window.duration)
            return {"results": results}
        stimulus = np.zeros((rows, self.n_channels))
        for offset in offsets:
            channel = self.channels[self.next_channel % len(self.channels)]
            self.next_channel += 1
            stimulus[offset : offset + self.pulse_ms, channel] = self.amplitude
        self.count = results["stimuli"]
        results["stimulus_rate_hz"] = 1e3 * self.count / (window.start - self.trial_start + window.duration)
        return {"stimulus": stimulus, "results": results}


class ChannelCountsCSV(Step):
    """A sink: appends one row per window to the CSV file `path`: trial, window start (ms), spikes per channel.

    The file gets a header on first use and each row is flushed as it is written, so a killed run
    keeps every window that was handed over. Returns nothing (sinks do not steer the culture).
    """

    def __init__(self, path: str, channels: int = 16):
        if not isinstance(path, str) or not path:
            raise InvalidArgumentError(f"path must be a file path for the CSV; got {path!r}")
        self.path, self.channels = path, int(channels)

    def setup(self, context):
        import os

        self._file = open(self.path, "a", buffering=1)  # noqa: SIM115 - kept open for the run, closed in teardown
        if os.path.getsize(self.path) == 0:
            self._file.write("trial,start_ms," + ",".join(f"channel_{c}" for c in range(self.channels)) + "\n")

    def process(self, data, context):
        counts = [len(data["window"].channels[1].get(c, ())) for c in range(self.channels)]
        self._file.write(f"{data['trial']},{data['window'].start:g}," + ",".join(map(str, counts)) + "\n")
        return None

    def teardown(self):
        self._file.close()
