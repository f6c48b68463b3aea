"""Selectors: the value of one roving parameter for each trial.

A protocol holds fixed parameters and roving ones; each roving parameter has a
selector (as in psiexperiment) that picks its value trial by trial. Selectors
are unit-agnostic: they hand back the values they were given (an amplitude in
uA, a duration in ms, an electrode name, ...), so the protocol that owns the
parameter states its unit.

Every selector remembers its constructor arguments (`to_dict`, rebuilt by
`Selector.from_dict`) and its position (`state`, `restore`): an experiment
killed after trial k and resumed from the saved state draws exactly the values
an uninterrupted run would have drawn. Random draws are counter-based (the
draws of pass p or block b come from a generator seeded with `(seed, p)`), so a
state is a few integers, never a generator's internals.
"""

from __future__ import annotations

import abc
import inspect
from typing import ClassVar

import numpy as np

from livn.errors import InvalidArgumentError, UnknownNameError, describe, finite_number

_BLOCK = 256  # random draws made per seeded generator


def _check_values(values) -> list:
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise InvalidArgumentError(
            f"values={describe(values)} is not accepted: expected a non-empty list of numbers or strings"
        )
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    if not values:
        raise InvalidArgumentError(
            "values=[] is not accepted: a selector without values has nothing to select; pass a non-empty list"
        )
    for v in values:
        ok = isinstance(v, str) or (isinstance(v, (int, float)) and finite_number(v) is not None)
        if not ok:
            raise InvalidArgumentError(f"values contains {describe(v)}: expected finite numbers or strings")
    return values


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{name}={describe(value)} is not accepted: expected an integer >= {minimum}")
    return int(value)


def _rng(seed: int, counter: int) -> np.random.Generator:
    return np.random.default_rng([seed, counter])


class Selector(abc.ABC):
    """Abstract selector over `values` (a non-empty list of numbers or strings, in any unit).

    **Arguments**

    - `values`: the values the parameter may take.
    - `seed`: keyword-only non-negative integer seeding every random choice.

    Subclasses define `kind` and their options as keyword-only constructor arguments.
    """

    kind: ClassVar[str]

    def __init__(self, values, *, seed: int = 0):
        self.values = _check_values(values)
        self.seed = _check_count("seed", seed, 0)
        self.trial = 0  # values drawn so far

    @property
    def options(self) -> dict:
        """Per-kind constructor options, JSON-serializable."""
        return {}

    @abc.abstractmethod
    def _index(self, trial: int) -> int:
        """Index into `values` of trial `trial` (0-based)."""

    def next(self):
        """**Returns** the value of the next trial."""
        value = self.values[self._index(self.trial)]
        self.trial += 1
        return value

    def update(self, response) -> None:
        """Tell an adaptive selector the response to the last trial; other selectors ignore it."""

    def to_dict(self) -> dict:
        """**Returns** the constructor arguments: `{"kind", "values", "seed", "options"}`."""
        return {"kind": self.kind, "values": list(self.values), "seed": self.seed, "options": self.options}

    @staticmethod
    def from_dict(data: dict) -> Selector:
        """Rebuild a selector from `to_dict()` (state not included; see `restore`)."""
        return make_selector(data["kind"], data["values"], seed=data.get("seed", 0), **data.get("options", {}))

    def describe(self) -> str:
        """**Returns** a one-line description for logs."""
        options = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{self.kind} selector over {len(self.values)} values (seed={self.seed}{options})"

    def __repr__(self) -> str:
        return f"<{self.describe()}, trial {self.trial}>"

    def state(self) -> dict:
        """**Returns** the position in the sequence as a JSON-serializable dict."""
        return {"selector": self.to_dict(), "trial": self.trial}

    def restore(self, state: dict) -> None:
        """Continue from `state` (from `state()` of a selector built with the same arguments)."""
        self.trial = self._check_state(state)

    def _check_state(self, state) -> int:
        """**Returns** the trial count of `state` after checking that it belongs to this selector."""
        if not isinstance(state, dict) or "selector" not in state or "trial" not in state:
            raise InvalidArgumentError(
                f"state={describe(state)} is not accepted: expected a dict returned by Selector.state()"
            )
        if state["selector"] != self.to_dict():
            raise InvalidArgumentError(
                f"state belongs to selector {describe(state['selector'], 200)}, not to this one "
                f"({describe(self.to_dict(), 200)}): restore a state only into a selector built with the same arguments"
            )
        return _check_count("state['trial']", state["trial"], 0)


