"""The `livn` command. Every subcommand is a thin layer over the Python API."""

from __future__ import annotations

import contextlib
import json
import sys
import time

import click

from livn.errors import LivnError

#: `livn run` on brian2 takes the compiled path (`livn.backends.brian2_compiled`) from this much simulated
#: time (ms) on: its first build costs about a minute, paid back after about 30 s of S4 (3.9 s per s at runtime).
COMPILED_FROM_MS = 30000.0


class _LivnGroup(click.Group):
    """Turns livn's own errors into one-line messages instead of tracebacks.

    Under MPI, an error that every rank raised together is printed once, by rank 0;
    an error on some ranks only ends the whole job (`livn._mpi.abort_on_error`).
    """

    def invoke(self, ctx):
        from livn._mpi import abort_on_error, is_collective, launched_by_mpi, world

        comm = world() if launched_by_mpi() else None
        quiet = comm is not None and not comm.is_root  # under MPI, rank 0 reports errors every rank raised
        usage_errors = (click.exceptions.ClickException, click.exceptions.Exit)
        try:
            with abort_on_error(comm, passthrough=usage_errors) if comm else contextlib.nullcontext():
                return super().invoke(ctx)
        except click.exceptions.ClickException as e:
            if quiet:
                sys.exit(e.exit_code)
            raise
        except (LivnError, ValueError, ImportError, OSError) as e:
            if quiet and is_collective(e):
                sys.exit(1)
            raise click.ClickException(str(e)) from None
        except Exception as e:
            if quiet and is_collective(e):
                sys.exit(1)
            raise


@click.group(cls=_LivnGroup)
@click.version_option(package_name="livn")
def main():
    """livn: simulated neural cultures on multi-electrode arrays."""


@main.command()
@click.argument("system")
@click.option("--duration", type=float, default=1000.0, show_default=True, help="Simulated time, ms.")
@click.option(
    "--stimulate", "pulses", multiple=True, metavar="CHANNEL:AMP_uA:START_ms:WIDTH_ms",
    help="A current pulse on one electrode; repeat for more.",
)
@click.option(
    "--stimulate-biphasic", "biphasic", multiple=True,
    metavar="CHANNEL:AMP_uA:START_ms:PHASE_ms[:GAP_ms][ x COUNT @ RATE]",
    help="A charge-balanced biphasic pulse (cathodic first; a negative amplitude: anodic first), or a train "
         "of them ('5:20:100:0.2:0.1 x 10 @ 20Hz'), delivered on the 0.1 ms grid; repeat for more.",
)
@click.option("--plot", "plot_path", default=None, metavar="FILE.png",
              help="Where to write the raster/MEA figure [default: livn-run-SYSTEM.png].")
@click.option("--no-plot", is_flag=True, help="Do not write a figure.")
@click.option("--seed", type=click.IntRange(min=0), default=123, show_default=True)
@click.option("--backend", default=None, help="brian2, diffrax or neuron [default: $LIVN_BACKEND or brian2].")
@click.option("--traces", is_flag=True, help="Record the electrodes' extracellular voltage (uV); the figure shows some.")
@click.option("--fs", "fs_hz", type=float, default=None, metavar="HZ", help="Sampling rate of --traces [default: 25000].")
@click.option("--noise-uv", type=float, default=None, metavar="UV",
              help="RMS noise of --traces, uV [default: 5].")
@click.option("--nwb", "nwb_path", default=None, metavar="FILE.nwb",
              help="Also write the run (spikes, stimulation, traces, provenance) as an NWB file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --nwb file.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--compiled/--no-compiled", default=None,
              help="brian2 only: run a compiled, cached C++ program (spikes only; no --traces or --nwb) "
                   f"[default: compiled from {COMPILED_FROM_MS / 1000:g} s of simulated time on brian2].")
