"""Shared fixtures: small systems built once per test session, in a private cache."""

from __future__ import annotations

import os
import tempfile

import pytest

# Every test session starts from an empty system cache, so `predefined` is tested offline from scratch.
os.environ.setdefault("LIVN_CACHE_DIR", tempfile.mkdtemp(prefix="livn-test-cache-"))
os.environ.pop("LIVN_BACKEND", None)


def small_config(name: str, populations: dict, width: float, projections=(), seed: int = 7) -> dict:
    """A system config in the YAML schema of `systems/config`, for tests."""
    return {
        "name": name,
        "seed": seed,
        "culture": {"width": width, "height": width},
        "populations": populations,
        "connectivity": {
            "kernel": "exponential",
            "length_constant": 600,
            "projections": [{"pre": pre, "post": post, "in_degree": k} for pre, post, k in projections],
        },
        "mea": {"rows": 4, "columns": 4},
    }


@pytest.fixture(scope="session")
def single_neuron_dir(tmp_path_factory):
    """A system of one excitatory (regular-spiking) neuron and no synapses."""
    from livn.systems import generate

    return str(generate(small_config("one", {"EXC": 1}, 40), tmp_path_factory.mktemp("systems") / "one"))


@pytest.fixture(scope="session")
def s1_dir():
    from livn.system import predefined

    return predefined("S1")


@pytest.fixture(scope="session")
def s2_dir():
    from livn.system import predefined

    return predefined("S2")


@pytest.fixture(scope="session")
def pair_dir(tmp_path_factory):
    """Two excitatory neurons and one synapse 0 -> 1 (STDP pairing protocols)."""
    from conformance import write_pair_system

    return write_pair_system(tmp_path_factory.mktemp("systems") / "pair")


@pytest.fixture(scope="session")
def half_step_dir(tmp_path_factory):
    """Five neurons (EXC 0..3, INH 4) whose every axonal delay falls exactly on a half integration step."""
    from conformance import write_half_step_system

    return write_half_step_system(tmp_path_factory.mktemp("systems") / "half_step")
