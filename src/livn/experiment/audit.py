"""The audit trail of one experiment run: one HDF5 file that holds its whole history.

```python
trail = AuditTrail.create("run.h5", config, seed, {"brian2": "2.7.1"}, {"policy": source_text})
trail.begin_trial(0, start_ms=0.0, parameters={"amplitude_uA": 2.0})
trail.record_stimulus(0.0, inputs_uA)                  # [rows, n_channels], 1 ms per row, uA
trail.record_spikes(gids, times_ms, (cit, ct))          # ms from the experiment start
trail.end_trial({"reward": 1.0}, end_ms=500.0)          # the commit: trial 0 now survives a kill -9
trail.finish()                                          # merges everything into run.h5
read_audit("run.h5").trial(0)["spikes"]
```

**Crash safety.** HDF5 is not crash-safe: a process killed inside a write can leave
a file that no longer opens. So nothing is ever written into a file that holds
committed data. A trial lives in memory until `end_trial`, which writes it (with
the experiment-level records made since the last commit) to a new small HDF5
file `<path>.journal/<unit>.h5` under a temporary name, fsyncs it and renames it
into place. `create` writes the header (config, seed, provenance, step sources)
to `<path>` the same way. `finish` merges header and journal into a copy of
`<path>`, renames the copy onto `<path>` and deletes the journal, so the finished
run is one file. A kill -9 at any moment leaves `<path>` plus whole journal
units; readers (`read_audit`, `AuditTrail.open`) read both, ignore temporary
names, and ignore units already merged (`merged_units`) or written by another
run (`run_id`), so a kill between the final rename and the deletion of the
journal is harmless too. Only the trial in progress is lost.

**Trade-off.** A commit costs O(size of the trial), not O(size of the file):
measured on a 2-core VM, about 12 ms for a small trial (7 ms of HDF5 overhead,
5 ms fsync) whether 0 or 15 MB are already committed. The simpler scheme, copying
the whole file at every commit, cost 26 ms per trial at 15 MB and grows linearly
(~1.7 ms per MB, so O(n^2) per run). `finish` pays one copy (190 ms for 15 MB).
The price is that an unfinished run is `<path>` plus `<path>.journal/`: copy both, or
open it with `AuditTrail.open` and `finish` it. One writer per path at a time.

Times are ms of culture time from the experiment start; electrode inputs are uA.
Config, parameters, results and event data are JSON (tuples come back as lists,
dict keys as strings); arrays come back bit for bit (float64 times, int64 ids).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

import livn
from livn._files import atomic_path
from livn.errors import InvalidArgumentError, LivnError, describe

FORMAT, FORMAT_VERSION = "livn.audit", 1
_UNIT = re.compile(r"^(\d{6,})\.h5$")
_STR = h5py.string_dtype()


class AuditError(LivnError, OSError):
    """An audit file is unreadable or not a livn audit trail, or the trail was used out of order."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _json(value, name: str) -> str:
    def plain(v):
        if isinstance(v, np.generic | np.ndarray):
            return v.tolist()
        raise TypeError(f"{type(v).__name__} is not JSON-serialisable")

    try:
        return json.dumps(value, default=plain)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"{name} must be JSON-serialisable, got {describe(value)} ({e})") from None


