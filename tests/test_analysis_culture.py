"""Culture analyses (PSTH, recruitment, avalanches, STTC, band power) against known answers."""

import subprocess
import sys
import types

import numpy as np
import pytest
from scipy.special import expit

from livn.analysis import (
    avalanches,
    band_power,
    channel_avalanches,
    channel_psth,
    channel_recruitment_curves,
    channel_sttc_matrix,
    fit_sigmoid,
    mean_interevent_interval,
    power_law_fit,
    power_spectrum,
    psth,
    recruitment_curve,
    recruitment_from_counts,
    spike_time_tiling,
    sttc_matrix,
)
from livn.errors import InvalidArgumentError, MissingDependencyError

# ---------------------------------------------------------------- PSTH


def test_psth_puts_each_spike_in_its_bin_and_trial():
    stimuli = np.array([100.0, 400.0, 700.0])
    t = np.concatenate([stimuli + 10.5, [100.0 - 20.2, 400.0, 700.0 + 200.0, 100.0 - 50.0]])
    it = np.zeros(t.size, dtype=int)
    edges, rate, counts = psth(it, t, stimuli, window=(-50, 200), bin_ms=1)
    assert edges[0] == -50 and edges[-1] == 200 and len(edges) == 251
    assert counts.shape == (3, 250)
    assert counts[:, 60].tolist() == [1, 1, 1]  # 10.5 ms after onset: bin [10, 11)
    assert counts[0, 29] == 1  # 20.2 ms before onset: bin [-21, -20)
    assert counts[1, 50] == 1  # at the onset: bin [0, 1)
    assert counts[0, 0] == 1  # at the window's start: included
    assert counts.sum() == 6  # the spike at onset + 200 ms (the window's end) is excluded
    assert rate[60] == pytest.approx(1000.0)  # 1 spike per trial in 1 ms, all spikes pooled


def test_psth_rate_is_per_neuron_with_gids_and_trials_may_overlap():
    it = np.array([0, 1, 2])
    t = np.array([105.0, 105.0, 105.0])
    _, rate, counts = psth(it, t, [100.0, 102.0], window=(0, 10), bin_ms=5, gids=[0, 1, 3, 4])
    # gids 0 and 1 count (2 spikes), in both trials (bins [5,10) and [0,5)); 4 neurons
    assert counts.tolist() == [[0, 2], [2, 0]]
    assert rate.tolist() == pytest.approx([2 / 2 / 0.005 / 4, 2 / 2 / 0.005 / 4])


def test_psth_of_poisson_firing_is_flat_at_the_firing_rate():
    rng = np.random.default_rng(3)
    neurons, rate_hz, duration = 50, 20.0, 20_000.0
    n = rng.poisson(neurons * rate_hz * duration / 1000)
    it, t = rng.integers(0, neurons, n), np.sort(rng.uniform(0, duration, n))
    _, rate, _ = psth(it, t, np.arange(500.0, 19_500.0, 250.0), window=(-100, 100), bin_ms=50, gids=np.arange(neurons))
    np.testing.assert_allclose(rate, rate_hz, rtol=0.08)


def test_channel_psth_is_psth_of_each_channel():
    cit = {3: np.array([0, 1, 1]), 7: np.array([], dtype=int)}
    ct = {3: np.array([12.0, 14.5, 61.0]), 7: np.array([])}
    ids, edges, rate, counts = channel_psth(cit, ct, [10.0, 60.0], window=(-5, 20), bin_ms=5)
    assert ids.tolist() == [3, 7]
    assert counts.shape == (2, 2, 5)
    np.testing.assert_array_equal(counts[0], psth(cit[3], ct[3], [10.0, 60.0], (-5, 20), 5).counts)
    assert counts[1].sum() == 0 and rate.shape == (2, 5)


@pytest.mark.parametrize("kwargs, name", [
    ({"window": (0, 10), "bin_ms": 3}, "window"),
    ({"window": (10, 0)}, "window"),
    ({"bin_ms": 0}, "bin_ms"),
    ({"gids": [1, 1]}, "gids"),
    ({"stimulus_times_ms": []}, "stimulus_times_ms"),
    ({"stimulus_times_ms": [np.nan]}, "stimulus_times_ms"),
])
def test_psth_rejects_bad_arguments(kwargs, name):
    arguments = {"it": [0], "t": [1.0], "stimulus_times_ms": [0.0]} | kwargs
    with pytest.raises(InvalidArgumentError, match=name):
        psth(**arguments)
    with pytest.raises(InvalidArgumentError, match="it and t"):
        psth([0, 1], [1.0], [0.0])


