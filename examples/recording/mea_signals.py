"""Record the S2 culture as an MEA rig would, stimulate it, and analyse what the electrodes saw.

Three parts, on the predefined S2 culture (100 neurons, 80 EXC / 20 INH, a 4 x 4 MEA with
electrodes 100 um apart) with the model's default weights and noise, on the brian2 backend:

1. **Spontaneous activity.** `settle` ms to let the start-up transient pass, then
   `spontaneous` ms recorded with `Env.record_extracellular(fs_hz=25000, noise_uv=5)`,
   streamed to a temporary HDF5 file. From the traces, as a rig's software would:
   - spikes are detected per channel: band-pass 300-3000 Hz (3rd-order Butterworth, causal),
     a negative threshold at `THRESHOLD_SD` noise standard deviations (sigma = median(|x|) / 0.6745,
     Quiroga et al. 2004), 2 ms dead time;
   - the LFP is the trace low-passed at 300 Hz (8th-order Butterworth, causal) and kept at
     1 kHz; its power per band (`livn.analysis.band_power`) is averaged over channels;
   - neuronal avalanches on the electrodes (`channel_avalanches`, Beggs & Plenz 2003) from the
     detected spikes, and for comparison from the ground-truth spikes each channel's neurons
     fired (`MEA.channel_recording`);
   - the spike time tiling coefficient between channels (`channel_sttc_matrix`, 5 ms), and
     how it falls with the distance between electrodes.
2. **Recruitment** through one electrode (default: the one with the most neurons within its
   input radius): monophasic 1 ms pulses on the 1 ms grid, and charge-balanced cathodic-first
   biphasic pulses (0.2 ms phases, 0.1 ms apart) on the 0.1 ms grid, at the same amplitudes,
   `trials` times each, both kinds interleaved in one random order, one pulse every `interval`
   ms (`Env.run(interval, inputs=..., stimulus_step=...)` per trial). Recruitment curves
   (spikes 0-50 ms after the pulse minus the baseline -100-0 ms) of the neurons within the
   electrode's input radius and of all neurons, thresholds, sigmoid fits, the charge at
   threshold, and a PSTH at the top amplitude. Also how often a neuron within reach fires
   0-10 ms after onset (direct activation) and the amplitude from which it does in half the trials.
3. **Stimulation artifact and blanking.** The culture is reset (`Env.clear`) and one
   monophasic and one biphasic pulse are recorded twice, without and with `blanking_ms`.

One `Env` does all three: recruitment runs first, on the fresh culture with only spikes recorded;
`Env.clear()` then takes the same culture back to t = 0 (its initial state and its seed's noise)
to record the spontaneous activity as traces, and again for the artifact panel. It prints a
summary table and writes `summary.json` and four figures to `--out`.

    python examples/recording/mea_signals.py                  # the documented run (README.md), ~2 min CPU
    python examples/recording/mea_signals.py --quick --out /tmp/mea   # seconds: a smoke test
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from livn._files import atomic_file, write_json
from livn.analysis import (
    band_power,
    channel_avalanches,
    channel_sttc_matrix,
    network_bursts,
    power_spectrum,
    psth,
    recruitment_curve,
)
from livn.env import Env
from livn.errors import InvalidArgumentError, describe
from livn.stimulation import BiphasicPulse, Pulse, electrode_inputs
from livn.system import predefined

FIGURES = Path(__file__).parent / "figures"
#: Sampling rate (Hz) and RMS noise (uV) of the recording, as on common MEA rigs.
FS_HZ, NOISE_UV = 25000.0, 5.0
#: Spike detection: band (Hz), threshold (noise standard deviations, negative-going) and dead time (ms).
#: The causal band-pass rings: a large spike's filtered waveform dips below threshold a second time
#: 1.2 ms after the first crossing, so the dead time is 2 ms.
SPIKE_BAND_HZ, THRESHOLD_SD, DEAD_TIME_MS = (300.0, 3000.0), 5.0, 2.0
#: LFP: low-pass corner (Hz) and the rate it is kept at (Hz).
LFP_CUTOFF_HZ, LFP_FS_HZ = 300.0, 1000.0
#: Pulse shapes: monophasic width (ms); biphasic phase width and interphase gap (ms).
MONO_WIDTH_MS, PHASE_MS, GAP_MS = 1.0, 0.2, 0.1
#: Response and baseline windows of the recruitment curves, ms relative to the pulse onset.
RESPONSE_MS, BASELINE_MS = (0.0, 50.0), (-100.0, 0.0)
#: Window after onset in which a spike of a neuron within reach counts as directly driven, ms.
DIRECT_MS = (0.0, 10.0)
#: Where in each trial's window the pulse comes, ms (after the baseline window).
ONSET_MS = 100.0
#: Blanking after each stimulation (ms) and the pulse amplitude (uA) of the artifact panel.
BLANKING_MS, ARTIFACT_UA = 2.0, 16.0
#: The reference exponents of a critical branching process: sizes 3/2, durations 2.
CRITICAL_SIZE, CRITICAL_DURATION = 1.5, 2.0
#: Default and --quick settings.
DEFAULTS = dict(spontaneous=60_000.0, settle=2000.0, amplitudes=(1, 2, 4, 8, 16, 32, 64, 128), trials=10,
                interval=1000.0)
QUICK = dict(spontaneous=1000.0, settle=200.0, amplitudes=(4, 64), trials=1, interval=300.0)


# -- the culture --------------------------------------------------------------------------------------


def culture(seed: int) -> Env:
    """The S2 culture with the model's default weights and noise, recording every neuron's spikes."""
    env = Env(predefined("S2"), seed=seed).init()
    env.apply_model_defaults()
    return env.record_spikes()


def stimulated_electrode(env: Env, channel: int | None) -> tuple[int, np.ndarray, np.ndarray]:
    """The stimulated channel (given, or the one with the most neurons within its input radius),
    the gids within that radius and their distances (um)."""
    distances = env.io.distances(env.system.neuron_coordinates)
    ids = env.io.channel_ids
    if channel is None:
        row = int(np.argmax((distances <= env.io.input_radius).sum(axis=1)))
    elif channel in ids.tolist():
        row = ids.tolist().index(channel)
    else:
        raise InvalidArgumentError(f"electrode must be one of the MEA's channels {ids.tolist()}; got {channel!r}")
    gids = env.system.neuron_coordinates[:, 0].astype(np.int64)
    near = distances[row] <= env.io.input_radius
    return int(ids[row]), gids[near], distances[row, near]


# -- what a rig's software does with the traces -------------------------------------------------------


def _blocks(recording, seconds: float = 1.0):
    """(first sample, [n_channels, k] float64 uV) blocks of a (file-backed) recording."""
    step = int(recording.fs_hz * seconds)
    for start in range(0, recording.n_samples, step):
        stop = min(start + step, recording.n_samples)
        yield start, np.asarray(recording.read(start, stop), dtype=float)


def _causal(sos, recording):
    """Yield (first sample, filtered block) of a recording through `sos`, the filter state carried over."""
    from scipy.signal import sosfilt

    state = np.zeros((sos.shape[0], len(recording.channel_ids), 2))
    for start, block in _blocks(recording):
        filtered, state = sosfilt(sos, block, axis=1, zi=state)
        yield start, filtered


def detect_spikes(recording) -> tuple[dict, dict, np.ndarray]:
    """Threshold crossings per channel, as MEA software detects spikes.

    **Arguments**: `recording`, an `ExtracellularRecording` (uV).

    **Returns**: `(cit, ct, thresholds)`: channel id -> [] (no gids: a rig does not know them)
    and -> crossing times (ms from the recording's start); thresholds `[n_channels]` uV
    (negative). The trace is band-passed (`SPIKE_BAND_HZ`), sigma = median(|x|) / 0.6745
    per channel (the median of 1 s blocks' values), and a crossing is kept if it comes at
    least `DEAD_TIME_MS` after the last kept one.
    """
    from scipy.signal import butter

    sos = butter(3, SPIKE_BAND_HZ, btype="bandpass", fs=recording.fs_hz, output="sos")
    sigma = np.median([np.median(np.abs(b), axis=1) / 0.6745 for _, b in _causal(sos, recording)], axis=0)
    thresholds = -THRESHOLD_SD * sigma
    per_ms = recording.fs_hz / 1000.0
    crossings = [[] for _ in recording.channel_ids]
    previous = np.zeros(len(recording.channel_ids))
    for start, block in _causal(sos, recording):
        below = block < thresholds[:, None]
        before = np.concatenate([(previous < thresholds)[:, None], below[:, :-1]], axis=1)
        for row, index in zip(*np.nonzero(below & ~before)):
            crossings[row].append(start + index)
        previous = block[:, -1]
    ct = {}
    for row, channel in enumerate(recording.channel_ids):
        kept, last = [], -math.inf
        for sample in crossings[row]:
            if sample - last >= DEAD_TIME_MS * per_ms:
                kept.append(sample)
                last = sample
        ct[int(channel)] = (recording.first_sample + np.asarray(kept, dtype=float)) / per_ms - recording.start_ms
    cit = {channel: np.zeros(len(times), dtype=np.int64) for channel, times in ct.items()}
    return cit, ct, thresholds


def field_potential(recording) -> np.ndarray:
    """The LFP: each trace low-passed at `LFP_CUTOFF_HZ` (causal) and kept at `LFP_FS_HZ`.

    **Returns**: `[n_channels, samples]` uV at `LFP_FS_HZ`.
    """
    from scipy.signal import butter

    keep = int(round(recording.fs_hz / LFP_FS_HZ))
    sos = butter(8, LFP_CUTOFF_HZ, fs=recording.fs_hz, output="sos")
    parts = []
    for start, filtered in _causal(sos, recording):
        first = (-start) % keep
        parts.append(filtered[:, first::keep])
    return np.concatenate(parts, axis=1)


# -- part 1: spontaneous activity ----------------------------------------------------------------------


def _fit(fit) -> dict | None:
    if fit is None:
        return None
    return {"exponent": fit.exponent, "exponent_se": fit.exponent_se, "x_min": fit.x_min, "n_tail": fit.n_tail,
            "ks_distance": fit.ks_distance}


def _avalanche_summary(found) -> dict:
    return {"bin_ms": found.bin_ms, "count": int(found.sizes.size), "branching_ratio": found.branching_ratio,
            "mean_size": float(found.sizes.mean()) if found.sizes.size else math.nan,
            "max_size": int(found.sizes.max()) if found.sizes.size else 0,
            "size_fit": _fit(found.size_fit), "duration_fit": _fit(found.duration_fit)}


def spontaneous(env: Env, settle: float, duration: float, workdir: Path) -> tuple[dict, dict]:
    """Record `duration` ms of spontaneous activity after `settle` ms and analyse it.

    **Returns**: `(numbers, data)`: the summary numbers, and the arrays the figures draw.
    """
    env.record_extracellular(fs_hz=FS_HZ, noise_uv=NOISE_UV, file=workdir / "spontaneous.h5")
    env.run(settle)
    result = env.run(duration)
    recording = result.extracellular
    n = env.num_neurons
    cit_true, ct_true = env.channel_recording(result.it, result.t)
    cit, ct, thresholds = detect_spikes(recording)
    lfp = field_potential(recording)
    powers = band_power(lfp, fs_hz=LFP_FS_HZ)
    freqs, psd = power_spectrum(lfp, fs_hz=LFP_FS_HZ)
    total = sum(float(p.mean()) for p in powers.values())
    detected = channel_avalanches(cit, ct, duration=duration)
    truth = channel_avalanches(cit_true, ct_true, duration=duration)
    sttc = channel_sttc_matrix(cit, ct, duration=duration, dt_ms=5.0)
    xy = env.io.electrode_coordinates[:, 1:3]
    rows = [env.io.channel_ids.tolist().index(int(c)) for c in sttc.ids]
    distance = np.linalg.norm(xy[rows][:, None] - xy[rows][None], axis=-1)
    pairs = np.triu_indices(len(rows), k=1)
    pair_distance, pair_sttc = distance[pairs], sttc.sttc[pairs]
    finite = np.isfinite(pair_sttc)
    from scipy.stats import spearmanr

    rho = spearmanr(pair_distance[finite], pair_sttc[finite]) if finite.sum() > 2 else None
    by_distance = {f"{d:.0f}": float(pair_sttc[finite & np.isclose(pair_distance, d)].mean())
                   for d in np.unique(np.round(pair_distance[finite], 3))}
    bursts = network_bursts(result.it, result.t, n, duration)
    numbers = {
        "duration_ms": duration,
        "spikes": int(result.it.size),
        "mean_rate_hz": result.it.size / n / (duration / 1000.0),
        "network_bursts": int(len(bursts)),
        "detection": {
            "threshold_uv_mean": float(thresholds.mean()),
            "detected_events": int(sum(len(v) for v in ct.values())),
            "ground_truth_channel_spikes": int(sum(len(v) for v in ct_true.values())),
        },
        "lfp_band_power_uv2": {name: float(p.mean()) for name, p in powers.items()},
        "lfp_band_fraction": {name: float(p.mean()) / total for name, p in powers.items()},
        "avalanches_detected": _avalanche_summary(detected),
        "avalanches_ground_truth": _avalanche_summary(truth),
        "sttc": {"pairs": int(finite.sum()), "mean": float(pair_sttc[finite].mean()) if finite.any() else math.nan,
                 "by_distance_um": by_distance,
                 "spearman_rho_vs_distance": None if rho is None else float(rho.statistic),
                 "spearman_p": None if rho is None else float(rho.pvalue)},
    }
    data = {"result": result, "recording": recording, "ct_true": ct_true, "ct": ct, "thresholds": thresholds,
            "bursts": bursts, "freqs": freqs, "psd": psd, "powers": powers, "detected": detected, "truth": truth,
            "sttc": sttc, "pair_distance": pair_distance, "pair_sttc": pair_sttc}
    return numbers, data


# -- part 2: recruitment --------------------------------------------------------------------------------


def _stimulus(kind: str, channel: int, amplitude: float):
    if kind == "monophasic":
        return Pulse(channel, float(amplitude), ONSET_MS, MONO_WIDTH_MS), 1.0
    return BiphasicPulse(channel, float(amplitude), ONSET_MS, PHASE_MS, GAP_MS), 0.1


def charge_per_phase(kind: str, amplitude: float) -> float:
    """Charge of the (first) phase of a pulse of `amplitude` uA, nC."""
    return amplitude * (MONO_WIDTH_MS if kind == "monophasic" else PHASE_MS)


def direct_activation(amplitudes, fired, level: float = 0.5) -> tuple[np.ndarray, np.ndarray, float | None]:
    """How often a pulse makes a neuron within reach fire at once, and the amplitude that does it reliably.

    **Arguments**: `amplitudes` (uA) and `fired` (bool: a neuron within reach spiked in `DIRECT_MS`
    after onset), one per trial; `level`: the fraction of trials that counts as reliable.

    **Returns**: `(values, probability, threshold)`: the distinct amplitudes (uA, ascending), the
    fraction of their trials with a direct spike, and the smallest amplitude from which on every
    amplitude reaches `level` (uA), or None.
    """
    amplitudes, fired = np.asarray(amplitudes, dtype=float), np.asarray(fired, dtype=bool)
    values = np.unique(amplitudes)
    probability = np.array([fired[amplitudes == a].mean() for a in values])
    reliable = probability >= level
    if not reliable[-1]:
        return values, probability, None
    first = len(values) - 1
    while first > 0 and reliable[first - 1]:
        first -= 1
    return values, probability, float(values[first])


def charge_ratios(numbers: dict) -> dict:
    """Biphasic over monophasic charge per phase: at the threshold of the near neurons' and of all
    neurons' curves (livn's rule), at the sigmoids' x50, and at the direct-activation threshold;
    None where either is missing."""
    def ratio(get):
        mono, bi = get(numbers["monophasic"]), get(numbers["biphasic"])
        return None if mono is None or bi is None else bi / mono

    def x50(who):
        return lambda entry: None if entry[who]["sigmoid"] is None else entry[who]["sigmoid"]["x50_charge_nc"]

    return {"threshold_near": ratio(lambda e: e["near"]["threshold_charge_nc"]),
            "threshold_all": ratio(lambda e: e["all"]["threshold_charge_nc"]),
            "x50_near": ratio(x50("near")), "x50_all": ratio(x50("all")),
            "direct": ratio(lambda e: e["direct"]["threshold_charge_nc"])}


def _window_spikes(sorted_times, onsets, window) -> np.ndarray:
    """Spikes (of `sorted_times`, ms) in `window` (ms) around each onset (ms)."""
    return (np.searchsorted(sorted_times, onsets + window[1]) - np.searchsorted(sorted_times, onsets + window[0]))


def recruitment(env: Env, channel: int, near, amplitudes, trials: int, interval: float, settle: float,
                seed: int) -> tuple[dict, dict]:
    """Pulses of both kinds through `channel`, interleaved in one random order, one per `interval` ms.

    **Returns**: `(numbers, data)`: the summary numbers per kind, and the spikes and schedule.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xEC]))
    schedule = [(kind, float(a)) for kind in ("monophasic", "biphasic") for a in amplitudes for _ in range(trials)]
    order = rng.permutation(len(schedule))
    ids = env.io.channel_ids
    env.run(settle)
    spikes_i, spikes_t, onsets = [], [], []
    for k, index in enumerate(order):
        kind, amplitude = schedule[index]
        pulse, step = _stimulus(kind, channel, amplitude)
        result = env.run(interval, inputs=electrode_inputs([pulse], interval, ids, step=step), stimulus_step=step)
        spikes_i.append(result.it)
        spikes_t.append(result.t + k * interval)
        onsets.append(k * interval + ONSET_MS)
    it, t = np.concatenate(spikes_i), np.concatenate(spikes_t)
    kinds = np.array([schedule[i][0] for i in order])
    levels = np.array([schedule[i][1] for i in order])
    onsets = np.asarray(onsets)
    numbers, curves, histograms, directs = {}, {}, {}, {}
    top = max(amplitudes)
    for kind in ("monophasic", "biphasic"):
        mine = kinds == kind
        stimuli = np.column_stack([levels[mine], onsets[mine]])
        entry = {}
        for who, gids in (("near", np.asarray(near)), ("all", None)):
            curve = recruitment_curve(it, t, stimuli, RESPONSE_MS, BASELINE_MS, gids=gids)
            curves[kind, who] = curve
            times = np.sort(t if gids is None else t[np.isin(it, gids)])
            entry[who] = {
                "threshold_ua": curve.threshold,
                "threshold_charge_nc": None if curve.threshold is None else charge_per_phase(kind, curve.threshold),
                "trials": {"amplitude_ua": levels[mine].tolist(), "onset_ms": onsets[mine].tolist(),
                           "response_spikes": _window_spikes(times, onsets[mine], RESPONSE_MS).tolist(),
                           "baseline_spikes": _window_spikes(times, onsets[mine], BASELINE_MS).tolist()},
                "baseline_spikes": curve.baseline,
                "response_spikes": dict(zip((f"{a:g}" for a in curve.amplitudes), curve.response.tolist())),
                "response_se": curve.response_se.tolist(),
                "sigmoid": None if curve.sigmoid is None else {
                    "x50_ua": curve.sigmoid.x50, "width_ua": curve.sigmoid.width, "bottom": curve.sigmoid.bottom,
                    "top": curve.sigmoid.top, "x50_charge_nc": charge_per_phase(kind, curve.sigmoid.x50)},
            }
        near_times = np.sort(t[np.isin(it, near)])
        fired = _window_spikes(near_times, onsets[mine], DIRECT_MS) > 0
        chance = float(np.mean(_window_spikes(near_times, onsets[mine], (-DIRECT_MS[1], -DIRECT_MS[0])) > 0))
        values, probability, threshold = direct_activation(levels[mine], fired)
        directs[kind] = (values, probability, chance, threshold)
        entry["direct"] = {"window_ms": list(DIRECT_MS), "chance": chance,
                           "probability": dict(zip((f"{a:g}" for a in values), probability.tolist())),
                           "threshold_ua": threshold,
                           "threshold_charge_nc": None if threshold is None else charge_per_phase(kind, threshold)}
        histograms[kind] = psth(it, t, onsets[mine & (levels == top)], window=(-50.0, 200.0), bin_ms=2.0,
                                gids=np.arange(env.num_neurons))
        entry["psth_top_peak_hz"] = float(histograms[kind].rate.max())
        numbers[kind] = entry
    numbers["electrode"] = channel
    numbers["near_neurons"] = int(len(near))
    numbers["top_amplitude_ua"] = float(top)
    data = {"curves": curves, "psth": histograms, "direct": directs}
    return numbers, data


