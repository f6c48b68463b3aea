"""Exceptions raised by livn.

Every error names the argument or file that was wrong, the value that was seen
and what is accepted. They subclass the built-in exception a user would expect
(`ValueError` for bad values, `FileNotFoundError` for missing files, ...), so
`except ValueError` keeps working.
"""

from __future__ import annotations


class LivnError(Exception):
    """Base class of every exception raised by livn itself."""


class InvalidArgumentError(LivnError, ValueError):
    """An argument has the wrong value, type or shape."""


class UnknownNameError(InvalidArgumentError):
    """A name (system, backend, population, ...) that livn does not know."""


class SystemFileError(LivnError, OSError):
    """A system directory or one of its files is missing, truncated or corrupt."""


class MissingSystemFileError(SystemFileError, FileNotFoundError):
    """A system directory or a file it must contain does not exist."""


class ChecksumMismatchError(SystemFileError):
    """A file in a system directory differs from the checksum recorded when it was written."""


class CheckpointError(LivnError, ValueError):
    """A checkpoint file is corrupt, not a livn checkpoint, or belongs to another culture or rank count."""


class NotInitializedError(LivnError, RuntimeError):
    """A method that needs a built network was called before `Env.init()`."""


class RecordingError(LivnError, RuntimeError):
    """A recording was requested at a point where it cannot be honoured."""


class MissingDependencyError(LivnError, ImportError):
    """An optional package that a feature needs is not installed; the message names the pip extra."""


def require_module(module: str, extra: str, feature: str):
    """Import `module` for `feature`, or raise `MissingDependencyError` saying to install `livn[extra]`."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"{feature} needs the {module.split('.')[0]!r} package, which is not installed "
            f"({error}); install it with: pip install 'livn[{extra}]'"
        ) from None


def describe(value, limit: int = 80) -> str:
    """Short, printable description of `value` for error messages."""
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) > 0:
        return f"array of shape {tuple(shape)} and dtype {getattr(value, 'dtype', '?')}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def numeric_array(value, name: str, accepted: str):
    """`value` as a float64 numpy array, or `InvalidArgumentError` naming the argument `name`.

    Takes numbers, nested lists and arrays of booleans, integers and floats. Refuses, saying that
    `name` must be `accepted` (e.g. "electrode currents in uA of shape [T, 16]"): strings, complex
    numbers (their imaginary part would be dropped silently), None, dates, objects, ragged nestings
    and integers beyond the float range. Shape and finiteness are the caller's to check.
    """
    import numpy as np

    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":  # bool, signed and unsigned integer, float
            raise TypeError(array.dtype)
        return array.astype(float)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"{name} must be {accepted}; got {describe(value)}") from None


def finite_number(value) -> float | None:
    """`value` as a finite float if it is a real number (Python or numpy, not a bool), else None.

    None also for NaN, infinities and integers beyond the float range, so that callers can say
    "must be a positive finite number" without a raw `OverflowError` on `math.isfinite(10**400)`.
    """
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
