"""`--slurm` of `livn systems sample` and `tune`: the batch script, its checks, sbatch, and its body under mpirun.

No Slurm here: the body runs with `bash SCRIPT`, and `LIVN_SLURM_LAUNCHER` (the script's documented
replacement for `srun`) set to `.venv/bin/mpirun -n 2`. A fake `sbatch` on PATH stands in for Slurm's.
"""

import os
import shlex
import stat
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from _mpirun import MPIRUN, environment
from livn.cli import main
from livn.errors import InvalidArgumentError
from livn.systems.sample import sample_seed
from livn.systems.slurm import LAUNCHER_VARIABLE, SlurmJob, check_time

SAMPLE = ["systems", "sample", "--system", "S1", "--samples", "2", "--test-samples", "1", "--t-end", "60",
          "--shard-size", "1", "--seed", "5", "--out", "ds"]
JOB = ["--slurm", "job.sbatch", "--slurm-ranks", "2", "--slurm-time", "1:30:00", "--slurm-partition", "cpu",
       "--slurm-account", "lab"]


def cli(tmp_path, monkeypatch, *args):
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(main, [str(a) for a in args])


def parts(script: str):
    """(directives, the command the launcher runs as a list after `python -m livn.cli`, the whole text)."""
    lines = script.splitlines()
    directives = [line.removeprefix("#SBATCH ") for line in lines if line.startswith("#SBATCH ")]
    (run,) = [line for line in lines if line.startswith("exec ")]
    words = shlex.split(run)
    assert words[:5] == ["exec", "$launcher", sys.executable, "-m", "livn.cli"]
    return directives, words[5:]


def options(words):
    """`--option value` pairs (and bare flags) as a dict."""
    found, i = {}, 2
    while i < len(words):
        if i + 1 < len(words) and not words[i + 1].startswith("--"):
            found[words[i]] = words[i + 1]
            i += 2
        else:
            found[words[i]] = True
            i += 1
    return found


def test_sample_script_asks_for_the_job_and_runs_the_same_command(tmp_path, monkeypatch):
    result = cli(tmp_path, monkeypatch, *SAMPLE, *JOB)
    assert result.exit_code == 0, result.output
    script = tmp_path / "job.sbatch"
    assert f"wrote {script}" in result.output and f"sbatch {script}" in result.output
    assert not (tmp_path / "ds").exists(), "--slurm ran the command instead of writing the job"
    text = script.read_text()
    assert text.startswith("#!/bin/bash\n") and script.stat().st_mode & stat.S_IXUSR
    directives, words = parts(text)
    assert directives == ["--job-name=livn-sample-S1", "--ntasks=2", "--time=1:30:00", "--partition=cpu",
                          "--account=lab", f"--output={tmp_path}/job-%j.out"]
    assert words[:2] == ["systems", "sample"]
    assert options(words) == {"--system": "S1", "--samples": "2", "--test-samples": "1", "--t-end": "60.0",
                              "--shard-size": "1", "--seed": "5", "--out": "ds"}
    assert f"cd {tmp_path}" in text.splitlines()
    assert "continues the sampling" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.sbatch"]  # no temporary file left


