"""Closed-loop experiments as data: protocols, selectors, pipelines of steps, rigs and the audit trail.

```python
from livn.experiment import run_experiment, read_audit

run_experiment("examples/experiments/stimulus_response.yml", "run.h5")
audit = read_audit("run.h5")
audit.trial(0)["spikes"]
```

- `spec`: the YAML schema, checked completely before anything runs;
- `selectors`: roving parameters (sequential, shuffled, random, counterbalanced, staircase);
- `pipeline`: user steps, in this process or their own, with deadlines and failure policies;
- `rig`: what an experiment drives (the simulated culture, a replay, a real MEA);
- `audit`: one HDF5 file per run, committed trial by trial;
- `runner`: the trial loop, `run_experiment` and `resume_experiment`;
- `report`: `livn experiment show`'s summary and figure.
"""

from livn.experiment.audit import AuditError, AuditTrail, read_audit
from livn.experiment.pipeline import Pipeline, PipelineStopped, Step, StepError, StepSpec
from livn.experiment.rig import Reading, ReplayRig, Rig, SimulatedRig
from livn.experiment.runner import resume_experiment, run_experiment
from livn.experiment.selectors import SELECTORS, Selector, make_selector
from livn.experiment.spec import ExperimentError, ExperimentSpec, load_experiment

__all__ = [
    "AuditError", "AuditTrail", "ExperimentError", "ExperimentSpec", "Pipeline", "PipelineStopped", "Reading",
    "ReplayRig", "Rig", "SELECTORS", "Selector", "SimulatedRig", "Step", "StepError", "StepSpec", "load_experiment",
    "make_selector", "read_audit", "resume_experiment", "run_experiment",
]
