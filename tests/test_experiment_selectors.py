"""Selectors of roving parameters: sequences, known statistics, resuming after a kill, errors."""

from __future__ import annotations

import collections
import json
import math

import numpy as np
import pytest

from livn.errors import InvalidArgumentError, UnknownNameError
from livn.experiment.selectors import SELECTORS, Selector, Staircase, make_selector, williams_square

VALUES = [10, 20.5, "off", 40]
LEVELS = list(range(11))

# (kind, values, options) for every kind; the staircase gets scripted responses.
CASES = [
    ("sequential", VALUES, {}),
    ("shuffled", VALUES, {}),
    ("random", VALUES, {}),
    ("random", VALUES, {"weights": [1, 2, 0, 3]}),
    ("counterbalanced", VALUES, {}),
    ("counterbalanced", [1, 2, 3, 4, 5], {"relabel": True}),
    ("staircase", LEVELS, {"start": 8, "n_down": 2, "n_up": 1, "step": 1}),
]


def draw(selector: Selector, n: int, start: int = 0) -> list:
    """Run `n` trials; a staircase hears a fixed pseudo-random response pattern indexed by trial."""
    out = []
    for trial in range(start, start + n):
        out.append(selector.next())
        selector.update(bool((trial * 7919) % 5 < 3))
    return out


@pytest.mark.parametrize("kind,values,options", CASES)
@pytest.mark.parametrize("k", [0, 1, 3, 4, 257, 300])
def test_resume_after_kill_continues_the_uninterrupted_sequence(kind, values, options, k):
    total = 320
    uninterrupted = draw(make_selector(kind, values, seed=11, **options), total)

    first = make_selector(kind, values, seed=11, **options)
    head = draw(first, k)
    saved = json.loads(json.dumps(first.state()))
    del first  # killed

    resumed = make_selector(kind, values, seed=11, **options)
    resumed.restore(saved)
    assert head + draw(resumed, total - k, start=k) == uninterrupted


@pytest.mark.parametrize("kind,values,options", CASES)
def test_to_dict_rebuilds_the_selector_and_is_json(kind, values, options):
    selector = make_selector(kind, values, seed=3, **options)
    data = json.loads(json.dumps(selector.to_dict()))
    assert data["kind"] == kind and data["values"] == list(values) and data["seed"] == 3
    rebuilt = Selector.from_dict(data)
    assert type(rebuilt) is type(selector) and rebuilt.to_dict() == selector.to_dict()
    assert draw(rebuilt, 50) == draw(selector, 50)
    assert kind in selector.describe()


def test_registry_lists_every_kind():
    assert sorted(SELECTORS) == ["counterbalanced", "random", "sequential", "shuffled", "staircase"]


def test_sequential_cycles_in_order():
    assert draw(make_selector("sequential", VALUES), 9) == VALUES * 2 + VALUES[:1]


def test_seeds_change_random_orders_and_are_reproducible():
    for kind in ("shuffled", "random"):
        a = draw(make_selector(kind, list(range(10)), seed=1), 40)
        assert a == draw(make_selector(kind, list(range(10)), seed=1), 40)
        assert a != draw(make_selector(kind, list(range(10)), seed=2), 40)


def test_shuffled_covers_each_value_once_per_pass_and_reshuffles():
    values = list(range(7))
    sequence = draw(make_selector("shuffled", values, seed=5), 7 * 30)
    passes = [sequence[i : i + 7] for i in range(0, len(sequence), 7)]
    assert all(sorted(p) == values for p in passes)
    assert len({tuple(p) for p in passes}) > 20  # reshuffled every pass


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7, 8])
def test_williams_square_is_a_balanced_latin_square(n):
    rows = williams_square(n)
    assert len(rows) == (n if n % 2 == 0 else 2 * n)
    assert all(sorted(r) == list(range(n)) for r in rows)
    for c in range(n):  # Latin in columns (each half, for odd n)
        assert sorted(r[c] for r in rows[:n]) == list(range(n))
    pairs = collections.Counter((r[i], r[i + 1]) for r in rows for i in range(n - 1))
    expected = 1 if n % 2 == 0 else 2
    assert set(pairs.values()) == {expected} and len(pairs) == n * (n - 1)


