"""The `livn` command. Every subcommand is a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
import time

import click

from livn.errors import LivnError


class _LivnGroup(click.Group):
    """Turns livn's own errors into one-line messages instead of tracebacks."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (LivnError, ValueError, ImportError) as e:
            raise click.ClickException(str(e)) from None


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
@click.option("--plot", "plot_path", default=None, metavar="FILE.png",
              help="Where to write the raster/MEA figure [default: livn-run-SYSTEM.png].")
@click.option("--no-plot", is_flag=True, help="Do not write a figure.")
@click.option("--seed", type=click.IntRange(min=0), default=123, show_default=True)
@click.option("--backend", default=None, help="brian2, diffrax or neuron [default: $LIVN_BACKEND or brian2].")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(system, duration, pulses, plot_path, no_plot, seed, backend, as_json):
    """Simulate SYSTEM (a predefined name such as S2, or a system directory) and summarise it."""
    import numpy as np

    from livn.analysis import network_bursts, summarize
    from livn.env import Env
    from livn.stimulation import Pulse, pulse_inputs
    from livn.system import make

    if not (np.isfinite(duration) and duration > 0):
        raise click.BadParameter(f"must be a positive number of ms; got {duration}", param_hint="--duration")
    parsed = [Pulse.parse(p) for p in pulses]
    culture = make(system)
    env = Env(culture, seed=seed, backend=backend)
    stimulus = None
    if parsed:
        inputs = pulse_inputs(parsed, duration, env.io.channel_ids)
        stimulus = env.cell_stimulus(inputs)

    started = time.perf_counter()
    env.init().apply_model_defaults().record_spikes()
    it, t, _, _ = env.run(duration, stimulus)
    wall = time.perf_counter() - started

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
    figure = None
    if not no_plot:
        from livn.plot import plot_recording

        figure = plot_path or f"livn-run-{culture.name}.png"
        bursts = network_bursts(it, t, culture.num_neurons, duration)
        plot_recording(
            figure, it, t, duration, culture.population_ranges, cit, ct, bursts=bursts,
            title=f"{culture.name}: {culture.num_neurons} neurons, {duration:g} ms, seed {seed}",
        )
        report["plot"] = figure

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
    if figure:
        click.echo(f"figure          {figure}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
