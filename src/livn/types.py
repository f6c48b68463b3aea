"""Small value types shared by the Env facade and the backends."""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np

from livn.errors import InvalidArgumentError, UnknownNameError, describe

#: Resolution (decimals of a ms) of the spike times backends report; `window` and
#: `concat` round shifted times to it so that splitting and re-joining is exact.
TIME_DECIMALS = 6

_TOLERANCE = 1e-9  # relative slack when checking that a time lies on the sampling grid


class _Fields(NamedTuple):
    it: np.ndarray | None
    t: np.ndarray | None
    iv: np.ndarray | None
    v: np.ndarray | None


class SynapticCurrents(NamedTuple):
    """Synaptic currents of some neurons over one window (`Backend.record_synaptic_currents`).

    - `gids`: int64 `[n]`, the rows.
    - `dt`: sampling interval, ms (sample k at k * dt ms from the window start).
    - `ampa`, `gaba`: `[n, samples]` currents in nA, positive depolarising:
      `1e-3 g_AMPA (E_AMPA - v)` and `1e-3 g_GABA (E_GABA - v)`.
    """

    gids: np.ndarray
    dt: float
    ampa: np.ndarray
    gaba: np.ndarray


#: Keyword-only facts a `RunResult` carries besides its four fields.
_EXTRAS = ("duration", "dt", "extracellular", "stimulation", "provenance")


