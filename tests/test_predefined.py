"""Predefined systems: built offline into a cache, once, even under concurrency."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest

import livn
import livn.systems
from livn.errors import UnknownNameError
from livn.system import KNOWN_SYSTEMS, System, cache_directory, make, predefined


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache through LIVN_CACHE_DIR, with the network unplugged."""
    monkeypatch.setenv("LIVN_CACHE_DIR", str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise OSError("the network is not available in this test")

    monkeypatch.setattr(socket.socket, "connect", offline)
    return tmp_path / "cache"


@pytest.mark.parametrize("name, size", [("S1", 11), ("S2", 100)])
def test_builds_offline_into_the_cache(cache, name, size):
    path = predefined(name)
    assert path == str(cache / name)
    system = System(path)
    assert system.num_neurons == size and system.name == name
    assert system.metadata["livn_version"] == livn.__version__
    assert make(name).num_neurons == size


def test_second_call_reuses_the_cache(cache, monkeypatch):
    path = predefined("S1")
    stamp = os.stat(os.path.join(path, "cells.h5")).st_mtime_ns

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cached system was rebuilt")

    monkeypatch.setattr(livn.systems, "generate", no_rebuild)
    assert predefined("S1") == path
    assert make("S1").uri == path
    assert os.stat(os.path.join(path, "cells.h5")).st_mtime_ns == stamp


def test_stale_cache_is_rebuilt(cache):
    path = predefined("S1")
    metadata = os.path.join(path, "system.json")
    with open(metadata) as f:
        text = f.read()
    with open(metadata, "w") as f:
        f.write(text.replace('"seed": 20251', '"seed": 1'))
    assert predefined("S1") == path
    assert System(path).metadata["seed"] == 20251


def test_cache_dir_argument_and_default(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVN_CACHE_DIR", str(tmp_path / "env"))
    assert predefined("S1", cache_dir=tmp_path / "explicit") == str(tmp_path / "explicit" / "S1")
    assert not (tmp_path / "env").exists()
    assert cache_directory() == tmp_path / "env"
    monkeypatch.delenv("LIVN_CACHE_DIR")
    assert cache_directory().parts[-4:] == (".cache", "livn", "systems", livn.__version__)


def test_unknown_name_lists_known_ones(cache):
    with pytest.raises(UnknownNameError, match=", ".join(KNOWN_SYSTEMS)):
        predefined("S5")
    with pytest.raises(ValueError):
        predefined(3)
    assert not cache.exists()


BUILD_ONCE = textwrap.dedent(
    """
    import time
    import livn.systems
    from livn.system import predefined

    build = livn.systems.generate

    def slow_build(*args, **kwargs):
        print("BUILT", flush=True)
        time.sleep(1.0)  # hold the lock long enough for the other process to queue behind it
        return build(*args, **kwargs)

    livn.systems.generate = slow_build
    print(predefined("S2"), flush=True)
    """
)


def test_two_processes_build_once(cache):
    env = dict(os.environ, LIVN_CACHE_DIR=str(cache))
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD_ONCE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        outputs.append(out.split())
    assert sum(out.count("BUILT") for out in outputs) == 1
    assert {out[-1] for out in outputs} == {str(cache / "S2")}
    assert System(cache / "S2").num_neurons == 100
    leftovers = [p.name for p in cache.iterdir() if p.name not in ("S2", ".S2.lock")]
    assert leftovers == []
