"""The system directory layout (`livn.system_directory`): adding files atomically, and the predefined names."""

from __future__ import annotations

import json
import os
import shutil

import pytest

import livn.systems.config as config_module
from livn import system_directory as layout
from livn.errors import ChecksumMismatchError, InvalidArgumentError, MissingSystemFileError, UnknownNameError
from livn.system import KNOWN_SYSTEMS, System, known_systems, make, predefined
from livn.systems import generate, shipped_configs
from livn.systems.tune import TuningPlan, promote_parameters

CONFIG = {
    "name": "tiny",
    "seed": 3,
    "culture": {"width": 100, "height": 100},
    "populations": {"EXC": 8, "INH": 2},
    "connectivity": {
        "kernel": "exponential",
        "length_constant": 600,
        "projections": [{"pre": "EXC", "post": "INH", "in_degree": 2}],
    },
    "mea": {"rows": 1, "columns": 2},
}

OLD = {"weights": {"EXC_INH": 1.0}, "noise": {"mean": 0.0, "std": 0.1}}
NEW = {"weights": {"EXC_INH": 2.5}, "noise": {"mean": 0.05, "std": 0.2}}

#: The effects a crash can fall between: flushing a file, renaming it, removing one.
STEPS = ("fsync", "replace", "unlink")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return generate(CONFIG, tmp_path_factory.mktemp("systems") / "tiny")


def base(built, tmp_path, kind: str):
    """A copy of the built system with no tuned state, a legacy plain `tuned.json`, or a versioned one."""
    directory = shutil.copytree(built, tmp_path / kind)
    if kind == "legacy":  # what promotion wrote before: tuned.json in place, listed in system.json
        (directory / layout.TUNED_FILE).write_text(json.dumps(OLD))
        metadata = layout.read_metadata(directory)
        metadata["checksums"][layout.TUNED_FILE] = layout.sha256(directory / layout.TUNED_FILE)
        (directory / layout.METADATA_FILE).write_text(json.dumps(metadata))
    elif kind == "versioned":
        layout.add_files(directory, {layout.TUNED_FILE: OLD})
    return directory


def old_state(kind: str):
    return None if kind == "none" else OLD


def tuned_state(directory):
    """The tuned parameters of a directory that must load and verify."""
    system = System(directory)
    assert set(system.verify()) >= {"cells.h5", "connections.h5", "mea.json"}
    return system.tuned_parameters


