"""Simulator backends. Each one translates `livn.models.CultureModel` for one simulator.

The backend is chosen by name, by default from the `LIVN_BACKEND` environment
variable ("brian2" when unset): "brian2", "diffrax" (JAX, differentiable,
batched) or "neuron" (NEURON, parallel across MPI ranks).
"""

from __future__ import annotations

import importlib
import importlib.util
import os

from livn.errors import UnknownNameError, describe

#: Backend name -> (module, class name, the extra that installs its simulator).
BACKENDS = {
    "brian2": ("livn.backends.brian2", "Brian2Backend", None),
    "diffrax": ("livn.backends.diffrax", "DiffraxBackend", "diffrax"),
    "neuron": ("livn.backends.neuron", "NeuronBackend", "neuron"),
}

DEFAULT_BACKEND = "brian2"


def backend_name(name: str | None = None) -> str:
    """Resolve a backend name: `name` if given, else `$LIVN_BACKEND`, else "brian2"."""
    source = "name"
    if name is None:
        name, source = os.environ.get("LIVN_BACKEND", DEFAULT_BACKEND), "LIVN_BACKEND"
    if not isinstance(name, str) or name.strip().lower() not in BACKENDS:
        raise UnknownNameError(
            f"unknown backend {describe(name)} (from {source}); known backends: {sorted(BACKENDS)}"
        )
    return name.strip().lower()


def load_backend(name: str | None = None):
    """The backend class for `name` (see `backend_name`). Raises ImportError with an install hint."""
    name = backend_name(name)
    module_name, class_name, extra = BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            available = [n for n, (m, _, _) in BACKENDS.items() if importlib.util.find_spec(m) is not None]
            raise ImportError(
                f"the {name!r} backend is not part of this livn installation; available: {available}"
            ) from None
        hint = f" (install it with: pip install 'livn[{extra}]')" if extra else ""
        raise ImportError(f"the {name!r} backend needs {e.name!r}, which is not installed{hint}") from e
    return getattr(module, class_name)
