"""Competitive Hebbian learning through STDP (after Song, Miller & Abbott 2000, Nat Neurosci 3:919).

Song, Miller & Abbott drove one integrate-and-fire neuron with 1000 excitatory
synapses, each carrying an independent Poisson spike train, and let additive
spike-timing-dependent plasticity (A-/A+ = 1.05, tau = 20 ms, weights clipped to
[0, g_max]) act on them. The synapses competed: the weight distribution became
bimodal, with most weights near 0 or near g_max, and the output rate was regulated.

Here the same experiment runs in livn. livn's inputs are neurons, so the system is
`n_inputs` excitatory "input" neurons, each with one synapse onto one postsynaptic
excitatory neuron (gid `n_inputs`). Every input neuron is made to fire a Poisson
train: at Poisson times (drawn with numpy, 1 ms resolution) it gets a 1 ms, 6 nA
current pulse, which makes a resting neuron fire once. Additive STDP (livn's
`STDP`, Song et al.'s rule) acts on the input -> post synapses only.

Choices, and why (see examples/plasticity/README.md for the measurements):

- STDP as in Song et al.: A+ = 0.005, A-/A+ = 1.05, tau+ = tau- = 20 ms, w_max = 8 nS
  (the model's default EXC->EXC weight); initial weights uniform on [0, w_max].
- Synaptic short-term depression (part of livn's culture model) is switched off
  (`CultureModel(depression_fraction=0)`), as Song et al.'s synapses had none;
  `--depression` keeps it.
- The postsynaptic neuron gets a constant hyperpolarizing current (`--bias`, nA,
  through its stimulus column) so that it fires on input fluctuations rather than on
  a large mean drive; Song et al. had 200 inhibitory inputs for this.
- n_inputs = 200 (Song et al.: 1000): STDP's competition acts through each synapse's
  share in causing the postsynaptic spikes, so fewer, stronger inputs separate the
  weights within the simulated 10 minutes (brian2 needs about 0.45 s of CPU per
  simulated second here).
- `--rule multiplicative` runs the weight-dependent rule of van Rossum et al. (2000)
  instead, for contrast.

Prints the fraction of weights near 0 and near w_max, the bimodality coefficient of
the weights at the start and the end, the input and output rates, and writes a
figure (histograms at start and end, weight trajectories, fractions and rate over time).

    python examples/plasticity/song_miller_abbott.py                  # the documented run, ~4.5 min CPU
    python examples/plasticity/song_miller_abbott.py --duration 30    # a quick look
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from livn import neuroh5
from livn.env import Env
from livn.io import MEA
from livn.models import STDP, CultureModel

#: A 1 ms current pulse of this size (nA) makes a resting neuron fire one spike.
PULSE_NA = 6.0
#: Weights below LOW * w_max count as "near 0", above HIGH * w_max as "near w_max".
LOW, HIGH = 0.1, 0.9


def write_convergent_system(directory, n_inputs: int, seed: int = 0) -> str:
    """A system directory: `n_inputs` EXC neurons, each with one synapse onto EXC neuron `n_inputs`.

    The inputs sit 20-100 um from the postsynaptic neuron (axonal delays 0.57-0.83 ms).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0.0, 2 * np.pi, n_inputs)
    radius = rng.uniform(20.0, 100.0, n_inputs)  # um
    center = np.array([200.0, 200.0, 0.0])
    xyz = np.c_[center[0] + radius * np.cos(angle), center[1] + radius * np.sin(angle), np.zeros(n_inputs)]
    neuroh5.write_cells(directory / "cells.h5", {"EXC": np.vstack([xyz, center])})
    neuroh5.write_connections(
        directory / "connections.h5", {"EXC": n_inputs + 1},
        {("EXC", "EXC"): (np.arange(n_inputs), np.full(n_inputs, n_inputs), radius)},
    )
    MEA.grid(400.0, 400.0, 2, 2).save(directory / "mea.json")
    return str(directory)


