"""Activity statistics against constructed spike trains with known answers."""

import numpy as np
import pytest

from livn.analysis import firing_rates, isi_cv, network_bursts, summarize
from livn.errors import InvalidArgumentError


def test_rates_and_regular_firing():
    t = np.arange(0, 1000, 100.0)  # 10 spikes in 1 s
    it = np.zeros_like(t, dtype=int)
    np.testing.assert_allclose(firing_rates(it, t, 2, 1000.0), [10.0, 0.0])
    assert isi_cv(it, t, 2, 1000.0) == pytest.approx(0.0)


def test_poisson_firing_has_cv_near_one():
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.exponential(10.0, 5000))
    assert isi_cv(np.zeros(5000, dtype=int), t, 1, float(t[-1] + 1)) == pytest.approx(1.0, abs=0.05)


def test_network_bursts_are_found_where_they_were_put():
    rng = np.random.default_rng(1)
    n, duration = 100, 10_000.0
    it = [rng.integers(0, n, 200)]  # sparse background: 0.2 Hz per neuron
    t = [rng.uniform(0, duration, 200)]
    for onset in (1000.0, 4000.0, 8000.0):  # 80 % of neurons fire within 40 ms
        who = rng.choice(n, 80, replace=False)
        it.append(who)
        t.append(onset + rng.uniform(0, 40, 80))
    it, t = np.concatenate(it), np.concatenate(t)
    bursts = network_bursts(it, t, n, duration)
    assert len(bursts) == 3
    for (start, end), onset in zip(bursts, (1000.0, 4000.0, 8000.0)):
        assert start <= onset + 5 and end >= onset + 35 and end - start < 150
    summary = summarize(it, t, n, duration)
    assert summary.num_bursts == 3 and summary.burst_rate == pytest.approx(18.0)
    assert summary.fraction_in_bursts == pytest.approx(240 / 440, abs=0.03)


def test_bad_arguments():
    with pytest.raises(InvalidArgumentError, match="duration"):
        firing_rates([0], [1.0], 1, 0)
    with pytest.raises(InvalidArgumentError, match="gids outside"):
        firing_rates([3], [1.0], 2, 10.0)
    with pytest.raises(InvalidArgumentError, match="min_fraction"):
        network_bursts([0], [1.0], 1, 10.0, min_fraction=0)