class Sequential(Selector):
    """The values in order, starting again after the last."""

    kind = "sequential"

    def _index(self, trial):
        return trial % len(self.values)


class _Blocked(Selector):
    """Trials come in blocks of every value once; subclasses give each block's order."""

    def __init__(self, values, *, seed=0):
        super().__init__(values, seed=seed)
        self._cache = (None, None)

    @abc.abstractmethod
    def _order(self, block: int) -> np.ndarray:
        """Order of value indices in block `block`."""

    def _index(self, trial):
        block, position = divmod(trial, len(self.values))
        if self._cache[0] != block:
            self._cache = (block, self._order(block))
        return int(self._cache[1][position])


class Shuffled(_Blocked):
    """Every value once per pass in a shuffled order; each pass is reshuffled (seeded)."""

    kind = "shuffled"

    def _order(self, block):
        return _rng(self.seed, block).permutation(len(self.values))


def williams_square(n: int) -> list[list[int]]:
    """Balanced Latin square (Williams 1949) over `0..n-1`.

    **Returns** `n` rows for even `n`, in which each value follows every other value
    exactly once; `2n` rows for odd `n` (the square and its mirror), each ordered pair twice.
    """
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    rows = [[(v + r) % n for v in first] for r in range(n)]
    return rows if n % 2 == 0 else rows + [row[::-1] for row in rows]


class Counterbalanced(_Blocked):
    """Blocks of every value once; block b is row b (cycling) of a Williams balanced Latin square.

    **Arguments**

    - `relabel`: if true, the values are assigned to the square's symbols in a seeded random order.
    """

    kind = "counterbalanced"

    def __init__(self, values, *, seed=0, relabel: bool = False):
        super().__init__(values, seed=seed)
        if not isinstance(relabel, (bool, np.bool_)):
            raise InvalidArgumentError(f"relabel={describe(relabel)} is not accepted: expected True or False")
        self.relabel = bool(relabel)
        n = len(self.values)
        self._square = np.array(williams_square(n))
        self._labels = _rng(self.seed, 0).permutation(n) if self.relabel else np.arange(n)

    @property
    def options(self):
        return {"relabel": self.relabel}

    def _order(self, block):
        return self._labels[self._square[block % len(self._square)]]