# -- part 3: artifact and blanking ---------------------------------------------------------------------


def artifact(env: Env, channel: int, amplitude: float) -> dict:
    """One monophasic pulse at 50 ms and one biphasic pulse at 150 ms (`amplitude` uA) recorded
    from t = 0, without and with `BLANKING_MS` of blanking (the same culture, reset in between).

    **Returns**: {"raw" | "blanked": ExtracellularRecording (in memory)} and the pulse onsets (ms).
    """
    ids = env.io.channel_ids
    pulses = [Pulse(channel, float(amplitude), 50.0, MONO_WIDTH_MS),
              BiphasicPulse(channel, float(amplitude), 150.0, PHASE_MS, GAP_MS)]
    inputs = electrode_inputs(pulses, 200.0, ids, step=0.1)
    out = {"onsets_ms": [50.0, 150.0], "amplitude_ua": float(amplitude)}
    for name, blanking in (("raw", None), ("blanked", BLANKING_MS)):
        env.clear()
        env.record_extracellular(fs_hz=FS_HZ, noise_uv=NOISE_UV, blanking_ms=blanking)
        out[name] = env.run(200.0, inputs=inputs, stimulus_step=0.1).extracellular
    return out


# -- figures -----------------------------------------------------------------------------------------------


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def _excerpt(bursts, duration: float) -> float:
    """Start (ms) of a 1 s excerpt: 300 ms before the first burst that fits, else the recording's start."""
    for start, _ in bursts:
        if 300.0 <= start <= duration - 700.0:
            return float(start - 300.0)
    return 0.0


