"""How good are the diffrax backend's gradients? Jacobians against finite differences.

    uv run python benchmarks/gradients.py [--device cpu]

S2 is driven with constant currents (10 uA on all 16 electrodes) for 200 ms. For
channel 3's amplitude, the script compares the column of the Jacobian of the
channel firing rates (Hz per uA) with central finite differences (+-2 uA), with
the default gradients (spike readout surrogate only) and with
`transmission_gradients=True` (a surrogate through synaptic transmission as well).
It then checks a voltage loss on S1 against float64 central differences.
"""

from __future__ import annotations

import argparse

import numpy as np
from _device import add_device_argument, device_report, use_device

from livn.env import Env
from livn.system import predefined

DURATION = 200


def rate_jacobian_column(transmission_gradients: bool, channel: int = 3):
    import jax
    import jax.numpy as jnp

    options = {"transmission_gradients": transmission_gradients}
    env = Env(predefined("S2"), backend="diffrax", backend_options=options).init()
    env.apply_model_defaults()
    recording = jnp.asarray(env.io.recording_mask(env.system.neuron_coordinates), jnp.float32)
    key = env.run_key

    def rates(amplitudes):
        inputs = jnp.broadcast_to(amplitudes, (DURATION, 16))
        mask = env.run(DURATION, env.cell_stimulus(inputs), unroll="mask", key=key)[0]
        return recording @ mask.sum(axis=1) / (DURATION / 1000.0)

    a0 = jnp.full(16, 10.0)
    jacobian = jax.jit(jax.jacrev(rates))(a0)[:, channel]
    f = jax.jit(rates)
    finite = (f(a0.at[channel].add(2.0)) - f(a0.at[channel].add(-2.0))) / 4.0
    return np.asarray(jacobian), np.asarray(finite)


def voltage_gradient_error() -> float:
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        env = Env(predefined("S1"), backend="diffrax").init().apply_model_defaults()
        env.set_noise(0.0, 0.0)
        base = np.full((20, 16), 0.01)
        loss = jax.jit(lambda x: jnp.mean(env.run(20, env.cell_stimulus(x), unroll="mask", key=env.run_key)[3]))
        grad = np.asarray(jax.grad(loss)(jnp.asarray(base)))
        errors = []
        for row, channel in [(2, 0), (5, 3), (15, 12)]:
            plus, minus = base.copy(), base.copy()
            plus[row, channel] += 1e-4
            minus[row, channel] -= 1e-4
            numeric = (float(loss(plus)) - float(loss(minus))) / 2e-4
            errors.append(abs(grad[row, channel] - numeric) / max(abs(numeric), 1e-12))
        return max(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_argument(parser)
    use_device(parser.parse_args().device)  # before the functions below import JAX
    for transmission in (False, True):
        jacobian, finite = rate_jacobian_column(transmission)
        label = "with transmission surrogate" if transmission else "default (readout only)"
        agree = np.mean(np.sign(np.round(jacobian)) == np.sign(np.round(finite)))
        print(f"S2 channel-rate Jacobian, column 3, {label}:")
        print("  jacobian (Hz/uA):", np.round(jacobian).astype(int).tolist())
        print("  finite diff     :", np.round(finite).astype(int).tolist())
        print(f"  channels whose sign agrees: {agree:.0%}")
    print(f"S1 voltage loss, float64: max relative error of jax.grad vs central differences {voltage_gradient_error():.1e}")
    print(device_report())


if __name__ == "__main__":
    main()