@pytest.mark.parametrize("n,relabel", [(4, False), (6, True), (5, False), (5, True)])
def test_counterbalanced_blocks_and_ordered_pairs(n, relabel):
    values = [f"v{i}" for i in range(n)]
    n_rows = n if n % 2 == 0 else 2 * n
    sequence = draw(make_selector("counterbalanced", values, seed=9, relabel=relabel), n * n_rows * 3)
    blocks = [sequence[i : i + n] for i in range(0, len(sequence), n)]
    assert all(sorted(b) == sorted(values) for b in blocks)
    assert blocks[:n_rows] == blocks[n_rows : 2 * n_rows]  # cycles through the square's rows
    pairs = collections.Counter((b[i], b[i + 1]) for b in blocks[:n_rows] for i in range(n - 1))
    assert len(pairs) == n * (n - 1) and len(set(pairs.values())) == 1
    firsts = collections.Counter(b[0] for b in blocks[:n_rows])
    assert len(firsts) == n and len(set(firsts.values())) == 1  # every value starts equally often


def test_counterbalanced_relabelling_is_seeded():
    a = draw(make_selector("counterbalanced", list(range(6)), seed=1, relabel=True), 6)
    assert a == draw(make_selector("counterbalanced", list(range(6)), seed=1, relabel=True), 6)
    assert any(a != draw(make_selector("counterbalanced", list(range(6)), seed=s, relabel=True), 6) for s in range(2, 6))
    assert draw(make_selector("counterbalanced", list(range(4))), 4) == [0, 1, 3, 2]