def bimodality_coefficient(x) -> float:
    """Sarle's bimodality coefficient (skew^2 + 1) / (excess kurtosis + 3 (n-1)^2 / ((n-2)(n-3))).

    5/9 for a uniform distribution, 1/3 for a normal one, towards 1 for two separated peaks.
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    d = x - x.mean()
    m2 = np.mean(d**2)
    if n < 4 or m2 == 0:
        return float("nan")
    g = np.mean(d**3) / m2**1.5 * np.sqrt(n * (n - 1)) / (n - 2)  # sample skewness (bias-corrected)
    k = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * (np.mean(d**4) / m2**2 - 3) + 6)  # sample excess kurtosis
    return float((g**2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def weight_summary(w, w_max: float) -> dict:
    """Fractions of weights near 0 / in between / near w_max, and the bimodality coefficient."""
    w = np.asarray(w, dtype=float)
    low, high = float(np.mean(w < LOW * w_max)), float(np.mean(w > HIGH * w_max))
    return {"frac_near_0": low, "frac_near_wmax": high, "frac_between": 1.0 - low - high,
            "bimodality_coefficient": bimodality_coefficient(w), "mean_nS": float(w.mean())}


def main(n_inputs: int = 200, input_rate: float = 10.0, duration: float = 600.0, a_plus: float = 0.005,
         ratio: float = 1.05, w_max: float = 8.0, bias: float = -2.0, weight_dependence: str = "additive",
         depression: bool = False, record_every: float = 5.0, rate_window: float = 10.0, chunk: float = 1.0,
         seed: int = 1, figure: str | None = "figures/song_miller_abbott.png", verbose: bool = True) -> dict:
    """Run the experiment; returns the measured numbers (and writes `figure` unless None).

    **Arguments**

    - `n_inputs`: number of Poisson input neurons; `input_rate`: their rate, Hz.
    - `duration`: simulated time, s; `chunk`: s of stimulus per `Env.run` call.
    - `a_plus`, `ratio` (A-/A+), `w_max` (nS), `weight_dependence`: the STDP rule.
    - `bias`: constant current into the postsynaptic neuron, nA.
    - `depression`: keep livn's synaptic short-term depression (off by default).
    - `record_every`: s between weight samples; `rate_window`: s over which the
      postsynaptic rate is measured at the start and at the end.
    - `seed`: seeds the network noise, the initial weights and the Poisson trains.
    - `figure`: PNG path, relative paths under this script's folder (None: no figure).

    **Returns** a dict: weight summaries at the start and the end (`start`, `end`),
    `post_rate_start_hz`, `post_rate_end_hz`, `input_rate_hz` (measured), the
    simulated duration and wall time, and the parameters.
    """
    if duration < 2 * rate_window:
        rate_window = duration / 2
    chunks = int(round(duration / chunk))
    rng = np.random.default_rng(seed)
    model = CultureModel() if depression else CultureModel(depression_fraction=0.0)
    rule = STDP(a_plus=a_plus, a_minus=ratio * a_plus, w_max=w_max, weight_dependence=weight_dependence)
    n = n_inputs + 1
    post = n_inputs
    started, cpu = time.time(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="livn-sma-") as directory:
        env = Env(write_convergent_system(directory, n_inputs, seed), model=model, seed=seed).init()
        env.apply_model_defaults().record_spikes()
        env.enable_plasticity({"EXC_EXC": rule})
        env.set_synaptic_weights(rng.uniform(0.0, w_max, n_inputs))
        env.record_weights(record_every * 1000.0, "EXC_EXC")
        post_counts, input_counts = np.zeros(chunks), np.zeros(chunks)
        rows = int(round(chunk * 1000))
        for index in range(chunks):
            stimulus = np.zeros((rows, n))
            stimulus[:, :n_inputs][rng.random((rows, n_inputs)) < input_rate * 1e-3] = PULSE_NA
            stimulus[:, post] = bias
            it, _, _, _ = env.run(rows, stimulus)
            post_counts[index] = np.sum(it == post)
            input_counts[index] = np.sum(it < n_inputs)
            if verbose and (index + 1) % max(1, chunks // 10) == 0:
                w = env.synaptic_weights().weight
                print(f"  t = {(index + 1) * chunk:6.0f} s: post {post_counts[index] / chunk:5.1f} Hz, "
                      f"near 0 {np.mean(w < LOW * w_max):.2f}, near w_max {np.mean(w > HIGH * w_max):.2f} "
                      f"({time.time() - started:.0f} s wall)", flush=True)
        recorded = env.recorded_weights
        t_s, weights = recorded.t / 1000.0, recorded.weights
    window = max(1, int(round(rate_window / chunk)))
    result = {
        "n_inputs": n_inputs, "duration_s": chunks * chunk, "a_plus": a_plus, "ratio": ratio, "w_max_nS": w_max,
        "bias_nA": bias, "weight_dependence": weight_dependence, "depression": depression, "seed": seed,
        "input_rate_hz": float(input_counts.sum() / n_inputs / (chunks * chunk)),
        "post_rate_start_hz": float(post_counts[:window].sum() / (window * chunk)),
        "post_rate_end_hz": float(post_counts[-window:].sum() / (window * chunk)),
        "start": weight_summary(weights[:, 0], w_max), "end": weight_summary(weights[:, -1], w_max),
        "wall_s": time.time() - started, "cpu_s": time.process_time() - cpu,
    }
    if figure is not None:
        result["figure"] = str(_plot(t_s, weights, post_counts / chunk, chunk, w_max, result, figure))
    return result


def _plot(t_s, weights, post_rate, chunk, w_max, result, figure) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(figure)
    if not path.is_absolute():
        path = Path(__file__).parent / path
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    bins = np.linspace(0, w_max, 21)
    axes[0].hist(weights[:, 0], bins=bins, alpha=0.5, label="start")
    axes[0].hist(weights[:, -1], bins=bins, alpha=0.6, label=f"end ({t_s[-1]:.0f} s)")
    axes[0].set(xlabel="weight (nS)", ylabel="synapses", title="weight distribution")
    axes[0].legend(frameon=False)
    final = weights[:, -1]
    order = np.argsort(final)
    show = order[np.linspace(0, len(order) - 1, 30).astype(int)]
    cmap = plt.get_cmap("coolwarm")
    for k in show:
        axes[1].plot(t_s, weights[k], color=cmap(final[k] / w_max), lw=0.8)
    axes[1].set(xlabel="time (s)", ylabel="weight (nS)", title="30 synapses")
    low = np.mean(weights < LOW * w_max, axis=0)
    high = np.mean(weights > HIGH * w_max, axis=0)
    axes[2].plot(t_s, low, label=f"< {LOW:g} w_max")
    axes[2].plot(t_s, high, label=f"> {HIGH:g} w_max")
    axes[2].set(xlabel="time (s)", ylabel="fraction of synapses", ylim=(0, 1))
    twin = axes[2].twinx()
    smooth = np.convolve(post_rate, np.ones(10) / 10, mode="valid") if len(post_rate) >= 10 else post_rate
    twin.plot(chunk * (np.arange(len(smooth)) + (len(post_rate) - len(smooth)) + 1), smooth, color="0.5", lw=0.8)
    twin.set_ylabel("post rate (Hz, gray)")
    axes[2].legend(frameon=False, loc="upper left")
    fig.suptitle(f"{result['weight_dependence']} STDP, {result['n_inputs']} Poisson inputs at "
                 f"{result['input_rate_hz']:.1f} Hz, A+ = {result['a_plus']:g}, A-/A+ = {result['ratio']:g}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _report(result: dict) -> None:
    print(f"inputs: {result['n_inputs']} at {result['input_rate_hz']:.2f} Hz (measured); "
          f"{result['duration_s']:.0f} s simulated in {result['wall_s']:.0f} s wall, {result['cpu_s']:.0f} s CPU")
    print(f"postsynaptic rate: {result['post_rate_start_hz']:.1f} Hz (first 10 s) -> "
          f"{result['post_rate_end_hz']:.1f} Hz (last 10 s)")
    for key in ("start", "end"):
        s = result[key]
        print(f"{key:>5}: near 0 {s['frac_near_0']:.2f}, between {s['frac_between']:.2f}, "
              f"near w_max {s['frac_near_wmax']:.2f}; bimodality coefficient {s['bimodality_coefficient']:.2f} "
              f"(uniform 0.56); mean weight {s['mean_nS']:.2f} nS")
    if "figure" in result:
        print(f"figure: {result['figure']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=200, help="number of Poisson input neurons")
    parser.add_argument("--rate", type=float, default=10.0, help="input rate, Hz")
    parser.add_argument("--duration", type=float, default=600.0, help="simulated time, s")
    parser.add_argument("--a-plus", type=float, default=0.005, help="A+ (fraction of w_max per pair)")
    parser.add_argument("--ratio", type=float, default=1.05, help="A-/A+")
    parser.add_argument("--w-max", type=float, default=8.0, help="w_max, nS")
    parser.add_argument("--bias", type=float, default=-2.0, help="constant current into the postsynaptic neuron, nA")
    parser.add_argument("--rule", choices=("additive", "multiplicative"), default="additive")
    parser.add_argument("--depression", action="store_true", help="keep livn's synaptic short-term depression")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--figure", default="figures/song_miller_abbott.png",
                        help="PNG to write (relative to this script's folder)")
    args = parser.parse_args()
    _report(main(n_inputs=args.inputs, input_rate=args.rate, duration=args.duration, a_plus=args.a_plus,
                 ratio=args.ratio, w_max=args.w_max, bias=args.bias, weight_dependence=args.rule,
                 depression=args.depression, seed=args.seed, figure=args.figure))
