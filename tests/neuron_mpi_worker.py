"""Run by tests/test_neuron.py as `mpirun -n N python neuron_mpi_worker.py MODE SYSTEM_DIR OUT_DIR`.

Modes:
- `spikes`: the reference run of `network_run` below; every rank saves what `run`
  returned to OUT_DIR/rank<r>.npz (rank 0: the whole network, others: their own gids).
- `bad-stimulus`: rank 1 passes a stimulus containing NaN, the others a good one.
- `other-duration`: rank 1 asks for a different duration than the others.
- `error-in-user-code`: rank 1 raises its own exception while rank 0 runs.
- `more-ranks-than-cells`: SYSTEM_DIR has fewer cells than ranks; a stimulated run,
  saved like `spikes`.
Failures are not caught: the test checks the exit status and what rank 0 printed.
"""

import sys
from pathlib import Path

import numpy as np

from livn.env import Env

#: gids whose voltage the reference run records.
VOLTAGE_GIDS = [0, 7, 50, 99]


def stimulus_inputs(duration: int = 200) -> np.ndarray:
    """[T, 16] electrode currents (uA): two 30 ms pulses."""
    inputs = np.zeros((duration, 16))
    inputs[20:50, 3] = 15.0
    inputs[120:150, 10] = 15.0
    return inputs


def network_run(system_dir: str):
    """S2 with the model defaults (noise on): 200 ms stimulated, then 300 ms spontaneous.

    Returns (env, [RunResult, RunResult]).
    """
    env = Env(system_dir, seed=11, backend="neuron").init().apply_model_defaults()
    env.record_spikes().record_voltage(VOLTAGE_GIDS, dt=0.5)
    first = env.run(200, env.cell_stimulus(stimulus_inputs()))
    second = env.run(300)
    return env, [first, second]


def small_run(system_dir: str):
    """A stimulated 50 ms run of a tiny system, every cell's voltage recorded. Returns (env, [RunResult])."""
    env = Env(system_dir, seed=11, backend="neuron").init().apply_model_defaults()
    env.record_spikes().record_voltage()
    return env, [env.run(50, np.full((50, env.num_neurons), 1.0))]


def main(mode: str, system_dir: str, out_dir: str) -> None:
    if mode in ("spikes", "more-ranks-than-cells"):
        env, results = network_run(system_dir) if mode == "spikes" else small_run(system_dir)
        backend = env.backend
        np.savez(
            Path(out_dir) / f"rank{backend.rank}.npz",
            local_gids=backend.local_gids,
            cells_per_rank=np.asarray(backend.cells_per_rank()),
            **{f"{field}{k}": getattr(r, field) for k, r in enumerate(results) for field in r._fields},
        )
        return
    env = Env(system_dir, seed=11, backend="neuron").init().apply_model_defaults().record_spikes()
    rank = env.backend.rank
    duration = 50.0
    stimulus = env.cell_stimulus(stimulus_inputs(50))
    if mode == "bad-stimulus" and rank == 1:
        stimulus[10, 3] = np.nan
    if mode == "other-duration" and rank == 1:
        duration = 60.0
    if mode == "error-in-user-code" and rank == 1:
        raise RuntimeError("an error in the user's script on rank 1")
    env.run(duration, stimulus)
    print(f"rank {rank}: ran although a rank failed", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
