"""JAX translation of the lowered culture network, integrated with diffrax: differentiable and batched.

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
transmission passes none either unless the backend option
`transmission_gradients=True` is given (`Env(..., backend_options={"transmission_gradients": True})`): on S2 driven at 10 uA per channel, the
transmission surrogate produced channel-rate Jacobians with spurious negative
network terms where finite differences show none, while the readout-only
gradient matched the finite differences' pattern (`benchmarks/gradients.py`).

Plasticity (capability `plasticity`, rules from `livn.models.plasticity`): with rules
set, step 3 also handles the spikes of plastic synapses that arrive in this step
(conductance `w x` (AMPA) or `w` (GABA_A) with the weight at arrival, before its
update; then the presynaptic trace and `w += pre_offset + (pre_w w + pre_c) a_post`),
and then, for every neuron that spiked, its plastic inputs' postsynaptic trace and
`w += (post_w w + post_c) a_pre` (a_pre counting this step's arrivals), so that
noise-free runs in float64 (`jax_enable_x64`) agree with brian2 to float
tolerance. The code does the same computation in a cheaper place: the arrivals'
updates at the start of the step, before the solver step (they read nothing it
changes; their conductance goes into the ring buffer slot that step 3 reads), and
the postsynaptic updates of a step's spikes together with sending them at the
start of the next step, one pass over the neurons that spiked (a run ends by
applying those of its last step, so weights read after a run are complete).

Plastic weights are dynamic state (`State.plastic.w`), with event-driven traces
(the value at the last event and that event's step, decayed by
exp(-(elapsed steps) dt / tau)) and the plastic spikes in flight, kept per synapse
in one arrival list per future step. Forward runs touch only the synapses of
spikes that arrive and of neurons that spike; a step in which more plastic spikes
arrive than a list holds (backend option `arrival_capacity`) is handled over
every synapse, with the same result. Forward runs with rules are event-driven at
every size (without rules, cultures of at most 16 neurons deliver over every
synapse). Gradient runs (`unroll="mask"`) work over every synapse in every step
and keep no arrival lists (they find arrivals in `State.sent`); when such a run
advances the culture, the backend rebuilds the lists on the host. Without rules
the step is compiled without any of this. In batches (`run` with `[B, T, n]`,
`run_copies`) every event loop makes as many passes as the busiest trial needs,
each trial masking what is not its own.

Where the weights are: `synapse_weights()` (nS, edge order). A batched `run`
([B, T, n]) evolves each trial's weights independently and does not advance the
culture; the trials' final states are kept in `trial_states`, and
`synapse_weights_of(backend.trial_states)` gives their weights `[B, num_edges]`
(it takes the states that `simulate` and `run_copies` return, too). Copies
(`run_copies`) carry their own plastic weights in their states, copied from the
culture when `initial_states` made them; later `set_weights` calls do not reach
them. Under `run(unroll="mask")` gradients flow through the weights (the
conductance is `w x` with w differentiable, and the updates are differentiable in
w and the traces); the spike events that trigger updates and trace increments pass
none.

Weights are read at arrival on both paths: changing weights (`set_weights`,
`set_synapse_weights`) or rules while spikes are in flight recomputes, on the host,
what is in flight from `State.sent` (the amount every neuron sent in each of the
last `buffer_length` steps) with the new weights, as brian2 and NEURON read
weights at delivery.

Stimulus rows (`stimulus_step`): the number of steps per row is a static argument of the
compiled run (one compilation per row length). The noise is drawn per absolute 1 ms row
whatever the stimulus rows, so a stimulus at 0.1 ms rows that repeats 1 ms rows gives the
run of the 1 ms rows, and runs with 1 ms rows compile to the same program as before.

Synaptic currents (`record_synaptic_currents`): the step carries, only while recording, a
buffer `[samples, recorded gids]` per receptor into which the currents at the start of each
step on the sampling grid are written, so a run returns no per-step output for them. Single
forward runs record them; batched runs, `run(unroll="mask")` and `run_copies` do not
(`synaptic_currents()` is None after the first two).

JAX is imported when the first backend is built (`_jax_modules`), not when this
module is imported; the JAX code itself is in `livn.backends._diffrax_core`.
"""