class RunResult(_Fields):
    """What one `Env.run` window recorded. Unpacks as `it, t, iv, v`.

    - `it`: int64 gids of the neurons that spiked, one entry per spike (None if spikes are not recorded).
    - `t`: spike times in ms from the start of the window, sorted (None if spikes are not recorded).
    - `iv`: int64 gids whose membrane potential was recorded (None if voltage is not recorded).
    - `v`: `[len(iv), n_samples]` membrane potential in mV, sampled every dt ms on the grid of
      multiples of dt since t = 0 (so split windows sample what one run does). For a window
      that starts on that grid (the usual case) sample k is at k * dt ms from its start, the
      first one being the state the window starts from; `window` and `concat` assume this.

    Optional keyword-only facts ride along (all default to None):
    - `duration` (ms, the window's length) and `dt` (ms, the voltage sampling interval);
      `window`, `select` and `concat` use them when an explicit argument is not given;
    - `extracellular`: a `livn.io.extracellular.ExtracellularRecording`, the voltage the
      electrodes recorded (uV) with every neuron's spikes as ground truth, when
      `Env.record_extracellular` is on;
    - `stimulation`: a `livn.stimulation.ElectrodeStimulation`, the electrode currents (uA)
      delivered in the window, when the run was given electrode `inputs`;
    - `provenance`: a dict saying what produced the result (system, seed, backend, model
      parameters, MEA, versions), stamped by `Env.run`; `livn.nwb.export` writes it.
    `window` and `concat` cut and join `extracellular` and `stimulation` with the spikes
    (through their own `window` and `concat`); `select` keeps them as they are.

    Why this shape: `RunResult` is still a `NamedTuple` of exactly these four fields,
    so `it, t, iv, v = result`, `result[0]`, `len(result) == 4`, `_fields`, `_asdict`,
    pickling and JAX pytrees behave as before and `RunResult(it, t, iv, v)` keeps
    working; `duration` and `dt` are per-instance attributes outside the tuple
    (read-only; change them with `_replace(duration=...)`; JAX tree maps rebuild the
    result from the four fields and so drop them).

    Time convention of `window` and `concat`: every result's times are relative to
    its own start (t = 0 is its first ms), so `window(a, b)` subtracts `a` and
    `concat` adds each window's start; `concat([r.window(0, 50), r.window(50, 100)])`
    gives back `r`. Shifted spike times are rounded to 1e-6 ms, the resolution
    backends report.
    """

    duration: float | None = None
    dt: float | None = None
    extracellular: object | None = None
    stimulation: object | None = None
    provenance: dict | None = None

    def __new__(cls, it, t, iv, v, *, duration: float | None = None, dt: float | None = None,
                extracellular=None, stimulation=None, provenance: dict | None = None):
        self = super().__new__(cls, it, t, iv, v)
        object.__setattr__(self, "duration", _optional_positive("duration", duration, "ms"))
        object.__setattr__(self, "dt", _optional_positive("dt", dt, "ms"))
        if provenance is not None and not isinstance(provenance, Mapping):
            raise InvalidArgumentError(f"provenance must be a dict or None; got {describe(provenance)}")
        object.__setattr__(self, "extracellular", extracellular)
        object.__setattr__(self, "stimulation", stimulation)
        object.__setattr__(self, "provenance", None if provenance is None else dict(provenance))
        return self

    def _extras(self) -> dict:
        return {name: getattr(self, name) for name in _EXTRAS}

    def __setattr__(self, name, value):
        raise AttributeError(f"RunResult is immutable; use result._replace({name}=...) to get a changed copy")

    def __repr__(self) -> str:
        text = super().__repr__()
        extra = "".join(f", {k}={getattr(self, k)!r}" for k in ("duration", "dt", "extracellular", "stimulation")
                        if getattr(self, k) is not None)
        return text[:-1] + extra + ")"

    def _replace(self, **changes) -> "RunResult":
        """A copy with some of `it`, `t`, `iv`, `v`, `duration` (ms), `dt` (ms) and the other extras replaced."""
        unknown = set(changes) - set(self._fields) - set(_EXTRAS)
        if unknown:
            raise InvalidArgumentError(
                f"_replace got unknown field(s) {sorted(unknown)}; accepted: {list(self._fields) + list(_EXTRAS)}"
            )
        values = {k: changes.get(k, getattr(self, k)) for k in (*self._fields, *_EXTRAS)}
        return RunResult(values.pop("it"), values.pop("t"), values.pop("iv"), values.pop("v"), **values)

    # -- slicing --------------------------------------------------------------------------------

    def window(self, start_ms: float, stop_ms: float, *, dt: float | None = None) -> "RunResult":
        """The part of this result in [`start_ms`, `stop_ms`), re-referenced to `start_ms`.

        **Arguments**

        - `start_ms`, `stop_ms`: ms from this result's start, `0 <= start_ms < stop_ms`
          (and `stop_ms <= duration` when the duration is known).
        - `dt`: voltage sampling interval in ms, needed only when voltage was recorded and
          the result does not carry its `dt`; `start_ms` must then be a multiple of it.

        **Returns**

        A `RunResult` with the spikes at `start_ms <= t < stop_ms`, times now in ms from
        `start_ms`; the voltage samples at times in [`start_ms`, `stop_ms`) (the first one
        is the state at `start_ms`), same rows `iv`; `duration = stop_ms - start_ms`.
        Fields that were not recorded stay None.
        """
        start = _finite("start_ms", start_ms, "ms")
        stop = _finite("stop_ms", stop_ms, "ms")
        if start < 0:
            raise InvalidArgumentError(
                f"start_ms must be >= 0 ms (times count from the window start); got {describe(start_ms)}"
            )
        if stop <= start:
            raise InvalidArgumentError(
                f"stop_ms must be greater than start_ms ({start} ms); got {describe(stop_ms)}"
            )
        if self.duration is not None and stop > self.duration * (1 + _TOLERANCE):
            raise InvalidArgumentError(
                f"stop_ms must be <= the result's duration {self.duration} ms; got {describe(stop_ms)}"
            )
        dt = self.dt if dt is None else _optional_positive("dt", dt, "ms")
        if self.dt is not None and not math.isclose(dt, self.dt, rel_tol=_TOLERANCE):
            raise InvalidArgumentError(f"dt is {dt} ms but this result was sampled every {self.dt} ms; omit dt")
        it, t, iv, v = self
        if t is not None:
            t = np.asarray(t)
            keep = (t >= start) & (t < stop)
            it = np.asarray(it)[keep]
            t = np.round(t[keep] - start, TIME_DECIMALS)
        if v is not None:
            if dt is None:
                raise InvalidArgumentError(
                    "dt (the voltage sampling interval, ms) is needed to window a result with voltage; pass "
                    "window(..., dt=...) with the dt given to Env.record_voltage (default: the integration step)"
                )
            first = _grid_index("start_ms", start, dt)
            last = math.ceil(stop / dt - _TOLERANCE)
            v = np.asarray(v)[:, first:last]
        extras = self._extras()
        for name in ("extracellular", "stimulation"):
            if extras[name] is not None:
                extras[name] = extras[name].window(start, stop)
        if extras["provenance"] is not None and extras["provenance"].get("t_start_ms") is not None:
            extras["provenance"] = {**extras["provenance"], "t_start_ms": extras["provenance"]["t_start_ms"] + start}
        extras.update(duration=stop - start, dt=dt)
        return RunResult(it, t, iv, v, **extras)

    def select(self, gids=None, *, population=None, populations=None) -> "RunResult":
        """Only the spikes and voltage traces of some neurons.

        **Arguments** (exactly one of `gids` and `population`)

        - `gids`: an int gid or a 1-d array of int gids to keep.
        - `population`: a population name or a list of names (e.g. `"EXC"`), which needs
          `populations`: a `{name: (first_gid, count)}` mapping, or an object with
          `.population_ranges` (a `livn.system.System`) or `.system.population_ranges` (an `Env`).

        **Returns**

        A `RunResult` with the spikes of those neurons (times unchanged, still sorted) and
        the voltage rows of those of them that were recorded, in the order of `iv`.
        Unrecorded fields stay None; `duration` and `dt` are kept.
        """
        if (gids is None) == (population is None):
            raise InvalidArgumentError(
                "select needs exactly one of gids and population; "
                f"got gids={describe(gids)}, population={describe(population)}"
            )
        if gids is not None:
            wanted = _gids(gids)
        else:
            ranges = _ranges(populations)
            wanted = np.concatenate(
                [np.arange(first, first + count, dtype=np.int64)
                 for first, count in (_population_range(name, ranges) for name in _names(population))]
            )

        def member(values):
            return np.isin(values, wanted)

        it, t, iv, v = self
        if it is not None:
            it = np.asarray(it)
            keep = member(it)
            it, t = it[keep], np.asarray(t)[keep]
        if iv is not None:
            iv = np.asarray(iv)
            keep = member(iv)
            iv = iv[keep]
            if v is not None:
                v = np.asarray(v)[keep]
        return RunResult(it, t, iv, v, **self._extras())

    @classmethod
    def concat(cls, results, durations=None, *, dt: float | None = None) -> "RunResult":
        """Consecutive windows joined into one result.

        **Arguments**

        - `results`: a non-empty sequence of `RunResult` from consecutive windows (e.g. successive
          `Env.run` calls), all recording the same things (spikes in all or none, the same `iv`).
        - `durations`: each window's length in ms, as one number (all equal) or one per result;
          default: each result's `duration`.
        - `dt`: voltage sampling interval in ms (default: the results' `dt`); when known,
          each result's sample count is checked against its duration.

        **Returns**

        A `RunResult` whose spike times are in ms from the first window's start (window i
        shifted by the sum of the durations before it), voltages joined along samples
        (`[len(iv), total samples]` mV), `duration` the sum of the durations.
        Errors name the index of the offending result.
        """
        if isinstance(results, (RunResult, str, bytes)) or not hasattr(results, "__len__"):
            raise InvalidArgumentError(
                f"results must be a list of RunResult (one per consecutive window); got {describe(results)}"
            )
        results = list(results)
        if not results:
            raise InvalidArgumentError("results must hold at least one RunResult; got an empty sequence")
        checked = []
        for i, r in enumerate(results):
            if not isinstance(r, RunResult):
                if isinstance(r, tuple) and len(r) == 4:
                    r = RunResult(*r)
                else:
                    raise InvalidArgumentError(
                        f"results[{i}] must be a RunResult (or an (it, t, iv, v) tuple); got {describe(r)}"
                    )
            checked.append(r)
        results = checked
        lengths = _durations(results, durations)
        dt = _common_dt(results, dt)

        first = results[0]
        spikes = first.t is not None
        iv0 = None if first.iv is None else np.asarray(first.iv)
        voltage = first.v is not None
        for i, r in enumerate(results):
            if (r.it is None) != (r.t is None):
                raise InvalidArgumentError(f"results[{i}] has only one of it and t; both or neither are recorded")
            if (r.t is not None) != spikes:
                raise InvalidArgumentError(
                    f"results[{i}] {'has' if r.t is not None else 'lacks'} spikes but results[0] "
                    f"{'has' if spikes else 'lacks'} them; every window must record the same things"
                )
            if (r.iv is None) != (iv0 is None) or (r.v is not None) != voltage or (
                iv0 is not None and not np.array_equal(np.asarray(r.iv), iv0)
            ):
                raise InvalidArgumentError(
                    f"results[{i}] recorded voltage of gids {describe(r.iv)} (v {describe(r.v)}) but results[0] "
                    f"of {describe(first.iv)} (v {describe(first.v)}); every window must record the same neurons"
                )
            if r.v is not None:
                shape = np.shape(r.v)
                rows = len(iv0) if iv0 is not None else shape[0] if len(shape) == 2 else -1
                if len(shape) != 2 or shape[0] != rows:
                    raise InvalidArgumentError(
                        f"results[{i}].v must be [len(iv), n_samples] = [{rows}, n]; got {describe(r.v)}"
                    )
                if dt is not None:
                    expected = math.ceil(lengths[i] / dt - _TOLERANCE)
                    if shape[1] != expected:
                        raise InvalidArgumentError(
                            f"results[{i}] has {shape[1]} voltage samples but a {lengths[i]} ms window "
                            f"sampled every {dt} ms has {expected}; check durations and dt"
                        )

        offsets = np.concatenate([[0.0], np.cumsum(lengths)])
        if voltage and dt is not None:
            for i in range(1, len(results)):
                _grid_index(f"the start of results[{i}] (sum of the durations before it)", float(offsets[i]), dt)
        it = t = v = None
        if spikes:
            its, ts = [], []
            for i, r in enumerate(results):
                times = np.asarray(r.t)
                if times.size and (times.min() < 0 or times.max() >= lengths[i] * (1 + _TOLERANCE)):
                    raise InvalidArgumentError(
                        f"results[{i}] has spike times from {times.min()} to {times.max()} ms, outside its window "
                        f"[0, {lengths[i]}) ms; check durations"
                    )
                its.append(np.asarray(r.it))
                ts.append(np.round(times + offsets[i], TIME_DECIMALS) if i else times)
            it, t = np.concatenate(its), np.concatenate(ts)
        if voltage:
            v = np.concatenate([np.asarray(r.v) for r in results], axis=1)
        extras = {"provenance": first.provenance}
        for name in ("extracellular", "stimulation"):
            parts = [getattr(r, name) for r in results]
            present = [part is not None for part in parts]
            if any(present) and not all(present):
                raise InvalidArgumentError(
                    f"results[{present.index(not present[0])}] {'has' if not present[0] else 'lacks'} {name} but "
                    f"results[0] {'has' if present[0] else 'lacks'} it; every window must record the same things"
                )
            if all(present):
                extras[name] = type(parts[0]).concat(parts)
        return RunResult(it, t, first.iv, v, duration=float(offsets[-1]), dt=dt, **extras)


