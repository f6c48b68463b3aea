"""Run by tests/test_neuron_checkpoint.py as `[mpirun -n N] python neuron_checkpoint_worker.py MODE SYSTEM_DIR DIR`.

Modes:
- `save`: `saving_run` below, then `save_state(DIR/checkpoint.h5)`.
- `load`: `loading_env` below, `load_state(DIR/checkpoint.h5)`, then `run(CONTINUE_MS)`;
  rank 0 saves the whole network's spikes and voltages to DIR/loaded.npz.
Failures are not caught: the test checks the exit status and the output.
"""

import sys
from pathlib import Path

import numpy as np

from livn.env import Env

#: Saved at 45 ms: S2 is in a burst then (hundreds of spikes on their way, as events in NEURON's queue).
SAVE_MS = 45
#: Simulated after loading.
CONTINUE_MS = 100
#: gids whose voltage the loading run records (the saving run records none).
VOLTAGE_GIDS = [0, 7, 50, 99]
VOLTAGE_DT = 0.5


def build(system_dir):
    """S2 with the model defaults (noise on), default seed, spikes recorded."""
    return Env(system_dir, backend="neuron").init().apply_model_defaults().record_spikes()


def saving_run(system_dir):
    env = build(system_dir)
    env.run(SAVE_MS)
    return env


def loading_env(system_dir):
    return build(system_dir).record_voltage(gids=VOLTAGE_GIDS, dt=VOLTAGE_DT)


def main(mode: str, system_dir: str, directory: str) -> None:
    checkpoint = Path(directory) / "checkpoint.h5"
    if mode == "save":
        saving_run(system_dir).save_state(checkpoint)
        return
    if mode == "load":
        env = loading_env(system_dir)
        env.load_state(checkpoint)
        assert abs(env.t - SAVE_MS) < 1e-9, env.t
        result = env.run(CONTINUE_MS)
        if env.backend.rank == 0:
            np.savez(Path(directory) / "loaded.npz", it=result.it, t=result.t, iv=result.iv, v=result.v)
        return
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
