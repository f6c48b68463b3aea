"""Optimise a 16-channel stimulus by gradient descent through the simulated S2 culture.

The goal is a target pattern of MEA channel firing rates (the pattern a hidden
"teacher" stimulus produces). The loss is differentiated through the electrode
mapping, the recurrent network and the spike readout (surrogate gradient) with
the diffrax backend, and optimised with Adam. The same number of simulations
spent on random search is the baseline.

    uv run python examples/differentiable_simulation.py [--steps 40] [--duration 200]
"""

import argparse
import os

os.environ["LIVN_BACKEND"] = "diffrax"

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from livn.env import Env  # noqa: E402
from livn.system import predefined  # noqa: E402

MAX_AMPLITUDE = 20.0  # uA


def main(steps: int, duration: int) -> None:
    env = Env(predefined("S2")).init()
    env.apply_model_defaults()
    env.record_spikes()
    recording = jnp.asarray(env.io.recording_mask(env.system.neuron_coordinates), jnp.float32)  # [16, n]
    key = env.run_key  # the same noise for every evaluation: a deterministic objective

    def channel_rates(amplitudes):
        """Spikes/s on each channel for constant electrode currents `amplitudes` (uA) over `duration` ms."""
        inputs = jnp.broadcast_to(amplitudes, (duration, env.io.num_channels))
        mask, _, _, _ = env.run(duration, env.cell_stimulus(inputs), unroll="mask", key=key)
        return recording @ mask.sum(axis=1) / (duration / 1000.0)

    teacher = jnp.zeros(16).at[jnp.array([0, 5, 10, 15])].set(15.0)  # the diagonal of the 4x4 grid
    target = jax.jit(channel_rates)(teacher)
    print("target channel rates (Hz):", np.round(np.asarray(target)).astype(int).tolist())

    @eqx.filter_jit
    def loss_of(amplitudes):
        return jnp.mean((channel_rates(amplitudes) - target) ** 2) / jnp.mean(target**2)

    def amplitudes_of(theta):
        return MAX_AMPLITUDE * jax.nn.sigmoid(theta)

    value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(lambda theta: loss_of(amplitudes_of(theta))))
    theta = jnp.zeros(16)  # 10 uA on every channel
    optimiser = optax.adam(0.5)
    state = optimiser.init(theta)
    best_gradient = np.inf
    for step in range(steps):
        loss, grad = value_and_grad(theta)
        best_gradient = min(best_gradient, float(loss))
        updates, state = optimiser.update(grad, state)
        theta = optax.apply_updates(theta, updates)
        if step % 5 == 0 or step == steps - 1:
            print(f"gradient step {step:3d}: loss {float(loss):.4f}")

    rng = np.random.default_rng(0)
    best_random = min(float(loss_of(jnp.asarray(rng.uniform(0, MAX_AMPLITUDE, 16), jnp.float32))) for _ in range(steps))
    print(f"best loss with {steps} simulations: gradient descent {best_gradient:.4f}, random search {best_random:.4f}")
    print("found amplitudes (uA):", np.round(np.asarray(amplitudes_of(theta)), 1).tolist())
    if best_gradient >= best_random:
        raise SystemExit("gradient descent did not beat random search")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="simulations for each method")
    parser.add_argument("--duration", type=int, default=200, help="ms per simulation")
    args = parser.parse_args()
    main(args.steps, args.duration)
