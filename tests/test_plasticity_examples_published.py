"""The published-result examples in examples/plasticity/ run end to end at tiny sizes.

Only that each computes its numbers and figure is checked here, not the size of the effect
(examples/plasticity/README.md has the measured effects at the documented settings).
"""

import math

import numpy as np
import pytest
from _examples import load_example


def load(name):
    return load_example(f"plasticity/{name}.py", f"published_{name}")


def test_bimodality_coefficient_reference_values():
    sma = load("song_miller_abbott")
    rng = np.random.default_rng(0)
    assert sma.bimodality_coefficient(rng.uniform(size=20000)) == pytest.approx(5 / 9, abs=0.01)
    assert sma.bimodality_coefficient(rng.normal(size=20000)) == pytest.approx(1 / 3, abs=0.02)
    assert sma.bimodality_coefficient(np.r_[np.zeros(500), np.ones(500)]) > 0.95


def test_song_miller_abbott_runs(tmp_path):
    sma = load("song_miller_abbott")
    figure = tmp_path / "sma.png"
    result = sma.main(n_inputs=20, duration=3.0, record_every=1.0, rate_window=1.0, figure=str(figure),
                      verbose=False)
    assert figure.stat().st_size > 0
    assert result["duration_s"] == 3.0
    assert result["input_rate_hz"] > 5.0  # the Poisson pulses make the inputs fire
    for key in ("post_rate_start_hz", "post_rate_end_hz"):
        assert math.isfinite(result[key]) and result[key] >= 0
    for phase in ("start", "end"):
        summary = result[phase]
        fractions = summary["frac_near_0"], summary["frac_between"], summary["frac_near_wmax"]
        assert all(0 <= f <= 1 for f in fractions) and sum(fractions) == pytest.approx(1.0)
        assert 0 < summary["bimodality_coefficient"] <= 1
        assert 0 <= summary["mean_nS"] <= result["w_max_nS"]


def test_jimbo_tetanus_runs(tmp_path):
    jimbo = load("jimbo_tetanus")
    figure = tmp_path / "jimbo.png"
    result = jimbo.main(seeds=(1,), probes=2, probe_interval=300, trains=1, pulses=5, train_interval=500,
                        rest=200, warmup=200, settle=500, figure=str(figure), verbose=False)
    assert figure.stat().st_size > 0
    assert list(result["conditions"]) == [name for name, _, _ in jimbo.CONDITIONS]
    for name, summary in result["conditions"].items():
        assert summary["responsive_pathways"] <= 4 * 16
        assert 0 <= summary["frac_potentiated"] <= 1 and 0 <= summary["frac_depressed"] <= 1
        assert set(summary["dw_nS"]) == {"out of driven", "into driven", "other"}
        assert summary["rate_before_hz"] > 0
    # plasticity off: the weights do not move
    assert all(v == 0.0 for v in result["conditions"]["tetanus, no plasticity"]["dw_nS"].values())
