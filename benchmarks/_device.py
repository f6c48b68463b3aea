"""`--device` for every benchmark: where the simulation runs, chosen before JAX is imported.

brian2 and NEURON run on the CPU only. diffrax runs wherever JAX finds its devices:
`cpu` pins JAX to the host (the default, what CI has), `gpu` requires a CUDA JAX
(`pip install -U "jax[cuda12]"`, see the README) and fails if none is visible, and
`auto` lets JAX choose (a GPU when one is installed and visible, else the CPU).

Usage in a benchmark::

    from _device import add_device_argument, use_device, device_report

    parser = argparse.ArgumentParser(...)
    add_device_argument(parser)
    args = parser.parse_args()
    use_device(args.device)          # before anything imports jax
    ...
    print(device_report())           # "jax 0.x on cuda:0 (NVIDIA H200); host: ... 2 cores"

The choice is passed to worker processes (mpirun, multiprocessing) through the
environment variable `JAX_PLATFORMS`, which they inherit.
"""

from __future__ import annotations

import os
import platform
import sys

#: Accepted values of `--device`.
DEVICES = ("cpu", "gpu", "auto")

_JAX_PLATFORMS = {"cpu": "cpu", "gpu": "cuda", "auto": None}


def add_device_argument(parser, default: str = "cpu") -> None:
    """Add `--device {cpu,gpu,auto}` to an argparse parser."""
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default=default,
        help="where diffrax (JAX) runs: cpu (default), gpu (CUDA JAX required) or auto; "
        "brian2 and NEURON always run on the CPU",
    )


def use_device(device: str, *, jax_needed: bool = True) -> None:
    """Pin JAX to `device` for this process and its children.

    Must run before `jax` is imported; raises `SystemExit` with a message when JAX
    was already imported with another platform, or when `gpu` is asked of a
    benchmark that has no JAX part (`jax_needed=False`).
    """
    if device not in DEVICES:
        raise SystemExit(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "gpu" and not jax_needed:
        raise SystemExit("--device gpu: this benchmark runs brian2/NEURON only, which run on the CPU")
    platforms = _JAX_PLATFORMS[device]
    if "jax" in sys.modules:
        import jax

        current = jax.devices()[0].platform
        if platforms is not None and current != ("gpu" if platforms == "cuda" else platforms):
            raise SystemExit(f"--device {device}: JAX was already imported on {current}")
        return
    if platforms is None:
        os.environ.pop("JAX_PLATFORMS", None)
    else:
        os.environ["JAX_PLATFORMS"] = platforms


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_report() -> str:
    """One line: the JAX version and device this process uses (if JAX is loaded), and the host CPU."""
    host = f"host: {_cpu_model()}, {os.cpu_count()} cores, {platform.platform()}"
    if "jax" not in sys.modules:
        return f"CPU only (no JAX in this process); {host}"
    import jax

    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    return f"jax {jax.__version__} on {device.platform}:{device.id} ({kind}); {host}"
