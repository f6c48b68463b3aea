"""`livn systems sample`: the dataset layout, determinism over ranks, kill -9 and resume, bad arguments."""

import os
import signal
import subprocess
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from _mpirun import command, environment, livn
from livn.dataset import load
from livn.errors import InvalidArgumentError, MissingSystemFileError, UnknownNameError
from livn.stimulation import RandomStimulation, pulse_inputs, pulses_from_features
from livn.systems.sample import SPLITS, Sampler, SamplingPlan, finalize, sample, sample_seed, schema

#: One plan for every run below: S1, 6 + 6 + 2 samples of 60 ms in shards of one sample.
PLAN = SamplingPlan(samples=6, test_samples=2, t_end=60, shard_size=1, seed=5)
CLI_PLAN = ["--samples", "6", "--test-samples", "2", "--t-end", "60", "--shard-size", "1", "--seed", "5"]


def rows(directory):
    """Every split's rows, as plain Python, read straight from the parquet shards."""
    return {
        split: pq.read_table(sorted((directory / "S1").glob(f"{split}-*.parquet"))).to_pylist()
        for split in SPLITS
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory, s1_dir):
    """The plan sampled in this process (one rank, no interruption)."""
    out = tmp_path_factory.mktemp("reference")
    sample("S1", out, PLAN, progress=False)
    return out


def test_load_dataset_reads_columns_splits_and_counts(reference, tmp_path):
    dataset = load_dataset(str(reference), name="S1", cache_dir=str(tmp_path))
    assert set(dataset) == set(SPLITS)
    assert {split: dataset[split].num_rows for split in SPLITS} == {"train": 6, "test": 2, "train_with_noise": 6}
    assert dataset["train"].column_names == ["seed", "trials", "t_end", "features", "trial_it", "trial_t"]
    assert pq.read_schema(next((reference / "S1").glob("train-*.parquet"))).equals(schema(), check_metadata=False)
    first = dataset["train_with_noise"][0]
    assert first["trials"] == 1 and first["t_end"] == 60.0
    assert len(first["trial_it"]) == len(first["trial_t"]) == 1
    assert len(first["trial_it"][0]) == len(first["trial_t"][0]) > 0
    assert all(0 <= t < 60 for t in first["trial_t"][0]) and all(0 <= i < 11 for i in first["trial_it"][0])
    assert load(reference, "S1", split="test", cache_dir=tmp_path).num_rows == 2


def test_splits_pair_up_and_seeds_follow_the_plan(reference):
    data = rows(reference)
    train, noisy, test = data["train"], data["train_with_noise"], data["test"]
    assert [r["seed"] for r in train] == [sample_seed(5, "train", i) for i in range(6)]
    assert [r["seed"] for r in noisy] == [r["seed"] for r in train]
    assert [r["features"] for r in noisy] == [r["features"] for r in train]
    assert not {r["seed"] for r in test} & {r["seed"] for r in train}
    assert len({r["seed"] for r in train}) == 6
    # the background noise changes the response; the stimulation alone gives the noise-free one
    assert any(a["trial_t"] != b["trial_t"] for a, b in zip(train, noisy))
    for row in train:
        pulses = pulses_from_features(row["features"])
        assert 1 <= len(pulses) <= RandomStimulation().max_pulses
        assert pulse_inputs(pulses, 60, range(16)).shape == (60, 16)


def test_a_sample_does_not_depend_on_its_batch(reference, s1_dir):
    """Sample 4 of train simulated alone (batch of 1) equals the one in the dataset (batch of shard 4)."""
    from livn.system import System

    alone = Sampler(System(s1_dir), PLAN, batch_size=1).rows("train", 4, 5)
    stored = rows(reference)["train"][4]
    assert alone["seed"][0] == stored["seed"]
    assert alone["trial_it"][0] == stored["trial_it"] and alone["trial_t"][0] == stored["trial_t"]


def test_mpirun_gives_the_same_rows_as_one_rank(reference, tmp_path):
    result = livn("systems", "sample", "--system", "S1", *CLI_PLAN, "--out", tmp_path, ranks=2)
    assert result.returncode == 0, result.stderr
    assert rows(tmp_path) == rows(reference)
    assert (tmp_path / "README.md").read_text() == (reference / "README.md").read_text()