def test_random_frequencies_follow_the_weights():
    weights = [1, 2, 0, 5]
    n = 20000
    counts = collections.Counter(draw(make_selector("random", ["a", "b", "c", "d"], seed=4, weights=weights), n))
    assert counts["c"] == 0
    for value, w in zip("abcd", weights):
        p = w / sum(weights)
        assert abs(counts[value] / n - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-12


def test_random_without_weights_is_uniform():
    n = 12000
    counts = collections.Counter(draw(make_selector("random", list(range(4)), seed=8), n))
    assert all(abs(c / n - 0.25) < 0.02 for c in counts.values()) and len(counts) == 4


def run_staircase(staircase: Staircase, observer, trials: int) -> list:
    levels = []
    for _ in range(trials):
        level = staircase.next()
        levels.append(level)
        staircase.update(bool(observer(level)))
    return levels


def test_staircase_deterministic_observer_oscillates_around_threshold():
    staircase = make_selector("staircase", LEVELS, start=10)
    levels = run_staircase(staircase, lambda level: level >= 5, 60)
    assert levels[:3] == [10, 10, 9]  # two detections per step down
    assert set(levels[30:]) == {4, 5}
    assert set(staircase.reversals) == {4, 5} and len(staircase.reversals) > 10
    assert abs(staircase.threshold(last=6) - 5) <= 1


def test_staircase_one_up_two_down_converges_on_the_70_7_percent_point():
    # Levitt (1971): 1-up/2-down tracks p(detect) = 1/sqrt(2) = 0.707.
    mu, scale = 10.0, 2.0
    target = mu + scale * math.log(0.7071 / (1 - 0.7071))
    rng = np.random.default_rng(123)
    staircase = make_selector("staircase", list(range(21)), start=20, n_down=2, n_up=1)
    run_staircase(staircase, lambda level: rng.random() < 1 / (1 + math.exp(-(level - mu) / scale)), 4000)
    assert len(staircase.reversals) > 200
    assert abs(staircase.threshold(last=len(staircase.reversals) - 10) - target) < 0.5  # seeds 0-4 give < 0.2


def test_staircase_clamps_at_the_ends_and_takes_steps():
    low = make_selector("staircase", [1.0, 2.0, 4.0], start=2.0, n_down=1)
    assert run_staircase(low, lambda level: True, 5) == [2.0, 1.0, 1.0, 1.0, 1.0]
    high = make_selector("staircase", LEVELS, start=3, n_up=2, step=3)
    assert run_staircase(high, lambda level: False, 9) == [3, 3, 6, 6, 9, 9, 10, 10, 10]
    assert high.reversals == []


def test_staircase_threshold_needs_enough_reversals():
    staircase = make_selector("staircase", LEVELS)
    with pytest.raises(InvalidArgumentError, match="reversals"):
        staircase.threshold(last=2)


def test_non_adaptive_selectors_ignore_update():
    selector = make_selector("sequential", VALUES)
    selector.update("anything")
    assert selector.next() == VALUES[0]


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: make_selector("sequential", []), "without values"),
        (lambda: make_selector("sequential", "abc"), "values"),
        (lambda: make_selector("sequential", [1, None]), "None"),
        (lambda: make_selector("sequential", [1, float("nan")]), "nan"),
        (lambda: make_selector("sequential", [1], seed=-1), "seed=-1"),
        (lambda: make_selector("sequential", [1], seed=1.5), "seed=1.5"),
        (lambda: make_selector("sequential", [1], seed=True), "seed=True"),
        (lambda: make_selector("shuffled", [1], colour=3), "colour"),
        (lambda: make_selector("random", [1, 2], weights=[1]), "weights"),
        (lambda: make_selector("random", [1, 2], weights=[1, -1]), "weights"),
        (lambda: make_selector("random", [1, 2], weights=[0, 0]), "weights"),
        (lambda: make_selector("counterbalanced", [1, 2], relabel="yes"), "relabel"),
        (lambda: make_selector("staircase", ["low", "high"]), "increasing numbers"),
        (lambda: make_selector("staircase", [1, 3, 2]), "increasing numbers"),
        (lambda: make_selector("staircase", [1, 1, 2]), "increasing numbers"),
        (lambda: make_selector("staircase", [1, 2, 3], start=7), "start=7"),
        (lambda: make_selector("staircase", [1, 2, 3], n_down=0), "n_down=0"),
        (lambda: make_selector("staircase", [1, 2, 3], n_up=1.5), "n_up=1.5"),
        (lambda: make_selector("staircase", [1, 2, 3], step=0), "step=0"),
        (lambda: make_selector("staircase", [1, 2, 3]).update(1), "response=1"),
        (lambda: make_selector("staircase", [1, 2, 3]).update("yes"), "response='yes'"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_error(call, match):
    with pytest.raises(InvalidArgumentError, match=match):
        call()


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="kind='latin'.*counterbalanced.*staircase"):
        make_selector("latin", [1, 2])
    with pytest.raises(ValueError):
        make_selector("latin", [1, 2])


def test_restore_refuses_a_state_from_another_selector():
    state = json.loads(json.dumps(make_selector("shuffled", VALUES, seed=1).state()))
    for other in (
        make_selector("sequential", VALUES, seed=1),
        make_selector("shuffled", VALUES, seed=2),
        make_selector("shuffled", VALUES[:3], seed=1),
    ):
        with pytest.raises(InvalidArgumentError, match="same arguments"):
            other.restore(state)
    staircase = make_selector("staircase", LEVELS)
    with pytest.raises(InvalidArgumentError, match="state"):
        staircase.restore({"trial": 3})
    with pytest.raises(InvalidArgumentError, match="same arguments"):
        staircase.restore(make_selector("staircase", LEVELS, n_down=3).state())
    staircase.next()
    staircase.update(True)
    before = staircase.state()
    with pytest.raises(InvalidArgumentError, match="staircase state"):
        staircase.restore({**make_selector("staircase", LEVELS).state(), "reversals": None})
    assert staircase.state() == before  # a refused state changes nothing
