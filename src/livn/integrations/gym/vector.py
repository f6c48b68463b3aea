"""`LivnVectorEnv`: B copies of one culture, each driving its own task, stepped in one compiled call.

Needs a backend with the `copies` and `noise_keys` capabilities (diffrax). Copy b is the culture of the
given `Env` (same neurons, synapses, weights, noise levels) with its own dynamic state and
noise key; each step encodes the B actions, runs all B windows in one `Env.run_copies`
call, decodes each response and steps each task in Python.

Equivalence with single environments: copy b behaves exactly like
`LivnGym(task_b, env, encoding, decoding, duration, key=keys[b])` on a fresh Env with the
same system, seed and settings, reset with the same seeds. By default
`keys[b] = jax.random.fold_in(env.run_key, b)` (independent noise per copy).

Autoreset follows Gymnasium's next-step mode: the step after an episode ends resets that
task (its action is ignored) and leaves its culture where it was.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate

from livn.backends.base import COPIES, NOISE_KEYS
from livn.env import Env
from livn.errors import InvalidArgumentError, describe

from .core import CLEAR_CULTURE, DEFAULT_WINDOW, check_action, check_setup, check_window, respond, step_info


class LivnVectorEnv(VectorEnv):
    """A batch of `LivnGym`s whose cultures are copies of one diffrax `Env`.

    **Arguments**

    - `benchmarks`: B task environments (`gymnasium.Env`), one per copy, with equal spaces.
    - `env`: a built `Env` on the diffrax backend, configured as you want the cultures.
    - `encoding`, `decoding`: as for `LivnGym`, shared by all copies.
    - `duration`: culture window per step, whole ms (default 100).
    - `keys`: `[B, 2]` JAX keys for the copies' noise (default: `fold_in(env.run_key, b)`).

    Reset options: `clear_culture` (as in `LivnGym`; a seeded reset clears by default) and
    Gymnasium's `reset_mask` (reset only the masked tasks and cultures).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, benchmarks, env: Env, encoding, decoding, duration: float = DEFAULT_WINDOW, keys=None):
        benchmarks = list(benchmarks) if isinstance(benchmarks, (list, tuple)) else None
        if not benchmarks or not all(isinstance(b, gym.Env) for b in benchmarks):
            raise InvalidArgumentError("benchmarks must be a non-empty list of gymnasium.Env, one task per copy")
        first = benchmarks[0]
        for b in benchmarks:
            if b.action_space != first.action_space or b.observation_space != first.observation_space:
                raise InvalidArgumentError("every benchmark must have the same action and observation spaces")
        check_setup(first.action_space, env, encoding, decoding)
        env.require(COPIES, "LivnVectorEnv (gymnasium.vector.AsyncVectorEnv of LivnGyms works on every backend)")
        env.require(NOISE_KEYS, "LivnVectorEnv")
        import jax  # a backend with noise keys runs on JAX

        self.num_envs = count = len(benchmarks)
        if keys is None:
            keys = jax.numpy.stack([jax.random.fold_in(env.run_key, b) for b in range(count)])
        self.keys = keys
        self.benchmarks = benchmarks
        self.env = env
        self.encoding = encoding
        self.decoding = decoding
        self.duration = check_window(duration)
        if env.t == 0:
            env.record_spikes()
        key_shape = (count, *np.shape(env.run_key))
        if tuple(np.shape(keys)) != key_shape:
            raise InvalidArgumentError(f"keys must have shape {key_shape} (one JAX key per copy); got {describe(keys)}")
        self.copies = env.copy_states(count)
        self.single_action_space = encoding.action_space
        self.action_space = batch_space(self.single_action_space, count)
        self.single_observation_space = first.observation_space
        self.observation_space = batch_space(self.single_observation_space, count)
        self._observations = create_empty_array(self.single_observation_space, count)
        self._autoreset = np.zeros(count, dtype=bool)

    def reset(self, *, seed=None, options: dict | None = None):
        """Reset the tasks (seeds: None, an int s giving s, s+1, ..., or a list); returns `(observations, infos)`."""
        count = self.num_envs
        seeds = [None] * count if seed is None else [seed + b for b in range(count)] if isinstance(seed, int) else list(seed)
        if len(seeds) != count:
            raise InvalidArgumentError(f"seed must be None, an int or {count} seeds; got {describe(seed)}")
        super().reset(seed=seed if isinstance(seed, int) else None)
        options = {} if options is None else dict(options)
        mask = options.pop("reset_mask", np.ones(count, dtype=bool))
        if not isinstance(mask, np.ndarray) or mask.shape != (count,) or mask.dtype != np.bool_:
            raise InvalidArgumentError(f"options['reset_mask'] must be a numpy bool array of shape ({count},)")
        default_clear = np.array([s is not None for s in seeds])
        clear = options.pop(CLEAR_CULTURE, None)
        if clear is not None and not isinstance(clear, (bool, np.bool_)):
            raise InvalidArgumentError(f"options['{CLEAR_CULTURE}'] must be True or False; got {describe(clear)}")
        clear = mask & (default_clear if clear is None else np.full(count, bool(clear)))
        if clear.any():
            self.copies = self.env.select_copies(clear, self.env.copy_states(count), self.copies)
        infos = {}
        observations = list(iterate(self.observation_space, self._observations))
        for b in np.flatnonzero(mask):
            observations[b], info = self.benchmarks[b].reset(seed=seeds[b], options=options or None)
            infos = self._add_info(infos, info, b)
        self._observations = concatenate(self.single_observation_space, observations, self._observations)
        self._autoreset[mask] = False
        return self._observations.copy() if isinstance(self._observations, np.ndarray) else self._observations, infos

    def step(self, actions):
        """Encode the B actions, run the B culture windows in one call, decode, step the tasks."""
        count = self.num_envs
        actions = list(iterate(self.action_space, actions))
        rows = int(np.ceil(self.duration - 1e-9))
        channel_ids = self.env.io.channel_ids
        inputs = np.zeros((count, rows, len(channel_ids)))
        for b in range(count):
            if not self._autoreset[b]:
                check_action(self.single_action_space, actions[b])
                encoded = np.asarray(self.encoding(actions[b], self.duration, channel_ids), dtype=float)
                inputs[b, : encoded.shape[0]] = encoded[:rows]
        results, advanced = self.env.run_copies(self.duration, self.copies, self.env.cell_stimulus(inputs), self.keys)
        self.copies = advanced if not self._autoreset.any() else self.env.select_copies(
            self._autoreset, self.copies, advanced
        )
        observations = list(iterate(self.observation_space, self._observations))
        rewards = np.zeros(count)
        terminations = np.zeros(count, dtype=bool)
        truncations = np.zeros(count, dtype=bool)
        infos = {}
        for b in range(count):
            if self._autoreset[b]:
                observations[b], info = self.benchmarks[b].reset()
            else:
                response = respond(self.env, results[b].it, results[b].t, self.duration)
                task_action = self.decoding(response)
                observations[b], rewards[b], terminations[b], truncations[b], task_info = self.benchmarks[b].step(
                    task_action
                )
                info = step_info(response, task_action, task_info)
            infos = self._add_info(infos, info, b)
        self._observations = concatenate(self.single_observation_space, observations, self._observations)
        self._autoreset = terminations | truncations
        return self._observations.copy(), rewards, terminations, truncations, infos

    def close_extras(self, **kwargs):
        for benchmark in self.benchmarks:
            benchmark.close()