def test_kill_9_then_resume_gives_exactly_the_uninterrupted_rows(reference, tmp_path):
    process = subprocess.Popen(
        command("systems", "sample", "--system", "S1", *CLI_PLAN, "--batch-size", "1", "--out", tmp_path),
        env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while len(list((tmp_path / "S1").glob("*.parquet"))) < 3 and process.poll() is None:
        assert time.monotonic() < deadline, "the sampling run wrote no shards"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    written = len(list((tmp_path / "S1").glob("*.parquet")))
    assert 3 <= written < 14, "the run was not interrupted part-way"
    assert not (tmp_path / "README.md").exists()
    with pytest.raises(InvalidArgumentError, match="missing"):
        finalize(tmp_path)

    resumed = livn("systems", "sample", "--system", "S1", *CLI_PLAN, "--out", tmp_path, ranks=2)
    assert resumed.returncode == 0, resumed.stderr
    assert rows(tmp_path) == rows(reference)
    assert sorted(p.name for p in (tmp_path / "S1").iterdir()) == sorted(p.name for p in (reference / "S1").iterdir())


def test_resuming_with_another_plan_is_refused(reference, tmp_path):
    result = livn("systems", "sample", "--system", "S1", *CLI_PLAN[:-1], "6", "--out", reference)
    assert result.returncode != 0
    assert "different plan" in result.stderr and "plan.seed" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--system", "S9", "--samples", "4"], "S1, S2, S3, S4"),
        (["--system", "S1", "--samples", "-4"], "samples must be an integer >= 0"),
        (["--system", "S1", "--samples", "4", "--t-end", "-10"], "t_end must be a positive"),
        (["--system", "S1", "--samples", "4", "--trials", "0"], "trials must be an integer >= 1"),
        (["--system", "S1", "--samples", "4", "--splits", "train,valid"], "splits must be distinct names"),
        (["--system", "S1", "--samples", "4", "--amplitude", "5", "1"], "amplitude must be"),
    ],
)
def test_bad_arguments_fail_before_any_work(args, message, tmp_path):
    result = livn("systems", "sample", *args, "--out", tmp_path / "ds", ranks=2, timeout=120)
    assert result.returncode != 0
    assert result.stderr.count("Error:") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ds").exists()


def test_unwritable_output_fails_before_any_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = livn("systems", "sample", "--system", "S1", "--samples", "2", "--out", blocker / "ds", timeout=120)
    assert result.returncode != 0 and "not a writable directory" in result.stderr


def test_merge_reports_missing_shards_and_dataset_helpers_stay_offline(reference, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    (copy / "S1" / "test-00001-of-00002.parquet").unlink()
    (copy / "S1" / ".train-00000-of-00006.parquet.abc.tmp").write_bytes(b"partial")
    result = livn("systems", "sample", "--system", "S1", "--samples", "6", "--merge", "--out", copy)
    assert result.returncode != 0 and "test-00001-of-00002.parquet" in result.stderr
    with pytest.raises(MissingSystemFileError, match="online=True"):
        load(tmp_path / "nowhere", "S1")
    with pytest.raises(UnknownNameError, match="holds S1"):
        load(reference, "S2")
    (copy / "S1" / "test-00001-of-00002.parquet").write_bytes((reference / "S1" / "test-00001-of-00002.parquet").read_bytes())
    finalize(copy)
    assert not list((copy / "S1").glob(".*.tmp"))
    assert rows(copy) == rows(reference)


def test_random_stimulation_is_reproducible_and_checked():
    stimulation = RandomStimulation(max_pulses=3, amplitude=(1.0, 2.0), width=(5, 5))
    first = stimulation.draw(11, 100, range(16))
    assert first == stimulation.draw(11, 100, range(16)) and first != stimulation.draw(12, 100, range(16))
    assert all(p.width == 5 and 1.0 <= p.amplitude <= 2.0 and p.start + 5 <= 100 for p in first)
    assert np.all(np.diff([p.start for p in first]) >= 0)
    with pytest.raises(InvalidArgumentError, match="width"):
        RandomStimulation(width=(0, 5))
    with pytest.raises(InvalidArgumentError, match="longest pulse width"):
        stimulation.draw(1, 3, range(16))


def test_random_stimulations_are_exact_in_their_features():
    """A dataset row's `features` (float32) must rebuild exactly the stimulation that was simulated."""
    from livn.stimulation import RandomStimulation, pulses_from_features, pulses_to_features

    distribution = RandomStimulation(max_pulses=8, amplitude=(0.3, 17.7), width=(1, 37))
    for seed in range(300):
        pulses = distribution.draw(seed, 5000.0, range(16))
        assert pulses_from_features(pulses_to_features(pulses)) == pulses
