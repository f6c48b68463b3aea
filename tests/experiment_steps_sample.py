"""User steps for tests/test_experiment_pipeline.py, importable in a spawned child (tests/ is on sys.path)."""

import os
import signal
import threading
import time

import numpy as np

from livn.experiment.pipeline import Step


class Flaky(Step):
    """Scales the channel counts into a stimulus, or misbehaves as `data["action"]` says."""

    def __init__(self, factor=1.0, teardown_path=None):
        self.factor = factor
        self.teardown_path = teardown_path

    def setup(self, context):
        self.n_channels = context["n_channels"]

    def process(self, data, context):
        action = data.get("action", "ok")
        if action == "raise":
            raise ValueError("the window looks wrong")  # the raising line
        if action == "sleep":
            time.sleep(60)
        if action == "exit":
            os._exit(3)
        if action == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if action == "unpicklable":
            return {"lock": threading.Lock(), "fine": 1}
        if action == "late":
            time.sleep(0.05)
        stimulus = np.tile(self.factor * np.asarray(data["channel_counts"], dtype=float), (5, 1))
        return {"stimulus": stimulus, "pid": os.getpid(), "n_channels": self.n_channels}

    def teardown(self):
        if self.teardown_path:
            with open(self.teardown_path, "w") as file:
                file.write("torn down")


class Seen(Step):
    """Records what it saw: the stimulus it was given, if any."""

    def process(self, data, context):
        return {"seen": data.get("stimulus")}


class BrokenSetup(Step):
    def setup(self, context):
        raise RuntimeError("no amplifier attached")

    def process(self, data, context):
        return None


class NotAStep:
    def process(self, data, context):
        return None
