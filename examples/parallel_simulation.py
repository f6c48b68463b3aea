"""Simulate the 1,000-neuron culture S3 with NEURON, its cells spread over MPI ranks.

```sh
uv run mpirun -n 2 python examples/parallel_simulation.py     # 2 ranks
uv run python examples/parallel_simulation.py                 # also works as one process
```

Every rank runs this same script (SPMD): each builds and simulates its own share
of the cells (gid % ranks), spikes travel between ranks, and `run` gathers the
whole network's spikes on rank 0. The spikes do not depend on the number of ranks.
"""

from livn.analysis import summarize
from livn.env import Env
from livn.system import predefined

DURATION = 1000.0  # ms

env = Env(predefined("S3"), seed=123, backend="neuron").init()
env.apply_model_defaults()
env.record_spikes()

backend = env.backend
counts = backend.cells_per_rank()  # collective: every rank takes part
env.run(200)  # settle
it, t, _, _ = env.run(DURATION)  # rank 0: all spikes; other ranks: their own cells' spikes

if backend.rank == 0:
    for rank, count in enumerate(counts):
        print(f"rank {rank}: {count} cells")
    summary = summarize(it, t, env.num_neurons, DURATION)
    print(
        f"S3 on {backend.num_ranks} rank(s), {DURATION:g} ms: {summary.num_spikes} spikes, "
        f"mean rate {summary.mean_rate:.2f} Hz, ISI CV {summary.isi_cv:.2f}, "
        f"{summary.num_bursts} network bursts, {summary.active_fraction:.0%} of neurons active"
    )