def crash_at(step: int, directory, files) -> int:
    """Run `add_files` in a child process that dies (no cleanup, no `finally`) at effect number `step`."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            count = [0]

            def dying(real):
                def effect(*args, **kwargs):
                    if count[0] == step:
                        os._exit(17)
                    count[0] += 1
                    return real(*args, **kwargs)

                return effect

            for name in STEPS:
                setattr(os, name, dying(getattr(os, name)))
            layout.add_files(directory, files)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def count_steps(directory, files, monkeypatch) -> int:
    count = [0]
    for name in STEPS:
        real = getattr(os, name)

        def counting(*args, _real=real, **kwargs):
            count[0] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, counting)
    layout.add_files(directory, files)
    monkeypatch.undo()
    return count[0]


@pytest.mark.parametrize("kind", ["none", "legacy", "versioned"])
def test_a_crash_at_every_step_leaves_the_old_or_the_new_tuned_state(built, tmp_path, kind, monkeypatch):
    steps = count_steps(base(built, tmp_path / "count", kind), {layout.TUNED_FILE: NEW}, monkeypatch)
    assert steps >= 4  # at least: flush and rename tuned.json, flush and rename system.json
    seen = []
    for step in range(steps + 1):
        directory = base(built, tmp_path / str(step), kind)
        code = crash_at(step, directory, {layout.TUNED_FILE: NEW})
        assert code == (17 if step < steps else 0)
        state = tuned_state(directory)
        assert state in (old_state(kind), NEW), f"crash at step {step}"
        seen.append(state == NEW)
        # the next promotion succeeds and tidies what the crash left behind
        layout.add_files(directory, {layout.TUNED_FILE: OLD | {"noise": {"mean": 0.0, "std": 0.3}}})
        assert tuned_state(directory)["noise"]["std"] == 0.3
        assert not [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]
        assert len([p for p in directory.iterdir() if p.name.startswith("tuned")]) <= 2
    assert seen == sorted(seen) and seen[0] is False and seen[-1] is True  # old until the commit, new after


@pytest.mark.parametrize("step", range(8))
def test_an_error_at_any_step_leaves_the_old_or_the_new_tuned_state(built, tmp_path, step, monkeypatch):
    directory = base(built, tmp_path, "versioned")
    count = [0]
    for name in STEPS:
        real = getattr(os, name)

        def failing(*args, _real=real, **kwargs):
            count[0] += 1
            if count[0] == step + 1:
                raise OSError(f"disk full at step {step}")
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, failing)
    try:
        layout.add_files(directory, {layout.TUNED_FILE: NEW})
    except OSError as e:
        assert "disk full" in str(e)
    monkeypatch.undo()
    assert tuned_state(directory) in (OLD, NEW)


def test_add_files_replaces_and_lists_the_file(built, tmp_path):
    directory = base(built, tmp_path, "none")
    system = System(directory)
    assert system.tuned_parameters is None
    paths = layout.add_files(directory, {layout.TUNED_FILE: OLD, "notes.txt": b"hello"})
    metadata = layout.read_metadata(directory)
    assert set(metadata["checksums"]) == {"cells.h5", "connections.h5", "mea.json", "tuned.json", "notes.txt"}
    assert metadata["files"] == {name: path.name for name, path in paths.items()}
    assert layout.locate(directory, "notes.txt").read_bytes() == b"hello"
    assert system.tuned_parameters == OLD  # a System made before the promotion sees it
    layout.add_files(directory, {layout.TUNED_FILE: NEW})
    assert System(directory).tuned_parameters == NEW
    with open(layout.locate(directory, layout.TUNED_FILE), "a") as f:
        f.write(" ")
    with pytest.raises(ChecksumMismatchError, match="tuned"):
        System(directory)


def test_add_files_to_a_directory_without_system_json(built, tmp_path):
    directory = shutil.copytree(built, tmp_path / "foreign")
    (directory / layout.METADATA_FILE).unlink()
    layout.add_files(directory, {layout.TUNED_FILE: NEW})
    assert set(layout.verify(directory)) == {"tuned.json"}
    assert System(directory).tuned_parameters == NEW


def test_add_files_checks_its_arguments(built, tmp_path):
    directory = base(built, tmp_path, "none")
    with pytest.raises(InvalidArgumentError, match="system.json"):
        layout.add_files(directory, {"system.json": b"{}"})
    with pytest.raises(InvalidArgumentError, match="'../evil'"):
        layout.add_files(directory, {"../evil": b""})
    with pytest.raises(InvalidArgumentError, match="files"):
        layout.add_files(directory, {})
    with pytest.raises(InvalidArgumentError, match=r"files\['tuned.json'\]"):
        layout.add_files(directory, {layout.TUNED_FILE: 3})
    with pytest.raises(MissingSystemFileError, match="nowhere"):
        layout.add_files(tmp_path / "nowhere", {layout.TUNED_FILE: OLD})
    with pytest.raises(InvalidArgumentError, match="directory"):
        layout.add_files(42, {layout.TUNED_FILE: OLD})


def test_promotion_goes_through_add_files(built, tmp_path):
    directory = base(built, tmp_path, "legacy")
    trial = {"number": 4, "params": {"w_EXC_INH": 2.5, "noise_std": 0.2}, "statistics": {}, "objectives": [0.0]}
    path = promote_parameters(directory, trial, TuningPlan(budget=2), noise_mean=0.05)
    assert path == layout.locate(directory, layout.TUNED_FILE) and path.name != layout.TUNED_FILE
    assert System(directory).tuned_parameters == NEW
    assert json.loads(path.read_text())["found_by"]["trial"] == 4
    with pytest.raises(InvalidArgumentError, match="trial"):
        promote_parameters(directory, {"params": {}}, TuningPlan(budget=2), 0.0)


def test_predefined_names_are_the_shipped_configs(tmp_path, monkeypatch):
    assert KNOWN_SYSTEMS == known_systems() == tuple(shipped_configs())
    assert {"S1", "S2", "S3", "S4", "E", "E5I", "E3I", "EI"} <= set(KNOWN_SYSTEMS)
    shipped = tmp_path / "config"
    shipped.mkdir()
    shutil.copy(shipped_configs()["S1"], shipped / "S1.yml")
    monkeypatch.setattr(config_module, "config_directories", lambda: [shipped])
    assert known_systems() == ("S1",)
    with pytest.raises(UnknownNameError, match=r"known systems are S1$"):
        predefined("S2", cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match=r"\(S1\)"):
        make("S2")
