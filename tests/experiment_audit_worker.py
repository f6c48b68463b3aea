"""Run by tests/test_experiment_audit.py as `python experiment_audit_worker.py PATH SEED N_TRIALS`.

Writes N_TRIALS trials (the data of trial i is `make_trial(SEED, i)`) to a new audit trail
at PATH, printing `committed i` after each commit, then finishes it and prints `finished`.
The test kills it with SIGKILL at a random moment.
"""

import sys

import numpy as np

from livn.experiment.audit import AuditTrail

CONFIG = {"protocol": "ramp", "amplitudes_uA": [0.5, 1.0, 2.0], "nested": {"a": None, "b": True}}
STEPS = {"encode": "def encode(obs):\n    return obs * 2\n", "decode": "def decode(cit, ct):\n    return len(cit)\n"}


def make_trial(seed: int, i: int, n_spikes: int = 20_000) -> dict:
    """The data of trial `i`: deterministic in (seed, i), with random sizes, some empty parts."""
    rng = np.random.default_rng([seed, i])
    n_stim, n_channels = int(rng.integers(0, 4)), 16
    chunks = [int(rng.integers(0, n_spikes)) for _ in range(int(rng.integers(0, 3)))]
    spikes = [(rng.integers(0, 10_000, n).astype(np.int64), rng.random(n) * 1000) for n in chunks]
    channels = [({c: rng.integers(0, 100, int(rng.integers(0, 50))) for c in range(int(rng.integers(0, 16)))},) for _ in chunks]
    channels = [(cit, {c: rng.random(len(g)) * 1000 for c, g in cit.items()}) for (cit,) in channels]
    return dict(
        start_ms=float(i * 1000.0 + rng.random()),
        end_ms=float(i * 1000.0 + 999.5),
        parameters={"amplitude_uA": float(rng.random()), "channel": int(rng.integers(16)), "tag": f"t{i}"},
        stimuli=[(float(rng.random() * 100), rng.normal(size=(int(rng.integers(1, 20)), n_channels))) for _ in range(n_stim)],
        changes=[(float(rng.random()), "amplitude_uA", float(rng.random()), [1, "x"], "selector")
                 for _ in range(int(rng.integers(0, 3)))],
        events=[(float(rng.random()), "reward", {"value": float(rng.random())}) for _ in range(int(rng.integers(0, 3)))],
        spikes=spikes,
        channels=channels,
        latency=[float(x) for x in rng.random(int(rng.integers(0, 10)))],
        results={"reward": float(rng.random()), "ok": bool(rng.integers(2))},
    )


def write_trial(trail, i: int, t: dict) -> None:
    trail.begin_trial(i, t["start_ms"], t["parameters"])
    for start, inputs in t["stimuli"]:
        trail.record_stimulus(start, inputs)
    for change in t["changes"]:
        trail.record_parameter_change(*change)
    for event in t["events"]:
        trail.record_event(*event)
    for (gids, times), channel_spikes in zip(t["spikes"], t["channels"]):
        trail.record_spikes(gids, times, channel_spikes)
    for ms in t["latency"]:
        trail.record_latency(ms)
    trail.end_trial(t["results"], end_ms=t["end_ms"])


if __name__ == "__main__":
    path, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    trail = AuditTrail.create(path, CONFIG, seed, {"brian2": "2.7.1"}, STEPS)
    for i in range(n):
        write_trial(trail, i, make_trial(seed, i))
        print(f"committed {i}", flush=True)
    trail.finish()
    print("finished", flush=True)