from __future__ import annotations

import numpy as np

from livn._arrays import is_traced, sparse_nonzero
from livn.backends.base import BATCH, CHECKPOINT, COPIES, NOISE_KEYS, PLASTICITY, STIMULUS_STEP, UNROLL, Backend
from livn.errors import CheckpointError, InvalidArgumentError
from livn.types import RunResult, SynapticCurrents

jax = jnp = eqx = core = None  # JAX, jax.numpy, equinox and the JAX code; imported by _jax_modules()


def _jax_modules() -> None:
    """Import JAX, equinox and `livn.backends._diffrax_core` (once, when a backend is built)."""
    global jax, jnp, eqx, core
    if core is None:
        import equinox
        import jax as jax_module
        import jax.numpy as jax_numpy

        from livn.backends import _diffrax_core

        jax, jnp, eqx, core = jax_module, jax_numpy, equinox, _diffrax_core


def _float_dtype():
    return core._float_dtype()


class DiffraxBackend(Backend):
    """The culture network in JAX/diffrax (CPU or GPU, as JAX finds it)."""

    name = "diffrax"
    simulator_module = "diffrax"
    extra = "diffrax"
    capabilities = frozenset({BATCH, NOISE_KEYS, UNROLL, COPIES, CHECKPOINT, PLASTICITY})
    options = {
        "transmission_gradients": "True: pass surrogate gradients through synaptic transmission (default False)",
        "arrival_capacity": "plasticity: spikes of plastic synapses arriving per step handled event by event, "
                            "a positive multiple of 32 (default: automatic); results do not depend on it",
    }

    def __init__(self, network, transmission_gradients: bool = False, arrival_capacity: int | None = None):
        super().__init__(network)
        _jax_modules()
        if not isinstance(transmission_gradients, bool):
            raise InvalidArgumentError(
                f"backend option transmission_gradients must be True or False; got {transmission_gradients!r}"
            )
        if arrival_capacity is not None and (
            isinstance(arrival_capacity, bool) or not isinstance(arrival_capacity, (int, np.integer))
            or arrival_capacity <= 0 or arrival_capacity % core.ARRIVAL_CHUNK
        ):
            raise InvalidArgumentError(
                f"backend option arrival_capacity must be a positive multiple of {core.ARRIVAL_CHUNK}; "
                f"got {arrival_capacity!r}"
            )
        self.arrival_capacity = None if arrival_capacity is None else int(arrival_capacity)
        #: The `PlasticSynapses` in force, or None.
        self.plasticity = None
        #: Final states of the trials of the last batched `run` (see `synapse_weights_of`), or None.
        self.trial_states = None
        #: The network as JAX arrays (weights and noise levels included).
        self.network = core.network_arrays(network)
        n, model = network.num_neurons, network.model
        self.simulator = core.Simulator(model, self.dt, transmission_gradients=transmission_gradients)
        capacity = core.EVENT_CAPACITY if n > core.EVENT_CAPACITY else 0
        self.event_simulator = core.Simulator(model, self.dt, event_capacity=capacity)
        #: Forward runs with plasticity on: event by event at every size (over every synapse, the
        #: plastic updates cost more than the loops even in small networks).
        self.plastic_event_simulator = core.Simulator(model, self.dt, event_capacity=core.EVENT_CAPACITY)
        self._initial_y = tuple(
            jnp.asarray(a, _float_dtype()) for a in (network.v_init, network.u_init, np.zeros(n), np.zeros(n), np.zeros(n))
        )
        self.run_key = jax.random.PRNGKey(network.seed)
        self._voltage = None  # (gids, sampling every k steps)
        self._currents = None  # (gids, sampling every k steps) of the synaptic currents
        self._last_currents = None  # SynapticCurrents of the last run, or None
        self.clear()

    # -- parameters -------------------------------------------------------------------

    @property
    def t(self) -> float:
        return float(self.state.step) * self.dt

    def set_weights(self, weights: dict) -> None:
        w = self.synapse_weights()
        for key, value in weights.items():
            if key in self.lowered.projections:
                w[self.lowered.edges_of(key)] = value
        self.set_synapse_weights(w)

    # -- plasticity ------------------------------------------------------------------------

    def synapse_weights(self) -> np.ndarray:
        return self.synapse_weights_of(self.state)

    def synapse_weights_of(self, states) -> np.ndarray:
        """Weights (nS, float64 `[..., num_edges]`) in a state or in states stacked on leading axes.

        E.g. `synapse_weights_of(backend.trial_states)` after a batched `run`, or of the states
        that `simulate` or `run_copies` return. Non-plastic synapses have the culture's weights.
        """
        weights = np.asarray(self.network.weights, np.float64)
        if states.plastic is None or self.network.plasticity is None:
            return np.broadcast_to(weights, (*np.shape(states.step), weights.shape[0])).copy()
        plastic = np.asarray(self.network.plasticity.plastic)
        return np.where(plastic, np.asarray(states.plastic.w, np.float64), weights)

    def set_synapse_weights(self, weights: np.ndarray) -> None:
        real = _float_dtype()
        self.network = eqx.tree_at(lambda net: net.weights, self.network, jnp.asarray(weights, real))
        if self.state.plastic is not None:
            self.state = eqx.tree_at(lambda s: s.plastic.w, self.state, jnp.asarray(weights, real))
        self._rebuild_in_flight()

    def set_plasticity(self, synapses) -> None:
        weights = self.synapse_weights()
        self.network = eqx.tree_at(lambda net: net.weights, self.network, jnp.asarray(weights, _float_dtype()))
        rules = None if synapses is None else core.plasticity_arrays(self.lowered, synapses, self.arrival_capacity)
        self.network = eqx.tree_at(lambda net: net.plasticity, self.network, rules,
                                   is_leaf=lambda x: x is None)
        self.plasticity = synapses
        self.state = eqx.tree_at(lambda s: s.plastic, self.state, self._initial_plastic_state(),
                                 is_leaf=lambda x: x is None)
        self._rebuild_in_flight()

    def _initial_plastic_state(self):
        """Plastic state at the culture's weights, traces at 0, nothing in flight (None without rules)."""
        rules = self.network.plasticity
        if rules is None:
            return None
        num_edges, length = self.lowered.num_edges, self.network.buffer_length
        real = _float_dtype()
        zeros = jnp.zeros((num_edges,), real)
        steps = jnp.zeros((num_edges,), jnp.int32)
        return core.PlasticState(
            w=self.network.weights, a_pre=zeros, pre_step=steps, a_post=zeros, post_step=steps,
            arrivals=jnp.zeros((length, rules.capacity), jnp.int32), arrival_count=jnp.zeros((length,), jnp.int32),
            post_done=jnp.asarray(True),
        )

    def _rebuild_in_flight(self, lists_only: bool = False) -> None:
        """Recompute the spikes in flight from `State.sent` with the current weights and rules (host, numpy).

        `lists_only`: only the arrival lists of the plastic synapses (after a run over every synapse).
        """
        sent = np.asarray(self.state.sent)
        if not sent.any() and not lists_only:  # nothing sent lately (or a checkpoint without `sent`)
            return
        rules = self.network.plasticity
        plastic = None if rules is None else np.asarray(rules.plastic)
        capacity = 1 if rules is None else rules.capacity
        in_flight, arrivals, count = core.rebuild_in_flight(
            self.lowered, sent, int(self.state.step), np.asarray(self.network.weights, np.float64), plastic, capacity
        )
        real = _float_dtype()
        if not lists_only:
            self.state = eqx.tree_at(lambda s: s.in_flight, self.state, jnp.asarray(in_flight, real))
        if rules is not None:
            self.state = eqx.tree_at(lambda s: (s.plastic.arrivals, s.plastic.arrival_count), self.state,
                                     (jnp.asarray(arrivals), jnp.asarray(count)))

    def set_noise(self, mean: float, std: float) -> None:
        self.network = eqx.tree_at(
            lambda net: (net.noise_mean, net.noise_std), self.network,
            (jnp.asarray(mean, _float_dtype()), jnp.asarray(std, _float_dtype())),
        )
        if self.t == 0:
            y = self.state.y
            self.state = eqx.tree_at(lambda s: s.y, self.state, (*y[:4], jnp.full_like(y[4], mean)))

    def record_voltage(self, gids: np.ndarray, dt: float) -> None:
        self._voltage = (np.asarray(gids, dtype=np.int64), int(round(dt / self.dt)))

    def record_synaptic_currents(self, gids: np.ndarray | None, dt: float) -> None:
        """From the next run on, record the AMPA and GABA_A currents (nA) of `gids` every `dt` ms
        (a multiple of the step), on the voltage's grid; `gids` None stops.

        Recorded by forward runs of a single stimulus (`run` without `unroll`); batched and
        unrolled runs record none (`synaptic_currents()` is then None), nor does `run_copies`.
        Without a recording, the compiled step carries nothing for them.
        """
        self._currents = None if gids is None else (np.asarray(gids, dtype=np.int64), int(round(dt / self.dt)))

    def synaptic_currents(self) -> SynapticCurrents | None:
        """The AMPA and GABA_A currents (nA, `[n, samples]`) the last `run` recorded, or None."""
        return self._last_currents

    # -- running -------------------------------------------------------------------------

    def clear(self) -> None:
        if getattr(self, "state", None) is not None:  # learned weights stay
            self.network = eqx.tree_at(lambda net: net.weights, self.network,
                                       jnp.asarray(self.synapse_weights(), _float_dtype()))
        self.state = self._initial_state()

    def _initial_state(self) -> "core.State":
        """The state at t = 0: resting membrane, no conductance, full resources, nothing in flight.

        With plasticity on: the culture's weights and traces at 0.
        """
        n = self.num_neurons
        length = self.network.buffer_length
        return core.State(
            y=(*self._initial_y[:4], jnp.full((n,), self.network.noise_mean, _float_dtype())),
            x=jnp.ones((n,), _float_dtype()),
            in_flight=jnp.zeros((length, 2, n), _float_dtype()),
            pending=jnp.zeros((n,), _float_dtype()),
            step=jnp.asarray(0, jnp.int32),
            sent=jnp.zeros((length, n), _float_dtype()),
            plastic=self._initial_plastic_state(),
        )

    def simulate(self, duration: float, stimulus=None, key=None, events: bool = True, voltage: bool = True,
                 stimulus_step: float = STIMULUS_STEP):
        """Run from the current state; returns (final state(s), spikes [.., steps, n], v [.., steps, n] or None).

        `stimulus` is `[T, n]` or `[B, T, n]` nA (rows of `stimulus_step` ms) as a numpy or JAX array.
        `key` seeds the noise (default: `run_key`, so that consecutive windows continue
        one noise stream); with a batch it is one key for all trials, split per trial,
        or `[B, 2]` keys. `events=True` delivers spikes event by event and returns them as
        booleans (a forward run); `events=False` delivers over every synapse and returns
        the differentiable float spike mask. `voltage=False` returns no voltage (less
        memory per step). Pure: the backend's own state is not changed. With plasticity on, the
        final state(s) hold the weights learned (`synapse_weights_of(final)`: nS, `[..., num_edges]`);
        after `events=False` their arrival lists are empty (`run` rebuilds them when it keeps the state).
        """
        return self._simulate(duration, stimulus, key, events, voltage, stimulus_step)[:3]

    def _simulate(self, duration, stimulus, key, events, voltage, stimulus_step, currents=None):
        """`simulate`, and with `currents` (`(gids, every)`, single trials only) a fourth output: the
        synaptic currents sampled in the compiled run (see `_diffrax_core._run_steps`)."""
        num_steps = int(round(duration / self.dt))
        steps_per_row = self._steps_per_row(stimulus_step)
        offset = int(self.state.step) % core.noise_row_steps(self.dt)
        if key is None:
            key = self.run_key
        if stimulus is None:
            stimulus = np.zeros((1, self.num_neurons))
        if isinstance(stimulus, np.ndarray):  # converted on the host: no extra XLA dispatch per call
            stimulus = np.asarray(stimulus, np.dtype(_float_dtype()))
        else:
            stimulus = jnp.asarray(stimulus, _float_dtype())
        simulator = self._simulator(events)
        args = (num_steps, steps_per_row, offset, voltage, events)
        if stimulus.ndim == 3:
            keys = key if jnp.ndim(key) == 2 else jax.random.split(key, stimulus.shape[0])
            return core._run_batched(simulator, self.network, self.state, stimulus, keys, *args)
        if currents is not None:
            gids, every = currents
            args += ((jnp.asarray(gids, jnp.int32), every),)
        return core._run_compiled(simulator, self.network, self.state, stimulus, key, *args)

    def _steps_per_row(self, stimulus_step: float) -> int:
        """Integration steps per stimulus row of `stimulus_step` ms (a static argument of the compiled run)."""
        return max(1, int(round(stimulus_step / self.dt)))

    def _simulator(self, events: bool) -> "core.Simulator":
        """The step function of forward runs (`events`) or of differentiable ones."""
        if not events:
            return self.simulator
        return self.event_simulator if self.network.plasticity is None else self.plastic_event_simulator

    def run(self, duration: float, stimulus=None, stimulus_step: float = STIMULUS_STEP, key=None,
            unroll: str | None = None, **extra):
        """Advance by `duration` ms (see `Env.run`); `stimulus` rows are `stimulus_step` ms.

        `unroll=None` returns a `RunResult` of numpy arrays and advances the state; with a batch
        `[B, T, n]` it returns a list of B results, leaves the culture's state as it was and keeps the
        trials' final states in `trial_states` (their weights: `synapse_weights_of(trial_states)`).
        `unroll="mask"` returns `(mask [.., n, steps], t [steps] ms, gids, v [.., n, steps] mV)` as
        JAX arrays, differentiable; it advances the state only when called outside a JAX transformation
        with a single (unbatched) stimulus. Synaptic currents (`record_synaptic_currents`) are recorded
        by single forward runs only.
        """
        # Dense delivery in mask mode, so surrogate gradients also reach neurons that did not spike.
        mask = unroll == "mask"
        start = 0 if is_traced(self.state.step) else int(self.state.step)
        currents = None
        if self._currents is not None and not mask and (stimulus is None or np.ndim(stimulus) == 2):
            currents = self._currents
        final, spikes, v, *sampled = self._simulate(duration, stimulus, key, not mask,
                                                    mask or self._voltage is not None, stimulus_step, currents)
        self._last_currents = None if currents is None else self._synaptic_currents(sampled[0], start,
                                                                                     spikes.shape[-2])
        batched = spikes.ndim == 3
        if not is_traced(spikes) and not batched:
            self.state = final
            if self.network.plasticity is not None and not self._simulator(not mask).event_capacity:
                self._rebuild_in_flight(lists_only=True)  # that path does not keep the arrival lists
        elif batched and not is_traced(spikes):
            self.trial_states = final
        num_steps = spikes.shape[-2]
        if unroll == "mask":
            t = jnp.arange(num_steps) * self.dt
            gids = jnp.arange(self.num_neurons)
            return jnp.swapaxes(spikes, -1, -2), t, gids, jnp.swapaxes(v, -1, -2)
        if batched:
            return self._results(spikes, v, [start] * spikes.shape[0])
        return self._result(spikes, v, start)

    def _synaptic_currents(self, sampled, start: int, num_steps: int) -> SynapticCurrents:
        """The currents `(ampa, gaba)` `[capacity, n]` sampled by a run of `num_steps` from step `start`."""
        gids, every = self._currents
        count = core.sampled_steps(start, num_steps, every)
        ampa, gaba = (np.asarray(a)[:count].T for a in sampled)
        return SynapticCurrents(gids, every * self.dt, ampa, gaba)

    # -- copies of the culture (batched vector environments) ------------------------------

    def initial_states(self, copies: int) -> "core.State":
        """`copies` states at t = 0 stacked on a leading axis (what `clear` sets, once per copy)."""
        return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (copies, *leaf.shape)), self._initial_state())

    @staticmethod
    def select_copies(which, states_if_true, states_if_false):
        """Per copy, the state from `states_if_true` where `which` [B] is True, else from `states_if_false`."""
        which = jnp.asarray(which, bool)
        return jax.tree.map(
            lambda a, b: jnp.where(which.reshape(-1, *([1] * (a.ndim - 1))), a, b), states_if_true, states_if_false
        )

    def run_copies(self, duration: float, states, stimulus, keys, stimulus_step: float = STIMULUS_STEP):
        """Advance B copies of this culture by `duration` ms, each from its own state, in one compiled call.

        `stimulus` is `[B, T, n]` nA (rows of `stimulus_step` ms); `keys` `[B, 2]` noise keys (copy b with key k
        draws exactly the noise of a single run with `key=k`), or None for `run_key` in every
        copy. The copies' steps must agree modulo one noise row of 1 ms (they do when every window
        is a whole number of ms).
        Returns `(list of B RunResult, new states)`; the backend's own state is not changed.
        With plasticity on, each copy's weights are part of its state (see `synapse_weights_of`),
        and the states must have been made while the same rules were on.
        """
        if (states.plastic is None) != (self.network.plasticity is None) or (
            states.plastic is not None
            and states.plastic.arrivals.shape[-1] != self.network.plasticity.capacity
        ):
            raise InvalidArgumentError(
                "the copies' states were made with plasticity "
                f"{'on' if states.plastic is not None else 'off'} and it is "
                f"{'on' if self.network.plasticity is not None else 'off'} now (or with other rules); make them "
                "again with copy_states() after enable_plasticity()/disable_plasticity()"
            )
        num_steps = int(round(duration / self.dt))
        steps_per_row = self._steps_per_row(stimulus_step)
        offsets = np.unique(np.asarray(states.step) % core.noise_row_steps(self.dt))
        if len(offsets) != 1:
            raise InvalidArgumentError("the copies' clocks disagree within a 1 ms noise row; use whole-ms windows")
        stimulus = jnp.asarray(stimulus, _float_dtype())
        count = stimulus.shape[0]
        keys = jnp.broadcast_to(self.run_key, (count, *self.run_key.shape)) if keys is None else jnp.asarray(keys)
        final, spikes, v = core._run_copies(
            self._simulator(True), self.network, states, stimulus, keys, num_steps, steps_per_row, int(offsets[0]),
            self._voltage is not None, True,
        )
        return self._results(spikes, v, np.asarray(states.step).reshape(-1).tolist()), final

    def _results(self, spikes, v, starts) -> list[RunResult]:
        """One `RunResult` per trial of batched outputs `[B, steps, n]` (v may be None), trial b from step `starts[b]`."""
        spikes = np.asarray(spikes)  # one transfer, not one JAX slice per trial
        v = [None] * len(spikes) if v is None else np.asarray(v)
        return [self._result(spikes[b], v[b], starts[b]) for b in range(len(spikes))]

    def _result(self, spikes, v, start: int) -> RunResult:
        """Spikes and voltage of one window that began at step `start`; voltage on the absolute sampling grid."""
        it = t = iv = volt = None
        if self.spike_gids is not None:
            steps, gids = sparse_nonzero(np.asarray(spikes))
            it, t = self.spike_result(gids, steps, 0)
        if self._voltage is not None:
            gids, every = self._voltage
            iv = gids
            volt = np.asarray(v)[(-start) % every :: every, gids].T
        return RunResult(it, t, iv, volt)

    # -- checkpoints -------------------------------------------------------------------------

    def get_state(self) -> dict:
        """The state arrays (membrane, conductances, noise current, resources, spikes in flight, step),
        what each neuron sent in the last steps, every synapse's weight (nS) and, with plasticity on,
        the plastic state (weights, traces, per-synapse spikes in flight).

        The noise needs no position of its own: it is keyed by absolute time from `run_key`.
        """
        state = self.state
        tree = {
            "y": [np.asarray(a) for a in state.y],
            "x": np.asarray(state.x),
            "in_flight": np.asarray(state.in_flight),
            "pending": np.asarray(state.pending),
            "step": int(state.step),
            "sent": np.asarray(state.sent),
            "weights": self.synapse_weights(),
        }
        if state.plastic is not None:
            tree["plastic"] = {key: np.asarray(getattr(state.plastic, key)) for key in PLASTIC_STATE}
        return tree

    def check_state(self, state) -> None:
        now = self.state  # shapes only: nothing is copied off the device
        num_edges, length = self.lowered.num_edges, self.network.buffer_length
        try:
            shapes_match = [np.shape(a) for a in state["y"]] == [np.shape(a) for a in now.y] and all(
                np.shape(state[key]) == np.shape(getattr(now, key)) for key in ("x", "in_flight", "pending")
            )
            shapes_match &= "sent" not in state or np.shape(state["sent"]) == np.shape(now.sent)
            shapes_match &= "weights" not in state or np.shape(state["weights"]) == (num_edges,)
            plastic = state.get("plastic")
            if plastic is not None:
                shapes_match &= all(np.shape(plastic[key]) == (num_edges,) for key in PLASTIC_STATE[:5])
                shapes_match &= np.shape(plastic["arrival_count"]) == (length,) and np.shape(plastic["post_done"]) == ()
                shapes_match &= np.ndim(plastic["arrivals"]) == 2 and np.shape(plastic["arrivals"])[0] == length
        except (KeyError, TypeError, AttributeError):
            shapes_match = False
        if not shapes_match:
            raise CheckpointError("the diffrax state does not fit this network (arrays missing or of other shapes)")

    def set_state(self, state: dict) -> None:
        """Continue from `state` (from `get_state`).

        Rules are not part of the state: set them first (`Env.load_state` does). A state saved
        with other rules, or with plasticity off, keeps its weights; traces it lacks start at 0,
        and its spikes in flight are redistributed over the ring buffer and the arrival lists.
        """
        real = _float_dtype()
        length, n = self.network.buffer_length, self.num_neurons
        sent = state.get("sent")
        if "weights" in state:
            self.network = eqx.tree_at(lambda net: net.weights, self.network,
                                       jnp.asarray(state["weights"], real))
        self.state = core.State(
            y=tuple(jnp.asarray(a, real) for a in state["y"]),
            x=jnp.asarray(state["x"], real),
            in_flight=jnp.asarray(state["in_flight"], real),
            pending=jnp.asarray(state["pending"], real),
            step=jnp.asarray(state["step"], jnp.int32),
            sent=jnp.zeros((length, n), real) if sent is None else jnp.asarray(sent, real),
            plastic=self._initial_plastic_state(),
        )
        saved, rules = state.get("plastic"), self.network.plasticity
        if saved is not None and rules is not None:
            plastic = core.PlasticState(
                w=jnp.asarray(saved["w"], real), a_pre=jnp.asarray(saved["a_pre"], real),
                pre_step=jnp.asarray(saved["pre_step"], jnp.int32), a_post=jnp.asarray(saved["a_post"], real),
                post_step=jnp.asarray(saved["post_step"], jnp.int32),
                arrivals=jnp.asarray(saved["arrivals"], jnp.int32),
                arrival_count=jnp.asarray(saved["arrival_count"], jnp.int32),
                post_done=jnp.asarray(saved["post_done"], bool),
            )
            if plastic.arrivals.shape[1] == rules.capacity:  # saved with these rules: exactly as it was
                self.state = eqx.tree_at(lambda s: s.plastic, self.state, plastic)
                return
            self.state = eqx.tree_at(  # other rules: weights and traces kept, what is in flight rebuilt
                lambda s: (s.plastic.a_pre, s.plastic.pre_step, s.plastic.a_post, s.plastic.post_step),
                self.state, (plastic.a_pre, plastic.pre_step, plastic.a_post, plastic.post_step),
            )
        if saved is not None or rules is not None:  # saved with rules on and now off, or the other way
            self._rebuild_in_flight()


#: Arrays of `_diffrax_core.PlasticState`, as named in checkpoints (the first five per synapse).
PLASTIC_STATE = ("w", "a_pre", "pre_step", "a_post", "post_step", "arrivals", "arrival_count", "post_done")
