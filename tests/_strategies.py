"""Hypothesis strategies and the error contract shared by the property tests (tests/test_properties_*.py).

The contract of every public entry point: for any input, the call either succeeds or raises
one of livn's own errors (`livn.errors.LivnError`), whose message names the offending
argument. Any other exception (numpy, JAX, h5py, pyarrow, yaml, ...) fails the test as it is.
"""

from __future__ import annotations

import os
import re

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from livn.errors import LivnError

#: `LIVN_PROPERTY_EXAMPLES=N` hunts with N random examples per property instead of the fixed few.
_HUNT = int(os.environ.get("LIVN_PROPERTY_EXAMPLES", "0"))

#: Few examples, no deadline (the first call of a backend compiles), the same examples on every
#: run (CI is reproducible) and no example database written into the checkout.
PROPERTY = settings(
    max_examples=_HUNT or 30,
    deadline=None,
    derandomize=not _HUNT,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: For properties whose examples take microseconds: more of them.
CHEAP = settings(PROPERTY, max_examples=_HUNT or 100)

#: Integers past float64's range: `float(HUGE_INT)` raises OverflowError.
HUGE_INT = 10**400

#: Dtypes an array argument might arrive in; only bool, integer and float ones are numbers.
DTYPES = st.sampled_from(
    [np.float64, np.float32, np.float16, np.int64, np.uint8, np.bool_, np.complex128, np.dtype("U3"),
     np.dtype("S2"), np.dtype("M8[s]")]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([HUGE_INT, -HUGE_INT, 0, -1, np.int64(-3), np.float64("nan"), np.float32("inf")]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(max_magnitude=10),
    st.text(max_size=6),
    st.binary(max_size=4),
)


def arrays(shape=None, dtype=DTYPES):
    """Arrays of any listed dtype (NaN, inf, huge and tiny values included) of `shape`, or of any
    small shape (0 to 3 dimensions, sides 0 to 5) when `shape` is None."""
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5) if shape is None else st.just(shape)
    return hnp.arrays(dtype=dtype, shape=shapes)


#: Anything at all: scalars, arrays, and lists, tuples and dicts nesting them (ragged included).
junk = st.recursive(
    st.one_of(scalars, arrays()),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
    ),
    max_leaves=8,
)


def near_shape(shape: tuple[int, ...]):
    """`shape`, or one like it: a side off by one or zero, a dimension added or dropped."""
    def perturb(draw_shape):
        kind, where, side = draw_shape
        shape_list = list(shape)
        if kind == "side" and shape_list:
            shape_list[where % len(shape_list)] = side
        elif kind == "add":
            shape_list.insert(where % (len(shape_list) + 1), side)
        elif kind == "drop" and shape_list:
            shape_list.pop(where % len(shape_list))
        return tuple(shape_list)

    changed = st.tuples(st.sampled_from(["side", "add", "drop"]), st.integers(0, 3), st.integers(0, 6)).map(perturb)
    return st.one_of(st.just(shape), changed)


def near_arrays(shape: tuple[int, ...]):
    """Arrays of `shape` or a shape like it, in any listed dtype, NaN and inf included."""
    return near_shape(shape).flatmap(lambda s: arrays(s))


def finite_arrays(shape, low: float = -1e3, high: float = 1e3):
    """Float arrays of `shape` with finite values in [low, high]: valid numeric input."""
    return hnp.arrays(np.float64, shape, elements=st.floats(low, high, allow_nan=False, allow_infinity=False))


def satisfies_contract(call, names):
    """Run `call()`: None if it succeeds; if it raises a livn error naming one of `names`, that error.

    `names` are the argument (or key) names that were perturbed; the message must contain one of
    them as a word, so that `inputs` is not satisfied by `channel_inputs`. Exceptions that are not
    livn's own propagate and fail the test with their traceback.
    """
    names = [names] if isinstance(names, str) else list(names)
    try:
        call()
        return None
    except LivnError as error:
        message = str(error)
        named = any(re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message) for name in names)
        assert named, f"{type(error).__name__} does not name {' or '.join(names)}: {message}"
        return error