def plot_traces(env: Env, data: dict, path: Path) -> dict:
    """Raster and rate, 1 s of raw traces of the 4 busiest channels, and a 10 ms zoom on one spike."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import butter, sosfilt

    result, recording, ct_true = data["result"], data["recording"], data["ct_true"]
    duration = recording.duration
    ids = recording.channel_ids.tolist()
    busiest = sorted(sorted(ids, key=lambda c: -len(ct_true[c]))[:4])
    rows = [ids.index(c) for c in busiest]
    start = _excerpt(data["bursts"], duration)
    per_ms = recording.fs_hz / 1000.0
    first = int(round(start * per_ms))
    stop = min(recording.n_samples, first + int(1000 * per_ms))
    traces = np.asarray(recording.read(first, stop), dtype=float)
    times = (np.arange(first, stop)) / per_ms
    band = sosfilt(butter(3, SPIKE_BAND_HZ, btype="bandpass", fs=recording.fs_hz, output="sos"), traces, axis=1)
    # the zoom: of the spikes that no other neuron within 100 um of the electrode joins within
    # -3..+7 ms, the one whose neuron lies nearest to a shown electrode (the largest waveform)
    distances = env.io.distances(env.system.neuron_coordinates)
    inside = np.flatnonzero((result.t >= start + 20) & (result.t < start + 990))
    candidates = []
    for c, r in zip(busiest, rows):
        mine = inside[distances[r, result.it[inside]] <= 100.0]
        for k in mine:
            others = mine[(mine != k) & (np.abs(result.t[mine] - result.t[k] - 2.0) <= 5.0)]
            if others.size == 0:
                candidates.append((distances[r, result.it[k]], result.t[k], c, r))
    if candidates:
        _, spike_ms, zoom_channel, zoom_row = min(candidates)
    else:
        spike_ms, zoom_channel, zoom_row = start + 500.0, busiest[0], rows[0]

    fig = plt.figure(figsize=(11, 10), constrained_layout=True)
    grid = fig.add_gridspec(4, 1, height_ratios=[1.4, 0.7, 3, 2])
    raster = fig.add_subplot(grid[0])
    raster.scatter(result.t / 1000.0, result.it, s=0.5, c=np.where(result.it < 80, "tab:red", "tab:blue"), lw=0)
    raster.axvspan(start / 1000.0, (start + 1000) / 1000.0, color="gold", alpha=0.3, lw=0)
    raster.set(xlim=(0, duration / 1000.0), ylabel="neuron (gid)",
               title=f"S2, {duration / 1000:g} s spontaneous (EXC red, INH blue); shaded: the excerpt below")
    rate = fig.add_subplot(grid[1], sharex=raster)
    edges = np.arange(0, duration + 10, 10.0)
    rate.plot(edges[:-1] / 1000.0, np.histogram(result.t, edges)[0] / env.num_neurons / 0.01, color="k", lw=0.5)
    rate.set(xlabel="time (s)", ylabel="rate (Hz)")
    lanes = fig.add_subplot(grid[2])
    spacing = 1.2 * max(float(np.percentile(np.ptp(traces, axis=1), 50)), 50.0)
    for i, r in enumerate(rows):
        lanes.plot(times, traces[r] - traces[r].mean() - i * spacing, color="k", lw=0.4)
        gt = ct_true[busiest[i]]
        gt = gt[(gt >= start) & (gt < start + 1000)]
        lanes.plot(gt, np.full(gt.size, -i * spacing + 0.45 * spacing), "|", color="tab:red", ms=4)
    lanes.axvspan(spike_ms - 3, spike_ms + 7, color="tab:green", alpha=0.25, lw=0)
    lanes.set_yticks([-i * spacing for i in range(len(rows))], [f"ch {c}" for c in busiest])
    lanes.plot([times[-1] + 5] * 2, [0, -100], color="tab:green", lw=2, clip_on=False)
    lanes.text(times[-1] + 8, -50, "100 uV", color="tab:green", fontsize=8, va="center")
    lanes.set(xlabel="time (ms)", xlim=(times[0], times[-1]),
              title="raw traces (25 kHz, 5 uV noise, LFP proxy); red ticks: ground-truth spikes of neurons "
                    f"within {env.io.output_radius:g} um; green: the zoom")
    zoom = fig.add_subplot(grid[3])
    window = (times >= spike_ms - 3) & (times < spike_ms + 7)
    zoom.plot(times[window], traces[zoom_row, window] - traces[zoom_row, window].mean(), color="k", lw=1,
              label="raw")
    zoom.plot(times[window], band[zoom_row, window] - 1.5 * spacing / 2, color="tab:purple", lw=1,
              label=f"band-passed {SPIKE_BAND_HZ[0]:g}-{SPIKE_BAND_HZ[1]:g} Hz (offset)")
    zoom.axhline(data["thresholds"][zoom_row] - 1.5 * spacing / 2, color="tab:purple", ls="--", lw=0.8,
                 label=f"detection threshold ({THRESHOLD_SD:g} sigma)")
    near = (result.t >= spike_ms - 3) & (result.t < spike_ms + 7)
    for g, t in zip(result.it[near], result.t[near]):
        d = distances[zoom_row, g]
        if d <= 100:
            zoom.axvline(t, color="tab:red", lw=0.8)
            zoom.text(t, zoom.get_ylim()[1], f" gid {g}, {d:.0f} um", color="tab:red", fontsize=7, va="top",
                      rotation=90)
    zoom.set(xlabel="time (ms)", ylabel="uV", title=f"10 ms on ch {zoom_channel}: red lines are ground-truth "
                                                    "spikes of neurons within 100 um (trough 0.4 ms later)")
    zoom.legend(loc="lower right", fontsize=7)
    _save(fig, path)
    return {"excerpt_start_ms": start, "channels": busiest, "zoom_channel": zoom_channel,
            "zoom_spike_ms": float(spike_ms)}


def _ccdf(ax, values, fit, label, colour, critical, reference=False):
    values = np.sort(values)
    if values.size == 0:
        return
    unique = np.unique(values)
    ccdf = 1.0 - np.searchsorted(values, unique, side="left") / values.size
    ax.loglog(unique, ccdf, "o", ms=3, color=colour, label=label)
    if fit is not None:
        x = np.arange(fit.x_min, unique.max() + 1)
        tail = fit.n_tail / values.size
        ax.loglog(x, tail * (x / fit.x_min) ** (1 - fit.exponent), color=colour, lw=1)
        if reference:
            ax.loglog(x, tail * (x / fit.x_min) ** (1 - critical), color="0.5", ls=":", lw=1)


def plot_analysis(env: Env, data: dict, path: Path) -> None:
    """LFP spectrum and band power, avalanche sizes and durations, STTC matrix and against distance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(14, 8), constrained_layout=True)
    ax = axes[0, 0]
    freqs, psd = data["freqs"], data["psd"].mean(axis=0)
    keep = (freqs >= 1) & (freqs <= 300)
    ax.loglog(freqs[keep], psd[keep], color="k", lw=0.8)
    for (name, (low, high)), shade in zip({"delta": (1, 4), "theta": (4, 8), "alpha": (8, 13), "beta": (13, 30),
                                           "gamma": (30, 100)}.items(), ("0.9", "0.8", "0.9", "0.8", "0.9")):
        ax.axvspan(low, high, color=shade, lw=0)
        ax.text(math.sqrt(low * high), ax.get_ylim()[1], name, ha="center", va="top", fontsize=7)
    ax.set(xlabel="frequency (Hz)", ylabel="PSD (uV^2/Hz), mean of channels",
           title=f"LFP (low-pass {LFP_CUTOFF_HZ:g} Hz, {LFP_FS_HZ:g} Hz), Welch")
    ax = axes[0, 1]
    names = list(data["powers"])
    values = [float(data["powers"][n].mean()) for n in names]
    spread = [float(data["powers"][n].std()) for n in names]
    ax.bar(names, values, yerr=spread, color="0.6", capsize=3)
    ax.set(ylabel="band power (uV^2)", title="LFP band power, mean +- SD over 16 channels")
    detected, truth = data["detected"], data["truth"]
    ax = axes[0, 2]
    _ccdf(ax, detected.sizes, detected.size_fit, "detected", "tab:blue", CRITICAL_SIZE, reference=True)
    _ccdf(ax, truth.sizes, truth.size_fit, "ground truth", "tab:orange", CRITICAL_SIZE)
    ax.set(xlabel="size (active electrode-bins)", ylabel="P(size >= s)",
           title=f"avalanche sizes; lines: fits, dotted: exponent {CRITICAL_SIZE:g}")
    ax.legend(fontsize=7)
    ax = axes[1, 0]
    _ccdf(ax, detected.durations, detected.duration_fit, "detected", "tab:blue", CRITICAL_DURATION,
          reference=True)
    _ccdf(ax, truth.durations, truth.duration_fit, "ground truth", "tab:orange", CRITICAL_DURATION)
    ax.set(xlabel="duration (bins)", ylabel="P(duration >= d)",
           title=f"avalanche durations; lines: fits, dotted: exponent {CRITICAL_DURATION:g}")
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    sttc = data["sttc"]
    image = ax.imshow(sttc.sttc, vmin=-0.2, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(sttc.ids)), [str(c) for c in sttc.ids], fontsize=6)
    ax.set_yticks(range(len(sttc.ids)), [str(c) for c in sttc.ids], fontsize=6)
    ax.set(title="STTC between channels (detected spikes, 5 ms)", xlabel="channel", ylabel="channel")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax = axes[1, 2]
    d, s = data["pair_distance"], data["pair_sttc"]
    jitter = np.random.default_rng(0).uniform(-4, 4, d.size)
    ax.scatter(d + jitter, s, s=8, color="k", alpha=0.6)
    for value in np.unique(np.round(d, 3)):
        here = np.isclose(d, value) & np.isfinite(s)
        if here.any():
            ax.plot([value - 10, value + 10], [s[here].mean()] * 2, color="tab:red", lw=2)
    ax.axvline(2 * env.io.output_radius, color="0.5", ls=":", lw=1)
    ax.text(2 * env.io.output_radius, ax.get_ylim()[1], " 2 x output radius", fontsize=7, va="top", color="0.4")
    ax.set(xlabel="electrode distance (um)", ylabel="STTC", title="STTC against distance (red: means)")
    _save(fig, path)


