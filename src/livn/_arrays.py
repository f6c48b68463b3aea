"""Telling concrete arrays from JAX tracers, for checks that need values."""

from __future__ import annotations


def is_traced(array) -> bool:
    """True for an abstract JAX value inside jit/grad/vmap, whose entries cannot be inspected."""
    kind = type(array)
    return kind.__module__.startswith("jax") and kind.__name__.endswith("Tracer")
