"""The audit trail: exact round trips, crash safety (kill -9, failing commits), resuming, refusals."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import livn
from livn.errors import InvalidArgumentError, LivnError
from livn.experiment import audit
from livn.experiment.audit import AuditError, AuditTrail, read_audit

sys.path.insert(0, str(Path(__file__).parent))
from experiment_audit_worker import CONFIG, STEPS, make_trial, write_trial  # noqa: E402

WORKER = Path(__file__).parent / "experiment_audit_worker.py"


def assert_trial(read: dict, t: dict, i: int) -> None:
    """`read` (from `AuditTrail.trial`) is exactly what `write_trial` wrote from `t`, bit for bit."""
    assert read["index"] == i and read["complete"] is True
    assert read["start_ms"] == t["start_ms"] and read["duration_ms"] == t["end_ms"] - t["start_ms"]
    assert read["parameters"] == t["parameters"] and read["results"] == t["results"]
    assert len(read["stimuli"]) == len(t["stimuli"])
    for s, (start, inputs) in zip(read["stimuli"], t["stimuli"]):
        assert s["start_ms"] == start and s["inputs_uA"].dtype == np.float64
        np.testing.assert_array_equal(s["inputs_uA"], inputs, strict=True)
    assert read["changes"] == [dict(time_ms=a, name=b, old=c, new=d, who=e) for a, b, c, d, e in t["changes"]]
    assert read["events"] == [dict(time_ms=a, name=b, data=c) for a, b, c in t["events"]]
    gids, times = read["spikes"]
    want_g = np.concatenate([g for g, _ in t["spikes"]] or [np.zeros(0, np.int64)])
    want_t = np.concatenate([x for _, x in t["spikes"]] or [np.zeros(0)])
    np.testing.assert_array_equal(gids, want_g, strict=True)
    assert times.dtype == np.float64 and times.tobytes() == want_t.tobytes()
    cit, ct = read["channel_spikes"]
    channels = sorted({c for cit_, _ in t["channels"] for c in cit_})
    assert sorted(cit) == channels and sorted(ct) == channels
    for c in channels:
        np.testing.assert_array_equal(cit[c], np.concatenate([x[0][c] for x in t["channels"] if c in x[0]]).astype(np.int64), strict=True)
        assert ct[c].tobytes() == np.concatenate([x[1][c] for x in t["channels"] if c in x[1]]).tobytes()
    assert read["latency_ms"].tobytes() == np.array(t["latency"], dtype=np.float64).tobytes()


def new_trail(path, seed=1):
    return AuditTrail.create(path, CONFIG, seed, {"brian2": "2.7.1"}, STEPS)


def test_round_trip_exact_before_and_after_finish(tmp_path):
    path = tmp_path / "run.h5"
    trail = new_trail(path, seed=2**70)  # seeds bigger than int64 survive
    trials = [make_trial(5, i, n_spikes=300) for i in range(6)]
    for i, t in enumerate(trials):
        write_trial(trail, i, t)
    trail.record_error(5500.0, "decode", ZeroDivisionError("division by zero"), "Traceback ...\n", "skip")
    trail.record_event(5600.0, "pause", {"why": "operator"})
    for view in (read_audit(path), trail):  # unfinished: header file plus journal
        assert view.completed_trials == 6 and view.status == "running"
        for i, t in enumerate(trials):
            assert_trial(view.trial(i), t, i)
    assert sorted(p.name for p in (tmp_path / "run.h5.journal").iterdir()) == [f"{u:06d}.h5" for u in range(1, 9)]
    trail.finish()
    assert sorted(os.listdir(tmp_path)) == ["run.h5"]  # one file when finished
    for view in (read_audit(path), trail):
        assert view.completed_trials == 6 and view.status == "complete"
        for i, t in enumerate(trials):
            assert_trial(view.trial(i), t, i)
        assert view.config == CONFIG and view.seed == 2**70 and view.step_sources == STEPS
        assert view.step_sha256["encode"] == hashlib.sha256(STEPS["encode"].encode()).hexdigest()
        p = view.provenance
        assert p["livn"] == livn.__version__ and p["simulators"] == {"brian2": "2.7.1"}
        assert {"python", "platform", "start_time"} <= set(p)
        assert [e["name"] for e in view.events] == ["start", "error", "pause", "end"]
        (err,) = view.errors
        assert err == dict(time_ms=5500.0, trial=None, step="decode", type="ZeroDivisionError",
                           message="division by zero", traceback="Traceback ...\n", policy="skip")
    with h5py.File(path) as f:  # a neuroscientist can read it with h5py alone
        assert json.loads(f["config"].asstr()[()]) == CONFIG
        assert set(f["trials/000002/channel_spikes"]) == {"channels", "channel", "gid", "time_ms"}


def test_kill_9_at_random_moments_loses_at_most_the_trial_in_progress(tmp_path):
    rng = random.Random(1234)
    procs = []
    for k, n_trials in enumerate([60, 60, 60, 60, 3, 3]):  # the short runs may be killed in or after finish
        path = tmp_path / f"run{k}.h5"
        p = subprocess.Popen([sys.executable, str(WORKER), str(path), str(k), str(n_trials)],
                             stdout=subprocess.PIPE, text=True)
        procs.append((k, path, p, rng.uniform(0.0, 0.45), n_trials))
    for _, _, p, _, _ in procs:
        assert p.stdout.readline().startswith("committed 0")  # every worker is writing trials
    ready = time.monotonic()
    for _, _, p, delay, _ in sorted(procs, key=lambda x: x[3]):
        time.sleep(max(0.0, ready + delay - time.monotonic()))
        p.send_signal(signal.SIGKILL)
        p.wait()
    statuses = []
    for k, path, p, delay, n_trials in procs:
        committed = [int(line.split()[1]) for line in ["committed 0"] + p.stdout.read().splitlines()
                     if line.startswith("committed")]
        view = read_audit(path)
        print(f"worker {k}: killed after {delay:.3f} s, reported {committed[-1] + 1}, holds "
              f"{view.completed_trials}, {view.status}")
        assert view.completed_trials >= committed[-1] + 1, (k, delay)
        assert view.config == CONFIG and view.seed == k
        for i in range(view.completed_trials):
            assert_trial(view.trial(i), make_trial(k, i), i)
        if view.status == "running":  # killed before the end: resume, finish, read again
            trail = AuditTrail.open(path)
            n = trail.completed_trials
            for i in range(n, n + 2):
                write_trial(trail, i, make_trial(k, i, n_spikes=10))
            trail.finish()
        statuses.append(view.status)
        assert read_audit(path).completed_trials == (n_trials if view.status == "complete" else n + 2)
        assert [q for q in os.listdir(tmp_path) if q.startswith(f"run{k}.")] == [path.name]
    assert "running" in statuses  # some kills hit the loop of trials


def test_a_failing_commit_leaves_nothing_half_written(tmp_path, monkeypatch):
    path = tmp_path / "run.h5"
    trail = new_trail(path)
    t0, t1 = make_trial(9, 0, 100), make_trial(9, 1, 100)
    write_trial(trail, 0, t0)
    real = audit._write_trial

    def half_then_fail(g, t):
        g["spikes/gid"] = np.arange(10)
        raise OSError("disk full")

    monkeypatch.setattr(audit, "_write_trial", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_trial(trail, 1, t1)
    assert sorted(p.name for p in (tmp_path / "run.h5.journal").iterdir()) == ["000001.h5"]  # no temporary left
    assert read_audit(path).completed_trials == 1
    monkeypatch.setattr(audit, "_write_trial", real)
    trail.end_trial(t1["results"], end_ms=t1["end_ms"])  # the trial stayed open: committing again works
    assert_trial(read_audit(path).trial(1), t1, 1)

    before = path.read_bytes()
    monkeypatch.setattr(audit.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("rename failed")))
    with pytest.raises(OSError, match="rename failed"):
        trail.finish()
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["run.h5", "run.h5.journal"]
    view = read_audit(path)
    assert view.status == "running" and view.completed_trials == 2
    monkeypatch.setattr(audit.shutil, "rmtree", lambda *a, **k: None)  # as if killed right after the rename
    trail.finish()
    monkeypatch.undo()
    assert (tmp_path / "run.h5.journal").is_dir()  # merged units left behind are not read twice
    view = read_audit(path)
    assert view.status == "complete" and view.completed_trials == 2 and len(view.events) == 2
    assert_trial(view.trial(1), t1, 1)


def test_resume_after_a_crash_mid_trial(tmp_path):
    path = tmp_path / "run.h5"
    trail = new_trail(path)
    write_trial(trail, 0, make_trial(3, 0, 50))
    trail.begin_trial(1, 1000.0, {"a": 1})
    trail.record_error(1001.0, "policy", "KeyError", "tb", "retry")  # pending with trial 1: lost with it
    del trail  # the process dies
    (path.parent / "run.h5.journal" / ".000002.h5.x.tmp").write_bytes(b"half")  # a killed write's leftover
    trail = AuditTrail.open(path)
    assert trail.completed_trials == 1 and trail.errors == []
    assert not (path.parent / "run.h5.journal" / ".000002.h5.x.tmp").exists()
    with pytest.raises(AuditError, match="out of order"):
        trail.begin_trial(2, 0.0, {})
    trail.begin_trial(1, 1000.0, {"a": 2})
    trail.record_error(1001.0, "policy", RuntimeError("boom"), "tb", "abort")
    trail.finish("failed", end_ms=1002.0)  # the open trial is kept, flagged incomplete
    view = read_audit(path)
    assert view.status == "failed" and view.completed_trials == 2
    t1 = view.trial(1)
    assert t1["complete"] is False and t1["parameters"] == {"a": 2} and t1["duration_ms"] == 2.0
    assert [e["policy"] for e in t1["errors"]] == ["abort"] and view.events[-1]["time_ms"] == 1002.0
    with pytest.raises(AuditError, match="finished"):
        AuditTrail.open(path)
    with pytest.raises(AuditError, match="finished"):
        trail.begin_trial(2, 0.0, {})


def test_misuse_and_bad_arguments_are_refused(tmp_path):
    path = tmp_path / "run.h5"
    trail = new_trail(path)
    with pytest.raises(FileExistsError):
        new_trail(path)
    with pytest.raises(AuditError, match="begin_trial"):
        trail.record_spikes([1], [1.0])
    with pytest.raises(AuditError, match="begin_trial"):
        trail.end_trial({}, end_ms=1.0)
    trail.begin_trial(0, 0.0, {})
    with pytest.raises(AuditError, match="still open"):
        trail.begin_trial(1, 0.0, {})
    bad = [
        (lambda: trail.record_stimulus(0.0, np.ones(3)), "inputs_uA"),
        (lambda: trail.record_stimulus(float("nan"), np.ones((2, 3))), "start_ms"),
        (lambda: trail.record_stimulus(0.0, np.full((2, 3), np.inf)), "inputs_uA"),
        (lambda: trail.record_spikes([1, 2], [1.0]), "same shape"),
        (lambda: trail.record_spikes([1.5], [1.0]), "gids"),
        (lambda: trail.record_spikes([1], [1.0], ({0: [1]}, {1: [1.0]})), "channel_spikes"),
        (lambda: trail.record_event(0.0, "x", {"f": object()}), "data"),
        (lambda: trail.record_latency("soon"), "ms"),
        (lambda: trail.trial(0), "index"),
    ]
    for call, name in bad:
        with pytest.raises(InvalidArgumentError, match=name):
            call()
    trail.record_stimulus(0.0, np.ones((2, 3)))
    with pytest.raises(InvalidArgumentError, match="channels"):
        trail.record_stimulus(0.0, np.ones((2, 4)))
    for kwargs, name in [({"config": [1]}, "config"), ({"seed": 1.5}, "seed"), ({"simulators": {"b": 2}}, "simulators"),
                         ({"step_sources": None}, "step_sources")]:
        args = dict(config={}, seed=0, simulators={}, step_sources={}) | kwargs
        with pytest.raises(InvalidArgumentError, match=name):
            AuditTrail.create(tmp_path / "other.h5", **args)
    with pytest.raises(AuditError, match="read-only"):
        read_audit(path).begin_trial(0, 0.0, {})
    (tmp_path / "text.h5").write_text("not hdf5")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = 1
    for name in ("text.h5", "foreign.h5"):
        with pytest.raises(AuditError) as info:
            read_audit(tmp_path / name)
        assert isinstance(info.value, LivnError | OSError) and name in str(info.value)
    with pytest.raises(FileNotFoundError):
        read_audit(tmp_path / "missing.h5")


def test_overwrite_replaces_the_run_and_its_journal(tmp_path):
    path = tmp_path / "run.h5"
    trail = new_trail(path)
    write_trial(trail, 0, make_trial(1, 0, 10))
    fresh = AuditTrail.create(path, {"x": 1}, 3, {}, {}, overwrite=True)
    assert fresh.completed_trials == 0 and read_audit(path).config == {"x": 1}
    assert not (tmp_path / "run.h5.journal").exists()
