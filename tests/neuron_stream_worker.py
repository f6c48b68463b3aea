"""Run by tests/test_neuron_stream.py as `mpirun -n N python neuron_stream_worker.py SYSTEM_DIR OUT.npz`:
a closed loop on S2 whose controller (on rank 0) reacts to the whole network's spikes."""

import sys

import numpy as np

from livn.env import Env


def controller(window):
    """Pulse the electrode with the fewest spikes in this window, harder the quieter the network."""
    counts = np.array([len(window.channels[1].get(c, ())) for c in range(16)])
    inputs = np.zeros((10, 16))
    inputs[:3, int(np.argmin(counts))] = 12.0 if counts.sum() < 10 else 3.0
    return inputs


def stream(system_dir: str):
    env = Env(system_dir, seed=11, backend="neuron").init().apply_model_defaults().record_spikes()
    return env, env.stream(300, 10, controller, latency=4)


if __name__ == "__main__":
    env, streamed = stream(sys.argv[1])
    if env.backend.is_root:
        np.savez(sys.argv[2], it=streamed.result.it, t=streamed.result.t, delivered=streamed.delivered)
