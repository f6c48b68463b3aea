"""`livn systems generate` on one rank and under `mpirun -n 2`; MPI error propagation."""

import yaml

from _mpirun import livn

import pytest

from livn.systems import config_path


def test_generate_under_mpi_writes_the_same_files_as_one_rank(tmp_path):
    config = config_path("S3")  # 1000 neurons: four blocks, two per rank
    one = livn("systems", "generate", "--config", config, "--out", tmp_path / "one" / "S3")
    assert one.returncode == 0, one.stderr
    two = livn("systems", "generate", "--config", config, "--out", tmp_path / "two" / "S3", ranks=2)
    assert two.returncode == 0, two.stderr
    assert "on 2 rank(s)" in two.stdout and two.stdout.count("wrote") == 1
    for name in ("cells.h5", "connections.h5", "mea.json", "system.json"):
        assert (tmp_path / "one" / "S3" / name).read_bytes() == (tmp_path / "two" / "S3" / name).read_bytes(), name
    assert not [p for p in (tmp_path / "two").iterdir() if p.name != "S3"]  # no temporary directory left


@pytest.mark.parametrize("ranks", [1, 2])
def test_generate_errors_are_one_line_on_rank_zero(tmp_path, ranks):
    config = yaml.safe_load(config_path("S1").read_text())
    del config["mea"]
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(config))
    result = livn("systems", "generate", "--config", bad, "--out", tmp_path / "S1", ranks=ranks, timeout=120)
    assert result.returncode != 0
    assert result.stderr.count("Error:") == 1 and "missing ['mea']" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "S1").exists()


def test_generate_refuses_an_unwritable_output_and_an_existing_one(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = livn("systems", "generate", "--config", config_path("S1"), "--out", blocker / "S1", ranks=2, timeout=120)
    assert result.returncode != 0 and "not a writable directory" in result.stderr
    assert livn("systems", "generate", "--config", config_path("S1"), "--out", tmp_path / "S1").returncode == 0
    again = livn("systems", "generate", "--config", config_path("S1"), "--out", tmp_path / "S1")
    assert again.returncode != 0 and "--overwrite" in again.stderr
