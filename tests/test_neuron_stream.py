"""Closed-loop streaming on NEURON under MPI: the controller runs on rank 0 and every rank follows it."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("neuron")
pytest.importorskip("mpi4py")

import neuron_stream_worker as worker  # noqa: E402
from _mpirun import MPIRUN, environment  # noqa: E402


@pytest.mark.skipif(shutil.which(MPIRUN) is None and not Path(MPIRUN).exists(), reason="no mpirun")
def test_two_ranks_stream_the_closed_loop_of_one_process(s2_dir, tmp_path):
    out = tmp_path / "stream.npz"
    done = subprocess.run([MPIRUN, "-n", "2", sys.executable, worker.__file__, s2_dir, str(out)],
                          capture_output=True, text=True, timeout=300, env=environment())
    assert done.returncode == 0, done.stderr[-3000:]
    _, single = worker.stream(s2_dir)
    ranks = np.load(out)
    assert single.delivered.any() and len(single.result.it) > 20
    np.testing.assert_array_equal(ranks["delivered"], single.delivered)
    np.testing.assert_array_equal(ranks["it"], single.result.it)
    np.testing.assert_array_equal(ranks["t"], single.result.t)
