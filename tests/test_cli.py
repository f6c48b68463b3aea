"""The `livn` command, run as a user runs it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LIVN = shutil.which("livn", path=str(Path(sys.executable).parent)) or "livn"


def livn(*args, cwd=None):
    return subprocess.run([LIVN, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env={**os.environ})


def test_run_prints_a_summary_and_writes_the_figure(tmp_path):
    result = livn("run", "S1", "--duration", "300", "--stimulate", "0:30:50:20", "--plot", "raster.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for line in ("neurons", "spikes", "mean rate", "active channels", "network bursts", "raster.png"):
        assert line in result.stdout
    png = (tmp_path / "raster.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_run_json_summary(tmp_path):
    result = livn("run", "S1", "--duration", "200", "--json", "--no-plot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["num_neurons"] == 11 and report["num_channels"] == 16
    assert report["num_spikes"] == pytest.approx(report["mean_rate"] * 11 * 0.2)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "S9"], "S1, S2, S3, S4"),
        (["run", "S1", "--duration", "-5"], "positive"),
        (["run", "S1", "--stimulate", "3:20"], "CHANNEL:AMPLITUDE_uA:START_ms:WIDTH_ms"),
        (["run", "S1", "--stimulate", "99:20:0:10", "--duration", "50"], "not on this MEA"),
        (["run", "S1", "--stimulate", "1:20:40:20", "--duration", "50"], "within"),
        (["run", "S1", "--backend", "nest"], "known backends"),
    ],
)
def test_bad_arguments_give_one_clear_line(args, message, tmp_path):
    result = livn(*args, "--no-plot", cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