def run(system, duration, pulses, biphasic, plot_path, no_plot, seed, backend, traces, fs_hz, noise_uv, nwb_path,
        overwrite, as_json, compiled):
    """Simulate SYSTEM (a predefined name such as S2, or a system directory) and summarise it."""
    import numpy as np

    from livn.env import Env
    from livn.errors import InvalidArgumentError, require_module
    from livn.stimulation import BiphasicPulse, Pulse, PulseTrain, electrode_inputs, pulse_inputs
    from livn.system import make

    if not (np.isfinite(duration) and duration > 0):
        raise click.BadParameter(f"must be a positive number of ms; got {duration}", param_hint="--duration")
    if not traces:
        for value, name in ((fs_hz, "--fs"), (noise_uv, "--noise-uv")):
            if value is not None:
                raise click.BadParameter("sets up --traces; add --traces", param_hint=name)
    recording = {"fs_hz": 25000.0 if fs_hz is None else fs_hz, "noise_uv": 5.0 if noise_uv is None else noise_uv}
    if traces:
        from livn.io.extracellular import ExtracellularSettings

        try:
            ExtracellularSettings(**recording)  # checks the rate and the noise before any work
        except InvalidArgumentError as error:
            raise click.BadParameter(str(error), param_hint="--fs / --noise-uv") from None
    if nwb_path is not None:
        from livn.nwb import check_path

        require_module("pynwb", "nwb", "NWB export (--nwb)")
        try:
            check_path(nwb_path, overwrite=overwrite)
        except InvalidArgumentError as error:
            hint = "; add --overwrite to replace it" if "already exists" in str(error) else ""
            raise click.BadParameter(f"{error}{hint}", param_hint="--nwb") from None
    parsed = [Pulse.parse(p) for p in pulses]
    fine = [PulseTrain.parse(b) if "x" in b.lower() or "@" in b else BiphasicPulse.parse(b) for b in biphasic]
    culture = make(system)
    env = Env(culture, seed=seed, backend=backend)
    compiled = _use_compiled(compiled, env, duration, traces, nwb_path)
    inputs, step = None, None
    if fine:
        step = 0.1  # the integration grid: sub-millisecond phases
        inputs = electrode_inputs(parsed + fine, duration, env.io.channel_ids, step=step)
    elif parsed:
        inputs = pulse_inputs(parsed, duration, env.io.channel_ids)

    with contextlib.ExitStack() as cleanup:
        started = time.perf_counter()
        env.init().apply_model_defaults().record_spikes()
        if traces:
            env.record_extracellular(**recording, file=_traces_file(cleanup, env, recording["fs_hz"], duration,
                                                                     nwb_path))
        if compiled:
            from livn.backends.brian2_compiled import CompiledCulture

            stimulus = None if inputs is None else env.cell_stimulus(inputs)
            result = CompiledCulture.from_env(env).run(duration, stimulus, stimulus_step=step or 1.0, seed=seed)
        else:
            result = env.run(duration, inputs=inputs, stimulus_step=step)
        wall = time.perf_counter() - started
        _report_run(env, culture, result, duration, wall, seed, traces, recording, plot_path, no_plot, nwb_path,
                    overwrite, as_json)


def _use_compiled(compiled, env, duration: float, traces: bool, nwb_path) -> bool:
    """Whether `livn run` takes the backend's compiled path (capability `compiled`): as asked (`--compiled`
    only where it can run), else from `COMPILED_FROM_MS` of simulated time when neither --traces nor --nwb
    is asked."""
    from livn.backends.base import COMPILED

    can = COMPILED in env.capabilities
    if compiled is None:
        return can and duration >= COMPILED_FROM_MS and not traces and nwb_path is None
    if compiled:
        if not can:
            raise click.BadParameter(f"the {env.backend_name} backend has no compiled path (capability "
                                     f"'{COMPILED}')", param_hint="--compiled")
        for asked, name in ((traces, "--traces"), (nwb_path is not None, "--nwb")):
            if asked:
                raise click.BadParameter(f"records spikes only; {name} needs --no-compiled", param_hint="--compiled")
    return bool(compiled)


