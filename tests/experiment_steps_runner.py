"""User steps for tests/test_experiment_runner.py (tests/ is on sys.path)."""

from livn.experiment.pipeline import Step


class Quieter(Step):
    """Lowers the amplitude for later trials when a window holds many spikes; counts windows."""

    def __init__(self, limit=5):
        self.limit = limit

    def process(self, data, context):
        window = data["window"]
        count = 0 if window.it is None else len(window.it)
        updates = {"results": {"windows_seen": window.index + 1}}
        if count > self.limit:
            updates["parameter_changes"] = {"width_ms": 1}
        return updates


class FailsInTrial(Step):
    """Raises in the third window of trial 1."""

    def process(self, data, context):
        if data["trial"] == 1 and data["window"].index == 2:
            raise RuntimeError("the decoder lost its channel map")
        return None


class BadStimulus(Step):
    """Returns a stimulus with NaN in trial 1."""

    def process(self, data, context):
        if data["trial"] == 1:
            return {"stimulus": [[float("nan")] * 16]}
        return None
