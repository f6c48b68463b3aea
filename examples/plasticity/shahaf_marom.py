"""Shahaf & Marom (2001), "Learning in networks of cortical neurons", on livn's closed loop.

The protocol: low-frequency focal stimulation through one electrode; after every pulse
the response of a chosen target channel in a late post-stimulus window (40-60 ms) is
checked; as soon as the response ratio over the last 10 stimuli reaches the criterion
(2 of 10 here), stimulation is withdrawn for a rest period; then the next cycle starts.
Shahaf & Marom saw the number of stimuli needed to reach the criterion fall over cycles,
and no such fall when stimulation was withdrawn at times not contingent on the response.

Here the culture is the simulated S2 (100 neurons, brian2) with additive STDP on
EXC->EXC and EXC->INH (`Env.enable_plasticity()`, the model's default rules) and the
model's default noise. Stimulation runs in `Env.stream` closed loops (1 s windows, a 2 ms
pulse at the start of each pulsed window; the controller reads the target channel after
each window and its decision takes effect at the next window, latency 0), in streams of
at most `chunk` windows; rests are plain `Env.run` with plasticity still on.

Per seed, every condition continues from the same checkpoint (`prepare`):

0. a fresh culture with plasticity on runs `warmup_s` of spontaneous activity (the weights
   fall under STDP for about 2 minutes, then settle);
1. selection probe: `probe` pulses at 1 Hz; the target channel is a channel other than the
   stimulated one with a low response ratio in the window that is at least twice its ratio in
   a reference window long after the pulse (`choose_target`); rest;
2. pre probe: another `probe` pulses, an independent measurement of the target's response
   ratio (the selection probe's ratio is biased low by the choice); rest;
3. `cycles` cycles of stimulation, each followed by `rest_s` of rest, by condition:
   - `contingent`: withdraw at the criterion (at most `max_stimuli` per cycle);
   - `random`: withdraw after a number of stimuli not contingent on the response: the
     contingent run's per-cycle counts of the same seed, shuffled (same total stimulation);
     the stimuli to criterion of a cycle are where the criterion was first met in that cycle,
     or missing (censored) if it never was;
   - `frozen`: as `contingent`, with plasticity turned off from the pre probe on;
4. post probe: another `probe` pulses.

Run `python examples/plasticity/shahaf_marom.py --help`; results and the exact command
are in examples/plasticity/SHAHAF_MAROM.md. Times are ms unless named _s; currents uA.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

import numpy as np

CONDITIONS = ("contingent", "random", "frozen")

DEFAULTS = dict(
    system="S2",
    seeds=(1, 2, 3),
    conditions=CONDITIONS,
    stim_channel=5,       # the stimulated electrode
    amplitude=4.0,        # uA, pulse amplitude (the recruitment threshold of channel 5 on S2)
    pulse_ms=2,           # pulse width, whole ms
    period=1000.0,        # ms between pulses: 1 Hz
    window=(40.0, 60.0),  # ms after the pulse onset: the target response window
    spont_window=(900.0, 920.0),  # ms after the pulse onset: a 20 ms reference window long after the response
    selection="evoked",   # how the target is chosen: "evoked" or "lowest" (see choose_target)
    min_ratio=0.1,        # lowest response ratio of a preferred target (see choose_target)
    criterion=(2, 10),    # withdraw when >= 2 of the last 10 stimuli got a response
    warmup_s=120.0,       # s of spontaneous activity with plasticity on before the selection probe
    probe=30,             # pulses per probe block
    cycles=8,
    max_stimuli=60,       # a cycle that has not met the criterion after this many stimuli ends (censored)
    rest_s=20.0,          # rest after each cycle and after each probe, s (the paper: 5 min)
    chunk=10,             # windows per stream call
    target=None,          # None: chosen from the selection probe
    jobs=1,
    verbose=False,        # progress on stderr
)


# -- the closed loop ---------------------------------------------------------------------------------


class PulseUntil:
    """Stream controller: a pulse on `stim_channel` at the start of every window until `stop(responses)`.

    After each pulsed window it records, per channel, whether the channel spiked in
    `window` (ms after the pulse onset), then asks `stop(target responses so far)`.
    `pulsed` says whether the window now being simulated starts with a pulse (the caller
    sets it for the first window of each stream; the controller keeps it afterwards).
    """

    def __init__(self, n_channels, stim_channel, amplitude, pulse_ms, target, window, stop, spont_window=None):
        self.pulse = np.zeros((pulse_ms, n_channels))
        self.pulse[:, stim_channel] = amplitude
        self.n_channels, self.target, self.window, self.stop = n_channels, target, window, stop
        self.spont_window = spont_window
        self.responses = []       # bool per pulse: the target responded in the window
        self.channel_hits = []    # [n_channels] bools per pulse
        self.spont_hits = []      # [n_channels] bools per pulse, in `spont_window` (a reference for chance)
        self.pulse_times = []     # ms since the Env's t = 0 of every pulse onset
        self.done = False
        self.pulsed = False

    def __call__(self, window):
        if not self.pulsed:
            return None
        hits = self._hits(window, self.window)
        self.channel_hits.append(hits)
        if self.spont_window is not None:
            self.spont_hits.append(self._hits(window, self.spont_window))
        self.responses.append(bool(hits[self.target]) if self.target is not None else False)
        self.pulse_times.append(window.start)
        if self.stop(self.responses):
            self.done, self.pulsed = True, False
            return None
        self.pulsed = True
        return self.pulse  # latency 0: applied from the next window's first row

    def _hits(self, window, bounds):
        lo, hi = bounds
        hits = np.zeros(self.n_channels, bool)
        for channel, times in window.channels[1].items():
            times = np.asarray(times)
            hits[channel] = bool(np.any((times >= lo) & (times < hi)))
        return hits


def criterion_met(responses, criterion) -> bool:
    """At least `k` responses among the last `n` stimuli (`criterion = (k, n)`)."""
    k, n = criterion
    return sum(responses[-n:]) >= k


def first_criterion(responses, criterion):
    """Stimuli until the criterion was first met (1-based), or None if it never was."""
    for j in range(1, len(responses) + 1):
        if criterion_met(responses[:j], criterion):
            return j
    return None


def stimulate(env, s, target, stop, max_stimuli):
    """Pulses every `s["period"]` ms in closed-loop streams of at most `s["chunk"]` windows until `stop`.

    Returns the controller (responses, pulse times), the streams' target-channel spike times
    (ms since t = 0), the onsets of the pulses the streams delivered (ms since t = 0, read
    from the delivered electrode inputs), and the idle time (ms) streamed after the last
    pulsed window.
    """
    n_channels = env.io.num_channels
    controller = PulseUntil(n_channels, s["stim_channel"], s["amplitude"], s["pulse_ms"], target, s["window"],
                            lambda r: stop(r) or len(r) >= max_stimuli, s["spont_window"])
    period = s["period"]
    target_spikes, onsets_ms, idle = [], [], 0.0
    controller.pulsed = True
    while not controller.done:
        windows = max(1, min(s["chunk"], max_stimuli - len(controller.responses)))
        start = env.t
        result = env.stream(windows * period, period, controller, latency=0, inputs=controller.pulse)
        spikes = result.channel_spikes[1].get(target, np.zeros(0)) if target is not None else np.zeros(0)
        target_spikes.append(start + np.asarray(spikes, float))
        rows = np.flatnonzero(np.diff(np.r_[0.0, result.delivered[:, s["stim_channel"]]]) > 0)
        onsets_ms.append(start + rows * 1.0)  # delivered rows are 1 ms each
        if controller.done:
            last = int(round((controller.pulse_times[-1] - start) / period))
            idle = (windows - 1 - last) * period
        # else: the decision after the chunk's last window fell past its end; the next chunk's
        # `inputs` deliver that pulse at its first row (controller.pulsed stays True).
    onsets_ms = np.concatenate(onsets_ms)
    assert len(onsets_ms) == len(controller.responses), (len(onsets_ms), len(controller.responses))
    return controller, np.concatenate(target_spikes), onsets_ms, idle


def probe(env, s, target, then_rest=True):
    """`s["probe"]` pulses, not contingent (then a rest).

    Returns the per-channel hit matrices `[pulses, channels]` of the response window and of
    the reference window `spont_window`.
    """
    controller, _, _, idle = stimulate(env, s, target, lambda r: False, s["probe"])
    if then_rest:
        rest(env, s, idle)
    return np.array(controller.channel_hits), np.array(controller.spont_hits)


def rest(env, s, already_ms=0.0):
    """No stimulation for `rest_s` (counting `already_ms` already spent idle)."""
    remaining = s["rest_s"] * 1e3 - already_ms
    if remaining >= env.model.dt:
        env.run(remaining)


def choose_target(hits, spont, stim_channel, criterion, min_ratio, selection="evoked"):
    """The target channel from a selection probe, and which rule chose it.

    `hits`, `spont`: `[pulses, channels]` bools in the response and reference windows.
    A channel's response is *evoked* if its ratio in the response window is at least twice
    its ratio in the reference window. The target is the evoked channel (not the stimulated
    one) with the lowest ratio in [`min_ratio`, k/n) (`criterion = (k, n)`): low, below the
    criterion, but not so low that cycles end at the cap; failing that, the evoked channel
    with the lowest non-zero ratio; failing that, the channel with the lowest non-zero ratio.
    With `selection="lowest"`: the channel with the lowest non-zero ratio, evoked or not.
    Ties: the lowest id.
    """
    ratio, reference = hits.mean(axis=0), spont.mean(axis=0)
    channels = [c for c in range(hits.shape[1]) if c != stim_channel and ratio[c] > 0]
    evoked = [c for c in channels if ratio[c] >= 2 * reference[c]]
    rules = (("evoked, in range", [c for c in evoked if min_ratio <= ratio[c] < criterion[0] / criterion[1]]),
             ("evoked, lowest", evoked), ("lowest", channels))
    if selection == "lowest":
        rules = rules[-1:]
    for rule, candidates in rules:
        if candidates:
            return min(candidates, key=lambda c: (ratio[c], c)), rule
    raise RuntimeError("no channel responded in the window during the selection probe")


def weight_summary(env):
    w = env.synaptic_weights()
    return {p: float(np.mean(w.weight[w.projection == p])) for p in np.unique(w.projection)}


def new_culture(s, seed):
    from livn.env import Env
    from livn.system import predefined

    return Env(predefined(s["system"]), seed=seed).init().apply_model_defaults().record_spikes()


def prepare(seed, s, checkpoint):
    """A fresh culture with plasticity on: warm-up, selection probe, rest; saved to `checkpoint`.

    Returns the target channel, the selection probe's response ratio per channel and the
    mean weights (nS) per projection at the start and after the warm-up.
    """
    began = time.perf_counter()
    env = new_culture(s, seed).enable_plasticity()
    initial = weight_summary(env)
    if s["warmup_s"] > 0:
        env.run(s["warmup_s"] * 1e3)  # spontaneous activity: the weights settle under STDP
    warmed = weight_summary(env)
    selection, spont = probe(env, s, None)
    target, rule = (s["target"], "given") if s["target"] is not None else choose_target(
        selection, spont, s["stim_channel"], s["criterion"], s["min_ratio"], s["selection"])
    env.save_state(checkpoint)
    return {"seed": seed, "target": int(target), "rule": rule, "selection_ratio": selection.mean(axis=0).tolist(),
            "selection_spont_ratio": spont.mean(axis=0).tolist(),
            "weights_initial": initial, "weights_warmed": warmed, "simulated_s": env.t / 1e3,
            "wall_s": time.perf_counter() - began}


def run_condition(seed, condition, s, prepared, checkpoint, counts=None):
    """One condition from the prepared culture; `counts`: the stimuli per cycle for `random`."""
    began = time.perf_counter()
    env = new_culture(s, seed).load_state(checkpoint)  # plasticity on, as saved
    start_s = env.t / 1e3
    target = prepared["target"]
    if condition == "frozen":
        env.disable_plasticity()
    weights_before = weight_summary(env)
    pre, pre_spont = probe(env, s, target)

    crit = s["criterion"]
    cycles = []
    for i in range(s["cycles"]):
        if condition == "random":
            n = int(counts[i])
            stop, cap = (lambda r, n=n: len(r) >= n), n
        else:
            stop, cap = (lambda r: criterion_met(r, crit)), s["max_stimuli"]
        t0 = env.t
        controller, spikes, onsets, idle = stimulate(env, s, target, stop, cap)
        reached = first_criterion(controller.responses, crit)
        cycles.append({
            "start_ms": t0,
            "stimuli": len(controller.responses),
            "responses": [bool(x) for x in controller.responses],
            "pulse_times_ms": [float(x) for x in controller.pulse_times],
            "delivered_onsets_ms": [float(x) for x in onsets],
            "target_spikes_ms": [float(x) for x in spikes],
            "stimuli_to_criterion": reached,
            "withdrawn_at_ms": float(controller.pulse_times[-1] + s["period"]),
        })
        rest(env, s, idle)
    post, post_spont = probe(env, s, target, then_rest=False)
    weights_after = weight_summary(env)
    to_criterion = [c["stimuli_to_criterion"] for c in cycles]
    return {
        "seed": seed, "condition": condition, "target": int(target),
        "selection_ratio": prepared["selection_ratio"],
        "pre_ratio": pre.mean(axis=0).tolist(), "post_ratio": post.mean(axis=0).tolist(),
        "R_pre": float(pre[:, target].mean()), "R_post": float(post[:, target].mean()),
        "R_pre_spont": float(pre_spont[:, target].mean()), "R_post_spont": float(post_spont[:, target].mean()),
        "R_cycles": _window_ratio(cycles, s["window"]), "R_cycles_spont": _window_ratio(cycles, s["spont_window"]),
        "stimuli_per_cycle": [c["stimuli"] for c in cycles],
        "stimuli_to_criterion": to_criterion,
        "seconds_to_criterion": [None if n is None else n * s["period"] / 1e3 for n in to_criterion],
        "cycles": cycles,
        "weights_before": weights_before, "weights_after": weights_after,
        "simulated_s": env.t / 1e3 - start_s, "wall_s": time.perf_counter() - began,
    }


def _window_ratio(cycles, bounds):
    """Fraction of all the cycles' pulses followed by a target spike within `bounds` (ms after the pulse)."""
    hits = []
    for cycle in cycles:
        spikes = np.asarray(cycle["target_spikes_ms"])
        hits += [bool(np.any((spikes >= t + bounds[0]) & (spikes < t + bounds[1])))
                 for t in cycle["delivered_onsets_ms"]]
    return float(np.mean(hits)) if hits else None


