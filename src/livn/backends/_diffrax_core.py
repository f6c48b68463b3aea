"""The JAX side of the diffrax backend: the network as arrays, the state, and the compiled step.

Imported by `livn.backends.diffrax` when a backend is built, so that importing
livn never imports JAX. See that module's docstring for the order of operations
in a step and for how gradients are taken.
"""

from __future__ import annotations

import math

import numpy as np

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp

from livn.models import CultureModel

def _float_dtype():
    """float64 when the user enabled `jax_enable_x64`, else float32."""
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


#: Spikes per integration step delivered event by event in forward runs (see `Simulator`).
EVENT_CAPACITY = 16

#: Membrane potential (mV) above which a neuron is committed to a spike: the upswing from here to
#: v_peak is explosive (d v'/d v = 1 + dt (0.08 v + 5) > 1), so gradients are taken at this level.
SPIKE_INITIATION = -40.0
#: Half-width (mV) of the triangular surrogate used for synaptic transmission.
NETWORK_SURROGATE_WIDTH = 10.0
#: Scale (mV) of the fast-sigmoid surrogate of the spike mask that `run(unroll="mask")` returns.
READOUT_SURROGATE_WIDTH = 5.0


def _with_surrogate(spikes, v, derivative):
    """`spikes` in the forward pass; in the backward pass d/dv = `derivative(v - SPIKE_INITIATION)`."""

    @jax.custom_jvp
    def surrogate(v):
        return jnp.zeros_like(v)

    @surrogate.defjvp
    def _jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return jnp.zeros_like(x), derivative(x - SPIKE_INITIATION) * dx

    return jax.lax.stop_gradient(spikes) + surrogate(v)


def transmission_spikes(spikes, v):
    """Spikes that drive synapses; surrogate: triangle of half-width 10 mV around spike initiation.

    Compact support keeps gradients of voltage losses exact while no neuron is
    within 10 mV of spike initiation.
    """
    w = NETWORK_SURROGATE_WIDTH
    return _with_surrogate(spikes, v, lambda x: jnp.maximum(0.0, 1.0 - jnp.abs(x) / w) / w)


def readout_spikes(spikes, v):
    """Spikes of the returned mask; surrogate: fast sigmoid `1 / (1 + |x| / 5 mV)^2 / 5 mV` around spike initiation.

    The long tail lets losses on spike counts, rates or channel activity reach silent neurons.
    """
    s = READOUT_SURROGATE_WIDTH
    return _with_surrogate(spikes, v, lambda x: 1.0 / (1.0 + jnp.abs(x) / s) ** 2 / s)


class BackgroundNoise(diffrax.AbstractTerm):
    """Diffusion of the Ornstein-Uhlenbeck background current: sigma sqrt(2/tau) dW on I_noise only.

    `normal` holds this step's standard normal draws (drawn a millisecond at a time,
    which is much faster than one draw per step); the Brownian increment over
    [t0, t1] is `normal * sqrt(t1 - t0)`.
    """

    scale: jax.Array  # nA / sqrt(ms), one per neuron
    normal: jax.Array

    def vf(self, t, y, args):
        return self.scale

    def contr(self, t0, t1, **kwargs):
        return self.normal * jnp.sqrt(t1 - t0)

    def prod(self, vf, control):
        zero = jnp.zeros_like(control)
        return (zero, zero, zero, zero, vf * control)


class Network(eqx.Module):
    """Parameters of one culture network as arrays (neurons indexed by gid, synapses as edge lists)."""

    a: jax.Array
    b: jax.Array
    c: jax.Array
    d: jax.Array
    pre: jax.Array  # int32 [E]
    post: jax.Array  # int32 [E]
    delay_steps: jax.Array  # int32 [E]
    is_excitatory: jax.Array  # bool [E]: AMPA with depression, else GABA_A
    projection: jax.Array  # int32 [E]: index into `weights`
    weights: jax.Array  # nS per projection
    noise_mean: jax.Array  # nA
    noise_std: jax.Array  # nA
    excitatory_neuron: jax.Array  # bool [n]: its synapses are AMPA and depress
    outgoing: jax.Array  # int32 [n, max out-degree]: edge indices per presynaptic neuron, padded with E
    buffer_length: int = eqx.field(static=True)
    num_neurons: int = eqx.field(static=True)


class State(eqx.Module):
    """The culture's dynamic state: membrane, conductances, noise current, resources, spikes in flight."""

    y: tuple  # (v mV, u, g_AMPA nS, g_GABA nS, I_noise nA), each [n]
    x: jax.Array  # release resource of each neuron's excitatory terminals, [n]
    in_flight: jax.Array  # [buffer_length, 2, n] conductance (nS) arriving per future step, AMPA/GABA_A
    pending: jax.Array  # [n] spikes of the last step not yet put into `in_flight`: x (excitatory) or 1
    step: jax.Array  # int32, steps since t = 0


