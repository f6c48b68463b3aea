"""The JAX side of the diffrax backend: the network as arrays, the state, and the compiled step.

Imported by `livn.backends.diffrax` when a backend is built, so that importing
livn never imports JAX. See that module's docstring for the order of operations
in a step, for how gradients are taken and for how plasticity is translated.

Two static branches of one step function: without plasticity (`Network.plasticity`
None) a spike's conductance `w x` is put, per target neuron, into the ring buffer
`State.in_flight` when it is sent (with plasticity too, for the non-plastic
synapses); with plasticity, the spikes of plastic synapses are kept per synapse
(`PlasticState.arrivals`, lists of the synapses arriving in each future step) and
their conductance is computed from the weight at arrival. Both keep `State.sent`,
the amount every neuron sent in each of the last `buffer_length` steps, from which
the host rebuilds what is in flight when weights or rules change
(`rebuild_in_flight`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp

from livn.backends._noise import standard_normal
from livn.models import CultureModel

def _float_dtype():
    """float64 when the user enabled `jax_enable_x64`, else float32."""
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


#: Time covered by one row of noise draws, ms (one key per absolute row, whatever the stimulus rows).
NOISE_ROW = 1.0
#: Spikes per integration step delivered event by event in forward runs (see `Simulator`).
EVENT_CAPACITY = 16
#: The same in batches of trials without plasticity. A batch runs as many delivery passes as its
#: busiest trial needs and every pass scatters a whole group for every trial, so small groups
#: waste least in the mostly silent steps of a culture (S2, 12 trials: 1.3x faster than 16).
#: The order of the additions, hence every result, does not depend on the group size.
BATCH_EVENT_CAPACITY = 1
#: Plastic arrivals handled together in one pass of the event-driven arrival loop.
ARRIVAL_CHUNK = 32

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
    weights: jax.Array  # nS per synapse [E]; plastic synapses take theirs from `PlasticState.w` instead
    noise_mean: jax.Array  # nA
    noise_std: jax.Array  # nA
    excitatory_neuron: jax.Array  # bool [n]: its synapses are AMPA and depress
    outgoing: jax.Array  # int32 [n, max out-degree]: edge indices per presynaptic neuron, padded with E
    buffer_length: int = eqx.field(static=True)
    num_neurons: int = eqx.field(static=True)
    #: The plasticity rules in force, or None (the static switch between the two step branches).
    plasticity: "Plasticity | None" = None


class Plasticity(eqx.Module):
    """`livn.models.plasticity.PlasticSynapses` as arrays, with the layout of the per-synapse arrival lists.

    Coefficients per synapse [E]: `tau_pre`, `tau_post` (ms), `w_max`, `pre_offset`, `pre_c`,
    `post_c` (nS), `pre_w`, `post_w` (1); `plastic` bool [E].
    """

    plastic: jax.Array
    tau_pre: jax.Array
    tau_post: jax.Array
    w_max: jax.Array
    pre_offset: jax.Array
    pre_w: jax.Array
    pre_c: jax.Array
    post_w: jax.Array
    post_c: jax.Array
    rank: jax.Array  # int32 [E]: position among the plastic synapses of the same sender and delay
    incoming: jax.Array  # int32 [n, max plastic in-degree]: plastic edges per target neuron, padded with E
    #: Arrivals per step that the lists hold; a step with more is handled over every synapse (exact).
    capacity: int = eqx.field(static=True)


class PlasticState(eqx.Module):
    """What plasticity adds to the dynamic state: weights, event-driven traces, spikes in flight per synapse.

    Traces are stored at their last event: `a_pre` (1) as it was right after the step
    `pre_step` (int32), and decay as exp(-(k - pre_step) dt / tau_pre) to step k; the
    same for `a_post`/`post_step`. `arrivals[slot]` lists the plastic synapses whose
    spike arrives in the step with `step % buffer_length == slot` (the first
    `arrival_count[slot]` entries; a count above the capacity means the list overflowed).
    The path over every synapse (`event_capacity=0`) neither reads nor fills the lists.
    """

    w: jax.Array  # nS [E]; meaningful on plastic synapses
    a_pre: jax.Array  # [E]
    pre_step: jax.Array  # int32 [E]
    a_post: jax.Array  # [E]
    post_step: jax.Array  # int32 [E]
    arrivals: jax.Array  # int32 [buffer_length, capacity]
    arrival_count: jax.Array  # int32 [buffer_length]
    post_done: jax.Array  # bool: the postsynaptic updates of the spikes in `State.pending` are applied


class State(eqx.Module):
    """The culture's dynamic state: membrane, conductances, noise current, resources, spikes in flight."""

    y: tuple  # (v mV, u, g_AMPA nS, g_GABA nS, I_noise nA), each [n]
    x: jax.Array  # release resource of each neuron's excitatory terminals, [n]
    in_flight: jax.Array  # [buffer_length, 2, n] conductance (nS) arriving per future step, AMPA/GABA_A
    pending: jax.Array  # [n] spikes of the last step not yet put into `in_flight`: x (excitatory) or 1
    step: jax.Array  # int32, steps since t = 0
    sent: jax.Array  # [buffer_length, n]: `pending` of the step s, in row s % buffer_length (x, 1 or 0)
    plastic: "PlasticState | None" = None  # present exactly when `Network.plasticity` is


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
    #: Name of the vmap axis of a batch of trials, or None. Event loops then run as many passes as the
    #: busiest trial needs (every trial masks what is not its own), instead of selecting every
    #: loop-carried array per pass and trial, which is how vmap runs a loop of per-trial length.
    batch_axis: str | None = eqx.field(static=True, default=None)

    def _passes(self, count):
        """Trip count of an event loop: `count`, or its maximum over the batch (see `batch_axis`)."""
        return count if self.batch_axis is None else jax.lax.pmax(count, self.batch_axis)

    def receptor_currents(self, v, g_ampa, g_gaba):
        """AMPA and GABA_A currents (nA, positive depolarising) at membrane potential `v` (mV) and
        conductances `g_ampa`, `g_gaba` (nS): `1e-3 g (E - v)` per receptor."""
        receptors = self.model.receptors
        return (1e-3 * g_ampa * (receptors["AMPA"].reversal_potential - v),
                1e-3 * g_gaba * (receptors["GABA_A"].reversal_potential - v))

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

    def send(self, network: Network, in_flight, amount, sent_step, plastic=None):
        """Schedule the spikes sent at `sent_step`; returns `(in_flight, plastic)`.

        `amount` is, per presynaptic neuron, its released resource x (excitatory) or 1
        (inhibitory) if it spiked, else 0. The conductance (nS) `w * amount` of every
        non-plastic synapse goes into the ring buffer `in_flight`, per target neuron; a
        plastic synapse (plasticity on) is appended to the arrival list of the step its
        spike arrives in, and its conductance is computed then (`arrive`). With plasticity
        on, the same neurons' spikes also act as postsynaptic spikes of `sent_step` on
        their plastic inputs (`post_spikes`), unless `plastic.post_done`.
        """
        num_edges = network.pre.shape[0]
        if num_edges == 0:
            return in_flight, plastic
        rules = network.plasticity
        length = network.buffer_length

        def deliver(in_flight, edges, valid):
            if rules is not None:
                valid = valid & ~rules.plastic[edges]
            edge_amount = network.weights[edges] * amount[network.pre[edges]]
            slot = (sent_step + network.delay_steps[edges]) % length
            receptor = jnp.where(network.is_excitatory[edges], 0, 1)
            return in_flight.at[slot, receptor, network.post[edges]].add(jnp.where(valid, edge_amount, 0.0))

        def enlist(arrivals, count, edges, valid, rank):
            """Append `edges` (where `valid`) to the lists of their arrival steps at `rank` after what is there."""
            slot = (sent_step + network.delay_steps[edges]) % length
            position = count[slot] + rank
            arrivals = arrivals.at[jnp.where(valid, slot, length), position].set(edges, mode="drop")
            return arrivals, count.at[slot].add(valid.astype(jnp.int32))

        if not self.event_capacity:
            # Over every synapse. Plastic spikes are not listed: `arrive` finds them in `sent` (the
            # backend rebuilds the lists when a state of this path becomes its own).
            in_flight = deliver(in_flight, jnp.arange(num_edges, dtype=jnp.int32), True)
            if rules is not None:
                plastic = self.post_spikes(network, plastic, amount, sent_step)
            return in_flight, plastic

        n = amount.shape[0]
        if rules is not None:
            # Sender by sender, so that the list positions of synapses arriving in the same step never collide.
            senders = jnp.nonzero(amount != 0, size=n, fill_value=0)[0]
            number = jnp.sum(amount != 0)
            post_done = plastic.post_done

            def sender(i, carry):
                in_flight, arrivals, count, w, a_post, post_step = carry
                active = i < number
                edges = network.outgoing[senders[i]]
                valid = (edges < num_edges) & active
                edges = jnp.minimum(edges, num_edges - 1)
                in_flight = deliver(in_flight, edges, valid)
                arrivals, count = enlist(arrivals, count, edges, valid & rules.plastic[edges], rules.rank[edges])
                inputs = rules.incoming[senders[i]]
                w, a_post, post_step = self._post_scatter(
                    network, plastic, (w, a_post, post_step), jnp.minimum(inputs, num_edges - 1),
                    (inputs < num_edges) & active & ~post_done, sent_step,
                )
                return in_flight, arrivals, count, w, a_post, post_step

            carry = (in_flight, plastic.arrivals, plastic.arrival_count, plastic.w, plastic.a_post, plastic.post_step)
            in_flight, arrivals, count, w, a_post, post_step = jax.lax.fori_loop(0, self._passes(number), sender,
                                                                                 carry)
            return in_flight, dataclasses.replace(plastic, arrivals=arrivals, arrival_count=count, w=w, a_post=a_post,
                                                  post_step=post_step)

        # Event by event: the senders in groups of K, in ascending order, as many groups as this
        # step needs. Each pass finds its group among the senders not yet delivered, so a silent
        # step costs only the count. The buffer never passes through a conditional, which would copy it.
        k = self.event_capacity
        waiting = amount != 0
        count = jnp.sum(waiting)

        def group(i, carry):
            in_flight, waiting = carry
            members = jnp.nonzero(waiting, size=k, fill_value=n)[0]  # the next K senders, n = none
            present = members < n
            edges = network.outgoing[jnp.minimum(members, n - 1)]  # [K, max out-degree], padded with num_edges
            valid = (edges < num_edges) & present[:, None]
            in_flight = deliver(in_flight, jnp.minimum(edges, num_edges - 1).ravel(), valid.ravel())
            return in_flight, waiting.at[members].set(False, mode="drop")

        in_flight, _ = jax.lax.fori_loop(0, self._passes((count + k - 1) // k), group, (in_flight, waiting))
        return in_flight, plastic

    # -- plasticity: arrivals and postsynaptic spikes (see `livn.models.plasticity`) ----------------------

    def _decayed(self, trace, last_step, tau, step):
        """Event-driven trace at `step`: its value after step `last_step`, times exp(-(step - last_step) dt / tau)."""
        elapsed = (step - last_step).astype(trace.dtype) * self.dt
        return trace * jnp.exp(-elapsed / tau)

    def _pre_updates(self, network, w, a_pre, pre_step, a_post, post_step, sent, step, edges=None):
        """For spikes arriving at `edges` (None: every synapse) in `step`: amount sent (x or 1), weight
        before, and new a_pre and w."""
        rules = network.plasticity
        at = (lambda a: a) if edges is None else (lambda a: a[edges])
        amount = sent[(step - at(network.delay_steps)) % network.buffer_length, at(network.pre)]
        w = at(w)
        a_pre = self._decayed(at(a_pre), at(pre_step), at(rules.tau_pre), step) + 1.0
        a_post = self._decayed(at(a_post), at(post_step), at(rules.tau_post), step)
        new_w = jnp.clip(w + at(rules.pre_offset) + (at(rules.pre_w) * w + at(rules.pre_c)) * a_post,
                         0.0, at(rules.w_max))
        return amount, w, a_pre, new_w

    def _post_updates(self, network, w, a_pre, pre_step, a_post, post_step, step, edges=None):
        """For a postsynaptic spike in `step` at `edges` (None: every synapse): new a_post and w
        (a_pre with this step's arrivals)."""
        rules = network.plasticity
        at = (lambda a: a) if edges is None else (lambda a: a[edges])
        w = at(w)
        a_pre = self._decayed(at(a_pre), at(pre_step), at(rules.tau_pre), step)
        a_post = self._decayed(at(a_post), at(post_step), at(rules.tau_post), step) + 1.0
        new_w = jnp.clip(w + (at(rules.post_w) * w + at(rules.post_c)) * a_pre, 0.0, at(rules.w_max))
        return a_post, new_w

    def _post_scatter(self, network, plastic, changed, edges, valid, step):
        """Postsynaptic spike of `step` at `edges` (where `valid`); returns the new `changed` (w, a_post, post_step)."""
        w, a_post, post_step = changed
        new_a_post, new_w = self._post_updates(network, w, plastic.a_pre, plastic.pre_step, a_post, post_step, step,
                                               edges)
        target = jnp.where(valid, edges, network.pre.shape[0])  # out of range: dropped
        new_step = jnp.maximum(post_step[edges], step)  # = step; read first, so that XLA updates in place
        return (w.at[target].set(new_w, mode="drop"), a_post.at[target].set(new_a_post, mode="drop"),
                post_step.at[target].set(new_step, mode="drop"))

    def post_spikes(self, network: Network, plastic: PlasticState, amount, step):
        """Postsynaptic spikes of `step` (neurons where `amount` != 0): a_post and w of their plastic inputs.

        Does nothing if `plastic.post_done` (they were applied already). Returns the plastic state.
        """
        rules = network.plasticity
        num_edges = network.pre.shape[0]
        spiked = (jax.lax.stop_gradient(amount) != 0) & ~plastic.post_done
        if num_edges == 0:
            return plastic
        if not self.event_capacity:
            spiking = rules.plastic & spiked[network.post]
            a_post, new_w = self._post_updates(network, plastic.w, plastic.a_pre, plastic.pre_step, plastic.a_post,
                                               plastic.post_step, step)
            return dataclasses.replace(plastic, w=jnp.where(spiking, new_w, plastic.w),
                                       a_post=jnp.where(spiking, a_post, plastic.a_post),
                                       post_step=jnp.where(spiking, step, plastic.post_step))
        k = self.event_capacity
        n = amount.shape[0]
        posts = jnp.nonzero(spiked, size=-(-n // k) * k, fill_value=0)[0]
        count = jnp.sum(spiked)

        def group(i, changed):
            members = jax.lax.dynamic_slice_in_dim(posts, i * k, k)
            edges = rules.incoming[members]  # [K, max plastic in-degree], padded with num_edges
            valid = (edges < num_edges) & ((i * k + jnp.arange(k)) < count)[:, None]
            return self._post_scatter(network, plastic, changed, jnp.minimum(edges, num_edges - 1).ravel(),
                                      valid.ravel(), step)

        w, a_post, post_step = jax.lax.fori_loop(0, self._passes((count + k - 1) // k), group,
                                                 (plastic.w, plastic.a_post, plastic.post_step))
        return dataclasses.replace(plastic, w=w, a_post=a_post, post_step=post_step)

    def _deliver_now(self, network, in_flight, slot, edges, increment):
        """Add conductance `increment` (nS) of `edges` (None: every synapse) to the ring buffer's slot read
        in this step."""
        excitatory, post = (network.is_excitatory, network.post) if edges is None else \
            (network.is_excitatory[edges], network.post[edges])
        return in_flight.at[slot, jnp.where(excitatory, 0, 1), post].add(increment)

    def _arrive_dense(self, network, a_post, post_step, carry, sent, step, enabled=True):
        """Every plastic synapse whose spike arrives in `step`, found from `sent` (differentiable in w).

        `carry` is `(in_flight, w, a_pre, pre_step)`, the arrays that arrivals change; nothing
        changes unless `enabled`.
        """
        in_flight, w, a_pre, pre_step = carry
        amount, w_before, new_a_pre, new_w = self._pre_updates(network, w, a_pre, pre_step, a_post, post_step, sent,
                                                               step)
        arriving = network.plasticity.plastic & (jax.lax.stop_gradient(amount) != 0) & enabled
        increment = jnp.where(arriving, w_before * amount, 0.0)
        in_flight = self._deliver_now(network, in_flight, step % network.buffer_length, None, increment)
        return (in_flight, jnp.where(arriving, new_w, w), jnp.where(arriving, new_a_pre, a_pre),
                jnp.where(arriving, step, pre_step))

    def arrive(self, network: Network, plastic: PlasticState, in_flight, sent, step):
        """Spikes of plastic synapses arriving in `step`: conductance `w x` (or `w`), with w before the update,
        into the ring buffer's slot that this step reads; then a_pre and w (see `livn.models.plasticity`).

        Called at the start of the step (after the previous step's postsynaptic updates): what
        these updates read (a_post, w, `sent`) does not change between there and the threshold.
        Returns `(in_flight, plastic)`. The loops carry only the arrays they change, so that
        XLA updates them in place.
        """
        rules = network.plasticity
        num_edges = network.pre.shape[0]
        if num_edges == 0:
            return in_flight, plastic
        slot = step % network.buffer_length
        count = plastic.arrival_count[slot]
        carry = (in_flight, plastic.w, plastic.a_pre, plastic.pre_step)
        if not self.event_capacity:
            carry = self._arrive_dense(network, plastic.a_post, plastic.post_step, carry, sent, step)
        else:
            chunk = min(ARRIVAL_CHUNK, rules.capacity)
            listed = plastic.arrivals[slot]

            overflow = count > rules.capacity  # the list lost entries: look at every synapse (rare, exact)

            def arrivals(i, carry):
                in_flight, w, a_pre, pre_step = carry
                edges = jax.lax.dynamic_slice_in_dim(listed, i * chunk, chunk)
                valid = (i * chunk + jnp.arange(chunk) < count) & ~overflow
                amount, w_before, new_a_pre, new_w = self._pre_updates(
                    network, w, a_pre, pre_step, plastic.a_post, plastic.post_step, sent, step, edges
                )
                in_flight = self._deliver_now(network, in_flight, slot, edges, jnp.where(valid, w_before * amount, 0.0))
                target = jnp.where(valid, edges, num_edges)  # out of range: dropped
                new_step = jnp.maximum(pre_step[edges], step)  # = step; read first, so that XLA updates in place
                return (in_flight, w.at[target].set(new_w, mode="drop"),
                        a_pre.at[target].set(new_a_pre, mode="drop"), pre_step.at[target].set(new_step, mode="drop"))

            def every_synapse(_, carry):
                # The barrier ties the loop's invariant inputs to its carry: otherwise XLA hoists the dense
                # work out of this loop and does it in every step, overflow or not.
                carry, (net, a_post, post_step, sent_, step_) = jax.lax.optimization_barrier(
                    (carry, (network, plastic.a_post, plastic.post_step, sent, step))
                )
                return self._arrive_dense(net, a_post, post_step, carry, sent_, step_, enabled=overflow)

            passes = jnp.where(overflow, 0, (count + chunk - 1) // chunk)
            carry = jax.lax.fori_loop(0, self._passes(passes), arrivals, carry)
            carry = jax.lax.fori_loop(0, self._passes(overflow.astype(jnp.int32)), every_synapse, carry)
        in_flight, w, a_pre, pre_step = carry
        return in_flight, dataclasses.replace(plastic, w=w, a_pre=a_pre, pre_step=pre_step,
                                              arrival_count=plastic.arrival_count.at[slot].set(0))

    def finish(self, network: Network, state: State) -> State:
        """The state with the postsynaptic updates of its last step's spikes applied (`post_done`).

        A step applies the postsynaptic updates of the previous step's spikes together with
        sending them (one pass over the neurons that spiked); a run ends with this, so that
        the weights it returns are complete.
        """
        if state.plastic is None:
            return state
        plastic = self.post_spikes(network, state.plastic, state.pending, state.step - 1)
        return dataclasses.replace(state, plastic=dataclasses.replace(plastic, post_done=jnp.asarray(True)))

    def step(self, network: Network, state: State, stimulus_current, normal, ring_step=None):
        """Advance by one step of `dt` ms; returns the new state and the spikes (0/1, readout surrogate) of this step.

        The spikes of the previous step are put into the delay buffer first (every
        delay is at least one step), which lets XLA update the buffer in place. With
        plasticity on, their postsynaptic updates are applied then too (they belong to the
        previous step, after its arrivals, as in brian2), followed by this step's arrivals.

        `ring_step`: this step's row in the ring buffers `in_flight` and `sent` (modulo their
        length), when a run has rotated them to its window (`_run_steps`); default `state.step`.
        A row index shared by every trial of a batch lets XLA write the buffers of all trials
        at once instead of trial by trial. Without plasticity only: the plastic state keeps
        absolute steps.
        """
        m = self.model
        dt = self.dt
        length = network.buffer_length
        if ring_step is not None and state.plastic is not None:
            raise ValueError("ring_step is for runs without plasticity")
        ring = state.step if ring_step is None else ring_step
        previous = (ring - 1) % length
        in_flight = state.in_flight.at[previous].set(0.0)  # the slot read last step
        sent = state.sent.at[previous].set(state.pending)
        in_flight, plastic = self.send(network, in_flight, state.pending, ring - 1, state.plastic)
        if plastic is not None:  # the plastic synapses' arrivals of this step (before its postsynaptic spikes)
            in_flight, plastic = self.arrive(network, plastic, in_flight, sent, state.step)
            plastic = dataclasses.replace(plastic, post_done=jnp.asarray(False))

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
        arriving = in_flight[ring % length]
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
        return State((v, u, g_ampa, g_gaba, i_noise), x, in_flight, pending, state.step + 1, sent, plastic), readout


def _run_steps(simulator: Simulator, network: Network, state: State, stimulus, key, num_steps: int,
               steps_per_row: int, offset: int, voltage: bool = True, compact: bool = False, currents=None,
               rotate: bool = True):
    """Scan `num_steps` steps from `state`; `stimulus` is `[rows, n]` nA, rows of `steps_per_row` steps
    (static) from this window's start: row k is applied in steps [k, k + 1) * `steps_per_row` of the window.

    Noise is keyed by absolute time: the normal draws of the `NOISE_ROW` (1 ms) with absolute
    index r come from `fold_in(key, r)`, so a run split into several windows draws exactly the
    noise of one long run, whatever its stimulus rows. `offset` (static) is
    `state.step % noise_row_steps(simulator.dt)`, the window's start within its noise row.

    Returns `(state, spikes [steps, n], v [steps, n] mV or None)`. Static switches keep the
    per-step output small where it is not needed: `voltage=False` returns no voltage,
    `compact=True` returns spikes as booleans (not differentiable; forward runs only).
    `currents`: None, or `(gids, every)` (int32 array, static int) to record the AMPA and GABA_A
    currents (nA) of `gids` at the start of every step whose absolute index is a multiple of
    `every` (the voltage's grid); a fourth output `(ampa, gaba)`, each
    `[ceil(num_steps / every), len(gids)]`, holds them in order (the first
    `sampled_steps(start, num_steps, every)` rows are filled). Forward runs only.
    `rotate` (static; without plasticity): index the ring buffers by the window-relative step
    (see `Simulator.step`'s `ring_step`); the same arithmetic as `rotate=False`, faster in batches.
    """
    rows = stimulus.shape[0]
    n = network.num_neurons
    noise_steps = noise_row_steps(simulator.dt)
    first_row = state.step // noise_steps

    samples = None
    if currents is not None:
        gids, every = currents
        capacity = -(-num_steps // every)
        first_sample = -(-state.step // every)  # index on the absolute grid of the window's first sample
        real = network.a.dtype
        samples = (jnp.zeros((capacity, gids.shape[0]), real), jnp.zeros((capacity, gids.shape[0]), real))

    def record(samples, state):
        """Write this step's starting currents into their sample row, if the step is on the sampling grid."""
        v, _, g_ampa, g_gaba, _ = state.y
        ampa, gaba = simulator.receptor_currents(v[gids], g_ampa[gids], g_gaba[gids])
        row = jnp.where(state.step % every == 0, state.step // every - first_sample, capacity)  # else dropped
        return samples[0].at[row].set(ampa, mode="drop"), samples[1].at[row].set(gaba, mode="drop")

    def draws(row, count):
        """The normal draws of `count` noise rows from window row `row`: `[count, noise_steps * n]`, each
        row from its own key `fold_in(key, first_row + row + k)`.

        One row's steps and neurons stay on one axis: XLA fuses the generator into the shape of its
        consumer, and with a network's few neurons innermost it vectorises badly (S1: five times
        slower)."""
        absolute = first_row + row + jnp.arange(count)
        return jax.vmap(lambda r: standard_normal(jax.random.fold_in(key, r), (noise_steps * n,),
                                                  network.a.dtype))(absolute)

    def body(carry, inputs):
        state, samples = carry
        normal, relative_step = inputs
        stimulus_row = relative_step // steps_per_row
        current = jnp.where(stimulus_row < rows, stimulus[jnp.minimum(stimulus_row, rows - 1)], 0.0)
        v_start = state.y[0]  # sampled at the start of the step, like brian2's StateMonitor
        if samples is not None:
            samples = record(samples, state)
        state, spikes = simulator.step(network, state, current, normal, relative_step if rotated else None)
        spikes = spikes.astype(jnp.bool_) if compact else spikes
        return (state, samples), ((spikes, v_start) if voltage else (spikes,))

    def steps(carry, normals, first):
        """Scan the steps that take `normals` (one row per step), the first being window step `first`."""
        return jax.lax.scan(body, carry, (normals, first + jnp.arange(normals.shape[0], dtype=jnp.int32)))

    def whole_rows(carry, row, count):
        """`count` whole noise rows from window row `row`, their draws made together."""
        normals = draws(row, count)

        def one_row(carry, k):
            return steps(carry, normals[k].reshape(noise_steps, n), (row + k) * noise_steps - offset)

        carry, out = jax.lax.scan(one_row, carry, jnp.arange(count))
        return carry, tuple(x.reshape(-1, n) for x in out)

    # Ring buffers rotated to the window: row j holds the slot of step (window start + j), so that the
    # step index into them is the window-relative step, the same for every trial of a batch.
    rotated = rotate and network.plasticity is None
    if rotated:
        shift = state.step % network.buffer_length
        state = _rotate_rings(state, shift, network.buffer_length)

    carry = (state, samples)
    pieces = []
    head = min(num_steps, (noise_steps - offset) % noise_steps)
    if head:  # the rest of the noise row the window starts in
        carry, out = steps(carry, jax.lax.dynamic_slice_in_dim(draws(0, 1).reshape(noise_steps, n), offset, head), 0)
        pieces.append(out)
    full_rows, tail = divmod(num_steps - head, noise_steps)
    row0 = 1 if head else 0
    chunk = noise_chunk_rows(noise_steps, n)
    chunks, rest = divmod(full_rows, chunk)
    if chunks:  # whole rows, `chunk` rows' draws at a time
        carry, out = jax.lax.scan(lambda carry, c: whole_rows(carry, row0 + c * chunk, chunk), carry,
                                  jnp.arange(chunks))
        pieces.append(tuple(x.reshape(-1, n) for x in out))
    if rest:
        carry, out = whole_rows(carry, row0 + chunks * chunk, rest)
        pieces.append(out)
    if tail:
        row = row0 + full_rows
        carry, out = steps(carry, draws(row, 1).reshape(noise_steps, n)[:tail], row * noise_steps - offset)
        pieces.append(out)
    state, samples = carry
    if rotated:
        state = _rotate_rings(state, -shift, network.buffer_length)
    spikes = jnp.concatenate([p[0] for p in pieces])
    v = jnp.concatenate([p[1] for p in pieces]) if voltage else None
    if currents is None:
        return simulator.finish(network, state), spikes, v
    return simulator.finish(network, state), spikes, v, samples


def _rotate_rings(state: State, shift, length: int) -> State:
    """The state with rows `(shift + j) % length` of `in_flight` and `sent` moved to row j."""
    rows = (shift + jnp.arange(length)) % length
    return dataclasses.replace(state, in_flight=state.in_flight[rows], sent=state.sent[rows])


#: Normal draws (per trial) made together before the steps that use them: whole noise rows, as many
#: as fit, at most `NOISE_CHUNK_ROWS`. Drawing 110 numbers per row and trial one row at a time cost
#: S1 most of its step; drawn in chunks XLA vectorises the generator.
NOISE_CHUNK_DRAWS = 2**16
NOISE_CHUNK_ROWS = 64


def noise_chunk_rows(noise_steps: int, num_neurons: int) -> int:
    """Noise rows drawn together (see `NOISE_CHUNK_DRAWS`): S1 and S2 64, S3 6, S4 1."""
    return max(1, min(NOISE_CHUNK_ROWS, NOISE_CHUNK_DRAWS // (noise_steps * max(1, num_neurons))))


def noise_row_steps(dt: float) -> int:
    """Integration steps (of `dt` ms) per row of noise draws (`NOISE_ROW`)."""
    return int(round(NOISE_ROW / dt))


def sampled_steps(start: int, num_steps: int, every: int) -> int:
    """How many of the steps [start, start + num_steps) lie on the grid of multiples of `every`."""
    return len(range((-start) % every, num_steps, every))


#: Name of the vmap axis of batched trials and copies (see `Simulator.batch_axis`).
TRIALS = "trials"


def _vmapped(state_axis):
    """`_run_steps` over a batch of trials (stimulus and key batched; the state too if `state_axis` is 0)."""

    def run(simulator, network, state, stimulus, key, *static):
        simulator = dataclasses.replace(simulator, batch_axis=TRIALS)
        if simulator.event_capacity and network.plasticity is None:
            simulator = dataclasses.replace(simulator, event_capacity=BATCH_EVENT_CAPACITY)
        run_one = eqx.filter_vmap(_run_steps, in_axes=(None, None, state_axis, 0, 0) + (None,) * len(static),
                                  axis_name=TRIALS)
        return run_one(simulator, network, state, stimulus, key, *static)

    return eqx.filter_jit(run)


_run_compiled = eqx.filter_jit(_run_steps)
_run_batched = _vmapped(None)
# Copies of one culture, each from its own state (vector environments): the state is batched too.
_run_copies = _vmapped(0)


def network_arrays(lowered) -> Network:
    """Translate a `livn.models.LoweredNetwork` into the `Network` arrays (weights and noise at zero, no plasticity)."""
    n = lowered.num_neurons
    num_edges = lowered.num_edges
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
        weights=jnp.zeros(num_edges, real),
        noise_mean=jnp.asarray(0.0, real),
        noise_std=jnp.asarray(0.0, real),
        excitatory_neuron=jnp.asarray(lowered.excitatory),
        outgoing=jnp.asarray(_edge_table(lowered.pre, n, num_edges)),
        buffer_length=buffer_length(lowered),
        num_neurons=n,
    )


def buffer_length(lowered) -> int:
    """Slots of the ring buffers: the longest delay plus one (2 without synapses)."""
    return lowered.max_delay_steps + 1 if lowered.num_edges else 2


def _edge_table(neuron_of_edge, n: int, num_edges: int, edges=None) -> np.ndarray:
    """int32 [n, max degree]: per neuron, the `edges` (default: all) whose `neuron_of_edge` it is, padded with E."""
    edges = np.arange(len(neuron_of_edge)) if edges is None else np.asarray(edges)
    of = np.asarray(neuron_of_edge)[edges]
    degree = np.bincount(of, minlength=n) if len(edges) else np.zeros(n, np.int64)
    table = np.full((n, max(1, int(degree.max()) if n else 1)), num_edges, np.int32)
    order = np.argsort(of, kind="stable")
    starts = np.concatenate([[0], np.cumsum(degree)[:-1]]).astype(np.int64)
    for i in np.flatnonzero(degree):
        table[i, : degree[i]] = edges[order[starts[i] : starts[i] + degree[i]]]
    return table


def arrival_capacity(lowered, plastic: np.ndarray) -> int:
    """Default length of each step's arrival list: 8 times the largest plastic out-degree (at least 256),
    at most the number of plastic synapses (which can never overflow), a multiple of `ARRIVAL_CHUNK`."""
    count = int(plastic.sum())
    out_degree = np.bincount(np.asarray(lowered.pre)[plastic], minlength=lowered.num_neurons) if count else [0]
    wanted = min(count, max(256, 8 * int(np.max(out_degree))))
    return max(1, -(-wanted // ARRIVAL_CHUNK)) * ARRIVAL_CHUNK


def plasticity_arrays(lowered, synapses, capacity: int | None = None) -> Plasticity:
    """Translate `livn.models.plasticity.PlasticSynapses` on `lowered` into `Plasticity` arrays.

    `capacity`: arrivals per step the lists hold (a multiple of `ARRIVAL_CHUNK`; default `arrival_capacity`).
    """
    real = _float_dtype()
    n, num_edges = lowered.num_neurons, lowered.num_edges
    plastic = np.asarray(synapses.plastic, bool)
    pre, delay = np.asarray(lowered.pre), np.asarray(lowered.delay_steps)
    # rank among the plastic synapses of one sender and one delay, in edge order (the order of `outgoing`)
    rank = np.zeros(num_edges, np.int32)
    which = np.flatnonzero(plastic)
    if len(which):
        order = which[np.lexsort((which, delay[which], pre[which]))]
        key = np.stack([pre[order], delay[order]], axis=1)
        new_group = np.concatenate([[True], np.any(key[1:] != key[:-1], axis=1)])
        first = np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
        rank[order] = np.arange(len(order)) - first
    capacity = arrival_capacity(lowered, plastic) if capacity is None else int(capacity)
    coefficients = {key: jnp.asarray(getattr(synapses, key), real) for key in
                    ("tau_pre", "tau_post", "w_max", "pre_offset", "pre_w", "pre_c", "post_w", "post_c")}
    return Plasticity(
        plastic=jnp.asarray(plastic),
        rank=jnp.asarray(rank),
        incoming=jnp.asarray(_edge_table(lowered.post, n, num_edges, which)),
        capacity=capacity,
        **coefficients,
    )


def rebuild_in_flight(lowered, sent: np.ndarray, step: int, weights: np.ndarray, plastic: np.ndarray | None,
                      capacity: int):
    """What is in flight at `step`, recomputed on the host from `State.sent` (numpy, float64).

    Every spike sent at step s <= step - 2 whose delay ends at or after `step` is still in
    flight (those of step - 1 are still `pending`). Non-plastic synapses (all when `plastic`
    is None) contribute `weights * amount` nS to the ring buffer; plastic ones are listed.

    **Returns** `(in_flight [L, 2, n], arrivals [L, capacity] int32, arrival_count [L] int32)`.
    """
    length, n = sent.shape
    in_flight = np.zeros((length, 2, n))
    arrivals = np.zeros((length, capacity), np.int32)
    pre, post = np.asarray(lowered.pre), np.asarray(lowered.post)
    delay, receptor = np.asarray(lowered.delay_steps), np.asarray(lowered.receptor)
    # every (send step, sender) still in the buffer, then every synapse of those senders
    ages = np.arange(1, length)
    sent_steps = step - 1 - ages
    rows, senders = np.nonzero(sent[sent_steps[sent_steps >= 0] % length])
    sent_steps, amounts = sent_steps[rows], sent[sent_steps[rows] % length, senders]
    order = np.argsort(pre, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=n))]).astype(np.int64)
    degree = starts[senders + 1] - starts[senders]
    first = np.repeat(starts[senders], degree)
    offset = np.arange(int(degree.sum())) - np.repeat(np.cumsum(degree) - degree, degree)
    edges = order[first + offset]
    sent_steps, amounts = np.repeat(sent_steps, degree), np.repeat(amounts, degree)
    arrival = sent_steps + delay[edges]
    keep = arrival >= step
    edges, slots, amounts = edges[keep], arrival[keep] % length, amounts[keep]
    listed = np.zeros(len(edges), bool) if plastic is None else np.asarray(plastic)[edges]
    fixed = ~listed
    np.add.at(in_flight, (slots[fixed], receptor[edges[fixed]], post[edges[fixed]]),
              np.asarray(weights)[edges[fixed]] * amounts[fixed])
    edges, slots = edges[listed], slots[listed]
    by_slot = np.argsort(slots, kind="stable")
    edges, slots = edges[by_slot], slots[by_slot]
    position = np.arange(len(slots)) - np.searchsorted(slots, slots, side="left")
    fits = position < capacity
    arrivals[slots[fits], position[fits]] = edges[fits]
    count = np.bincount(slots, minlength=length).astype(np.int32)
    return in_flight, arrivals, count