#: Traces larger than this stream to a temporary HDF5 file instead of memory (`livn run --traces`).
_TRACES_IN_MEMORY_BYTES = 256 << 20


def _traces_file(cleanup, env, fs_hz, duration, nwb_path):
    """None (traces in memory), or a temporary HDF5 path for long recordings, deleted on exit."""
    from pathlib import Path

    size = env.io.num_channels * fs_hz * duration / 1000.0 * 4  # float32 samples
    if size <= _TRACES_IN_MEMORY_BYTES:
        return None
    import tempfile

    where = Path(nwb_path).resolve().parent if nwb_path is not None else None
    folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix=".livn-traces-", dir=where)))
    cleanup.callback(lambda: env.extracellular is not None and env.extracellular.close())
    return folder / "traces.h5"


def _report_run(env, culture, result, duration, wall, seed, traces, recording, plot_path, no_plot, nwb_path,
                overwrite, as_json):
    """The figure, the NWB file and the summary of `livn run`."""
    from livn.analysis import network_bursts, summarize

    it, t = result.it, result.t

    summary = summarize(it, t, culture.num_neurons, duration)
    cit, ct = env.channel_recording(it, t)
    active_channels = sum(1 for c in ct if len(ct[c]) > 0)
    report = {
        "system": culture.name,
        "backend": env.backend_name,
        **summary.as_dict(),
        "active_channels": active_channels,
        "num_channels": env.io.num_channels,
        "wall_seconds": round(wall, 3),
    }
    if traces:
        recorded = result.extracellular
        report["traces"] = {"fs_hz": recorded.fs_hz, "num_samples": int(recorded.n_samples),
                            "noise_uv": recording["noise_uv"]}
    figure = None
    if not no_plot:
        from livn.plot import plot_recording

        figure = plot_path or f"livn-run-{culture.name}.png"
        bursts = network_bursts(it, t, culture.num_neurons, duration)
        plot_recording(
            figure, it, t, duration, culture.population_ranges, cit, ct, bursts=bursts,
            title=f"{culture.name}: {culture.num_neurons} neurons, {duration:g} ms, seed {seed}",
            traces=result.extracellular,
        )
        report["plot"] = figure
    if nwb_path is not None:
        from livn.nwb import export

        report["nwb"] = str(export(result, nwb_path, overwrite=overwrite))

    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"system          {culture.name} ({culture.uri})")
    click.echo(f"backend         {env.backend_name}, {wall:.2f} s wall for {duration:g} ms")
    click.echo(f"neurons         {culture.num_neurons} ({', '.join(f'{k} {c}' for k, (_, c) in culture.population_ranges.items())})")
    click.echo(f"spikes          {summary.num_spikes}")
    click.echo(f"mean rate       {summary.mean_rate:.2f} Hz (active neurons {summary.active_fraction:.0%}, ISI CV {summary.isi_cv:.2f})")
    click.echo(f"active channels {active_channels} of {env.io.num_channels}")
    click.echo(
        f"network bursts  {summary.num_bursts} ({summary.burst_rate:.1f}/min, "
        f"{summary.fraction_in_bursts:.0%} of spikes inside bursts)"
    )
    if traces:
        click.echo(f"traces          {env.io.num_channels} channels at {recorded.fs_hz:g} Hz, "
                   f"noise {recording['noise_uv']:g} uV RMS")
    if figure:
        click.echo(f"figure          {figure}")
    if nwb_path is not None:
        click.echo(f"nwb             {report['nwb']}")


@main.group()
def systems():
    """Generate, tune and sample systems (each runs in parallel under mpirun)."""


