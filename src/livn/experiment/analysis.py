"""What the shipped experiments measured, read back from their audit trails.

```python
from livn.experiment import read_audit
from livn.experiment.analysis import recruitment, burst_rate

curves = recruitment(read_audit("stimulus_response.h5"))
curves["thresholds"][5]                      # uA, or None
burst_rate(read_audit("burst_quieting.h5"))  # network bursts per minute
```

`audit` is anything with `config` (the experiment as run), `completed_trials` and
`trial(i)` (a `livn.experiment.audit.AuditTrail`). Times are ms, currents uA, rates Hz.
"""

from __future__ import annotations

import numpy as np

from livn.errors import InvalidArgumentError


def _trials(audit):
    trials = (audit.trial(i) for i in range(audit.completed_trials))  # each read from the file once
    return [trial for trial in trials if trial["complete"]]


def recruitment(audit, parameter: str = "amplitude_uA") -> dict:
    """Recruitment curves and threshold estimates per channel of a stimulus-response run.

    The curve of channel c is its mean `response_spikes[c]` (spikes in the stimulus + post
    windows) per value of `parameter` over the complete trials. The baseline of channel c is
    its `baseline_spikes[c]` (spikes in the pre window) of every complete trial, scaled to the
    length of the response window ((stimulus_ms + post_ms) / pre_ms); its mean and standard
    error (SE, sample std / sqrt(n)) over those trials give the rule:

        threshold(c) = the smallest value whose mean response > baseline mean + 2 SE

    (None if no value's does). With a silent baseline (SE 0) any response above the mean counts.

    **Returns**: a dict with `amplitudes` (sorted values of `parameter`), `trials` (complete
    trials per value), `curves` (channel -> mean response per amplitude, spikes),
    `baseline` (channel -> (mean, SE), spikes per response window) and `thresholds`
    (channel -> value or None). Channels are ints.
    """
    windows = audit.config["protocol"]["windows"]
    pre = float(windows.get("pre_ms", 0))
    response_ms = float(windows.get("stimulus_ms", 0)) + float(windows.get("post_ms", 0))
    if pre <= 0 or response_ms <= 0:
        raise InvalidArgumentError(
            f"recruitment needs a baseline and a response window; the experiment has pre_ms={pre}, "
            f"stimulus_ms + post_ms={response_ms}"
        )
    trials = [t for t in _trials(audit) if "response_spikes" in t["results"] and parameter in t["parameters"]]
    if not trials:
        raise InvalidArgumentError(f"recruitment: no complete trial with response_spikes and {parameter!r}")
    values = np.array([float(t["parameters"][parameter]) for t in trials])
    amplitudes = sorted(set(values.tolist()))
    channels = sorted({int(c) for t in trials for c in t["results"]["response_spikes"]})

    def counts(key, channel):
        return np.array([float({int(c): v for c, v in t["results"][key].items()}.get(channel, 0)) for t in trials])

    curves, baseline, thresholds = {}, {}, {}
    for channel in channels:
        response = counts("response_spikes", channel)
        base = counts("baseline_spikes", channel) * (response_ms / pre)
        se = float(base.std(ddof=1) / np.sqrt(len(base))) if len(base) > 1 else 0.0
        curves[channel] = [float(response[values == a].mean()) for a in amplitudes]
        baseline[channel] = (float(base.mean()), se)
        above = [a for a, r in zip(amplitudes, curves[channel]) if r > base.mean() + 2 * se]
        thresholds[channel] = above[0] if above else None
    return {"amplitudes": amplitudes, "trials": {a: int(np.sum(values == a)) for a in amplitudes},
            "curves": curves, "baseline": baseline, "thresholds": thresholds}


def burst_rate(audit, num_neurons: int = 100, **burst_options) -> float:
    """Network bursts per minute over the complete trials (`livn.analysis.network_bursts` on each trial's spikes).

    `num_neurons` is the culture's number of neurons (S2: 100); `burst_options` go to `network_bursts`.
    """
    from livn.analysis import network_bursts

    trials = _trials(audit)
    count, duration = 0, 0.0
    for trial in trials:
        gids, times = trial["spikes"]
        count += len(network_bursts(gids, times - trial["start_ms"], num_neurons, trial["duration_ms"], **burst_options))
        duration += trial["duration_ms"]
    if duration <= 0:
        raise InvalidArgumentError("burst_rate: the audit has no complete trial")
    return count / duration * 60e3


def pulses_delivered(audit) -> int:
    """Pulses delivered over the complete trials: onsets (a row > 0 after a row of 0) per electrode."""
    total = 0
    for trial in _trials(audit):
        for stimulus in trial["stimuli"]:
            on = np.asarray(stimulus["inputs_uA"]) > 0
            total += int(np.count_nonzero(on[1:] & ~on[:-1]) + np.count_nonzero(on[:1]))
    return total


def population_rate(audit, num_neurons: int = 100, second_half: bool = False) -> float:
    """Mean population rate (Hz) over the complete trials, or over the second half of each."""
    spikes, duration = 0, 0.0
    for trial in _trials(audit):
        gids, times = trial["spikes"]
        start, length = trial["start_ms"], trial["duration_ms"]
        if second_half:
            start, length = start + length / 2, length / 2
        spikes += int(np.count_nonzero(times >= start))
        duration += length
    return spikes / num_neurons / (duration / 1e3)
