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

JAX is imported when the first backend is built (`_jax_modules`), not when this
module is imported; the JAX code itself is in `livn.backends._diffrax_core`.
"""

from __future__ import annotations

import numpy as np

from livn._arrays import is_traced
from livn.backends.base import BATCH, CHECKPOINT, COPIES, NOISE_KEYS, UNROLL, Backend
from livn.errors import CheckpointError, InvalidArgumentError
from livn.types import RunResult

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
    capabilities = frozenset({BATCH, NOISE_KEYS, UNROLL, COPIES, CHECKPOINT})
    options = {
        "transmission_gradients": "True: pass surrogate gradients through synaptic transmission (default False)",
    }

    def __init__(self, network, transmission_gradients: bool = False):
        super().__init__(network)
        _jax_modules()
        if not isinstance(transmission_gradients, bool):
            raise InvalidArgumentError(
                f"backend option transmission_gradients must be True or False; got {transmission_gradients!r}"
            )
        self._projection_names = list(network.projections)
        #: The network as JAX arrays (weights and noise levels included).
        self.network = core.network_arrays(network)
        n, model = network.num_neurons, network.model
        self.simulator = core.Simulator(model, self.dt, transmission_gradients=transmission_gradients)
        capacity = core.EVENT_CAPACITY if n > core.EVENT_CAPACITY else 0
        self.event_simulator = core.Simulator(model, self.dt, event_capacity=capacity)
        self._initial_y = tuple(
            jnp.asarray(a, _float_dtype()) for a in (network.v_init, network.u_init, np.zeros(n), np.zeros(n), np.zeros(n))
        )
        self.run_key = jax.random.PRNGKey(network.seed)
        self._voltage = None  # (gids, sampling every k steps)
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

    def record_voltage(self, gids: np.ndarray, dt: float) -> None:
        self._voltage = (np.asarray(gids, dtype=np.int64), int(round(dt / self.dt)))

    # -- running -------------------------------------------------------------------------

    def clear(self) -> None:
        self.state = self._initial_state()

    def _initial_state(self) -> "core.State":
        """The state at t = 0: resting membrane, no conductance, full resources, nothing in flight."""
        n = self.num_neurons
        return core.State(
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
            stimulus = np.zeros((1, self.num_neurons))
        if isinstance(stimulus, np.ndarray):  # converted on the host: no extra XLA dispatch per call
            stimulus = np.asarray(stimulus, np.dtype(_float_dtype()))
        else:
            stimulus = jnp.asarray(stimulus, _float_dtype())
        simulator = self.event_simulator if events else self.simulator
        args = (num_steps, steps_per_row, offset, voltage, events)
        if stimulus.ndim == 3:
            keys = key if jnp.ndim(key) == 2 else jax.random.split(key, stimulus.shape[0])
            return core._run_batched(simulator, self.network, self.state, stimulus, keys, *args)
        return core._run_compiled(simulator, self.network, self.state, stimulus, key, *args)

    def run(self, duration: float, stimulus=None, key=None, unroll: str | None = None, **extra):
        """Advance by `duration` ms (see `Env.run`).

        `unroll=None` returns a `RunResult` of numpy arrays and advances the state.
        `unroll="mask"` returns `(mask [.., n, steps], t [steps] ms, gids, v [.., n, steps] mV)` as
        JAX arrays, differentiable; it advances the state only when called outside a JAX transformation
        with a single (unbatched) stimulus.
        """
        # Dense delivery in mask mode, so surrogate gradients also reach neurons that did not spike.
        mask = unroll == "mask"
        start = 0 if is_traced(self.state.step) else int(self.state.step)
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
            return self._results(spikes, v, [start] * spikes.shape[0])
        return self._result(spikes, v, start)

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

    def run_copies(self, duration: float, states, stimulus, keys):
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
        final, spikes, v = core._run_copies(
            self.event_simulator, self.network, states, stimulus, keys, num_steps, steps_per_row, int(offsets[0]),
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
            steps, gids = np.nonzero(np.asarray(spikes))
            it, t = self.spike_result(gids, steps, 0)
        if self._voltage is not None:
            gids, every = self._voltage
            iv = gids
            volt = np.asarray(v)[(-start) % every :: every, gids].T
        return RunResult(it, t, iv, volt)

    # -- checkpoints -------------------------------------------------------------------------

    def get_state(self) -> dict:
        """The state arrays (membrane, conductances, noise current, resources, spikes in flight, step).

        The noise needs no position of its own: it is keyed by absolute time from `run_key`.
        """
        state = self.state
        return {
            "y": [np.asarray(a) for a in state.y],
            "x": np.asarray(state.x),
            "in_flight": np.asarray(state.in_flight),
            "pending": np.asarray(state.pending),
            "step": int(state.step),
        }

    def check_state(self, state) -> None:
        now = self.state  # shapes only: nothing is copied off the device
        try:
            shapes_match = [np.shape(a) for a in state["y"]] == [np.shape(a) for a in now.y] and all(
                np.shape(state[key]) == np.shape(getattr(now, key)) for key in ("x", "in_flight", "pending")
            )
        except (KeyError, TypeError):
            shapes_match = False
        if not shapes_match:
            raise CheckpointError("the diffrax state does not fit this network (arrays missing or of other shapes)")

    def set_state(self, state: dict) -> None:
        real = _float_dtype()
        self.state = core.State(
            y=tuple(jnp.asarray(a, real) for a in state["y"]),
            x=jnp.asarray(state["x"], real),
            in_flight=jnp.asarray(state["in_flight"], real),
            pending=jnp.asarray(state["pending"], real),
            step=jnp.asarray(state["step"], jnp.int32),
        )