def _finite(name, value, unit) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be a finite number of {unit}; got {describe(value)}")
    return float(value)


def _optional_positive(name, value, unit):
    if value is None:
        return None
    value_f = _finite(name, value, unit)
    if value_f <= 0:
        raise InvalidArgumentError(f"{name} must be a positive number of {unit} (or None); got {describe(value)}")
    return value_f


def _grid_index(name, time, dt) -> int:
    """`time / dt` as an int, or an error when `time` is not on the sampling grid."""
    k = round(time / dt)
    if abs(time / dt - k) > 1e-6:
        raise InvalidArgumentError(
            f"{name} must be a multiple of the voltage sampling interval dt = {dt} ms; got {describe(time)}"
        )
    return int(k)


def _gids(gids) -> np.ndarray:
    if isinstance(gids, Integral) and not isinstance(gids, bool):
        gids = [gids]
    array = np.asarray(gids)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0) or array.dtype == bool:
        raise InvalidArgumentError(f"gids must be an int or a 1-d array of int gids; got {describe(gids)}")
    if array.size and array.min() < 0:
        raise InvalidArgumentError(f"gids must be >= 0; got values down to {array.min()}")
    return array.astype(np.int64)


def _names(population) -> list[str]:
    names = [population] if isinstance(population, str) else population
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise InvalidArgumentError(
            f"population must be a population name or a non-empty list of names; got {describe(population)}"
        )
    return list(names)


