"""JAX translation of `livn.models.CultureModel`, integrated with diffrax: differentiable and batched.

Each integration step of `dt` ms does, in the order brian2 uses, so that noise-free
runs agree spike for spike with the brian2 backend:

1. one diffrax solver step (Euler-Maruyama) of the membrane, conductance and
   background-current equations, the electrode current held over the step;
2. threshold: a neuron spikes when v >= v_peak;
3. conductance increments whose axonal delay ends in this step arrive;
4. reset of the neurons that spiked (v <- c, u <- u + d);
5. the new spikes are sent: each synapse schedules `w * x_pre` (excitatory,
   depressing) or `w` (inhibitory) into a ring buffer `delay` steps ahead, and
   the release resource x of each excitatory neuron that spiked drops by U.

Gradients: everything is differentiable except the spike itself; forward values
are always exact (threshold at v_peak). The Izhikevich upswing is an explosive
instability, so in the backward pass the gradient of v is cut above spike
initiation (-40 mV) and spikes take surrogate derivatives centred there: a
triangle of half-width 10 mV for synaptic transmission (compact, so gradients
of voltage losses are exact, up to the solver, while no neuron is within 10 mV
of initiation) and a fast sigmoid of scale 5 mV for the spike mask returned by
`run(unroll="mask")` (a long tail, so losses on spike counts, rates or channel
activity also reach silent neurons). Resets pass no gradient. Synaptic
transmission passes none either unless `DiffraxBackend(...,
transmission_gradients=True)`: on S2 driven at 10 uA per channel, the
transmission surrogate produced channel-rate Jacobians with spurious negative
network terms where finite differences show none, while the readout-only
gradient matched the finite differences' pattern (`benchmarks/gradients.py`).
"""

from __future__ import annotations

import math

import numpy as np

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp

from livn._arrays import is_traced
from livn.errors import InvalidArgumentError
from livn.models import CultureModel, projection_name
from livn.models.culture import RECEPTOR_OF_POPULATION
from livn.types import RunResult

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