# ---------------------------------------------------------------- recruitment


def _evoked(amplitudes, trials=6, x50=4.5, width=0.5, top=20, background=False):
    """Trials 1 s apart; round(top * logistic) spikes 5..40 ms after each onset (deterministic)."""
    rng = np.random.default_rng(0)
    stimuli, t = [], []
    for k, amplitude in enumerate(np.repeat(amplitudes, trials)):
        onset = 1000.0 * (k + 1)
        stimuli.append((amplitude, onset))
        n = int(round(top * expit((amplitude - x50) / width)))
        t.append(onset + rng.uniform(5, 40, n))
        if background:  # 2 spikes in the 100 ms baseline and 1 in the 50 ms response window
            t.append(onset + np.array([-80.0, -30.0, 45.0]))
    t = np.concatenate(t)
    return np.zeros(t.size, dtype=int), t, stimuli


def test_recruitment_curve_recovers_threshold_and_sigmoid():
    amplitudes = np.arange(1.0, 9.0)
    it, t, stimuli = _evoked(amplitudes)
    curve = recruitment_curve(it, t, stimuli, response_window=(0, 50), baseline_window=(-100, 0))
    expected = np.round(20 * expit((amplitudes - 4.5) / 0.5))  # 0 0 1 5 15 19 20 20
    np.testing.assert_array_equal(curve.amplitudes, amplitudes)
    np.testing.assert_array_equal(curve.trials, 6)
    np.testing.assert_allclose(curve.response, expected)
    assert curve.baseline == 0 and curve.baseline_se == 0
    assert curve.threshold == 3.0  # the first amplitude with any evoked spike over a silent baseline
    assert curve.sigmoid.x50 == pytest.approx(4.5, abs=0.1)
    assert curve.sigmoid.top == pytest.approx(20, abs=0.5)
    assert curve.sigmoid.bottom == pytest.approx(0, abs=0.5)
    np.testing.assert_allclose(curve.sigmoid(amplitudes), expected, atol=0.7)


def test_recruitment_subtracts_the_baseline_scaled_to_the_response_window():
    amplitudes = np.arange(1.0, 9.0)
    quiet = recruitment_curve(*_evoked(amplitudes))
    it, t, stimuli = _evoked(amplitudes, background=True)
    busy = recruitment_curve(it, t, stimuli, response_window=(0, 50), baseline_window=(-100, 0))
    assert busy.baseline == pytest.approx(1.0)  # 2 spikes in 100 ms -> 1 per 50 ms
    np.testing.assert_allclose(busy.response, quiet.response)
    assert busy.threshold == quiet.threshold


def test_one_trial_with_a_spontaneous_burst_is_not_a_threshold():
    """Ten trials per amplitude; at 1 uA one trial holds a 40-spike burst, the others nothing: its mean
    (4 spikes) is far above the baseline's standard error but not above the trials' own spread."""
    amplitudes = np.repeat([1.0, 2.0, 4.0], 10)
    response = np.zeros(30)
    response[3] = 40.0
    response[20:] = 6.0 + np.arange(10) % 3  # 4 uA evokes 6-8 spikes in every trial
    baseline = np.tile([0.0, 1.0], 15)
    curve = recruitment_from_counts(amplitudes, response, baseline, scale=1.0)
    assert curve.response[0] == pytest.approx(3.5) and curve.response[0] > 2 * curve.baseline_se
    assert curve.threshold == 4.0


def test_channel_recruitment_and_sigmoid_absence():
    amplitudes = np.arange(1.0, 9.0)
    it, t, stimuli = _evoked(amplitudes)
    curves = channel_recruitment_curves({0: it, 5: np.zeros(0, int)}, {0: t, 5: np.zeros(0)}, stimuli)
    assert curves[0].threshold == 3.0 and curves[0].sigmoid is not None
    assert curves[5].threshold is None and curves[5].sigmoid is None  # flat: nothing to fit
    few = recruitment_curve(*_evoked(np.array([1.0, 5.0, 8.0])))
    assert few.sigmoid is None and few.threshold == 5.0  # 3 amplitudes: no sigmoid