# -- summaries -----------------------------------------------------------------------------------------


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def bounded(run):
    """Stimuli to criterion per cycle, a cycle that never met it counted as its number of stimuli (a lower bound)."""
    return [n if n is not None else m for n, m in zip(run["stimuli_to_criterion"], run["stimuli_per_cycle"])]


def curve_stats(values, k=3):
    """First-k vs last-k mean of `values` (stimuli to criterion per cycle), their ratio, Spearman rho with the cycle."""
    from scipy.stats import spearmanr

    first, last = _mean(values[:k]), _mean(values[-k:])
    rho = None
    if len(values) >= 3 and len(set(values)) > 1:
        rho = float(spearmanr(np.arange(len(values)), values).statistic)
    return {"first": first, "last": last, "last_over_first": last / first if first else None, "spearman_rho": rho}


def order_p(curves, observed, n=20000, seed=0):
    """How often shuffling the cycles of every seed gives a mean last-3/first-3 ratio <= `observed`.

    A permutation test of a trend over cycles: under "the cycles are exchangeable" (no
    learning, no drift), every order of a seed's values is as likely as the one seen.
    """
    rng = np.random.default_rng(seed)
    ratios = []
    for values in curves:
        values = np.asarray(values, float)
        shuffled = rng.permuted(np.broadcast_to(values, (n, len(values))), axis=1)
        ratios.append(shuffled[:, -3:].mean(axis=1) / shuffled[:, :3].mean(axis=1))
    return float(np.mean(np.mean(ratios, axis=0) <= observed + 1e-12))