def _ranges(populations) -> Mapping:
    if populations is None:
        raise InvalidArgumentError(
            "select(population=...) needs populations: a {name: (first_gid, count)} mapping, "
            "a System or an Env (e.g. populations=env.system.population_ranges)"
        )
    if not isinstance(populations, Mapping):
        if hasattr(populations, "population_ranges"):
            populations = populations.population_ranges
        elif hasattr(getattr(populations, "system", None), "population_ranges"):
            populations = populations.system.population_ranges
    if not isinstance(populations, Mapping):
        raise InvalidArgumentError(
            "populations must be a {name: (first_gid, count)} mapping, a System or an Env; "
            f"got {describe(populations)}"
        )
    return populations


def _population_range(name, ranges) -> tuple[int, int]:
    if name not in ranges:
        raise UnknownNameError(f"population {name!r} is not in this system; known populations: {sorted(ranges)}")
    entry = ranges[name]
    try:
        first, count = (int(x) for x in entry)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"populations[{name!r}] must be (first_gid, count); got {describe(entry)}"
        ) from None
    return first, count


def _durations(results, durations) -> list[float]:
    n = len(results)
    if durations is None:
        missing = [i for i, r in enumerate(results) if r.duration is None]
        if missing:
            raise InvalidArgumentError(
                f"durations is needed: results[{missing[0]}] does not carry its duration; pass durations= "
                "(ms, one number or one per result)"
            )
        return [r.duration for r in results]
    if isinstance(durations, Real) and not isinstance(durations, bool):
        lengths = [_optional_positive("durations", durations, "ms")] * n
    else:
        try:
            items = list(durations)
        except TypeError:
            raise InvalidArgumentError(
                f"durations must be a positive number of ms or one per result; got {describe(durations)}"
            ) from None
        if len(items) != n:
            raise InvalidArgumentError(
                f"durations must have one entry per result ({n}); got {len(items)}: {describe(durations)}"
            )
        lengths = [_finite(f"durations[{i}]", d, "ms") for i, d in enumerate(items)]
        for i, d in enumerate(lengths):
            if d <= 0:
                raise InvalidArgumentError(f"durations[{i}] must be a positive number of ms; got {describe(items[i])}")
    for i, (r, d) in enumerate(zip(results, lengths)):
        if r.duration is not None and not math.isclose(r.duration, d, rel_tol=_TOLERANCE, abs_tol=1e-12):
            raise InvalidArgumentError(
                f"durations[{i}] is {d} ms but results[{i}] says its duration is {r.duration} ms"
            )
    return lengths


def _common_dt(results, dt):
    dt = _optional_positive("dt", dt, "ms")
    for i, r in enumerate(results):
        if r.dt is None:
            continue
        if dt is None:
            dt = r.dt
        elif not math.isclose(r.dt, dt, rel_tol=_TOLERANCE):
            raise InvalidArgumentError(
                f"results[{i}] has voltage sampled every {r.dt} ms but the others (or dt=) every {dt} ms"
            )
    return dt