def test_sigmoid_that_does_not_converge_is_none(monkeypatch):
    import scipy.optimize

    def fails(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found: maxfev reached")

    monkeypatch.setattr(scipy.optimize, "curve_fit", fails)
    assert fit_sigmoid([1, 2, 3, 4], [0, 1, 5, 6]) is None


def test_sigmoid_of_a_curve_that_never_saturates_is_none():
    amplitudes = np.arange(1.0, 9.0)
    assert fit_sigmoid(amplitudes, 3.0 * amplitudes) is None  # a straight line: no top, no midpoint
    assert fit_sigmoid(amplitudes, np.exp(amplitudes)) is None  # still rising steeply at the top amplitude
    assert fit_sigmoid(amplitudes, 20 * expit((amplitudes - 4.5) / 0.5)).x50 == pytest.approx(4.5)


def test_recruitment_rejects_bad_stimuli_and_windows():
    with pytest.raises(InvalidArgumentError, match="stimuli"):
        recruitment_curve([0], [1.0], [(1.0,)])
    with pytest.raises(InvalidArgumentError, match="stimuli"):
        recruitment_curve([0], [1.0], [])
    with pytest.raises(InvalidArgumentError, match="baseline_window"):
        recruitment_curve([0], [1.0], [(1.0, 0.0)], baseline_window=(0, 0))
    with pytest.raises(InvalidArgumentError, match="criterion"):
        recruitment_curve([0], [1.0], [(1.0, 0.0)], criterion=-1)


# ---------------------------------------------------------------- avalanches


def _branching_process(m, avalanches_wanted, rng, bin_ms=4.0, gap=3, max_generations=200):
    """Spike times of a branching process (Poisson(m) descendants per spike), one generation per bin."""
    times, b = [], gap
    for _ in range(avalanches_wanted):
        active, generation = 1, 0
        while active and generation < max_generations:
            times.append(b * bin_ms + rng.uniform(0, bin_ms, active))
            b, generation = b + 1, generation + 1
            active = rng.poisson(m * active)
        b += gap
    t = np.concatenate(times)
    return rng.integers(0, 100, t.size), t, (b + gap) * bin_ms


def test_critical_branching_process_gives_sigma_one_and_size_exponent_three_halves():
    it, t, duration = _branching_process(1.0, 2000, np.random.default_rng(1))
    found = avalanches(it, t, bin_ms=4.0, duration=duration)
    assert len(found.sizes) == 2000
    assert found.branching_ratio == pytest.approx(1.0, abs=0.03)
    assert found.size_fit.exponent == pytest.approx(1.5, abs=0.06)  # mean-field critical exponent
    assert found.duration_fit.exponent > found.size_fit.exponent  # duration exponent 2 asymptotically


def test_subcritical_branching_process_gives_sigma_below_one():
    it, t, duration = _branching_process(0.7, 2000, np.random.default_rng(2))
    found = avalanches(it, t, bin_ms=4.0, duration=duration)
    assert found.branching_ratio == pytest.approx(0.7, abs=0.04)
    assert found.size_fit.exponent > 1.6  # steeper than critical (exponential cut-off)


def test_avalanches_by_hand():
    # 1 ms bins over [0, 20): bin 0 (touches the start: dropped), bins 2-4 with 1, 2, 1 spikes,
    # bin 7 with 3 spikes, bin 19 (touches the end: dropped)
    t = np.array([0.5, 2.1, 3.2, 3.7, 4.4, 7.1, 7.2, 7.9, 19.5])
    found = avalanches(np.zeros(t.size, int), t, bin_ms=1.0, duration=20.0, x_min=1)
    assert found.sizes.tolist() == [4, 3]
    assert found.durations.tolist() == [3, 1]
    assert found.durations_ms.tolist() == [3.0, 1.0]
    # ratios: 2/1, 1/2, 0/1 in the first; 0/3 in the second
    assert found.branching_ratio == pytest.approx((2 + 0.5 + 0 + 0) / 4)
    assert found.size_fit is None  # 2 avalanches are too few to fit


def test_default_bin_is_the_mean_interevent_interval():
    t = np.array([1.0, 2.0, 4.0, 9.0, 11.0])
    assert mean_interevent_interval(t) == pytest.approx(2.5)
    assert avalanches(np.zeros(5, int), t).bin_ms == pytest.approx(2.5)


def test_channel_avalanches_count_active_electrodes():
    # channel 1 sees 2 spikes in bin 3, channel 2 one: 2 active electrodes; bin 4: channel 2 only
    cit = {1: np.array([0, 1, 0]), 2: np.array([1, 2, 5])}
    ct = {1: np.array([3.1, 3.4, 8.5]), 2: np.array([3.4, 4.2, 8.6])}
    found = channel_avalanches(cit, ct, bin_ms=1.0, duration=12.0)
    assert found.sizes.tolist() == [3, 2]  # bins 3-4: 2 + 1; bin 8: 2
    assert found.durations.tolist() == [2, 1]
    assert found.branching_ratio == pytest.approx((1 / 2 + 0 + 0) / 3)


def test_power_law_fit_recovers_zipf_exponent():
    values = np.random.default_rng(4).zipf(2.5, 5000)  # P(k) = k^-2.5 / zeta(2.5), k >= 1
    fixed = power_law_fit(values, x_min=1)
    assert fixed.exponent == pytest.approx(2.5, abs=3 * fixed.exponent_se)
    assert fixed.n_tail == 5000 and fixed.ks_distance < 0.03
    fitted = power_law_fit(values)
    assert fitted.exponent == pytest.approx(2.5, abs=3 * fitted.exponent_se + 0.02)


@pytest.mark.parametrize("call, name", [
    (lambda: power_law_fit([1.5, 2, 3]), "values"),
    (lambda: power_law_fit([0, 2, 3]), "values"),
    (lambda: power_law_fit([1, 2, 3]), "at least 10"),
    (lambda: power_law_fit(np.arange(1, 20), x_min=0), "x_min"),
    (lambda: avalanches([0], [1.0]), "bin_ms"),
    (lambda: avalanches([0, 0], [1.0, 30.0], duration=20.0), "duration"),
    (lambda: avalanches([0, 0], [1.0, 3.0], bin_ms=-1), "bin_ms"),
    (lambda: channel_avalanches({1: [0]}, {2: [1.0]}), "cit and ct"),
])
def test_avalanche_arguments_are_checked(call, name):
    with pytest.raises(InvalidArgumentError, match=name):
        call()


# ---------------------------------------------------------------- synchrony


def test_sttc_of_identical_and_shifted_trains():
    rng = np.random.default_rng(5)
    times = 250.0 + 500.0 * np.arange(20) + rng.uniform(-20, 20, 20)  # sparse: 2 Hz
    assert spike_time_tiling(times, times, duration=10_000, dt_ms=5) == pytest.approx(1.0)
    # shifted by 50 ms > dt: no spike within +-dt of the other train's (PA = PB = 0), and each train
    # tiles T = 20 spikes * 2 dt / 10 s = 0.02 of the time, so STTC = (-T - T) / 2 = -0.02 ~ 0
    shifted = times + 50.0
    assert spike_time_tiling(times, shifted, duration=10_000, dt_ms=5) == pytest.approx(-0.02)


def test_sttc_equals_elephants_direct_call():
    import neo
    import quantities as pq
    from elephant.spike_train_correlation import spike_time_tiling_coefficient

    rng = np.random.default_rng(6)
    a = np.sort(rng.uniform(0, 2000, 40))
    b = np.sort(np.concatenate([a[:20] + rng.normal(0, 2, 20), rng.uniform(0, 2000, 20)]).clip(0, 2000))
    direct = spike_time_tiling_coefficient(
        neo.SpikeTrain(a, units="ms", t_stop=2000.0), neo.SpikeTrain(b, units="ms", t_stop=2000.0), dt=10 * pq.ms
    )
    assert spike_time_tiling(a, b, duration=2000, dt_ms=10) == pytest.approx(direct, rel=1e-12)


def test_sttc_matrices():
    rng = np.random.default_rng(7)
    base = np.sort(rng.uniform(0, 1000, 15))
    it = np.concatenate([np.zeros(15, int), np.ones(15, int), np.full(15, 2)])
    t = np.concatenate([base, base + 1.0, rng.uniform(0, 1000, 15)])
    ids, sttc = sttc_matrix(it, t, duration=1001.0, gids=[0, 1, 2, 9], dt_ms=5)
    assert ids.tolist() == [0, 1, 2, 9]
    np.testing.assert_allclose(sttc[:3, :3], sttc[:3, :3].T)
    np.testing.assert_allclose(np.diag(sttc)[:3], 1.0)
    assert sttc[0, 1] == pytest.approx(1.0)  # 1 ms apart, within dt
    assert sttc[0, 2] == pytest.approx(spike_time_tiling(base, t[it == 2], 1001.0, 5))
    assert np.all(np.isnan(sttc[3])) and np.all(np.isnan(sttc[:, 3]))  # gid 9 never spiked
    channels, per_channel = channel_sttc_matrix({4: it[it == 0], 8: it[it == 1]}, {4: base, 8: base + 1.0}, 1001.0)
    assert channels.tolist() == [4, 8] and per_channel[0, 1] == pytest.approx(1.0)
    with pytest.raises(InvalidArgumentError, match="duration"):
        sttc_matrix(it, t, duration=500.0)


def test_missing_elephant_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "elephant.spike_train_correlation", None)
    with pytest.raises(MissingDependencyError, match=r"livn\[analysis\]"):
        spike_time_tiling([1.0], [2.0], duration=10.0)


