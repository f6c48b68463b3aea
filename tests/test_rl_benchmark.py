"""benchmarks/rl.py --quick --replay runs end to end and writes its curve, plot and report."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "rl.py"


def test_rl_benchmark_quick_with_replay(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--replay", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "HF_DATASETS_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "out"
    with open(out / "learning_curve.csv") as f:
        rows = list(csv.DictReader(f))
    conditions = {r["condition"] for r in rows}
    assert conditions == {"sac_culture", "random_stimulation", "sac_direct", "sac_culture_replay"}
    for row in rows:
        assert -1000 < float(row["mean_return"]) <= 0  # Pendulum rewards lie in [-16.3, 0]; 50-step episodes
    assert {int(r["step"]) for r in rows} == {0, 64}
    assert (out / "learning_curve.png").stat().st_size > 10_000
    report = (out / "report.md").read_text()
    assert "sac_culture_replay" in report and "±" in report
    assert list((out / "dataset" / "S1").glob("train_with_noise-*-of-*.parquet"))  # made by livn's sampler
    assert "replay transitions" in result.stdout