def summarize(runs, conditions, s):
    """Per condition, across seeds: the learning curve's trend and the probes' response ratios.

    Cycles that never met the criterion count as their number of stimuli (a lower bound);
    `censored` says how many there were. `order_p`: the permutation test of `order_p` on the
    mean last/first ratio over the seeds (small: stimuli to criterion fell more than a
    random order of the same cycles would give).
    """
    summary = {}
    for condition in conditions:
        rs = [r for r in runs if r["condition"] == condition]
        if not rs:
            continue
        per_seed = {r["seed"]: {**curve_stats(bounded(r)),
                                "censored": sum(v is None for v in r["stimuli_to_criterion"])} for r in rs}
        others = [np.mean([r["post_ratio"][c] - r["pre_ratio"][c] for c in range(len(r["pre_ratio"]))
                           if c != r["target"]]) for r in rs]
        mean_ratio = _mean([p["last_over_first"] for p in per_seed.values()])
        trend_p = order_p([bounded(r) for r in rs], mean_ratio) if mean_ratio is not None and len(
            rs[0]["cycles"]) >= 6 else None
        summary[condition] = {
            "per_seed": per_seed,
            "mean_first3": _mean([p["first"] for p in per_seed.values()]),
            "mean_last3": _mean([p["last"] for p in per_seed.values()]),
            "mean_last_over_first": mean_ratio,
            "order_p": trend_p,
            "mean_spearman_rho": _mean([p["spearman_rho"] for p in per_seed.values()]),
            "censored": sum(p["censored"] for p in per_seed.values()),
            "cycles": sum(len(r["cycles"]) for r in rs),
            "R_pre": _mean([r["R_pre"] for r in rs]), "R_post": _mean([r["R_post"] for r in rs]),
            "delta_R_target": _mean([r["R_post"] - r["R_pre"] for r in rs]),
            "delta_R_other_channels": float(np.mean(others)),
            "total_stimuli": {r["seed"]: int(sum(r["stimuli_per_cycle"])) for r in rs},
        }
    return summary