class DiffraxBackend:
    """A culture network in JAX/diffrax (CPU or GPU, as JAX finds it)."""

    name = "diffrax"

    def __init__(self, system, model: CultureModel, seed: int, transmission_gradients: bool = False):
        self.system = system
        self.model = model
        self.seed = int(seed)
        self.dt = model.dt
        self.num_neurons = n = system.num_neurons
        params = model.neuron_parameters(system.population_ranges, self.seed)
        self._projection_names = []
        pre, post, delays, excitatory, index = [], [], [], [], []
        for (p, q), projection in system.projections.items():
            if len(projection.source) == 0:
                continue
            self._projection_names.append(projection_name(p, q))
            pre.append(np.asarray(projection.source))
            post.append(np.asarray(projection.target))
            steps = np.maximum(1, np.round(model.axonal_delay(projection.distance) / self.dt)).astype(np.int32)
            delays.append(steps)
            excitatory.append(np.full(len(steps), model.receptor_of(p) == "AMPA"))
            index.append(np.full(len(steps), len(self._projection_names) - 1))
        cat = lambda parts, dtype: jnp.asarray(np.concatenate(parts) if parts else np.zeros(0), dtype=dtype)  # noqa: E731
        delay_steps = cat(delays, jnp.int32)
        excitatory_neuron = np.zeros(n, bool)
        for population, (start, count) in system.population_ranges.items():
            excitatory_neuron[start : start + count] = population in RECEPTOR_OF_POPULATION and (
                model.receptor_of(population) == "AMPA"
            )
        pre_all = np.concatenate(pre) if pre else np.zeros(0, np.int64)
        num_edges = len(pre_all)
        out_degree = np.bincount(pre_all, minlength=n) if num_edges else np.zeros(n, np.int64)
        outgoing = np.full((n, max(1, int(out_degree.max()) if n else 1)), num_edges, np.int32)
        order = np.argsort(pre_all, kind="stable")
        starts = np.concatenate([[0], np.cumsum(out_degree)[:-1]])
        for i in np.flatnonzero(out_degree):
            outgoing[i, : out_degree[i]] = order[starts[i] : starts[i] + out_degree[i]]
        self.network = Network(
            a=jnp.asarray(params["a"], _float_dtype()),
            b=jnp.asarray(params["b"], _float_dtype()),
            c=jnp.asarray(params["c"], _float_dtype()),
            d=jnp.asarray(params["d"], _float_dtype()),
            pre=cat(pre, jnp.int32),
            post=cat(post, jnp.int32),
            delay_steps=delay_steps,
            is_excitatory=cat(excitatory, bool),
            projection=cat(index, jnp.int32),
            weights=jnp.zeros(max(1, len(self._projection_names)), _float_dtype()),
            noise_mean=jnp.asarray(0.0, _float_dtype()),
            noise_std=jnp.asarray(0.0, _float_dtype()),
            excitatory_neuron=jnp.asarray(excitatory_neuron),
            outgoing=jnp.asarray(outgoing),
            buffer_length=int(delay_steps.max()) + 1 if delay_steps.size else 2,
            num_neurons=n,
        )
        self.simulator = Simulator(model, self.dt, transmission_gradients=bool(transmission_gradients))
        self.event_simulator = Simulator(model, self.dt, event_capacity=EVENT_CAPACITY if n > EVENT_CAPACITY else 0)
        v_rest, u_rest = model.initial_state(params)
        self._initial_y = tuple(
            jnp.asarray(a, _float_dtype()) for a in (v_rest, u_rest, np.zeros(n), np.zeros(n), np.zeros(n))
        )
        self.run_key = jax.random.PRNGKey(self.seed)
        self._recording_spikes = False
        self._voltage = None  # (gids, sampling dt)
        self.clear()

    # -- parameters -------------------------------------------------------------------

    @property
    def t(self) -> float:
        return float(self.state.step) * self.dt

    def set_weights(self, weights: dict) -> None:
        w = np.array(self.network.weights)
        for key, value in weights.items():
            if key in self._projection_names:
                w[self._projection_names.index(key)] = value
        self.network = eqx.tree_at(lambda net: net.weights, self.network, jnp.asarray(w, _float_dtype()))

    def set_noise(self, mean: float, std: float) -> None:
        self.network = eqx.tree_at(
            lambda net: (net.noise_mean, net.noise_std), self.network,
            (jnp.asarray(mean, _float_dtype()), jnp.asarray(std, _float_dtype())),
        )
        if self.t == 0:
            y = self.state.y
            self.state = eqx.tree_at(lambda s: s.y, self.state, (*y[:4], jnp.full_like(y[4], mean)))

    def record_spikes(self) -> None:
        self._recording_spikes = True

    def record_voltage(self, gids: np.ndarray, dt: float) -> None:
        self._voltage = (np.asarray(gids, dtype=np.int64), int(round(dt / self.dt)))

    # -- running -------------------------------------------------------------------------

    def clear(self) -> None:
        self.state = self._initial_state()

    def _initial_state(self) -> State:
        """The state at t = 0: resting membrane, no conductance, full resources, nothing in flight."""
        n = self.num_neurons
        return State(
            y=(*self._initial_y[:4], jnp.full((n,), self.network.noise_mean, _float_dtype())),
            x=jnp.ones((n,), _float_dtype()),
            in_flight=jnp.zeros((self.network.buffer_length, 2, n), _float_dtype()),
            pending=jnp.zeros((n,), _float_dtype()),
            step=jnp.asarray(0, jnp.int32),
        )

    def simulate(self, duration: float, stimulus=None, key=None, events: bool = True, voltage: bool = True):
        """Run from the current state; returns (final state(s), spikes [.., steps, n], v [.., steps, n] or None).

        `stimulus` is `[T, n]` or `[B, T, n]` nA (1 ms rows) as a numpy or JAX array.
        `key` seeds the noise (default: `run_key`, so that consecutive windows continue
        one noise stream); with a batch it is one key for all trials, split per trial,
        or `[B, 2]` keys. `events=True` delivers spikes event by event and returns them as
        booleans (a forward run); `events=False` delivers over every synapse and returns
        the differentiable float spike mask. `voltage=False` returns no voltage (less
        memory per step). Pure: the backend's own state is not changed.
        """
        num_steps = int(round(duration / self.dt))
        steps_per_row = int(round(1.0 / self.dt))
        offset = int(self.state.step) % steps_per_row
        if key is None:
            key = self.run_key
        if stimulus is None:
            stimulus = jnp.zeros((1, self.num_neurons), _float_dtype())
        stimulus = jnp.asarray(stimulus, _float_dtype())
        simulator = self.event_simulator if events else self.simulator
        args = (num_steps, steps_per_row, offset, voltage, events)
        if stimulus.ndim == 3:
            keys = key if jnp.ndim(key) == 2 else jax.random.split(key, stimulus.shape[0])
            return _run_batched(simulator, self.network, self.state, stimulus, keys, *args)
        return _run_compiled(simulator, self.network, self.state, stimulus, key, *args)

    def run(self, duration: float, stimulus=None, key=None, unroll: str | None = None):
        """Advance by `duration` ms (see `Env.run`).

        `unroll=None` returns a `RunResult` of numpy arrays and advances the state.
        `unroll="mask"` returns `(mask [.., n, steps], t [steps] ms, gids, v [.., n, steps] mV)` as
        JAX arrays, differentiable; it advances the state only when called outside a JAX transformation
        with a single (unbatched) stimulus.
        """
        # Dense delivery in mask mode, so surrogate gradients also reach neurons that did not spike.
        mask = unroll == "mask"
        final, spikes, v = self.simulate(duration, stimulus, key, events=not mask,
                                         voltage=mask or self._voltage is not None)
        batched = spikes.ndim == 3
        if not is_traced(spikes) and not batched:
            self.state = final
        num_steps = spikes.shape[-2]
        if unroll == "mask":
            t = jnp.arange(num_steps) * self.dt
            gids = jnp.arange(self.num_neurons)
            return jnp.swapaxes(spikes, -1, -2), t, gids, jnp.swapaxes(v, -1, -2)
        if batched:
            return self._results(spikes, v)
        return self._result(spikes, v)

    # -- copies of the culture (batched vector environments) ------------------------------

    def initial_states(self, copies: int) -> State:
        """`copies` states at t = 0 stacked on a leading axis (what `clear` sets, once per copy)."""
        return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (copies, *leaf.shape)), self._initial_state())

    @staticmethod
    def select_copies(which, states_if_true: State, states_if_false: State) -> State:
        """Per copy, the state from `states_if_true` where `which` [B] is True, else from `states_if_false`."""
        which = jnp.asarray(which, bool)
        return jax.tree.map(
            lambda a, b: jnp.where(which.reshape(-1, *([1] * (a.ndim - 1))), a, b), states_if_true, states_if_false
        )

    def run_copies(self, duration: float, states: State, stimulus, keys):
        """Advance B copies of this culture by `duration` ms, each from its own state, in one compiled call.

        `stimulus` is `[B, T, n]` nA (1 ms rows); `keys` `[B, 2]` noise keys (copy b with key k
        draws exactly the noise of a single run with `key=k`), or None for `run_key` in every
        copy. The copies' steps must agree modulo one stimulus row (they do when every window
        is a whole number of ms).
        Returns `(list of B RunResult, new states)`; the backend's own state is not changed.
        """
        num_steps = int(round(duration / self.dt))
        steps_per_row = int(round(1.0 / self.dt))
        offsets = np.unique(np.asarray(states.step) % steps_per_row)
        if len(offsets) != 1:
            raise InvalidArgumentError("the copies' clocks disagree within a 1 ms stimulus row; use whole-ms windows")
        stimulus = jnp.asarray(stimulus, _float_dtype())
        count = stimulus.shape[0]
        keys = jnp.broadcast_to(self.run_key, (count, *self.run_key.shape)) if keys is None else jnp.asarray(keys)
        final, spikes, v = _run_copies(
            self.event_simulator, self.network, states, stimulus, keys, num_steps, steps_per_row, int(offsets[0]),
            self._voltage is not None, True,
        )
        return self._results(spikes, v), final

    def _results(self, spikes, v) -> list[RunResult]:
        """One `RunResult` per trial of batched outputs `[B, steps, n]` (v may be None)."""
        spikes = np.asarray(spikes)  # one transfer, not one JAX slice per trial
        v = [None] * len(spikes) if v is None else np.asarray(v)
        return [self._result(spikes[b], v[b]) for b in range(len(spikes))]

    def _result(self, spikes, v) -> RunResult:
        it = t = iv = volt = None
        if self._recording_spikes:
            steps, gids = np.nonzero(np.asarray(spikes))
            order = np.lexsort((gids, steps))
            # a spike detected in step k is stamped with the step's start time k dt, as brian2 does
            it = gids[order].astype(np.int64)
            t = np.round(steps[order] * self.dt, 6)
        if self._voltage is not None:
            gids, every = self._voltage
            iv = gids
            volt = np.asarray(v)[::every, gids].T
        return RunResult(it, t, iv, volt)
