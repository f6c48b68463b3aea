"""Simulator backends: one translation of the lowered culture network per simulator.

The contract every backend keeps is `livn.backends.base.Backend`; what only some
can do is declared as capabilities there. A backend is chosen by name, by default
from `LIVN_BACKEND` ("brian2" when unset): "brian2", "diffrax" (JAX,
differentiable, batched) or "neuron" (NEURON, parallel across MPI ranks).
Importing a backend's module does not import its simulator; building it does.
"""

from __future__ import annotations

import importlib
import importlib.util

from livn import settings
from livn.backends.base import CAPABILITIES, Backend
from livn.errors import InvalidArgumentError, UnknownNameError, describe

#: Backend name -> (module, class name).
BACKENDS = {
    "brian2": ("livn.backends.brian2", "Brian2Backend"),
    "diffrax": ("livn.backends.diffrax", "DiffraxBackend"),
    "neuron": ("livn.backends.neuron", "NeuronBackend"),
}

DEFAULT_BACKEND = "brian2"


class MissingCapabilityError(InvalidArgumentError):
    """The backend in use lacks a capability that was asked for."""


def backend_name(name: str | None = None) -> str:
    """Resolve a backend name: `name` if given, else `$LIVN_BACKEND`, else "brian2"."""
    source = "name"
    if name is None:
        name, source = settings.backend()
        name = DEFAULT_BACKEND if name is None else name
    if not isinstance(name, str) or name.strip().lower() not in BACKENDS:
        raise UnknownNameError(
            f"unknown backend {describe(name)} (from {source}); known backends: {sorted(BACKENDS)}"
        )
    return name.strip().lower()


def backend_class(name: str | None = None) -> type[Backend]:
    """The class of backend `name` (see `backend_name`), without importing its simulator."""
    module_name, class_name = BACKENDS[backend_name(name)]
    return getattr(importlib.import_module(module_name), class_name)


def installed_backends() -> list[str]:
    """Names of the backends whose simulator is installed."""
    return [name for name in BACKENDS if importlib.util.find_spec(backend_class(name).simulator_module) is not None]


def backends_with(capability: str) -> list[str]:
    """Names of the installed backends that declare `capability`."""
    return [name for name in installed_backends() if capability in backend_class(name).capabilities]


def load_backend(name: str | None = None) -> type[Backend]:
    """The backend class for `name`; ImportError with an install hint if its simulator is missing."""
    cls = backend_class(name)
    if importlib.util.find_spec(cls.simulator_module) is None:
        hint = f" (install it with: pip install 'livn[{cls.extra}]')" if cls.extra else ""
        raise ImportError(f"the {cls.name!r} backend needs {cls.simulator_module!r}, which is not installed{hint}")
    return cls


def require(backend: type[Backend] | Backend, capability: str, what: str) -> None:
    """Raise `MissingCapabilityError` unless `backend` declares `capability`, needed for `what`."""
    if capability not in CAPABILITIES:
        raise UnknownNameError(f"unknown capability {capability!r}; known: {sorted(CAPABILITIES)}")
    if capability not in backend.capabilities:
        others = backends_with(capability)
        raise MissingCapabilityError(
            f"{what} needs the {capability!r} capability ({CAPABILITIES[capability]}), which the "
            f"{backend.name!r} backend lacks; installed backends that have it: {others or 'none'}"
        )


def check_options(cls: type[Backend], options) -> dict:
    """Validate `backend_options` for backend class `cls`; returns them as a dict."""
    if options is None:
        return {}
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise InvalidArgumentError(f"backend_options must be a dict of option name -> value; got {describe(options)}")
    unknown = sorted(set(options) - set(cls.options))
    if unknown:
        accepted = ", ".join(f"{k} ({v})" for k, v in cls.options.items()) or "none"
        raise UnknownNameError(
            f"unknown backend_options {unknown} for the {cls.name!r} backend; accepted options: {accepted}"
        )
    return dict(options)


__all__ = [
    "BACKENDS",
    "Backend",
    "CAPABILITIES",
    "DEFAULT_BACKEND",
    "MissingCapabilityError",
    "backend_class",
    "backend_name",
    "backends_with",
    "check_options",
    "installed_backends",
    "load_backend",
    "require",
]
