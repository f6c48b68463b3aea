"""Run by tests/test_conformance.py as `mpirun -n N python neuron_currents_worker.py MODE SYSTEM_DIR OUT_DIR`.

Modes:
- `currents`: the run of `currents_run` below; every rank saves what it got (spikes and the synaptic
  currents; rank 0: every recorded gid, the others: their own) to OUT_DIR/rank<r>.npz.
- `other-stimulus-step`: rank 1 gives its stimulus rows another `stimulus_step` than rank 0.
Failures are not caught: the test checks the exit status and what rank 0 printed.
"""

import sys
from pathlib import Path

import numpy as np

from livn.env import Env

#: gids whose synaptic currents are recorded (even gids live on rank 0, odd ones on rank 1 of 2).
CURRENT_GIDS = np.array([0, 7, 50, 99], dtype=np.int64)


def fine_inputs() -> np.ndarray:
    """[1000, 16] electrode currents (uA) in 0.1 ms rows: 0.3 ms pulses every 10 ms on two electrodes."""
    inputs = np.zeros((1000, 16))
    for start in range(100, 900, 100):
        inputs[start:start + 3, 3] = 40.0
        inputs[start + 50:start + 53, 10] = 40.0
    return inputs


def currents_run(system_dir: str):
    """S2 with the model defaults (noise on): 100 ms of fine pulses, then 50 ms spontaneous, synaptic
    currents every 0.5 ms. Returns (env, [(RunResult, SynapticCurrents), ...])."""
    env = Env(system_dir, seed=11, backend="neuron").init().apply_model_defaults().record_spikes()
    env.backend.record_synaptic_currents(CURRENT_GIDS, 0.5)
    first = env.run(100, env.cell_stimulus(fine_inputs()), stimulus_step=0.1)
    first_currents = env.backend.synaptic_currents()
    second = env.run(50)
    return env, [(first, first_currents), (second, env.backend.synaptic_currents())]


def main(mode: str, system_dir: str, out_dir: str) -> None:
    if mode == "currents":
        env, results = currents_run(system_dir)
        fields = {}
        for k, (result, currents) in enumerate(results):
            fields.update({f"it{k}": result.it, f"t{k}": result.t, f"gids{k}": currents.gids,
                           f"ampa{k}": currents.ampa, f"gaba{k}": currents.gaba})
        np.savez(Path(out_dir) / f"rank{env.backend.rank}.npz", local_gids=env.backend.local_gids, **fields)
        return
    env = Env(system_dir, seed=11, backend="neuron").init().apply_model_defaults().record_spikes()
    stimulus = np.zeros((100, env.num_neurons))
    step = 0.5 if env.backend.rank == 1 else 1.0
    env.run(100, stimulus, stimulus_step=step)
    print(f"rank {env.backend.rank}: ran although a rank failed", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
