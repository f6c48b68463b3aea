"""Pong after DishBrain (Kagan et al. 2022, Neuron 110:3952) on livn's simulated S2 culture: does play improve?

The game is `livn/Pong-S2-v0` (`livn.integrations.gym.pong.PongEnv`): the ball's position is
stimulated into eight sensory electrodes (place + 4-40 Hz rate code), the spike-count difference
of two motor regions moves the paddle every 20 ms tick, hits are followed by predictable
stimulation (100 ms of 100 Hz on all sensory electrodes) and misses by unpredictable stimulation
(random pulses at 5 Hz on random sensory electrodes) during which the game pauses.

Conditions (each a fresh culture per seed, same seed for culture and game):

- `feedback`: full feedback, STDP on (the model's default rules: additive STDP on EXC->EXC, EXC->INH);
- `no_feedback`: no feedback stimulation and no pause after a miss (DishBrain's "no-feedback"), STDP on;
- `no_plasticity`: full feedback, weights fixed;
- `silent` (not run by default): a miss pauses the game without stimulation, STDP on.

Measured: mean rally length (hits per rally, a rally ending at a miss) over rallies that end
in the first `window_s` of game time (early) and in the last `window_s` (late; a rally still
under way when the session ends is not counted); the hit
fraction hits / (hits + misses) over the same windows; and a tracking index, the mean of
sign(ball y - paddle y) x move / max move over played ticks (0: a paddle blind to the ball,
1: always at full speed toward it).

Chance: the same game with a blind paddle, (1) uniform random moves in +-max move per tick
(`control="random"`), (2) moves drawn at random from the culture's own moves of that condition
(same move statistics, no relation to the ball); the band is the 2.5-97.5 % range of the mean
over as many rallies as a window of that condition holds.

Scaled from DishBrain's 20 min sessions to fit a few minutes of wall time per run on one
core: `duration_s` of game time per session (default 80 s), early/late windows of `window_s`
(20 s), and the miss feedback (and silent pause) shortened from 4 s to `miss_ms` (1 s; still
5 Hz, so 5 pulses). Hit feedback and all rates are DishBrain's.

Run `python examples/plasticity/pong.py --help`; results and the exact command are in
examples/plasticity/PONG.md. Times are ms unless named _s; currents uA; positions in box units.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

CONDITIONS = {
    "feedback": {"feedback": "full", "plasticity": True},
    "no_feedback": {"feedback": "none", "plasticity": True},
    "no_plasticity": {"feedback": "full", "plasticity": False},
    "silent": {"feedback": "silent", "plasticity": True},
}

DEFAULTS = dict(
    system="S2",
    seeds=(1, 2),
    conditions=("feedback", "no_feedback", "no_plasticity"),
    duration_s=80.0,     # game time per session, s
    window_s=20.0,       # early = first window_s, late = last window_s
    miss_ms=1000,        # miss feedback (5 Hz) and silent pause, ms (DishBrain: 4000)
    tick=20,             # ms per game tick
    chance_ticks=200_000,
    bins_s=10.0,         # time-course bins of the figure, s
    jobs=1,
    figures=os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures"),
)


# -- one session ------------------------------------------------------------------------------------


def mean_exc_weight(pong) -> float:
    """Mean EXC->EXC synaptic weight, nS."""
    table = pong.culture.synaptic_weights()
    return float(np.mean(np.asarray(table.weight)[np.asarray(table.projection) == "EXC_EXC"]))


def run_session(seed: int, condition: str, s: dict) -> dict:
    """One culture playing one session; returns its events, trace and weights."""
    from livn.integrations.gym.pong import Feedback, PongEnv

    began = time.perf_counter()
    pong = PongEnv(system=s["system"], seed=seed, tick=s["tick"], miss_feedback=Feedback(s["miss_ms"], 5.0, 20.0),
                   **CONDITIONS[condition])
    pong.reset(seed=seed)
    w0 = mean_exc_weight(pong)
    pong.play(s["duration_s"] * 1000.0)
    return {
        "seed": seed, "condition": condition, "events": list(pong.events), "trace": np.asarray(pong.trace),
        "weight_before": w0, "weight_after": mean_exc_weight(pong), "max_step": pong.max_paddle_step,
        "wall_s": time.perf_counter() - began,
    }


# -- analysis ---------------------------------------------------------------------------------------------


def window_stats(run: dict, lo: float, hi: float) -> dict:
    """Rallies ending, events and ticks in game time (lo, hi] ms."""
    rallies = [hits for t, kind, hits in run["events"] if kind == "miss" and lo < t <= hi]
    hits = sum(1 for t, kind, _ in run["events"] if kind == "hit" and lo < t <= hi)
    trace = run["trace"]
    ticks = trace[(trace[:, 0] > lo) & (trace[:, 0] <= hi)] if len(trace) else trace
    tracking = float(np.mean(np.sign(ticks[:, 1]) * ticks[:, 2]) / run["max_step"]) if len(ticks) else float("nan")
    return {"rallies": len(rallies), "rally_hits": int(sum(rallies)), "hits": hits, "misses": len(rallies),
            "tracking": tracking}


def _ratio(a, b):
    return float(a / b) if b else float("nan")


def summarize(runs: list, s: dict) -> dict:
    """Early and late numbers per condition (per seed and pooled over seeds)."""
    end, w = s["duration_s"] * 1000.0, s["window_s"] * 1000.0
    out = {}
    for condition in s["conditions"]:
        mine = [r for r in runs if r["condition"] == condition]
        row = {"seeds": {}}
        pooled = {}
        for label, (lo, hi) in (("early", (0.0, w)), ("late", (end - w, end)), ("all", (0.0, end))):
            stats = [window_stats(r, lo, hi) for r in mine]
            total = {k: sum(x[k] for x in stats) for k in ("rallies", "rally_hits", "hits", "misses")}
            pooled[label] = {
                "mean_rally": _ratio(total["rally_hits"], total["rallies"]),
                "hit_fraction": _ratio(total["hits"], total["hits"] + total["misses"]),
                "rallies": total["rallies"],
                "tracking": float(np.mean([x["tracking"] for x in stats])),
            }
            for r, x in zip(mine, stats):
                row["seeds"].setdefault(r["seed"], {})[label] = {
                    "mean_rally": _ratio(x["rally_hits"], x["rallies"]), "rallies": x["rallies"],
                    "hit_fraction": _ratio(x["hits"], x["hits"] + x["misses"]), "tracking": x["tracking"]}
        row.update(pooled)
        row["weight_change"] = float(np.mean([r["weight_after"] - r["weight_before"] for r in mine]))
        row["weight_before"] = float(np.mean([r["weight_before"] for r in mine]))
        out[condition] = row
    return out


def chance(moves, s: dict, rallies_per_window: int, seed: int = 0, max_step: float = 0.04) -> dict:
    """The game with a paddle blind to the ball: `moves` is "uniform" (in +-`max_step`) or an array to draw from."""
    from livn.integrations.gym.pong import MISS, PongGame

    rng = np.random.default_rng(seed)
    game = PongGame(tick=s["tick"])
    game.reset(rng)
    n = s["chance_ticks"]
    draws = rng.uniform(-max_step, max_step, n) if isinstance(moves, str) else rng.choice(np.asarray(moves), n)
    rallies, current = [], 0
    for move in draws:
        event = game.advance(float(move), rng)
        if event == MISS:
            rallies.append(current)
            current = 0
        elif event is not None:
            current += 1
    rallies = np.asarray(rallies, float)
    k = max(1, int(rallies_per_window))
    means = rallies[: len(rallies) // k * k].reshape(-1, k).mean(axis=1)
    hits = float(rallies.sum())
    return {"mean_rally": float(rallies.mean()), "rallies": int(len(rallies)),
            "hit_fraction": hits / (hits + len(rallies)),
            "band": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))], "band_rallies": k}


def _settings(**overrides) -> dict:
    s = dict(DEFAULTS)
    unknown = sorted(set(overrides) - set(s))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; known: {sorted(s)}")
    s.update({k: v for k, v in overrides.items() if v is not None})
    bad = [c for c in s["conditions"] if c not in CONDITIONS]
    if bad:
        raise ValueError(f"unknown condition(s) {bad}; known: {sorted(CONDITIONS)}")
    if not 0 < s["window_s"] <= s["duration_s"] / 2:
        raise ValueError(
            f"window_s must be in (0, duration_s / 2]; got {s['window_s']} with duration_s {s['duration_s']}")
    if abs(s["duration_s"] * 1000 / s["tick"] - round(s["duration_s"] * 1000 / s["tick"])) > 1e-9:
        raise ValueError("duration_s must be a whole number of ticks")
    return s


def main(**settings) -> dict:
    """Run every condition and seed; print and return the numbers; write the figures."""
    s = _settings(**settings)
    began = time.perf_counter()
    jobs = [(seed, condition) for condition in s["conditions"] for seed in s["seeds"]]
    if s["jobs"] > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=s["jobs"], mp_context=context) as pool:
            runs = list(pool.map(run_session, *zip(*jobs), [s] * len(jobs)))
    else:
        runs = []
        for seed, condition in jobs:
            runs.append(run_session(seed, condition, s))
            print(f"  {condition} seed {seed}: {runs[-1]['wall_s']:.0f} s wall", flush=True)
    conditions = summarize(runs, s)
    window_rallies = int(np.median([max(1, c[label]["rallies"] // len(s["seeds"]))
                                    for c in conditions.values() for label in ("early", "late")]))
    chances = {"uniform": chance("uniform", s, window_rallies, max_step=runs[0]["max_step"])}
    for condition in s["conditions"]:
        moves = np.concatenate([r["trace"][:, 2] for r in runs if r["condition"] == condition])
        per_window = max(1, int(np.mean([conditions[condition][label]["rallies"] / len(s["seeds"])
                                         for label in ("early", "late")])))
        chances[f"moves_of_{condition}"] = chance(moves, s, per_window, seed=1)
    out = {"settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items()},
           "conditions": conditions, "chance": chances, "wall_s": time.perf_counter() - began}
    print(report(out))
    os.makedirs(s["figures"], exist_ok=True)
    figures(out, runs, s)
    return out


# -- output --------------------------------------------------------------------------------------------------


def report(out) -> str:
    s = out["settings"]
    lines = [f"Pong on {s['system']}: {s['duration_s']:.0f} s of game per session, seeds {s['seeds']}, "
             f"early = first {s['window_s']:.0f} s, late = last {s['window_s']:.0f} s, miss feedback {s['miss_ms']} ms",
             f"{'condition':<14} {'rally early':>11} {'rally late':>10} {'(rallies)':>10} {'hit% early':>10} "
             f"{'hit% late':>9} {'track early':>11} {'track late':>10} {'dW EXC_EXC nS':>14}"]
    for name, c in out["conditions"].items():
        e, l = c["early"], c["late"]
        lines.append(f"{name:<14} {e['mean_rally']:>11.2f} {l['mean_rally']:>10.2f} "
                     f"{e['rallies']:>4d}/{l['rallies']:<5d} {100 * e['hit_fraction']:>10.0f} "
                     f"{100 * l['hit_fraction']:>9.0f} {e['tracking']:>11.3f} {l['tracking']:>10.3f} "
                     f"{c['weight_change']:>+14.3f}")
        for seed, x in c["seeds"].items():
            lines.append(f"  seed {seed:<8} {x['early']['mean_rally']:>11.2f} {x['late']['mean_rally']:>10.2f} "
                         f"{x['early']['rallies']:>4d}/{x['late']['rallies']:<5d} "
                         f"{100 * x['early']['hit_fraction']:>10.0f} {100 * x['late']['hit_fraction']:>9.0f} "
                         f"{x['early']['tracking']:>11.3f} {x['late']['tracking']:>10.3f}")
    for name, c in out["chance"].items():
        lines.append(f"chance ({name}): mean rally {c['mean_rally']:.2f} over {c['rallies']} rallies, "
                     f"hit {100 * c['hit_fraction']:.0f}%; "
                     f"95% band of a {c['band_rallies']}-rally mean [{c['band'][0]:.2f}, {c['band'][1]:.2f}]")
    lines.append(f"wall {out['wall_s']:.0f} s")
    return "\n".join(lines)


def _save(fig, path: str) -> None:
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def figures(out, runs, s) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(out["conditions"])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, name in enumerate(names):
        c = out["conditions"][name]
        for seed, x in c["seeds"].items():
            ax.plot([i - 0.15, i + 0.15], [x["early"]["mean_rally"], x["late"]["mean_rally"]], "o-", color="0.7",
                    lw=1, ms=4)
        ax.plot([i - 0.15, i + 0.15], [c["early"]["mean_rally"], c["late"]["mean_rally"]], "s-", color="C0", lw=2)
    uniform = out["chance"]["uniform"]
    ax.axhline(uniform["mean_rally"], color="C3", ls="--", lw=1, label="chance (uniform random paddle)")
    ax.axhspan(*uniform["band"], color="C3", alpha=0.12)
    ax.set_xticks(range(len(names)), [f"{n}\nearly  late" for n in names])
    ax.set_ylabel("mean rally length (hits per rally)")
    ax.set_title(f"Pong on {s['system']}: first vs last {s['window_s']:.0f} s of {s['duration_s']:.0f} s")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, os.path.join(s["figures"], "pong_rallies.png"))
    plt.close(fig)

    width = min(s["bins_s"], s["window_s"]) * 1000.0
    edges = np.arange(0.0, s["duration_s"] * 1000.0 + 1e-9, width)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.5, 5.5), sharex=True)
    for k, name in enumerate(names):
        mine = [r for r in runs if r["condition"] == name]
        fractions, tracking = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            stats = [window_stats(r, lo, hi) for r in mine]
            hits, misses = sum(x["hits"] for x in stats), sum(x["misses"] for x in stats)
            fractions.append(_ratio(hits, hits + misses))
            tracking.append(np.mean([x["tracking"] for x in stats]))
        centres = (edges[:-1] + edges[1:]) / 2000.0
        top.plot(centres, fractions, "o-", color=f"C{k}", label=name)
        bottom.plot(centres, tracking, "o-", color=f"C{k}", label=name)
    top.axhline(uniform["hit_fraction"], color="C3", ls="--", lw=1, label="chance (uniform random paddle)")
    top.set_ylabel("hit fraction")
    top.legend(fontsize=8)
    bottom.axhline(0, color="0.5", lw=0.8)
    bottom.set_ylabel("tracking index")
    bottom.set_xlabel("game time (s)")
    fig.tight_layout()
    _save(fig, os.path.join(s["figures"], "pong_timecourse.png"))
    plt.close(fig)


def _parse(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--system", help=f"predefined system (default {DEFAULTS['system']})")
    p.add_argument("--seeds", type=int, nargs="+", help=f"default {list(DEFAULTS['seeds'])}")
    p.add_argument("--conditions", nargs="+", choices=sorted(CONDITIONS),
                   help=f"default {list(DEFAULTS['conditions'])}")
    p.add_argument("--duration-s", type=float, dest="duration_s", help="game time per session, s (default 80)")
    p.add_argument("--window-s", type=float, dest="window_s", help="early/late window, s (default 20)")
    p.add_argument("--miss-ms", type=int, dest="miss_ms", help="miss feedback / silent pause, ms (default 1000)")
    p.add_argument("--tick", type=int, help="ms per game tick (default 20)")
    p.add_argument("--jobs", type=int, help="sessions run in parallel processes (default 1)")
    p.add_argument("--figures", help="folder for pong*.png (default examples/plasticity/figures)")
    p.add_argument("--json", help="also write the returned numbers to this JSON file")
    args = vars(p.parse_args(argv))
    path = args.pop("json")
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in args.items() if v is not None}, path


if __name__ == "__main__":
    settings, path = _parse()
    result = main(**settings)
    if path:
        with open(path + ".tmp", "w") as f:
            json.dump(result, f, indent=1, default=str)
        os.replace(path + ".tmp", path)
