"""Pathway-specific changes after tetanic stimulation (after Jimbo, Tateno & Robinson 1999, Biophys J 76:670).

Jimbo, Tateno & Robinson grew rat cortical neurons on a 64-electrode array, probed
the network with single test pulses through each of several electrodes, recorded the
evoked spikes on every electrode, and then applied a tetanus through one electrode
(trains of 20 pulses at 20 Hz). Afterwards the evoked responses had changed in a
pathway-dependent way: some (stimulation site, recording site) pathways were
potentiated and others depressed, at the same time.

Here the same protocol runs on a livn culture (default: the predefined S2, 100
neurons under a 4 x 4 MEA) with livn's default long-term plasticity (additive STDP
on EXC->EXC and EXC->INH synapses, `Env.enable_plasticity()`):

0. settle: `settle` ms of spontaneous activity with plasticity on, so that the weights
   reach the quasi-steady state spontaneous activity holds them in (with livn's default
   rules S2's EXC->EXC weights fall from 8 to about 4.4 nS within ~100 s);
1. probe: `probes` single monophasic pulses (`amplitude` uA, `width` ms) through each
   probe electrode, interleaved in a shuffled order, one every `probe_interval` ms;
2. branch (`Env.save_state` / `load_state`): from that state and noise stream, each
   condition runs `trains` trains of `pulses` pulses at `tetanus_hz` through the
   tetanized electrode, one train every `train_interval` ms, then `rest` ms of quiet --
   or, in the no-tetanus control, the same time without pulses;
3. probe again, the same way (the same order in every condition).

A pathway's response is the number of spikes its recording channel sees 5-100 ms after
a probe pulse (the first 5 ms hold the directly driven spikes). A pathway counts as
potentiated (depressed) when it is responsive (>= `min_response` spikes per probe before
or after) and its mean response after differs from before by more than `criterion`
standard errors (Welch) and by at least `min_change` spikes per probe. The conditions:
tetanus with STDP; tetanus with plasticity off (what noise, state and short-term
depression alone do); STDP without tetanus (what probing and spontaneous activity do).
Several seeds are pooled. The script also reports the mean change of EXC->EXC weights
out of and into the neurons the tetanized electrode drives directly.

    python examples/plasticity/jimbo_tetanus.py                                   # the documented run, ~5 min CPU
    python examples/plasticity/jimbo_tetanus.py --seeds 1 --probes 4 --settle 20   # a quick look
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from livn.env import Env
from livn.io import MEA
from livn.system import predefined

#: The conditions, in the order they run: (name, tetanus, plasticity).
CONDITIONS = (("tetanus, STDP", True, True), ("tetanus, no plasticity", True, False),
              ("no tetanus, STDP", False, True))
#: Response window after each probe pulse, ms.
WINDOW = (5.0, 100.0)
#: PSTH bins for the figure, ms.
PSTH_BINS = np.arange(0.0, 101.0, 5.0)


def pulse_block(n_channels: int, schedule, amplitude: float, width: int, length: int) -> np.ndarray:
    """Electrode inputs `[length, n_channels]` uA with a `width` ms pulse at each (onset ms, channel)."""
    inputs = np.zeros((length, n_channels))
    for onset, channel in schedule:
        inputs[onset:onset + width, channel] = amplitude
    return inputs


def probe_schedule(channels, probes: int, interval: int, rng) -> list:
    """(onset ms, channel) of `probes` pulses per channel, in a shuffled order, one every `interval` ms."""
    order = rng.permutation(np.repeat(np.asarray(channels), probes))
    return [(k * interval, int(c)) for k, c in enumerate(order)]


def tetanus_schedule(channel: int, trains: int, pulses: int, hz: float, train_interval: int) -> list:
    period = int(round(1000.0 / hz))
    return [(k * train_interval + p * period, channel) for k in range(trains) for p in range(pulses)]


def responses(env, it, t, schedule, n_channels: int):
    """Per probe pulse: spikes per recording channel in `WINDOW` `[pulses, n_channels]`, and PSTHs."""
    _, ct = env.channel_recording(it, t)
    counts = np.zeros((len(schedule), n_channels))
    psth = np.zeros((len(schedule), n_channels, len(PSTH_BINS) - 1))
    for channel in range(n_channels):
        times = np.sort(np.asarray(ct[channel], dtype=float))
        for k, (onset, _) in enumerate(schedule):
            lo, hi = np.searchsorted(times, [onset, onset + PSTH_BINS[-1]])
            rel = times[lo:hi] - onset
            counts[k, channel] = np.sum((rel >= WINDOW[0]) & (rel < WINDOW[1]))
            psth[k, channel] = np.histogram(rel, bins=PSTH_BINS)[0]
    return counts, psth


def probe(env, channels, probes: int, interval: int, amplitude: float, width: int, rng) -> dict:
    """One probe block: per-pulse responses, PSTHs, the stimulated channel of each pulse, the network rate."""
    n_channels = env.io.num_channels
    schedule = probe_schedule(channels, probes, interval, rng)
    length = len(schedule) * interval
    it, t, _, _ = env.run(length, env.cell_stimulus(pulse_block(n_channels, schedule, amplitude, width, length)))
    counts, psth = responses(env, it, t, schedule, n_channels)
    return {"counts": counts, "psth": psth, "stim": np.array([c for _, c in schedule]),
            "rate_hz": len(it) / env.num_neurons / (length / 1000.0), "it": it, "t": t, "schedule": schedule}


def directly_driven(block: dict, channel: int, num_neurons: int, latency: float = 2.5) -> np.ndarray:
    """Neurons that fire within `latency` ms of more than half of the probe pulses on `channel` (bool per gid)."""
    onsets = np.array([onset for onset, c in block["schedule"] if c == channel], dtype=float)
    hits = np.zeros(num_neurons)
    for gid in range(num_neurons):
        times = np.append(np.sort(block["t"][block["it"] == gid]), np.inf)
        first = times[np.searchsorted(times, onsets)]  # each pulse's first spike of this neuron at or after it
        hits[gid] = np.mean(first - onsets < latency) if len(onsets) else 0.0
    return hits > 0.5


def run_seed(system, seed: int, conditions, rules, probe_channels, tetanus_channel: int, amplitude: float,
             width: int, probes: int, probe_interval: int, trains: int, pulses: int, tetanus_hz: float,
             train_interval: int, rest: int, warmup: int, settle: int) -> dict:
    """The protocol for one seed: settle and probe once, then branch into each condition from that state.

    Returns `{"before": block, "after": {condition: block}, "dw": {condition: {class: nS}}, ...}`.
    """
    env = Env(system, seed=seed).init().apply_model_defaults().record_spikes()
    n_channels = env.io.num_channels
    rng = np.random.default_rng(seed)
    env.run(warmup)  # leave the initial state, plasticity off
    env.enable_plasticity(rules)
    env.run(settle)  # spontaneous activity under STDP: the weights reach their quasi-steady state
    before = probe(env, probe_channels, probes, probe_interval, amplitude, width, rng)
    driven = directly_driven(before, tetanus_channel, env.num_neurons)
    table = env.synaptic_weights()
    exc = table.projection == "EXC_EXC"
    classes = {"out of driven": exc & driven[table.pre], "into driven": exc & driven[table.post] & ~driven[table.pre],
               "other": exc & ~driven[table.pre] & ~driven[table.post]}
    after, dw = {}, {}
    length = trains * train_interval + rest
    tetanus_inputs = pulse_block(n_channels, tetanus_schedule(tetanus_channel, trains, pulses, tetanus_hz,
                                                              train_interval), amplitude, width, length)
    after_rng_state = rng.bit_generator.state
    with tempfile.TemporaryDirectory(prefix="livn-jimbo-") as directory:
        branch = Path(directory) / "branch.h5"
        env.save_state(branch)
        for name, tetanus, plasticity in conditions:
            env.load_state(branch)
            if not plasticity:
                env.disable_plasticity()
            env.run(length, env.cell_stimulus(tetanus_inputs if tetanus else np.zeros_like(tetanus_inputs)))
            rng.bit_generator.state = after_rng_state  # the same probe order after every branch
            after[name] = probe(env, probe_channels, probes, probe_interval, amplitude, width, rng)
            change = env.synaptic_weights().weight - table.weight
            dw[name] = {key: float(change[mask].mean()) if mask.any() else 0.0 for key, mask in classes.items()}
    return {"before": before, "after": after, "dw": dw, "n_channels": n_channels,
            "driven": np.flatnonzero(driven), "mean_exc_weight": float(table.weight[exc].mean())}


def pathway_changes(before: dict, after: dict, probe_channels, n_channels: int, criterion: float,
                    min_change: float, min_response: float) -> dict:
    """Mean response before and after, and which pathways changed, `[probe channel, recording channel]` arrays."""
    shape = (len(probe_channels), n_channels)
    mean_b, mean_a, z = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for i, s in enumerate(probe_channels):
        cb, ca = before["counts"][before["stim"] == s], after["counts"][after["stim"] == s]
        mean_b[i], mean_a[i] = cb.mean(0), ca.mean(0)
        se = np.sqrt(cb.var(0, ddof=1) / len(cb) + ca.var(0, ddof=1) / len(ca))
        z[i] = (mean_a[i] - mean_b[i]) / np.where(se > 0, se, np.inf)
    responsive = np.maximum(mean_b, mean_a) >= min_response
    change = mean_a - mean_b
    return {"before": mean_b, "after": mean_a, "z": z, "responsive": responsive,
            "potentiated": responsive & (z > criterion) & (change >= min_change),
            "depressed": responsive & (z < -criterion) & (change <= -min_change)}


def main(system: str = "S2", seeds=(1, 2), probe_channels=None, tetanus_channel: int | None = None,
         amplitude: float = 20.0, width: int = 1, probes: int = 10, probe_interval: int = 1000, trains: int = 10,
         pulses: int = 20, tetanus_hz: float = 20.0, train_interval: int = 2000, rest: int = 5000,
         warmup: int = 2000, settle: int = 100000, rules=None, criterion: float = 2.0, min_change: float = 0.5,
         min_response: float = 0.5, conditions=CONDITIONS, figure: str | None = "figures/jimbo_tetanus.png",
         verbose: bool = True) -> dict:
    """Run the protocol for each seed and condition; returns the measured numbers.

    **Arguments** (times in ms, currents in uA)

    - `system`: a predefined system name or a system directory; `seeds`: one culture per seed.
    - `probe_channels`: electrodes probed with test pulses (default: the tetanized one and the next
      three); `tetanus_channel`: the tetanized electrode (default 0).
    - `amplitude`, `width`: every pulse, probe and tetanus alike.
    - `probes`: test pulses per probe electrode per phase; `probe_interval`: ms between test pulses.
    - `trains`, `pulses`, `tetanus_hz`, `train_interval`: the tetanus; `rest`: quiet ms after it.
    - `warmup`: ms before plasticity is turned on; `settle`: ms of spontaneous activity under
      plasticity before the first probe; `rules`: `Env.enable_plasticity` parameters (None: livn's defaults).
    - `criterion` (standard errors), `min_change` and `min_response` (spikes per trial): what counts
      as a potentiated or depressed pathway (see the module docstring).
    - `conditions`: `(name, tetanus, plasticity)` triples; `figure`: PNG path, relative paths under
      this script's folder (None: no figure).

    **Returns** a dict with the settings and, per condition, the fractions of responsive pathways
    potentiated and depressed (pooled over seeds, and counts per seed), the mean absolute relative
    change, the change of the summed response, the mean change of EXC->EXC weights out of and into
    the neurons the tetanized electrode drives directly and elsewhere (nS), and the network rate
    during the probes before and after.
    """
    started, cpu = time.time(), time.process_time()
    path = str(system) if Path(str(system)).is_dir() else predefined(system)
    tetanus_channel = 0 if tetanus_channel is None else int(tetanus_channel)
    if probe_channels is None:
        n_channels = MEA.from_directory(path).num_channels
        probe_channels = [tetanus_channel] + [(tetanus_channel + k) % n_channels for k in (1, 2, 3)]
    probe_channels = [int(c) for c in probe_channels]
    settings = dict(probe_channels=probe_channels, tetanus_channel=tetanus_channel, amplitude=amplitude,
                    width=width, probes=probes, probe_interval=probe_interval, trains=trains, pulses=pulses,
                    tetanus_hz=tetanus_hz, train_interval=train_interval, rest=rest, warmup=warmup, settle=settle)
    results = {"system": str(system), "seeds": list(seeds), **settings, "conditions": {}, "driven": {},
               "mean_exc_weight_nS": {}}
    runs = {}
    for seed in seeds:
        t0 = time.time()
        run = run_seed(path, seed, conditions, rules, **settings)
        runs[seed] = run
        results["driven"][seed] = run["driven"].tolist()
        results["mean_exc_weight_nS"][seed] = run["mean_exc_weight"]
        for name, _, _ in conditions:
            changes = pathway_changes(run["before"], run["after"][name], probe_channels, run["n_channels"],
                                      criterion, min_change, min_response)
            run.setdefault("changes", {})[name] = changes
            if verbose:
                print(f"  seed {seed}, {name}: {changes['potentiated'].sum()} potentiated, "
                      f"{changes['depressed'].sum()} depressed of {changes['responsive'].sum()} responsive pathways",
                      flush=True)
        if verbose:
            print(f"  seed {seed}: {time.time() - t0:.0f} s wall", flush=True)
    for name, _, _ in conditions:
        results["conditions"][name] = _summarize([(runs[s], runs[s]["changes"][name], name) for s in seeds])
    results["wall_s"] = time.time() - started
    results["cpu_s"] = time.process_time() - cpu
    if figure is not None:
        results["figure"] = str(_plot(runs, results, figure))
    return results


def _summarize(per_seed) -> dict:
    responsive = sum(int(c["responsive"].sum()) for _, c, _ in per_seed)
    pot = sum(int(c["potentiated"].sum()) for _, c, _ in per_seed)
    dep = sum(int(c["depressed"].sum()) for _, c, _ in per_seed)
    rel = np.concatenate([np.abs(c["after"] - c["before"])[c["responsive"]]
                          / np.maximum(c["before"], c["after"])[c["responsive"]] for _, c, _ in per_seed])
    total_b = sum(c["before"][c["responsive"]].sum() for _, c, _ in per_seed)
    total_a = sum(c["after"][c["responsive"]].sum() for _, c, _ in per_seed)
    dw = {key: float(np.mean([run["dw"][name][key] for run, _, name in per_seed]))
          for key in per_seed[0][0]["dw"][per_seed[0][2]]}
    return {
        "responsive_pathways": responsive,
        "frac_potentiated": pot / max(responsive, 1), "frac_depressed": dep / max(responsive, 1),
        "per_seed_potentiated": [int(c["potentiated"].sum()) for _, c, _ in per_seed],
        "per_seed_depressed": [int(c["depressed"].sum()) for _, c, _ in per_seed],
        "per_seed_responsive": [int(c["responsive"].sum()) for _, c, _ in per_seed],
        "mean_abs_relative_change": float(rel.mean()) if rel.size else float("nan"),
        "total_response_change": float((total_a - total_b) / max(total_b, 1e-9)),
        "dw_nS": dw,
        "rate_before_hz": float(np.mean([run["before"]["rate_hz"] for run, _, _ in per_seed])),
        "rate_after_hz": float(np.mean([run["after"][name]["rate_hz"] for run, _, name in per_seed])),
    }


def _plot(runs, results, figure) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(figure)
    if not path.is_absolute():
        path = Path(__file__).parent / path
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(results["conditions"])
    seeds = results["seeds"]
    fig, axes = plt.subplots(1, len(names) + 2, figsize=(3.6 * (len(names) + 2), 3.4))
    lim = 1.1 * max(max(c["before"].max(), c["after"].max()) for run in runs.values()
                    for c in run["changes"].values()) + 0.1
    for ax, name in zip(axes, names):
        for seed in seeds:
            c = runs[seed]["changes"][name]
            first = seed == seeds[0]
            unchanged = c["responsive"] & ~c["potentiated"] & ~c["depressed"]
            ax.scatter(c["before"][unchanged], c["after"][unchanged], s=6, color="0.6",
                       label="unchanged" if first else None)
            ax.scatter(c["before"][c["potentiated"]], c["after"][c["potentiated"]], s=10, color="tab:red",
                       label="potentiated" if first else None)
            ax.scatter(c["before"][c["depressed"]], c["after"][c["depressed"]], s=10, color="tab:blue",
                       label="depressed" if first else None)
        ax.plot([0, lim], [0, lim], color="k", lw=0.5)
        ax.set(xscale="symlog", yscale="symlog", xlim=(0, lim), ylim=(0, lim),
               xlabel="spikes / probe, before", ylabel="spikes / probe, after", title=name)
        ax.title.set_fontsize(9)
        ax.legend(frameon=False, fontsize=7, loc="upper left")
    ax = axes[len(names)]
    bar = 0.35
    x = np.arange(len(names))
    summaries = [results["conditions"][n] for n in names]
    ax.bar(x - bar / 2, [s["frac_potentiated"] for s in summaries], bar, color="tab:red", label="potentiated")
    ax.bar(x + bar / 2, [s["frac_depressed"] for s in summaries], bar, color="tab:blue", label="depressed")
    ax.set_xticks(x, [n.replace(", ", "\n") for n in names], fontsize=7)
    ax.set_ylabel("fraction of responsive pathways")
    ax.set_title(f"pathways changed ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})", fontsize=9)
    ax.legend(frameon=False, fontsize=7)
    # PSTH of the most changed pathway from the tetanized electrode, first condition, first seed
    ax = axes[-1]
    run = runs[seeds[0]]
    c = run["changes"][names[0]]
    stim = results["probe_channels"][0]
    rec = int(np.argmax(np.abs(c["after"][0] - c["before"][0]) * c["responsive"][0]))
    centers = (PSTH_BINS[:-1] + PSTH_BINS[1:]) / 2
    for label, block, color in (("before", run["before"], "0.4"), (names[0], run["after"][names[0]], "tab:red"),
                                *((n, run["after"][n], col) for n, col in zip(names[1:], ("tab:green", "tab:purple")))):
        ax.step(centers, block["psth"][block["stim"] == stim, rec].mean(0), where="mid", color=color, label=label)
    ax.set(xlabel="ms after probe pulse", ylabel="spikes / probe / 5 ms")
    ax.set_title(f"seed {seeds[0]}: stim ch {stim} -> rec ch {rec}", fontsize=9)
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


def _report(results: dict) -> None:
    print(f"{results['system']}, seeds {results['seeds']}: probe electrodes {results['probe_channels']} "
          f"({results['probes']} pulses each per phase), tetanus through electrode {results['tetanus_channel']} "
          f"({results['trains']} x {results['pulses']} pulses at {results['tetanus_hz']:g} Hz); pulses "
          f"{results['amplitude']:g} uA x {results['width']} ms")
    print(f"directly driven neurons by seed: {results['driven']}; mean EXC->EXC weight after settling (nS): "
          + ", ".join(f"{w:.2f}" for w in results["mean_exc_weight_nS"].values()))
    for name, s in results["conditions"].items():
        print(f"{name:>24}: potentiated {s['frac_potentiated']:.3f} {s['per_seed_potentiated']}, depressed "
              f"{s['frac_depressed']:.3f} {s['per_seed_depressed']} of {s['responsive_pathways']} responsive "
              f"pathways {s['per_seed_responsive']}")
        print(f"{'':>24}  mean |relative change| {s['mean_abs_relative_change']:.2f}; summed response "
              f"{100 * s['total_response_change']:+.0f}%; network rate {s['rate_before_hz']:.2f} -> "
              f"{s['rate_after_hz']:.2f} Hz")
        print(f"{'':>24}  EXC->EXC weight change (nS): "
              + ", ".join(f"{key} {value:+.2f}" for key, value in s["dw_nS"].items()))
    print(f"{results['wall_s']:.0f} s wall, {results['cpu_s']:.0f} s CPU")
    if "figure" in results:
        print(f"figure: {results['figure']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="S2", help="predefined system name or system directory")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--probe-channels", type=int, nargs="+", default=None)
    parser.add_argument("--tetanus-channel", type=int, default=None)
    parser.add_argument("--amplitude", type=float, default=20.0, help="pulse amplitude, uA")
    parser.add_argument("--width", type=int, default=1, help="pulse width, ms")
    parser.add_argument("--probes", type=int, default=10, help="test pulses per probe electrode per phase")
    parser.add_argument("--probe-interval", type=int, default=1000, help="ms between test pulses")
    parser.add_argument("--trains", type=int, default=10)
    parser.add_argument("--pulses", type=int, default=20, help="pulses per train")
    parser.add_argument("--tetanus-hz", type=float, default=20.0)
    parser.add_argument("--train-interval", type=int, default=2000, help="ms from one train to the next")
    parser.add_argument("--settle", type=float, default=100.0, help="s of spontaneous activity under STDP first")
    parser.add_argument("--a-plus", type=float, default=None,
                        help="A+ of every default STDP rule (A- = 1.05 A+); default: livn's rules (A+ = 0.005)")
    parser.add_argument("--figure", default="figures/jimbo_tetanus.png", help="PNG (relative to this folder)")
    args = parser.parse_args()
    _report(main(system=args.system, seeds=tuple(args.seeds), probe_channels=args.probe_channels,
                 tetanus_channel=args.tetanus_channel, amplitude=args.amplitude, width=args.width,
                 probes=args.probes, probe_interval=args.probe_interval, trains=args.trains, pulses=args.pulses,
                 tetanus_hz=args.tetanus_hz, train_interval=args.train_interval,
                 settle=int(round(args.settle * 1000)), figure=args.figure,
                 rules=None if args.a_plus is None else {"a_plus": args.a_plus, "a_minus": 1.05 * args.a_plus}))