@systems.command()
@click.option("--config", "config", required=True, metavar="FILE.yml", help="A system config (see systems/config/).")
@click.option("--out", "out", required=True, metavar="DIR", help="The system directory to create.")
@click.option("--overwrite", is_flag=True, help="Replace DIR if it exists.")
def generate(config, out, overwrite):
    """Build a system directory from a YAML config (ranks share the work under mpirun)."""
    from livn._mpi import world
    from livn.systems import generate as build

    comm = world()
    started = time.perf_counter()
    path = build(config, out, overwrite=overwrite, progress=True, comm=comm)
    comm.print(f"wrote {path} in {time.perf_counter() - started:.1f} s on {comm.size} rank(s)")


#: The parameters `_slurm_options` adds; left out of the command the job runs.
_SLURM_PARAMS = ("slurm_script", "slurm_ranks", "slurm_time", "slurm_partition", "slurm_account", "submit")


def _slurm_options(command):
    """The options that turn `livn systems sample` or `tune` into a Slurm batch job (`livn.systems.slurm`)."""
    options = [
        click.option("--slurm", "slurm_script", default=None, metavar="FILE.sbatch",
                     help="Instead of running, write a Slurm batch script that runs this command under srun."),
        click.option("--slurm-ranks", type=int, default=None, metavar="N", help="MPI tasks of the job [default: 1]."),
        click.option("--slurm-time", default=None, metavar="TIME",
                     help="Time limit of the job: MINUTES, HOURS:MINUTES:SECONDS, DAYS-HOURS, ... "
                          "(sbatch's formats) [default: the partition's]."),
        click.option("--slurm-partition", default=None, metavar="NAME", help="Partition of the job."),
        click.option("--slurm-account", default=None, metavar="NAME", help="Account charged for the job."),
        click.option("--submit", is_flag=True, help="Submit the --slurm script with sbatch."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _same_command(ctx) -> list[str]:
    """The arguments the user gave this command (after `livn`), without the Slurm options."""
    from click.core import ParameterSource

    arguments = [ctx.parent.info_name, ctx.info_name]
    for param in ctx.command.params:
        if param.name in _SLURM_PARAMS or ctx.get_parameter_source(param.name) in (None, ParameterSource.DEFAULT):
            continue
        value = ctx.params[param.name]
        if param.is_flag:
            if param.secondary_opts:
                arguments.append(param.opts[0] if value else param.secondary_opts[0])
            elif value:
                arguments.append(param.opts[0])
            continue
        for item in value if param.multiple else [value]:
            arguments += [param.opts[0], *map(str, item if isinstance(item, tuple) else (item,))]
    return arguments


def _slurm_job(ctx, system: str, extra=(), note: str = "") -> bool:
    """With --slurm: write this command's batch script (and submit it with --submit) and return True."""
    from click.core import ParameterSource

    params = ctx.params
    if params["slurm_script"] is None:
        stray = [f"--{name.replace('_', '-')}" for name in _SLURM_PARAMS[1:]
                 if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)]
        if stray:
            raise click.UsageError(f"{', '.join(stray)} only apply with --slurm FILE.sbatch")
        return False
    import re
    import shlex
    from pathlib import Path

    from livn._mpi import world
    from livn.systems.slurm import SlurmJob, submit, write_script

    job = SlurmJob.create(ranks=1 if params["slurm_ranks"] is None else params["slurm_ranks"],
                          time=params["slurm_time"], partition=params["slurm_partition"],
                          account=params["slurm_account"])
    arguments = _same_command(ctx)
    arguments += [a for a in extra if a not in arguments]
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"livn-{ctx.info_name}-{Path(system).name}")
    if world().is_root:
        path = write_script(params["slurm_script"], arguments, job, name, note)
        click.echo(f"wrote {path}")
        click.echo(submit(path) if params["submit"] else f"submit it with: sbatch {shlex.quote(str(path))}")
    return True


@systems.command()
@click.option("--system", "system", required=True, help="A predefined name (S1) or a system directory.")
@click.option("--budget", type=int, default=200, show_default=True,
              help="Completed evaluations (parameter sets) to reach, stored ones included.")