class Random(Selector):
    """Independent draws with replacement (seeded), optionally with `weights` (one non-negative number per value)."""

    kind = "random"

    def __init__(self, values, *, seed=0, weights=None):
        super().__init__(values, seed=seed)
        self.weights = None
        self._p = None
        if weights is not None:
            w = np.asarray(weights, dtype=float) if not isinstance(weights, (str, dict)) else np.array([np.nan])
            if w.shape != (len(self.values),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise InvalidArgumentError(
                    f"weights={describe(weights)} is not accepted: expected {len(self.values)} finite non-negative numbers "
                    "(one per value) with a positive sum"
                )
            self.weights = [float(x) for x in w]
            self._p = w / w.sum()
        self._cache = (None, None)

    @property
    def options(self):
        return {} if self.weights is None else {"weights": self.weights}

    def _index(self, trial):
        block, position = divmod(trial, _BLOCK)
        if self._cache[0] != block:
            self._cache = (block, _rng(self.seed, block).choice(len(self.values), size=_BLOCK, p=self._p))
        return int(self._cache[1][position])


class Staircase(Selector):
    """Adaptive transformed up/down staircase (Levitt 1971) over ordered numeric levels.

    After `n_down` consecutive detections (`update(True)`) the level steps down by
    `step` levels (harder); after `n_up` consecutive misses it steps up. Levels are
    clamped at the ends. A 1-up/2-down staircase converges on the 70.7 % point of
    the psychometric function, 1-up/3-down on 79.4 %. The staircase is
    deterministic; `seed` is accepted for a uniform constructor.

    **Arguments**

    - `values`: the levels, strictly increasing numbers (any unit).
    - `start`: the starting level (one of `values`); default the highest (easiest).
    - `n_down`, `n_up`, `step`: positive integers (defaults 2, 1, 1).
    """

    kind = "staircase"

    def __init__(self, values, *, seed=0, start=None, n_down: int = 2, n_up: int = 1, step: int = 1):
        super().__init__(values, seed=seed)
        if any(isinstance(v, str) for v in self.values) or any(b <= a for a, b in zip(self.values, self.values[1:])):
            raise InvalidArgumentError(
                f"values={describe(self.values)} is not accepted for a staircase: expected strictly increasing numbers (levels)"
            )
        if start is None:
            start = self.values[-1]
        if isinstance(start, np.generic):
            start = start.item()
        if isinstance(start, (bool, str)) or start not in self.values:
            raise InvalidArgumentError(
                f"start={describe(start)} is not accepted: expected one of the levels {describe(self.values)}"
            )
        self.start = start
        self.n_down = _check_count("n_down", n_down, 1)
        self.n_up = _check_count("n_up", n_up, 1)
        self.step = _check_count("step", step, 1)
        self._level = self.values.index(start)
        self._run = 0  # consecutive responses of the same kind: > 0 detections, < 0 misses
        self._direction = 0  # last step: -1 down, +1 up, 0 none yet
        self._reversals: list[int] = []  # level indices at which the direction changed

    @property
    def options(self):
        return {"start": self.start, "n_down": self.n_down, "n_up": self.n_up, "step": self.step}

    def _index(self, trial):
        return self._level

    @property
    def level(self):
        """The level of the current (next) trial."""
        return self.values[self._level]

    @property
    def reversals(self) -> list:
        """Levels at which the staircase changed direction, in order."""
        return [self.values[i] for i in self._reversals]

    def update(self, response) -> None:
        """Record the response to the last trial: `True` detected/correct, `False` missed."""
        if not isinstance(response, (bool, np.bool_)):
            raise InvalidArgumentError(
                f"response={describe(response)} is not accepted by a staircase: expected True (detected) or False (missed)"
            )
        self._run = max(self._run, 0) + 1 if response else min(self._run, 0) - 1
        if self._run >= self.n_down:
            direction = -1
        elif self._run <= -self.n_up:
            direction = 1
        else:
            return
        if self._direction and direction != self._direction:
            self._reversals.append(self._level)
        self._direction, self._run = direction, 0
        self._level = min(max(self._level + direction * self.step, 0), len(self.values) - 1)

    def threshold(self, last: int = 6) -> float:
        """**Returns** the mean of the last `last` reversal levels (the threshold estimate)."""
        last = _check_count("last", last, 1)
        if len(self._reversals) < last:
            raise InvalidArgumentError(
                f"last={last} is not accepted: the staircase has {len(self._reversals)} reversals so far; run more trials"
            )
        return float(np.mean(self.reversals[-last:]))

    def state(self):
        return {
            **super().state(),
            "level": self._level,
            "run": self._run,
            "direction": self._direction,
            "reversals": list(self._reversals),
        }

    def restore(self, state):
        trial = self._check_state(state)
        try:
            level, run, direction = int(state["level"]), int(state["run"]), int(state["direction"])
            reversals = [int(i) for i in state["reversals"]]
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidArgumentError(f"state={describe(state)} is not a staircase state ({error})") from None
        self.trial, self._level, self._run, self._direction, self._reversals = trial, level, run, direction, reversals


SELECTORS: dict[str, type[Selector]] = {
    cls.kind: cls for cls in (Sequential, Shuffled, Random, Counterbalanced, Staircase)
}


def make_selector(kind: str, values, seed: int = 0, **options) -> Selector:
    """Build a selector by name.

    **Arguments**

    - `kind`: one of `SELECTORS` ("sequential", "shuffled", "random", "counterbalanced", "staircase").
    - `values`, `seed`, `options`: as the kind's constructor takes them.

    **Returns** the selector.
    """
    if kind not in SELECTORS:
        raise UnknownNameError(f"kind={describe(kind)} is not a known selector: expected one of {sorted(SELECTORS)}")
    cls = SELECTORS[kind]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "values", "seed")]
    for name in options:
        if name not in accepted:
            raise InvalidArgumentError(
                f"option {name}={describe(options[name])} is not accepted by a {kind} selector: expected {accepted}"
            )
    return cls(values, seed=seed, **options)