def plot_recruitment(rec: dict, numbers: dict, path: Path) -> None:
    """Recruitment curves, direct activation against amplitude and against charge, PSTHs at the top amplitude."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"monophasic": "tab:red", "biphasic": "tab:blue"}
    labels = {"monophasic": f"monophasic {MONO_WIDTH_MS:g} ms",
              "biphasic": f"biphasic {PHASE_MS:g}/{GAP_MS:g}/{PHASE_MS:g} ms"}
    fig, axes = plt.subplots(2, 3, figsize=(14, 8), constrained_layout=True)
    reach = f"{numbers['near_neurons']} neurons within reach of ch {numbers['electrode']}"
    for col, (who, title) in enumerate((("near", reach), ("all", "all 100 neurons"))):
        ax = axes[0, col]
        for kind in ("monophasic", "biphasic"):
            curve = rec["curves"][kind, who]
            ax.errorbar(curve.amplitudes, curve.response, yerr=curve.response_se, fmt="o", color=colours[kind], ms=4,
                        capsize=2, label=labels[kind])
            if curve.sigmoid is not None:
                fine = np.geomspace(curve.amplitudes[0], curve.amplitudes[-1], 200)
                ax.plot(fine, curve.sigmoid(fine), color=colours[kind], lw=1)
            if curve.threshold is not None:
                ax.axvline(curve.threshold, color=colours[kind], ls=":", lw=1)
        ax.set_xscale("log")
        ax.axhline(0, color="0.5", lw=0.5)
        ax.set(xlabel="amplitude (uA)", ylabel="spikes 0-50 ms minus baseline (mean +- SE)",
               title=f"{title}\ndotted: threshold, line: sigmoid fit")
        ax.legend(fontsize=7)
    ax = axes[0, 2]
    for kind in ("monophasic", "biphasic"):
        edges, rate, _ = rec["psth"][kind]
        ax.step(edges[:-1], rate, where="post", color=colours[kind], label=labels[kind])
    ax.set(xlabel="time from pulse onset (ms)", ylabel="rate per neuron (Hz)",
           title=f"PSTH at {numbers['top_amplitude_ua']:g} uA (all neurons, 2 ms bins)")
    ax.legend(fontsize=7)
    for col, scale in enumerate(("amplitude", "charge")):
        ax = axes[1, col]
        for kind in ("monophasic", "biphasic"):
            values, probability, chance, threshold = rec["direct"][kind]
            x = values if scale == "amplitude" else charge_per_phase(kind, values)
            ax.plot(x, probability, "o-", color=colours[kind], ms=4, label=labels[kind])
            ax.axhline(chance, color=colours[kind], ls=":", lw=0.8)
            if threshold is not None:
                ax.axvline(threshold if scale == "amplitude" else charge_per_phase(kind, threshold),
                           color=colours[kind], ls="--", lw=1)
        ax.axhline(0.5, color="0.5", lw=0.5)
        ax.set_xscale("log")
        ax.set(xlabel="amplitude (uA)" if scale == "amplitude" else "charge per phase (nC)", ylim=(-0.03, 1.03),
               ylabel=f"P(a neuron within reach fires {DIRECT_MS[0]:g}-{DIRECT_MS[1]:g} ms)",
               title="direct activation; dotted: chance (before onset),\ndashed: reached in >= 50 % of trials")
        ax.legend(fontsize=7, loc="upper left")
    axes[1, 2].axis("off")
    rows = []
    for kind in ("monophasic", "biphasic"):
        entry = numbers[kind]
        x50 = [None if entry[w]["sigmoid"] is None else entry[w]["sigmoid"]["x50_ua"] for w in ("near", "all")]
        for name, value in (("threshold, near", entry["near"]["threshold_ua"]),
                            ("threshold, all", entry["all"]["threshold_ua"]),
                            ("x50, near", x50[0]), ("x50, all", x50[1]),
                            ("direct, 50 %", entry["direct"]["threshold_ua"])):
            amount = "-" if value is None else f"{value:.3g} uA = {charge_per_phase(kind, value):.3g} nC"
            rows.append(f"{kind:<10} {name:<16} {amount}")
    ratios = numbers["biphasic_over_monophasic_charge"]
    rows.append("")
    rows.append("charge biphasic / monophasic:")
    rows += [f"  {name:<15} {'-' if v is None else f'{v:.2f}'}" for name, v in ratios.items()]
    axes[1, 2].text(0, 1, "\n".join(rows), va="top", family="monospace", fontsize=8)
    _save(fig, path)


def plot_artifact(env: Env, art: dict, channel: int, path: Path) -> None:
    """The stimulated channel and a distant one around each pulse, without and with blanking."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = env.io.channel_ids.tolist()
    xy = env.io.electrode_coordinates[:, 1:3]
    here = ids.index(channel)
    far = int(np.argmax(np.linalg.norm(xy - xy[here], axis=1)))
    shown = [(here, f"ch {channel} (stimulated)"),
             (far, f"ch {ids[far]} ({np.linalg.norm(xy[far] - xy[here]):.0f} um away)")]
    raw, blanked = art["raw"], art["blanked"]
    times = raw.sample_times()
    limit = raw.settings.amplifier_range_uv
    fig, axes = plt.subplots(2, 2, figsize=(12, 6), constrained_layout=True, sharey="row")
    for col, (onset, label) in enumerate(zip(art["onsets_ms"], ("monophasic 1 ms", "biphasic 0.2/0.1/0.2 ms"))):
        window = (times >= onset - 2) & (times < onset + 15)
        for row, (index, name) in enumerate(shown):
            ax = axes[row, col]
            ax.plot(times[window], raw.traces[index, window], color="0.6", lw=1, label="no blanking")
            ax.plot(times[window], blanked.traces[index, window], color="k", lw=1,
                    label=f"blanking {BLANKING_MS:g} ms")
            mask = blanked.blanked_mask()[window]
            ax.fill_between(times[window], -limit, limit, where=mask, color="gold", alpha=0.3, lw=0,
                            label="blanked")
            ax.axhline(limit, color="tab:red", ls=":", lw=0.8)
            ax.axhline(-limit, color="tab:red", ls=":", lw=0.8)
            ax.set_yscale("symlog", linthresh=100)
            ax.set_yticks([-5000, -1000, -100, 0, 100, 1000, 5000], ["-5000", "-1000", "-100", "0", "100", "1000",
                                                                      "5000"])
            ax.set(title=f"{label}, {art['amplitude_ua']:g} uA: {name}", xlabel="time (ms)", ylabel="uV")
            if row == 0 and col == 0:
                ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)