class Simulator(eqx.Module):
    """The step function: pure, jit- and vmap-able."""

    model: CultureModel = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    #: Spikes per step delivered event by event; 0 = always deliver over every synapse (dense).
    #: Steps with more spikes fall back to dense delivery, so results never depend on it.
    event_capacity: int = eqx.field(static=True, default=0)
    #: Pass surrogate gradients through synaptic transmission (off by default: on S2 under strong
    #: stimulation they gave Jacobians of channel rates whose signs disagree with finite differences).
    transmission_gradients: bool = eqx.field(static=True, default=False)

    def drift(self, t, y, args):
        network, stimulus_current = args
        v, u, g_ampa, g_gaba, i_noise = y
        m = self.model
        receptors = m.receptors
        i_syn = 1e-3 * (
            g_ampa * (receptors["AMPA"].reversal_potential - v) + g_gaba * (receptors["GABA_A"].reversal_potential - v)
        )
        dv, du = m.membrane_derivatives(v, u, network.a, network.b, i_syn + i_noise + stimulus_current)
        return (
            dv,
            du,
            -g_ampa / receptors["AMPA"].time_constant,
            -g_gaba / receptors["GABA_A"].time_constant,
            (network.noise_mean - i_noise) / m.noise_time_constant,
        )

    def send(self, network: Network, in_flight, amount, sent_step):
        """Schedule the conductance (nS) of the spikes sent at `sent_step` into the ring buffer.

        `amount` is, per presynaptic neuron, its released resource x (excitatory) or 1
        (inhibitory) if it spiked, else 0.
        """
        num_edges = network.pre.shape[0]
        if num_edges == 0:
            return in_flight

        def deliver(in_flight, edges, valid):
            edge_amount = network.weights[network.projection[edges]] * amount[network.pre[edges]]
            slot = (sent_step + network.delay_steps[edges]) % network.buffer_length
            receptor = jnp.where(network.is_excitatory[edges], 0, 1)
            return in_flight.at[slot, receptor, network.post[edges]].add(jnp.where(valid, edge_amount, 0.0))

        if not self.event_capacity:
            return deliver(in_flight, jnp.arange(num_edges), True)

        # Event by event: the senders in groups of K, as many groups as this step needs (none
        # in a silent step). The buffer never passes through a conditional, which would copy it.
        k = self.event_capacity
        n = amount.shape[0]
        groups = -(-n // k)
        senders = jnp.nonzero(amount != 0, size=groups * k, fill_value=0)[0]
        count = jnp.sum(amount != 0)

        def group(i, in_flight):
            members = jax.lax.dynamic_slice_in_dim(senders, i * k, k)
            edges = network.outgoing[members]  # [K, max out-degree], padded with num_edges
            valid = (edges < num_edges) & ((i * k + jnp.arange(k)) < count)[:, None]
            return deliver(in_flight, jnp.minimum(edges, num_edges - 1).ravel(), valid.ravel())

        return jax.lax.fori_loop(0, (count + k - 1) // k, group, in_flight)

    def step(self, network: Network, state: State, stimulus_current, normal):
        """Advance by one step of `dt` ms; returns the new state and the spikes (0/1, readout surrogate) of this step.

        The spikes of the previous step are put into the delay buffer first (every
        delay is at least one step), which lets XLA update the buffer in place.
        """
        m = self.model
        dt = self.dt
        length = network.buffer_length
        in_flight = state.in_flight.at[(state.step - 1) % length].set(0.0)  # the slot read last step
        in_flight = self.send(network, in_flight, state.pending, state.step - 1)

        t0 = state.step * dt
        scale = network.noise_std * math.sqrt(2.0 / m.noise_time_constant) * jnp.ones_like(network.a)
        terms = diffrax.MultiTerm(diffrax.ODETerm(self.drift), BackgroundNoise(scale, normal))
        y, _, _, _, _ = diffrax.Euler().step(
            terms, t0, t0 + dt, state.y, (network, stimulus_current), None, made_jump=False
        )
        v, u, g_ampa, g_gaba, i_noise = y

        # Forward: exact threshold at v_peak. Backward: v's gradient is cut during the upswing and
        # the spike's gradient is taken from the approach to spike initiation.
        v = jnp.where(v >= SPIKE_INITIATION, jax.lax.stop_gradient(v), v)
        fired = (v >= m.v_peak).astype(v.dtype)
        spikes = transmission_spikes(fired, v) if self.transmission_gradients else fired
        readout = readout_spikes(fired, v)
        arriving = in_flight[state.step % length]
        g_ampa = g_ampa + arriving[0]
        g_gaba = g_gaba + arriving[1]
        # The reset carries no surrogate gradient (it would multiply gradients by (c - v) / w at every
        # spike and make them explode in strongly driven neurons); transmission does.
        v = v + fired * (network.c - v)
        u = u + fired * network.d

        # Resources recover exactly over the step, are read by the spikes sent now, then drop by U.
        x = 1.0 - (1.0 - state.x) * math.exp(-dt / m.depression_recovery)
        pending = spikes * jnp.where(network.excitatory_neuron, x, 1.0)
        x = x - spikes * jnp.where(network.excitatory_neuron, m.depression_fraction, 0.0) * x
        return State((v, u, g_ampa, g_gaba, i_noise), x, in_flight, pending, state.step + 1), readout


def _run_steps(simulator: Simulator, network: Network, state: State, stimulus, key, num_steps: int,
               steps_per_row: int, offset: int, voltage: bool = True, compact: bool = False):
    """Scan `num_steps` steps from `state`; `stimulus` is `[rows, n]` nA in 1 ms rows from this window's start.

    Noise is keyed by absolute time: the normal draws of the 1 ms row with absolute
    index r come from `fold_in(key, r)`, so a run split into several windows draws
    exactly the noise of one long run. `offset` (static) is `state.step % steps_per_row`.

    Returns `(state, spikes [steps, n], v [steps, n] mV or None)`. Static switches keep the
    per-step output small where it is not needed: `voltage=False` returns no voltage,
    `compact=True` returns spikes as booleans (not differentiable; forward runs only).
    """
    rows = stimulus.shape[0]
    n = network.num_neurons
    first_row = state.step // steps_per_row

    def segment(state, row, start, length):
        """`length` steps inside absolute noise row `first_row + row`, from step `start` of that row."""
        normals = jax.random.normal(jax.random.fold_in(key, first_row + row), (steps_per_row, n), network.a.dtype)
        normals = jax.lax.dynamic_slice_in_dim(normals, start, length)

        def body(carry, inputs):
            normal, relative_step = inputs
            stimulus_row = relative_step // steps_per_row
            current = jnp.where(stimulus_row < rows, stimulus[jnp.minimum(stimulus_row, rows - 1)], 0.0)
            v_start = carry.y[0]  # sampled at the start of the step, like brian2's StateMonitor
            carry, spikes = simulator.step(network, carry, current, normal)
            spikes = spikes.astype(jnp.bool_) if compact else spikes
            return carry, ((spikes, v_start) if voltage else (spikes,))

        relative = row * steps_per_row + start - offset + jnp.arange(length)
        return jax.lax.scan(body, state, (normals, relative))

    pieces = []
    head = min(num_steps, (steps_per_row - offset) % steps_per_row)
    if head:
        state, out = segment(state, 0, offset, head)
        pieces.append(out)
    full_rows, tail = divmod(num_steps - head, steps_per_row)
    row0 = 1 if head else 0
    if full_rows:
        state, out = jax.lax.scan(
            lambda carry, row: segment(carry, row, 0, steps_per_row), state, row0 + jnp.arange(full_rows)
        )
        pieces.append(tuple(x.reshape(-1, n) for x in out))
    if tail:
        state, out = segment(state, row0 + full_rows, 0, tail)
        pieces.append(out)
    spikes = jnp.concatenate([p[0] for p in pieces])
    v = jnp.concatenate([p[1] for p in pieces]) if voltage else None
    return state, spikes, v


_run_compiled = eqx.filter_jit(_run_steps)
_run_batched = eqx.filter_jit(
    eqx.filter_vmap(_run_steps, in_axes=(None, None, None, 0, 0, None, None, None, None, None))
)
# Copies of one culture, each from its own state (vector environments): the state is batched too.
_run_copies = eqx.filter_jit(
    eqx.filter_vmap(_run_steps, in_axes=(None, None, 0, 0, 0, None, None, None, None, None))
)


def network_arrays(lowered) -> Network:
    """Translate a `livn.models.LoweredNetwork` into the `Network` arrays (weights and noise at zero)."""
    n = lowered.num_neurons
    num_edges = lowered.num_edges
    out_degree = np.bincount(lowered.pre, minlength=n) if num_edges else np.zeros(n, np.int64)
    outgoing = np.full((n, max(1, int(out_degree.max()) if n else 1)), num_edges, np.int32)
    order = np.argsort(lowered.pre, kind="stable")
    starts = np.concatenate([[0], np.cumsum(out_degree)[:-1]])
    for i in np.flatnonzero(out_degree):
        outgoing[i, : out_degree[i]] = order[starts[i] : starts[i] + out_degree[i]]
    real = _float_dtype()
    return Network(
        a=jnp.asarray(lowered.a, real),
        b=jnp.asarray(lowered.b, real),
        c=jnp.asarray(lowered.c, real),
        d=jnp.asarray(lowered.d, real),
        pre=jnp.asarray(lowered.pre, jnp.int32),
        post=jnp.asarray(lowered.post, jnp.int32),
        delay_steps=jnp.asarray(lowered.delay_steps, jnp.int32),
        is_excitatory=jnp.asarray(lowered.receptor == 0),
        projection=jnp.asarray(lowered.projection, jnp.int32),
        weights=jnp.zeros(max(1, len(lowered.projections)), real),
        noise_mean=jnp.asarray(0.0, real),
        noise_std=jnp.asarray(0.0, real),
        excitatory_neuron=jnp.asarray(lowered.excitatory),
        outgoing=jnp.asarray(outgoing),
        buffer_length=lowered.max_delay_steps + 1 if num_edges else 2,
        num_neurons=n,
    )