@click.option("--targets", "targets", default=None, metavar="FILE.yml", help="Target statistics overriding the defaults.")
@click.option("--duration", type=float, default=10000.0, show_default=True, help="Simulated time per evaluation, ms.")
@click.option("--population", type=int, default=None, help="NSGA-II population size [default: min(50, budget / 4)].")
@click.option("--out", "out", default=None, metavar="DIR", help="Where to keep the study and write the Pareto front [default: ./livn-tune-SYSTEM].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the optimiser (the simulations use the culture's default seed, 123).")
@click.option("--backend", default=None, help="brian2 or diffrax [default: diffrax].")
@click.option("--noise-seeds", type=int, default=1, show_default=True,
              help="Simulations per evaluation, each with its own noise; the objectives are their means (diffrax).")
@click.option("--resume", is_flag=True, help="Continue the study in --out (start it if there is none).")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr [default: when it is a terminal; mpirun's is not, so pass --progress].")
@click.option("--no-promote", is_flag=True, help="Do not write the chosen point into the system directory.")
@_slurm_options
@click.pass_context
def tune(ctx, system, budget, targets, duration, population, out, seed, backend, noise_seeds, resume, progress,
         no_promote, **slurm):
    """Fit synaptic weights and noise to target culture statistics (NSGA-II; evaluations spread over ranks).

    The study is kept in OUT/study.sqlite3; a killed run continues with --resume."""
    from livn._mpi import world
    from livn.systems.tune import TuningPlan, tune as run_tuning

    comm = world()
    with comm.together():
        plan = TuningPlan.create(budget=budget, targets=targets, duration=duration, population=population, seed=seed,
                                 backend=backend, noise_seeds=noise_seeds)
    if _slurm_job(ctx, system, extra=["--resume"],
                  note="Submitting it again continues the study (the command has --resume)."):
        return
    result = run_tuning(system, plan, out=out, promote=not no_promote, progress=progress, comm=comm, resume=resume)
    if comm.is_root:
        click.echo(result.report())


@systems.command()
@click.option("--system", "system", required=True, help="A predefined name (S1) or a system directory.")
@click.option("--samples", type=int, required=True, help="Samples in train and in train_with_noise.")
@click.option("--out", "out", required=True, metavar="DIR", help="The dataset directory.")
@click.option("--test-samples", type=int, default=None, help="Samples in test [default: samples / 50, at least 1].")
@click.option("--t-end", "t_end", type=float, default=5000.0, show_default=True, help="Trial length, ms.")
@click.option("--trials", type=int, default=1, show_default=True, help="Trials per sample.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed of the samples.")
@click.option("--model-seed", type=int, default=123, show_default=True, help="Seed of the neuron parameters.")
@click.option("--shard-size", type=int, default=1000, show_default=True, help="Samples per parquet shard.")
@click.option("--batch-size", type=int, default=None, help="Trials per batched simulation [default: by memory].")
@click.option("--splits", default=",".join(("train", "test", "train_with_noise")), show_default=True,
              help="Comma-separated splits to write.")
@click.option("--max-pulses", type=int, default=8, show_default=True, help="Most pulses per stimulation.")
@click.option("--amplitude", type=(float, float), default=(1.0, 10.0), show_default=True, metavar="LOW HIGH",
              help="Pulse amplitude range, uA.")
@click.option("--width", type=(int, int), default=(2, 20), show_default=True, metavar="SHORTEST LONGEST",
              help="Pulse width range, whole ms.")
@click.option("--overwrite", is_flag=True, help="Discard this system's samples in DIR and start again.")
@click.option("--merge", "merge_only", is_flag=True, help="Only run the final step on DIR (check shards, write README.md).")
@_slurm_options
@click.pass_context
def sample(ctx, system, samples, out, test_samples, t_end, trials, seed, model_seed, shard_size, batch_size, splits,
           max_pulses, amplitude, width, overwrite, merge_only, **slurm):
    """Sample a dataset of stimulated recordings (resumable; shards spread over ranks)."""
    from livn._mpi import world
    from livn.stimulation import RandomStimulation
    from livn.systems.sample import SamplingPlan, finalize, sample as run_sampling

    comm = world()
    if overwrite and ctx.params["slurm_script"] is not None:
        raise click.BadParameter("a --slurm job with --overwrite would discard its finished shards each time it is "
                                 "submitted; delete them first or choose another --out", param_hint="--overwrite")
    if merge_only:
        if _slurm_job(ctx, system, note="Submitting it again repeats the check."):
            return
        with comm.together():
            if comm.is_root:
                finalize(out)
        comm.print(f"finalized {out}")
        return
    with comm.together():
        if test_samples is None:
            test_samples = max(1, samples // 50) if isinstance(samples, int) and samples > 0 else 0
        plan = SamplingPlan(
            samples, test_samples, t_end, trials, seed, model_seed, shard_size,
            tuple(s.strip() for s in splits.split(",") if s.strip()),
            RandomStimulation(max_pulses, amplitude, width),
        )
    if _slurm_job(ctx, system, note="Submitting it again continues the sampling where it stopped."):
        return
    started = time.perf_counter()
    path = run_sampling(system, out, plan, overwrite=overwrite, batch_size=batch_size, comm=comm)
    comm.print(f"wrote {path} in {time.perf_counter() - started:.1f} s on {comm.size} rank(s)")


@main.group()
def experiment():
    """Closed-loop experiments from YAML files, with an audit trail (livn.experiment)."""


@experiment.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, metavar="RUN.h5", help="The audit trail to write.")
@click.option("--backend", default=None, help="brian2, diffrax or neuron [default: the file's, else $LIVN_BACKEND].")
@click.option("--realtime", is_flag=True, help="Pace the culture to wall-clock time, recording deadline misses.")
@click.option("--overwrite", is_flag=True, help="Replace an existing audit trail at --out.")
def experiment_run(file, out, backend, realtime, overwrite):
    """Run the experiment in FILE; a killed run continues with `livn experiment resume RUN.h5`."""
    from livn.experiment.runner import run_experiment

    path = run_experiment(file, out, backend=backend, realtime=realtime, overwrite=overwrite)
    click.echo(f"wrote {path}")


@experiment.command("resume")
@click.argument("run_file", metavar="RUN.h5", type=click.Path(exists=True, dir_okay=False))
def experiment_resume(run_file):
    """Continue an interrupted run from its last complete trial."""
    from livn.experiment.runner import resume_experiment

    click.echo(f"wrote {resume_experiment(run_file)}")


@experiment.command("show")
@click.argument("run_file", metavar="RUN.h5", type=click.Path(exists=True, dir_okay=False))
@click.option("--plot", "plot_path", default=None, metavar="FILE.png", help="[default: RUN.png next to RUN.h5]")
def experiment_show(run_file, plot_path):
    """Summarise a run and write its figure (raster with stimulus marks, responses, latency histogram)."""
    from pathlib import Path

    from livn.experiment.audit import read_audit
    from livn.experiment.report import plot, summary

    audit = read_audit(run_file)
    click.echo(summary(audit))
    click.echo(f"figure          {plot(audit, plot_path or Path(run_file).with_suffix('.png'))}")


@experiment.command("export")
@click.argument("run_file", metavar="RUN.h5", type=click.Path(exists=True, dir_okay=False))
@click.argument("nwb_file", metavar="FILE.nwb")
@click.option("--overwrite", is_flag=True, help="Replace FILE.nwb if it exists.")
def experiment_export(run_file, nwb_file, overwrite):
    """Write a run's audit trail to NWB: spikes, delivered stimulation and a trials table."""
    from livn.nwb import export_experiment

    click.echo(str(export_experiment(run_file, nwb_file, overwrite=overwrite)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
