"""Standard normal draws for the background noise: JAX's own values, computed faster on the CPU.

`standard_normal(key, shape, dtype)` returns exactly `jax.random.normal(key, shape, dtype)`,
bit for bit, for the keys and settings livn uses: a raw `uint32[2]` threefry key
(`jax.random.PRNGKey`), JAX's default partitionable threefry (`jax_threefry_partitionable`,
on by default since JAX 0.5) and float32. In every other case (typed keys, another PRNG
implementation, the non-partitionable layout, float64) it calls `jax.random.normal` itself.

Why: the noise of a run is drawn one 1 ms row at a time, each row from its own key
(`fold_in(key, row)`), and under `vmap` every copy or trial has its own key too. XLA's
lowering of JAX's threefry primitive then broadcasts the per-row keys to every element
before hashing; written as broadcasting `jax.numpy` integer operations (the same
Threefry-2x32 with 20 rounds, Salmon et al. 2011, and the same mantissa-to-float and
inverse-error-function steps as `jax.random.normal`) XLA fuses the whole draw into one
loop. Together with drawing a chunk of rows at a time, flat (`_diffrax_core._run_steps`), this
made the draws of 256 S1 copies over 1 s about three times cheaper; they are still about
30 % of such a window (`benchmarks/diffrax_step_cost.py`). The values are checked against
`jax.random.normal` in `tests/test_diffrax_fast_paths.py`.
"""

from __future__ import annotations

import math

import numpy as np

#: Key-schedule parity constant of Threefry-2x32.
_PARITY = 0x1BD11BDA
#: Rotation distances of the 4-round groups, alternating (Threefry-2x32, 20 rounds).
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
#: Smallest uniform value `jax.random.normal` maps through the inverse error function (float32).
_LOW = np.nextafter(np.float32(-1.0), np.float32(0.0))


def _rotate_left(x, distance: int):
    return (x << np.uint32(distance)) | (x >> np.uint32(32 - distance))


def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32 with 20 rounds of the 32-bit words `(x0, x1)` under the key `(k0, k1)` (uint32, broadcasting)."""
    schedule = (k0, k1, k0 ^ k1 ^ np.uint32(_PARITY))
    x0 = x0 + schedule[0]
    x1 = x1 + schedule[1]
    for group in range(5):
        for distance in _ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = _rotate_left(x1, distance)
            x1 = x1 ^ x0
        x0 = x0 + schedule[(group + 1) % 3]
        x1 = x1 + schedule[(group + 2) % 3] + np.uint32(group + 1)
    return x0, x1


def _fast_path(key, dtype) -> bool:
    """Whether `key` and `dtype` are the case whose values this module reproduces (see the docstring)."""
    import jax
    import jax.numpy as jnp

    return (
        jnp.dtype(dtype) == jnp.float32
        and bool(jax.config.jax_threefry_partitionable)
        and jax.config.jax_default_prng_impl == "threefry2x32"
        and not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
        and key.dtype == jnp.uint32
        and key.shape == (2,)
    )


def standard_normal(key, shape: tuple[int, ...], dtype=np.float32):
    """Standard normal draws of `shape`: the values of `jax.random.normal(key, shape, dtype)` (dimensionless).

    JAX is imported here, not with the module: importing livn imports no simulator.
    """
    import jax
    import jax.numpy as jnp

    if not _fast_path(key, dtype):
        return jax.random.normal(key, shape, dtype)
    size = math.prod(shape)
    if size >= 2**32:
        return jax.random.normal(key, shape, dtype)
    # Counters of the partitionable layout: the flat index as (high word, low word); high is 0 here.
    counter = jnp.arange(size, dtype=jnp.uint32)
    high, low = threefry2x32(key[0], key[1], jnp.zeros_like(counter), counter)
    bits = high ^ low
    # 23 random mantissa bits with the exponent of 1.0: a float in [1, 2), minus 1.
    floats = jax.lax.bitcast_convert_type((bits >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32) - np.float32(1.0)
    uniform = jnp.maximum(_LOW, floats * (np.float32(1.0) - _LOW) + _LOW)
    # XLA fuses all of this into the shape its consumer wants. A short innermost axis (a network's
    # 11 neurons) vectorises badly and costs five times as much as a long one: ask for flat draws.
    return (np.float32(np.sqrt(2.0)) * jax.lax.erf_inv(uniform)).reshape(shape)