# -- the run ----------------------------------------------------------------------------------------------


def main(seed: int = 1, out=FIGURES, quick: bool = False, electrode: int | None = None, verbose: bool = True,
         **settings) -> dict:
    """Run the three parts and write `summary.json` and the figures to `out`.

    **Arguments**

    - `seed`: the culture's seed (non-negative integer).
    - `out`: directory for `summary.json` and the figures.
    - `quick`: small settings (`QUICK`) for a smoke test, else `DEFAULTS`.
    - `electrode`: the stimulated channel; None: the one with most neurons within its input radius.
    - `verbose`: print the summary table.
    - `**settings`: overrides of `spontaneous` (ms), `settle` (ms), `amplitudes` (uA), `trials`,
      `interval` (ms, >= 500 unless `quick`).

    **Returns**: the summary (what `summary.json` holds).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidArgumentError(f"seed must be a non-negative integer; got {describe(seed)}")
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise InvalidArgumentError(f"unknown settings {sorted(unknown)}; accepted: {sorted(DEFAULTS)}")
    options = {**(QUICK if quick else DEFAULTS), **settings}
    for name in ("spontaneous", "settle", "interval"):
        if not isinstance(options[name], (int, float)) or not math.isfinite(options[name]) or options[name] <= 0:
            raise InvalidArgumentError(f"{name} must be a positive number of ms; got {describe(options[name])}")
    if not quick and options["interval"] < 500:
        raise InvalidArgumentError(f"interval must be >= 500 ms between pulses; got {options['interval']}")
    if options["interval"] < ONSET_MS + RESPONSE_MS[1]:
        raise InvalidArgumentError(f"interval must be >= {ONSET_MS + RESPONSE_MS[1]:g} ms; got {options['interval']}")
    amplitudes = sorted(float(a) for a in options["amplitudes"])
    if len(amplitudes) < 1 or min(amplitudes) <= 0 or len(set(amplitudes)) != len(amplitudes):
        raise InvalidArgumentError(f"amplitudes must be distinct positive uA; got {options['amplitudes']!r}")
    if isinstance(options["trials"], bool) or not isinstance(options["trials"], int) or options["trials"] < 1:
        raise InvalidArgumentError(f"trials must be a whole number >= 1; got {describe(options['trials'])}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clock, wall = time.process_time(), time.perf_counter()
    cpu = {}

    env = culture(seed)
    channel, near, near_distance = stimulated_electrode(env, electrode)
    rec, rec_data = recruitment(env, channel, near, amplitudes, options["trials"], options["interval"],
                                options["settle"], seed)
    cpu["recruitment"] = time.process_time() - clock
    rec["biphasic_over_monophasic_charge"] = charge_ratios(rec)
    plot_recruitment(rec_data, rec, out / "recruitment.png")
    env.clear()  # the same culture from t = 0 again, now recorded as traces
    with tempfile.TemporaryDirectory(prefix="livn-mea-") as workdir:
        lap = time.process_time()
        spont, data = spontaneous(env, options["settle"], options["spontaneous"], Path(workdir))
        cpu["spontaneous"] = time.process_time() - lap
        shown = plot_traces(env, data, out / "spontaneous_traces.png")
        plot_analysis(env, data, out / "spontaneous_analysis.png")
        data = None
        art = artifact(env, channel, ARTIFACT_UA)  # resets the culture and closes the spontaneous recording
    plot_artifact(env, art, channel, out / "stimulation_artifact.png")

    summary = {
        "system": "S2", "seed": seed, "backend": env.backend_name, "quick": quick,
        "settings": {**options, "amplitudes": amplitudes, "fs_hz": FS_HZ, "noise_uv": NOISE_UV,
                     "spike_band_hz": list(SPIKE_BAND_HZ), "threshold_sd": THRESHOLD_SD,
                     "dead_time_ms": DEAD_TIME_MS, "lfp_cutoff_hz": LFP_CUTOFF_HZ, "lfp_fs_hz": LFP_FS_HZ,
                     "monophasic_width_ms": MONO_WIDTH_MS, "phase_ms": PHASE_MS, "gap_ms": GAP_MS,
                     "response_ms": list(RESPONSE_MS), "baseline_ms": list(BASELINE_MS),
                     "blanking_ms": BLANKING_MS},
        "electrode": {"channel": channel, "near_gids": near.tolist(), "near_distance_um": near_distance.round(1).tolist(),
                      "input_radius_um": env.io.input_radius, "coupling_na_per_ua": env.io.coupling,
                      "reference_distance_um": env.io.reference_distance},
        "spontaneous": spont,
        "traces_figure": shown,
        "artifact": {"amplitude_ua": art["amplitude_ua"],
                     "blanked_samples": int(art["blanked"].blanked_mask().sum()),
                     "clipped_samples_raw": int((np.abs(art["raw"].traces) >= art["raw"].settings.amplifier_range_uv
                                                 - 1e-3).sum())},
        "recruitment": rec,
        "cpu_s": {**cpu, "total": time.process_time() - clock},
        "wall_s": time.perf_counter() - wall,
    }
    write_json(out / "summary.json", _plain(summary))
    if verbose:
        print(table(summary))
    return summary


def _plain(value):
    """`value` with numpy scalars and arrays as JSON numbers and lists, NaN as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    return value