def test_tune_script_resumes_when_submitted_again(tmp_path, monkeypatch):
    args = ["systems", "tune", "--system", "S1", "--budget", "4", "--progress", "--out", "front", "--slurm",
            "tune.sbatch"]
    result = cli(tmp_path, monkeypatch, *args)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "tune.sbatch").read_text()
    directives, words = parts(text)
    assert directives == ["--job-name=livn-tune-S1", "--ntasks=1", f"--output={tmp_path}/tune-%j.out"]
    assert options(words) == {"--system": "S1", "--budget": "4", "--progress": True, "--out": "front",
                              "--resume": True}
    assert "continues the study" in text
    result = cli(tmp_path, monkeypatch, *args, "--resume")
    assert result.exit_code == 0 and parts((tmp_path / "tune.sbatch").read_text())[1].count("--resume") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--slurm-time", "2h"], "slurm time must be minutes, minutes:seconds"),
        (["--slurm-time", "1:75:00"], "minutes must be below 60"),
        (["--slurm-time", "0:00"], "longer than zero"),
        (["--slurm-ranks", "0"], "slurm ranks must be an integer >= 1"),
        (["--slurm-partition", "cpu; rm -rf ~"], "slurm partition must be a name"),
        (["--slurm-account", "a b"], "slurm account must be a name"),
    ],
)
def test_bad_job_settings_write_nothing(args, message, tmp_path, monkeypatch):
    result = cli(tmp_path, monkeypatch, *SAMPLE, "--slurm", "job.sbatch", *args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (SAMPLE + ["--slurm-ranks", "4"], "--slurm-ranks only apply with --slurm"),
        (SAMPLE + ["--submit"], "--submit only apply with --slurm"),
        (SAMPLE + ["--overwrite", "--slurm", "job.sbatch"], "would discard its finished shards"),
        (SAMPLE[:5] + ["-1"] + SAMPLE[6:] + ["--slurm", "job.sbatch"], "samples"),
        (["systems", "tune", "--system", "S1", "--budget", "-1", "--slurm", "job.sbatch"], "budget must be"),
    ],
)
def test_commands_check_their_own_arguments_before_writing_a_job(args, message, tmp_path, monkeypatch):
    result = cli(tmp_path, monkeypatch, *args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert not list(tmp_path.iterdir())


def test_submit_runs_sbatch(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/sbatch-args\necho "Submitted batch job 4242"\n')
    sbatch.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = cli(work, monkeypatch, *SAMPLE, "--slurm", "job.sbatch", "--submit")
    assert result.exit_code == 0, result.output
    assert "Submitted batch job 4242" in result.output
    assert (tmp_path / "sbatch-args").read_text().split() == [str(work / "job.sbatch")]
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    result = cli(work, monkeypatch, *SAMPLE, "--slurm", "again.sbatch", "--submit")
    assert result.exit_code != 0 and "sbatch is not on PATH" in result.output
    assert (work / "again.sbatch").exists()  # written, only not submitted


def test_job_settings():
    assert [check_time(t) for t in ("90", "5:30", "2:00:00", "1-12", "1-12:30", "2-00:00:01")] == [
        "90", "5:30", "2:00:00", "1-12", "1-12:30", "2-00:00:01"]
    with pytest.raises(InvalidArgumentError, match="hours must be below 24"):
        check_time("1-25")
    with pytest.raises(InvalidArgumentError, match="must be a string"):
        check_time(90)
    with pytest.raises(InvalidArgumentError, match="ranks"):
        SlurmJob.create(ranks=True)
    assert SlurmJob.create(ranks=3, partition="gpu,cpu") == SlurmJob(3, None, "gpu,cpu", None)


def test_the_script_body_samples_a_dataset_under_mpirun_and_resumes(tmp_path, monkeypatch):
    result = cli(tmp_path, monkeypatch, *SAMPLE, "--slurm", "job.sbatch", "--slurm-ranks", "2")
    assert result.exit_code == 0, result.output
    env = {**environment(), LAUNCHER_VARIABLE: f"{MPIRUN} -n 2"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # the script changes to the directory it was written in
    run = subprocess.run(["bash", str(tmp_path / "job.sbatch")], cwd=elsewhere, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "on 2 rank(s)" in run.stdout
    dataset = tmp_path / "ds" / "S1"
    for split, count in {"train": 2, "test": 1, "train_with_noise": 2}.items():
        rows = pq.read_table(sorted(dataset.glob(f"{split}-*.parquet"))).to_pylist()
        assert [r["seed"] for r in rows] == [sample_seed(5, split, i) for i in range(count)]
        assert all(r["t_end"] == 60.0 and len(r["trial_it"]) == 1 for r in rows)
    assert any(len(r["trial_t"][0]) for r in pq.read_table(sorted(dataset.glob("train_with_noise-*"))).to_pylist())
    assert (tmp_path / "ds" / "README.md").exists()
    written = {p: p.read_bytes() for p in dataset.iterdir()}

    again = subprocess.run(["bash", str(tmp_path / "job.sbatch")], cwd=elsewhere, env=env, capture_output=True,
                           text=True, timeout=300)  # a resubmitted job: nothing left to do, nothing changes
    assert again.returncode == 0, again.stderr
    assert {p: p.read_bytes() for p in dataset.iterdir()} == written