def test_importing_livn_analysis_loads_neither_elephant_nor_neo():
    code = "import sys, livn.analysis; print([m for m in ('elephant', 'neo', 'quantities') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- band power


def _sinusoids(fs_hz=1000.0, seconds=8.0):
    time_s = np.arange(int(fs_hz * seconds)) / fs_hz
    components = {"delta": (2.5, 30.0), "theta": (6.0, 20.0), "alpha": (10.5, 10.0), "beta": (20.0, 5.0), "gamma": (60.0, 8.0)}
    one = sum(a * np.sin(2 * np.pi * f * time_s + 0.3) for f, a in components.values())
    two = 0.5 * one + 12.0  # half the amplitudes and a DC offset (removed per segment)
    return np.stack([one, two]), fs_hz, {name: a for name, (_, a) in components.items()}


def test_band_power_of_sinusoids_is_half_the_squared_amplitude():
    traces, fs_hz, amplitudes = _sinusoids()
    powers = band_power(traces, fs_hz)
    assert list(powers) == ["delta", "theta", "alpha", "beta", "gamma"]
    for name, amplitude in amplitudes.items():
        np.testing.assert_allclose(powers[name], [amplitude**2 / 2, amplitude**2 / 8], rtol=0.03)


def test_band_power_takes_a_recording_and_custom_bands():
    traces, fs_hz, amplitudes = _sinusoids()
    recording = types.SimpleNamespace(traces=traces.astype(np.float32), fs_hz=fs_hz)
    powers = band_power(recording, bands={"slow": (1, 8), "fast": (50, 70)})
    np.testing.assert_allclose(powers["slow"][0], (30.0**2 + 20.0**2) / 2, rtol=0.03)
    np.testing.assert_allclose(powers["fast"][0], 8.0**2 / 2, rtol=0.03)
    freqs, psd = power_spectrum(recording)
    assert psd.shape == (2, freqs.size) and freqs[1] - freqs[0] == pytest.approx(0.5)
    assert freqs[np.argmax(psd[0])] == pytest.approx(2.5)


@pytest.mark.parametrize("call, name", [
    (lambda x: band_power(x), "fs_hz"),
    (lambda x: band_power(x, 1000.0, bands={"high": (400, 600)}), "band 'high'"),
    (lambda x: band_power(x, 1000.0, bands={"narrow": (2.1, 2.2)}), "band 'narrow'"),
    (lambda x: band_power(types.SimpleNamespace(traces=x, fs_hz=1000.0), 2000.0), "fs_hz"),
    (lambda x: band_power(x[:, :1], 1000.0), "traces"),
    (lambda x: power_spectrum(x, 1000.0, resolution_hz=0), "resolution_hz"),
])
def test_band_power_arguments_are_checked(call, name):
    traces, _, _ = _sinusoids(seconds=1.0)
    with pytest.raises(InvalidArgumentError, match=name):
        call(traces)