def table(summary: dict) -> str:
    """The summary as a plain-text table."""
    spont, rec = summary["spontaneous"], summary["recruitment"]
    rows = [("spontaneous", f"{spont['duration_ms'] / 1000:g} s", ""),
            ("  mean rate", f"{spont['mean_rate_hz']:.2f} Hz", f"{spont['network_bursts']} network bursts"),
            ("  detected / ground-truth channel spikes",
             f"{spont['detection']['detected_events']} / {spont['detection']['ground_truth_channel_spikes']}",
             f"threshold {spont['detection']['threshold_uv_mean']:.1f} uV (mean)")]
    for name, power in spont["lfp_band_power_uv2"].items():
        rows.append((f"  LFP {name}", f"{power:.3g} uV^2", f"{100 * spont['lfp_band_fraction'][name]:.1f} % of 1-100 Hz"))
    for source in ("detected", "ground_truth"):
        found = spont[f"avalanches_{source}"]
        rows.append((f"  avalanches ({source.replace('_', ' ')})", f"{found['count']}",
                     f"bin {found['bin_ms']:.2f} ms, branching ratio {found['branching_ratio']:.3f}"))
        for what, critical in (("size", CRITICAL_SIZE), ("duration", CRITICAL_DURATION)):
            fit = found[f"{what}_fit"]
            value = "no fit" if fit is None else f"{fit['exponent']:.2f} +- {fit['exponent_se']:.2f}"
            note = "" if fit is None else f"x_min {fit['x_min']}, {fit['n_tail']} in tail, KS {fit['ks_distance']:.3f}"
            rows.append((f"    {what} exponent (critical {critical:g})", value, note))
    sttc = spont["sttc"]
    rows.append(("  STTC mean over channel pairs", f"{sttc['mean']:.3f}",
                 f"{sttc['pairs']} pairs; Spearman rho vs distance "
                 + ("n/a" if sttc["spearman_rho_vs_distance"] is None else f"{sttc['spearman_rho_vs_distance']:.2f}")))
    rows.append(("  STTC by distance", "", ", ".join(f"{d} um: {v:.2f}" for d, v in sttc["by_distance_um"].items())))
    rows.append((f"recruitment, ch {rec['electrode']}", f"{rec['near_neurons']} neurons within reach", ""))
    def amount(value, kind):
        return "none in range" if value is None else f"{value:.3g} uA = {charge_per_phase(kind, value):.3g} nC"

    for kind in ("monophasic", "biphasic"):
        for who in ("near", "all"):
            entry = rec[kind][who]
            fit = "no sigmoid" if entry["sigmoid"] is None else \
                f"sigmoid x50 {amount(entry['sigmoid']['x50_ua'], kind)}, top {entry['sigmoid']['top']:.1f} spikes"
            rows.append((f"  {kind}, {who}: threshold", amount(entry["threshold_ua"], kind), fit))
        direct = rec[kind]["direct"]
        rows.append((f"  {kind}: direct activation 50 %", amount(direct["threshold_ua"], kind),
                     "P = " + ", ".join(f"{p:.1f}" for p in direct["probability"].values())
                     + f" (chance {direct['chance']:.2f})"))
        top = list(rec[kind]["near"]["response_spikes"].items())[-1]
        rows.append((f"  {kind}, near: response at {top[0]} uA", f"{top[1]:.1f} spikes",
                     f"PSTH peak {rec[kind]['psth_top_peak_hz']:.0f} Hz per neuron"))
    ratios = {k: "n/a" if v is None else f"{v:.2f}" for k, v in rec["biphasic_over_monophasic_charge"].items()}
    rows.append(("  charge biphasic / monophasic", f"direct {ratios['direct']}",
                 f"threshold near {ratios['threshold_near']}, all {ratios['threshold_all']}; "
                 f"x50 near {ratios['x50_near']}, all {ratios['x50_all']}"))
    rows.append(("CPU", f"{summary['cpu_s']['total']:.0f} s", f"wall {summary['wall_s']:.0f} s"))
    width = max(len(r[0]) for r in rows)
    middle = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b:<{middle}}  {c}".rstrip() for a, b, c in rows)


def _arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="the culture's seed (default 1)")
    parser.add_argument("--out", default=str(FIGURES), help="directory for summary.json and the figures")
    parser.add_argument("--quick", action="store_true", help="tiny settings, for a smoke test")
    parser.add_argument("--electrode", type=int, default=None,
                        help="stimulated channel (default: the one with most neurons within its input radius)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = _arguments()
    main(seed=arguments.seed, out=arguments.out, quick=arguments.quick, electrode=arguments.electrode)