# -- running the conditions ----------------------------------------------------------------------------


def _settings(**overrides):
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown setting(s) {unknown}; known: {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    s["window"] = tuple(float(x) for x in s["window"])
    s["spont_window"] = tuple(float(x) for x in s["spont_window"])
    s["criterion"] = tuple(int(x) for x in s["criterion"])
    s["seeds"] = tuple(int(x) for x in s["seeds"])
    s["conditions"] = tuple(c for c in CONDITIONS if c in s["conditions"])
    if s["selection"] not in ("evoked", "lowest"):
        raise ValueError(f"selection must be 'evoked' or 'lowest'; got {s['selection']!r}")
    bad = sorted(set(overrides.get("conditions") or ()) - set(CONDITIONS))
    if bad:
        raise ValueError(f"unknown condition(s) {bad}; known: {CONDITIONS}")
    if "random" in s["conditions"] and "contingent" not in s["conditions"]:
        raise ValueError("the random-withdrawal control is matched to the contingent run: run 'contingent' too")
    for name in ("window", "spont_window"):
        lo, hi = s[name]
        if hi > s["period"] or lo < 0 or lo >= hi:
            raise ValueError(f"{name} must lie within one period (0-{s['period']} ms); got {s[name]}")
    return s


def yoked_counts(contingent_run, seed):
    """The contingent run's stimuli per cycle, in a seeded random order."""
    rng = np.random.default_rng([seed, 2001])
    return [int(x) for x in rng.permutation(contingent_run["stimuli_per_cycle"])]


class _InProcess:
    """A stand-in for a process pool that runs each task when it is submitted."""

    def submit(self, fn, *args):
        future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001 - re-raised by future.result()
            future.set_exception(e)
        return future

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main(**settings) -> dict:
    """Run every condition for every seed (settings: `DEFAULTS`); returns `{"settings", "prepared", "runs", "summary"}`.

    Per seed: `prepare` (warm-up, selection probe, checkpoint), then `contingent` and `frozen`
    from the checkpoint, then `random` with the contingent run's counts. With `jobs` > 1 these
    run in that many processes, each task as soon as what it needs is done.
    """
    s = _settings(**settings)
    prepared, runs = {}, []
    with tempfile.TemporaryDirectory(prefix="shahaf_marom_") as tmp:
        checkpoint = {seed: os.path.join(tmp, f"seed{seed}.h5") for seed in s["seeds"]}
        pool = (ProcessPoolExecutor(max_workers=s["jobs"], mp_context=multiprocessing.get_context("spawn"))
                if s["jobs"] > 1 else _InProcess())
        with pool:
            pending = {pool.submit(prepare, seed, s, checkpoint[seed]): ("prepare", seed) for seed in s["seeds"]}
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in done:
                    kind, seed = pending.pop(future)
                    result = future.result()
                    if s["verbose"]:
                        print(f"done: seed {seed} {kind} ({result['simulated_s']:.0f} s simulated in "
                              f"{result['wall_s']:.0f} s)", file=sys.stderr, flush=True)
                    follow = []
                    if kind == "prepare":
                        prepared[seed] = result
                        follow = [(c, None) for c in s["conditions"] if c != "random"]
                    else:
                        runs.append(result)
                        if kind == "contingent" and "random" in s["conditions"]:
                            follow = [("random", yoked_counts(result, seed))]
                    for condition, counts in follow:
                        task = pool.submit(run_condition, seed, condition, s, prepared[seed], checkpoint[seed], counts)
                        pending[task] = (condition, seed)
    runs.sort(key=lambda r: (r["seed"], CONDITIONS.index(r["condition"])))
    return {"settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items()},
            "prepared": [prepared[seed] for seed in s["seeds"]], "runs": runs,
            "summary": summarize(runs, s["conditions"], s)}


# -- the figure ----------------------------------------------------------------------------------------


COLORS = {"contingent": "tab:blue", "random": "tab:orange", "frozen": "tab:gray"}


def figure(out, path):
    """Three panels: stimuli to criterion per cycle, target response ratio pre/post, the contingent runs' timeline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    s, runs = out["settings"], out["runs"]
    conditions = [c for c in CONDITIONS if any(r["condition"] == c for r in runs)]
    seeds = sorted({r["seed"] for r in runs})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [1.2, 0.8, 1.4]})
    ax = axes[0]
    offsets = {c: (i - 1) * 0.12 for i, c in enumerate(CONDITIONS)}
    for r in runs:
        values = np.asarray(bounded(r), float)
        x = np.arange(1, len(values) + 1) + offsets[r["condition"]]
        ax.plot(x, values, "-", lw=0.7, alpha=0.45, color=COLORS[r["condition"]])
        censored = np.array([v is None for v in r["stimuli_to_criterion"]])
        ax.plot(x[~censored], values[~censored], "o", ms=3, alpha=0.6, color=COLORS[r["condition"]])
        ax.plot(x[censored], values[censored], "^", ms=5, alpha=0.8, color=COLORS[r["condition"]])
    for c in conditions:
        ys = np.array([bounded(r) for r in runs if r["condition"] == c], float)
        ax.plot(np.arange(1, ys.shape[1] + 1) + offsets[c], np.exp(np.log(ys).mean(axis=0)), "-", lw=2.5,
                color=COLORS[c], label=f"{c} (geometric mean, {len(ys)} seeds)")
    ax.set(xlabel="cycle", ylabel="stimuli to criterion", yscale="log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks([1, 2, 5, 10, 20, 50])
    ax.set_title(f"stimuli to criterion ({s['criterion'][0]} of last {s['criterion'][1]} in "
                 f"{s['window'][0]:g}-{s['window'][1]:g} ms)\n^: not met in the cycle (its length: a lower bound)",
                 fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[1]
    for j, c in enumerate(conditions):
        for r in runs:
            if r["condition"] == c:
                ax.plot([2 * j, 2 * j + 1], [r["R_pre"], r["R_post"]], "-o", color=COLORS[c], alpha=0.7)
                if "R_pre_spont" in r:
                    ax.plot([2 * j + 0.1, 2 * j + 1.1], [r["R_pre_spont"], r["R_post_spont"]], ":o", mfc="none",
                            color=COLORS[c], alpha=0.7)
    ax.set_xticks([2 * j + 0.5 for j in range(len(conditions))], conditions)
    ax.set_ylabel("response ratio of the target")
    reference = "-".join(f"{x:g}" for x in s["spont_window"]) if "spont_window" in s else "?"
    ax.set_title(f"target response ratio, pre -> post probe ({s['probe']} pulses each)\nfilled: "
                 f"{s['window'][0]:g}-{s['window'][1]:g} ms; open, dotted: reference window {reference} ms",
                 fontsize=9)

    ax = axes[2]
    for r in runs:
        if r["condition"] != "contingent":
            continue
        t0 = r["cycles"][0]["start_ms"]
        for cycle in r["cycles"]:
            t = (np.asarray(cycle["pulse_times_ms"]) - t0) / 1e3
            ax.plot(t, np.full(len(t), r["seed"]), "|", color="0.65", ms=6)
            hit = np.asarray(cycle["responses"], bool)
            ax.plot(t[hit], np.full(hit.sum(), r["seed"]), "|", color="tab:red", ms=11, mew=1.5)
            ax.plot([(cycle["withdrawn_at_ms"] - t0) / 1e3] * 2, [r["seed"] - 0.35, r["seed"] + 0.35], "k", lw=1)
    ax.set_yticks(seeds, [f"seed {x}" for x in seeds])
    ax.set_xlabel("time from the first cycle (s)")
    ax.set_title("contingent runs: pulses (grey), target responses (red), withdrawals (black)", fontsize=9)
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    plt.close(fig)


def report(out) -> str:
    """The numbers, as printed."""
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    lines = []
    for p in out["prepared"]:
        lines.append(
            f"seed {p['seed']} prepared: EXC_EXC mean w {p['weights_initial']['EXC_EXC']:.2f} -> "
            f"{p['weights_warmed']['EXC_EXC']:.2f} nS after warm-up; target ch {p['target']} ({p['rule']}; selection "
            f"R {p['selection_ratio'][p['target']]:.2f}, reference {p['selection_spont_ratio'][p['target']]:.2f})"
            f"; {p['simulated_s']:.0f} s simulated in {p['wall_s']:.0f} s")
    for r in out["runs"]:
        lines.append(
            f"seed {r['seed']} {r['condition']:>10}: stimuli to criterion per cycle "
            f"{['-' if v is None else v for v in r['stimuli_to_criterion']]} (given {r['stimuli_per_cycle']}); "
            f"s to criterion {['-' if v is None else round(v, 1) for v in r['seconds_to_criterion']]}; "
            f"R pre {r['R_pre']:.2f} -> post {r['R_post']:.2f} (reference window {r['R_pre_spont']:.2f} -> "
            f"{r['R_post_spont']:.2f}; all cycle pulses {r['R_cycles']:.2f}, reference {r['R_cycles_spont']:.2f}); "
            f"EXC_EXC mean w {r['weights_before']['EXC_EXC']:.2f}"
            f" -> {r['weights_after']['EXC_EXC']:.2f} nS; {r['simulated_s']:.0f} s simulated in {r['wall_s']:.0f} s")
    for c, m in out["summary"].items():
        lines.append(
            f"{c:>10}: stimuli to criterion (censored as given: {m['censored']} of {m['cycles']} cycles) first 3 "
            f"cycles {fmt(m['mean_first3'])}, last 3 {fmt(m['mean_last3'])}, "
            f"last/first {fmt(m['mean_last_over_first'])} (cycle-order permutation p {fmt(m['order_p'])}), "
            f"Spearman rho with cycle {fmt(m['mean_spearman_rho'])} (means over seeds); target R {fmt(m['R_pre'])} -> "
            f"{fmt(m['R_post'])} (delta {fmt(m['delta_R_target'])}), other channels delta "
            f"{fmt(m['delta_R_other_channels'])}; total stimuli {m['total_stimuli']}")
    return "\n".join(lines)


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+")
    p.add_argument("--conditions", nargs="+", choices=CONDITIONS)
    p.add_argument("--cycles", type=int)
    p.add_argument("--probe", type=int, help="pulses per probe block")
    p.add_argument("--warmup-s", type=float, dest="warmup_s", help="s of plastic spontaneous activity first")
    p.add_argument("--max-stimuli", type=int, dest="max_stimuli")
    p.add_argument("--rest-s", type=float, dest="rest_s")
    p.add_argument("--period", type=float, help="ms between pulses")
    p.add_argument("--amplitude", type=float, help="uA")
    p.add_argument("--window", type=float, nargs=2, help="ms after the pulse")
    p.add_argument("--spont-window", type=float, nargs=2, dest="spont_window",
                   help="ms after the pulse: the reference window for chance")
    p.add_argument("--min-ratio", type=float, dest="min_ratio", help="lowest response ratio of a preferred target")
    p.add_argument("--selection", choices=("evoked", "lowest"), help="how the target channel is chosen")
    p.add_argument("--criterion", type=int, nargs=2, metavar=("K", "N"), help="K responses in the last N stimuli")
    p.add_argument("--target", type=int, help="target channel (default: chosen from the selection probe)")
    p.add_argument("--jobs", type=int, help="processes (conditions and seeds in parallel)")
    p.add_argument("--figure", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures",
                                                   "shahaf_marom.png"))
    p.add_argument("--json", help="also write every number to this JSON file")
    p.add_argument("--replot", metavar="JSON", help="no simulation: print and plot the results in JSON (from --json)")
    return p.parse_args(argv)


if __name__ == "__main__":
    args = _parse()
    options = {k: v for k, v in vars(args).items() if k not in ("figure", "json", "replot")}
    options["verbose"] = True
    began = time.perf_counter()
    if args.replot:
        with open(args.replot) as f:
            out = json.load(f)
        out["summary"] = summarize(out["runs"], out["settings"]["conditions"], out["settings"])
    else:
        out = main(**options)
    print(report(out))
    print(f"wall time {time.perf_counter() - began:.0f} s")
    os.makedirs(os.path.dirname(os.path.abspath(args.figure)), exist_ok=True)
    figure(out, args.figure)
    print(f"figure: {args.figure}")
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(out, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
