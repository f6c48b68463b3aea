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