def _time(value, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be a finite time in ms, got {describe(value)}")
    return value


def _str_map(value, name: str) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidArgumentError(f"{name} must be a dict of str to str, got {describe(value)}")
    return dict(value)


def _array(value, dtype, name: str, ndim: int = 1) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim != ndim or (a.size and not np.can_cast(a.dtype, dtype, "same_kind")):
        raise InvalidArgumentError(f"{name} must be a {ndim}-d {np.dtype(dtype)} array, got {describe(value)}")
    a = a.astype(dtype)
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise InvalidArgumentError(f"{name} must be finite, got NaN or infinite values")
    return a


def _write_table(parent, name: str, rows: list[dict], columns: dict) -> None:
    """`rows` as one dataset per column; `columns` maps column name -> numpy dtype or `str`."""
    g = parent.create_group(name)
    for col, dtype in columns.items():
        data = [r[col] for r in rows]
        if dtype is str:
            g.create_dataset(col, data=np.array(data, dtype=object).reshape(len(data)), dtype=_STR)
        else:
            g.create_dataset(col, data=np.array(data, dtype=dtype).reshape(len(data)))


def _read_table(g) -> list[dict]:
    cols = {c: (g[c].asstr()[()] if g[c].dtype.kind == "O" else g[c][()]) for c in g}
    n = len(next(iter(cols.values()))) if cols else 0
    return [{c: v[i].item() if isinstance(v[i], np.generic) else v[i] for c, v in cols.items()} for i in range(n)]


_LOG = {"time_ms": np.float64, "name": str, "trial": np.int64, "data": str}


def _atomic_h5(path: Path, fill, base: Path | None = None) -> None:
    """Write an HDF5 file under a temporary name (a copy of `base` if given), fsync, rename to `path`."""
    with atomic_path(path) as tmp:
        if base is not None:
            shutil.copyfile(base, tmp)
        with h5py.File(tmp, "a" if base is not None else "w") as f:
            fill(f)


class AuditTrail:
    """A run's config, provenance, step sources, trials and errors; build with `create`, `open` or `read_audit`."""

    def __init__(self, path, *, writable: bool):
        self.path = Path(path)
        self.journal = self.path.with_name(self.path.name + ".journal")
        self._writable, self._trial, self._pending, self._finished = writable, None, [], False
        self._load()

    # ---- creating and opening ----

    @classmethod
    def create(cls, path, config: dict, seed: int, simulators: dict, step_sources: dict, *, overwrite: bool = False):
        """Start the audit trail of a new run at `path` (an `.h5` file) and return it, open for writing.

        **Arguments**: `config` the experiment config (JSON-able dict); `seed` an int;
        `simulators` name -> version of the simulators used; `step_sources` step name ->
        source text of every user step; `overwrite` replaces an existing run at `path`.
        """
        path = Path(os.fspath(path))
        if not isinstance(config, dict):
            raise InvalidArgumentError(f"config must be a dict, got {describe(config)}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise InvalidArgumentError(f"seed must be an int, got {describe(seed)}")
        config_text, simulators = _json(config, "config"), _str_map(simulators, "simulators")
        steps = _str_map(step_sources, "step_sources")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
        start = _now()
        provenance = {"livn": livn.__version__, "simulators": simulators, "python": platform.python_version(),
                      "platform": platform.platform(), "start_time": start}

        def fill(f):
            f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, status="running", merged_units=0,
                           run_id=uuid.uuid4().hex)
            for name, text in [("config", config_text), ("seed", json.dumps(seed)),
                               ("provenance", json.dumps(provenance)),
                               ("steps", json.dumps({k: {"source": s, "sha256": hashlib.sha256(
                                   s.encode()).hexdigest()} for k, s in steps.items()}))]:
                f.create_dataset(name, data=text, dtype=_STR)
            f.create_group("trials")
            _write_table(f, "log", [dict(time_ms=0.0, name="start", trial=-1, data=json.dumps(
                {"wall_time": start}))], _LOG)

        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_h5(path, fill)
        shutil.rmtree(path.with_name(path.name + ".journal"), ignore_errors=True)  # a replaced run's
        return cls(path, writable=True)

    @classmethod
    def open(cls, path) -> AuditTrail:
        """Reopen an unfinished run to add trials after the committed ones (e.g. after a crash)."""
        trail = cls(path, writable=True)
        if trail.status != "running":
            raise AuditError(f"{path} is a finished run (status {trail.status!r}); read it with read_audit")
        for p in trail.journal.glob("*") if trail.journal.is_dir() else ():
            if p.name not in trail._units:  # temporary, merged or another run's: never read again
                p.unlink()
        for p in trail.path.parent.glob(f".{trail.path.name}.*.tmp"):  # a merge killed half-way
            p.unlink()
        return trail

    def _load(self) -> None:
        try:
            f = h5py.File(self.path, "r")
        except FileNotFoundError:
            raise
        except OSError as e:
            raise AuditError(f"{self.path} is not a readable HDF5 file: {e}") from None
        with f:
            if f.attrs.get("format") != FORMAT:
                raise AuditError(f"{self.path} is not a livn audit trail (format {f.attrs.get('format')!r})")
            text = {k: f[k].asstr()[()] for k in ("config", "seed", "provenance", "steps")}
            self.config, self.seed = json.loads(text["config"]), json.loads(text["seed"])
            self.provenance, self._steps = json.loads(text["provenance"]), json.loads(text["steps"])
            self._status, merged, run_id = str(f.attrs["status"]), int(f.attrs["merged_units"]), f.attrs["run_id"]
            self._log = _read_table(f["log"])
            self._where = {int(g.attrs["index"]): (self.path, g.name) for g in f["trials"].values()}
        self._units, self._next_unit = {}, merged + 1
        for p in sorted(self.journal.glob("*.h5")) if self.journal.is_dir() else ():
            if not (m := _UNIT.match(p.name)) or int(m.group(1)) <= merged:
                continue
            try:
                with h5py.File(p, "r") as u:
                    if u.attrs.get("run_id") != run_id:
                        continue
                    self._log += _read_table(u["log"])
                    self._where.update({int(g.attrs["index"]): (p, g.name) for g in u["trials"].values()})
            except OSError as e:
                raise AuditError(f"journal unit {p} is unreadable: {e}") from None
            self._units[p.name] = p
            self._next_unit = int(m.group(1)) + 1
        if sorted(self._where) != list(range(len(self._where))):
            raise AuditError(f"{self.path} holds trials {sorted(self._where)}, not 0..n-1")
        self._run_id = run_id

    # ---- writing ----

    def _check_writable(self, in_trial: bool | None = None):
        if not self._writable or self._finished:
            raise AuditError(f"the audit trail {self.path} is {'finished' if self._finished else 'read-only'}")
        if in_trial is not None and in_trial != (self._trial is not None):
            raise AuditError("no trial is open; call begin_trial() first" if in_trial else
                             f"trial {self._trial['index']} is still open; call end_trial() first")

    def begin_trial(self, index: int, start_ms: float, parameters: dict) -> None:
        """Open trial `index` (the next one: 0, 1, ...) starting at `start_ms` (ms) with its `parameters`."""
        self._check_writable(in_trial=False)
        if not isinstance(index, int) or isinstance(index, bool):
            raise InvalidArgumentError(f"index must be an int, got {describe(index)}")
        if index != self.completed_trials:
            raise AuditError(f"trial index {index} is out of order; the next trial is {self.completed_trials}")
        self._trial = dict(index=index, start_ms=_time(start_ms, "start_ms"),
                           parameters=_json(parameters, "parameters"), stimuli=[], changes=[], events=[],
                           gids=[], times=[], channels={}, latency=[])

    def record_stimulus(self, start_ms: float, inputs_uA) -> None:
        """A stimulus delivered at `start_ms` (ms): `inputs_uA` [rows, n_channels], uA, 1 ms per row."""
        self._check_writable(in_trial=True)
        inputs = _array(inputs_uA, np.float64, "inputs_uA", ndim=2)
        stimuli = self._trial["stimuli"]
        if stimuli and inputs.shape[1] != stimuli[0][1].shape[1]:
            raise InvalidArgumentError(f"inputs_uA has {inputs.shape[1]} channels; this trial's stimuli have "
                                       f"{stimuli[0][1].shape[1]}")
        stimuli.append((_time(start_ms, "start_ms"), inputs))

    def record_parameter_change(self, time_ms: float, name: str, old, new, who: str) -> None:
        """Parameter `name` changed from `old` to `new` (JSON values) at `time_ms` (ms), made by `who`."""
        self._check_writable(in_trial=True)
        self._trial["changes"].append(dict(time_ms=_time(time_ms, "time_ms"), name=str(name),
                                           old=_json(old, "old"), new=_json(new, "new"), who=str(who)))

    def record_event(self, time_ms: float, name: str, data: dict | None = None) -> None:
        """An event at `time_ms` (ms): in the open trial, or else experiment-level (committed at once)."""
        self._check_writable()
        row = dict(time_ms=_time(time_ms, "time_ms"), name=str(name), data=_json(data, "data"))
        if self._trial is not None:
            self._trial["events"].append(row)
        else:
            self._pending.append(dict(row, trial=-1))
            self._commit(None)

    def record_spikes(self, gids, times_ms, channel_spikes: tuple[dict, dict] | None = None) -> None:
        """Spikes (`gids`, `times_ms` in ms from the experiment start), and per channel `(cit, ct)`:
        channel -> gids and channel -> times (ms), as `MEA.channel_recording` returns. Calls accumulate."""
        self._check_writable(in_trial=True)
        gids, times = _array(gids, np.int64, "gids"), _array(times_ms, np.float64, "times_ms")
        if gids.shape != times.shape:
            raise InvalidArgumentError(f"gids and times_ms must have the same shape, got {gids.shape} and {times.shape}")
        cit, ct = channel_spikes if channel_spikes is not None else ({}, {})
        if not (isinstance(cit, dict) and isinstance(ct, dict) and cit.keys() == ct.keys()):
            raise InvalidArgumentError(f"channel_spikes must be two dicts with the same channels, got {describe(channel_spikes)}")
        checked = {}
        for c in cit:
            g, t = _array(cit[c], np.int64, f"channel_spikes[0][{c}]"), _array(ct[c], np.float64, f"channel_spikes[1][{c}]")
            if g.shape != t.shape:
                raise InvalidArgumentError(f"channel {c} has {g.size} gids and {t.size} times")
            checked[int(c)] = (g, t)
        self._trial["gids"].append(gids)
        self._trial["times"].append(times)
        for c, gt in checked.items():
            self._trial["channels"].setdefault(c, []).append(gt)

    def record_latency(self, ms: float) -> None:
        """The latency of one closed-loop iteration, ms."""
        self._check_writable(in_trial=True)
        self._trial["latency"].append(_time(ms, "ms"))

    def record_error(self, time_ms: float, step: str, error, traceback_text: str, policy: str) -> None:
        """Step `step` failed at `time_ms` (ms) with `error` (exception or type name); `policy` is what was done."""
        self._check_writable()
        kind = type(error).__name__ if isinstance(error, BaseException) else str(error)
        data = {"step": str(step), "type": kind, "message": str(error) if isinstance(error, BaseException) else "",
                "traceback": str(traceback_text), "policy": str(policy)}
        trial = -1 if self._trial is None else self._trial["index"]
        self._pending.append(dict(time_ms=_time(time_ms, "time_ms"), name="error", trial=trial, data=json.dumps(data)))
        if self._trial is None:
            self._commit(None)

    def end_trial(self, results: dict | None = None, *, end_ms: float, complete: bool = True) -> None:
        """Close the open trial at `end_ms` (ms) with its `results` and commit it to disk.

        If the commit fails the trial stays open, so `end_trial` can be called again."""
        self._check_writable(in_trial=True)
        t = dict(self._trial, results=_json(results if results is not None else {}, "results"), complete=bool(complete),
                 duration_ms=_time(end_ms, "end_ms") - self._trial["start_ms"])
        self._commit(t)
        self._trial = None

    def _commit(self, trial: dict | None) -> None:
        self.journal.mkdir(exist_ok=True)
        path = self.journal / f"{self._next_unit:06d}.h5"

        def fill(f):
            f.attrs.update(format=FORMAT + ".unit", run_id=self._run_id)
            trials = f.create_group("trials")
            if trial is not None:
                _write_trial(trials.create_group(f"{trial['index']:06d}"), trial)
            _write_table(f, "log", self._pending, _LOG)

        _atomic_h5(path, fill)
        self._next_unit += 1
        self._units[path.name] = path
        self._log += self._pending
        self._pending = []
        if trial is not None:
            self._where[trial["index"]] = (path, f"/trials/{trial['index']:06d}")

    def finish(self, status: str = "complete", end_ms: float | None = None) -> None:
        """End the run: commit an open trial as incomplete, log the end, merge everything into one file."""
        self._check_writable()
        end = _time(end_ms, "end_ms") if end_ms is not None else None
        if self._trial is not None:
            self.end_trial(end_ms=end if end is not None else self._trial["start_ms"], complete=False)
        log = self._log + [dict(time_ms=end if end is not None else math.nan, name="end", trial=-1,
                                data=json.dumps({"status": str(status), "wall_time": _now()}))]
        units = sorted(self._units.values())

        def fill(f):
            for p in units:
                with h5py.File(p, "r") as u:
                    for name, g in u["trials"].items():
                        u.copy(g, f["trials"], name=name)
            del f["log"]
            _write_table(f, "log", log, _LOG)
            f.attrs.update(status=str(status), merged_units=self._next_unit - 1)

        _atomic_h5(self.path, fill, base=self.path)
        shutil.rmtree(self.journal, ignore_errors=True)
        self._finished, self._status, self._log, self._units = True, str(status), log, {}
        self._where = {i: (self.path, f"/trials/{i:06d}") for i in self._where}

    # ---- reading ----

    @property
    def completed_trials(self) -> int:
        """The number of committed trials (indices 0 .. n-1; see each trial's `complete` flag)."""
        return len(self._where)

    @property
    def status(self) -> str:
        """`"running"` until `finish`, then the status it was given (`"complete"`, `"failed"`, ...)."""
        return self._status

    @property
    def step_sources(self) -> dict[str, str]:
        return {k: v["source"] for k, v in self._steps.items()}

    @property
    def step_sha256(self) -> dict[str, str]:
        return {k: v["sha256"] for k, v in self._steps.items()}

    @property
    def events(self) -> list[dict]:
        """Experiment-level records (start, end, errors, events outside trials): time_ms, name, trial, data."""
        return [dict(r, trial=None if r["trial"] < 0 else r["trial"], data=json.loads(r["data"])) for r in self._log]

    @property
    def errors(self) -> list[dict]:
        """Every recorded error: time_ms, trial, step, type, message, traceback, policy."""
        return [dict(time_ms=e["time_ms"], trial=e["trial"], **e["data"]) for e in self.events if e["name"] == "error"]

    def trial(self, index: int) -> dict:
        """A committed trial: index, start_ms, duration_ms, complete, parameters, results, stimuli
        [{start_ms, inputs_uA}], changes, events, spikes (gids, times_ms), channel_spikes (cit, ct), latency_ms, errors."""
        if index not in self._where:
            raise InvalidArgumentError(f"index must be a committed trial (0..{self.completed_trials - 1}), got {describe(index)}")
        path, name = self._where[index]
        with h5py.File(path, "r") as f:
            g = f[name]
            s, ch = g["stimulus"], g["channel_spikes"]
            rows = np.cumsum(s["rows"][()])[:-1]
            inputs, channels = s["inputs_uA"][()], ch["channels"][()]
            channel, cgid, ctime = ch["channel"][()], ch["gid"][()], ch["time_ms"][()]
            out = dict(index=index, start_ms=float(g.attrs["start_ms"]), duration_ms=float(g.attrs["duration_ms"]),
                       complete=bool(g.attrs["complete"]), parameters=json.loads(g["parameters"].asstr()[()]),
                       results=json.loads(g["results"].asstr()[()]),
                       stimuli=[dict(start_ms=float(t), inputs_uA=x) for t, x in
                                zip(s["start_ms"][()], np.split(inputs, rows) if len(s["rows"]) else [])],
                       changes=[dict(r, old=json.loads(r["old"]), new=json.loads(r["new"])) for r in _read_table(g["changes"])],
                       events=[dict(r, data=json.loads(r["data"])) for r in _read_table(g["events"])],
                       spikes=(g["spikes/gid"][()], g["spikes/time_ms"][()]), latency_ms=g["latency_ms"][()])
        cs = {int(c): channel == c for c in channels}
        out["channel_spikes"] = ({c: cgid[m] for c, m in cs.items()}, {c: ctime[m] for c, m in cs.items()})
        out["errors"] = [e for e in self.errors if e["trial"] == index]
        return out

    def __repr__(self) -> str:
        return f"AuditTrail({str(self.path)!r}, status={self.status!r}, trials={self.completed_trials})"


def _write_trial(g, t: dict) -> None:
    g.attrs.update(index=t["index"], start_ms=t["start_ms"], duration_ms=t["duration_ms"], complete=t["complete"])
    g.create_dataset("parameters", data=t["parameters"], dtype=_STR)
    g.create_dataset("results", data=t["results"], dtype=_STR)
    stimuli = t["stimuli"]
    s = g.create_group("stimulus")
    s["start_ms"] = np.array([x[0] for x in stimuli], dtype=np.float64)
    s["rows"] = np.array([len(x[1]) for x in stimuli], dtype=np.int64)
    s["inputs_uA"] = np.concatenate([x[1] for x in stimuli]) if stimuli else np.zeros((0, 0))
    _write_table(g, "changes", t["changes"], {"time_ms": np.float64, "name": str, "old": str, "new": str, "who": str})
    _write_table(g, "events", t["events"], {"time_ms": np.float64, "name": str, "data": str})
    g["spikes/gid"] = np.concatenate(t["gids"] or [np.zeros(0, np.int64)])
    g["spikes/time_ms"] = np.concatenate(t["times"] or [np.zeros(0)])
    channels = sorted(t["channels"])
    parts = [(np.full(gg.size, c, np.int64), gg, tt) for c in channels for gg, tt in t["channels"][c]]
    g["channel_spikes/channels"] = np.array(channels, dtype=np.int64)
    for k, name in enumerate(("channel", "gid", "time_ms")):
        g[f"channel_spikes/{name}"] = np.concatenate([p[k] for p in parts] or [np.zeros(0, (np.int64, np.int64, np.float64)[k])])
    g["latency_ms"] = np.array(t["latency"], dtype=np.float64)


def read_audit(path) -> AuditTrail:
    """A read-only view of the audit trail at `path`, finished or not (committed trials only)."""
    return AuditTrail(path, writable=False)
