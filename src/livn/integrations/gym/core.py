"""`LivnGym`: a simulated culture between an agent and a standard Gymnasium task.

One step: the agent's action -> `encoding` -> electrode currents (uA) -> the culture
runs for one window of `duration` ms -> the channels' spikes -> `decoding` -> the
task's action -> the task returns observation, reward and the episode flags.
The culture is the actuator the agent must learn to drive.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from livn.backends.base import NOISE_KEYS
from livn.env import Env
from livn.errors import InvalidArgumentError, NotInitializedError, RecordingError, describe

from .decodings import ChannelResponse

#: Window of culture activity per step, ms, when `LivnGym` is not told otherwise.
DEFAULT_WINDOW = 100.0

#: Reset option that clears the culture (True) or keeps its state (False).
CLEAR_CULTURE = "clear_culture"


def check_protocol(encoding, decoding) -> None:
    """Raise `InvalidArgumentError` unless `encoding` and `decoding` follow the protocols
    of `livn.integrations.gym.encodings` and `.decodings` (callable, with an `action_space`)."""
    for name, value in (("encoding", encoding), ("decoding", decoding)):
        if not callable(value) or not isinstance(getattr(value, "action_space", None), gym.spaces.Space):
            raise InvalidArgumentError(
                f"{name} must be callable and have a gymnasium `action_space`; got {describe(value)}"
            )


def check_setup(task_action_space, env, encoding, decoding) -> None:
    """Raise unless `env` is a built `Env` and `encoding`/`decoding` follow the protocols, the
    decoding producing actions in the task's `task_action_space`."""
    if not isinstance(env, Env):
        raise InvalidArgumentError(f"env must be a livn.env.Env; got {describe(env)}")
    if env.backend is None:
        raise NotInitializedError("the culture is not built: pass Env(...).init()")
    check_protocol(encoding, decoding)
    if decoding.action_space != task_action_space:
        raise InvalidArgumentError(
            f"the decoding produces actions in {decoding.action_space} but the task expects {task_action_space}"
        )


def check_window(duration) -> float:
    """A step's culture window in ms: positive, finite, a whole number of ms (1 ms stimulus rows)."""
    if isinstance(duration, bool) or not isinstance(duration, (int, float, np.integer, np.floating)) or not (
        math.isfinite(duration) and duration >= 1 and abs(duration - round(duration)) < 1e-9
    ):
        raise InvalidArgumentError(f"duration must be a whole number of ms >= 1; got {describe(duration)}")
    return float(round(duration))


def check_action(action_space: gym.spaces.Space, action) -> None:
    """Raise unless `action` belongs to `action_space`; Box actions need only the shape and finite
    values (encodings clip them to the box, as agents' exploration noise may overshoot it)."""
    if isinstance(action_space, gym.spaces.Box):
        ok = np.shape(action) == action_space.shape and bool(np.all(np.isfinite(np.asarray(action, dtype=float))))
    else:
        try:
            ok = action_space.contains(np.asarray(action, dtype=action_space.dtype))
        except (TypeError, ValueError):
            ok = False
    if not ok:
        raise InvalidArgumentError(f"action must lie in {action_space}; got {describe(action)}")


def respond(env: Env, it, t, duration: float) -> ChannelResponse:
    """The `ChannelResponse` of a window's spikes (`it` gids, `t` ms) as `env`'s electrodes record them."""
    if it is None:
        raise RecordingError("the culture does not record spikes: call env.record_spikes() before its first run")
    cit, ct = env.channel_recording(it, t)
    return ChannelResponse(np.asarray(it), np.asarray(t), cit, ct, tuple(int(c) for c in env.io.channel_ids), duration)


def step_info(response: ChannelResponse, task_action, task_info: dict) -> dict:
    """The `info` of one step: the task's own entries plus the culture's activity.

    - `spikes`: `(it, t)`, the culture's spikes in the step's window (gids; ms from the window
      start); a tuple so that vector environments can batch steps with different spike counts;
    - `channel_rates`: Hz per recording channel, in the MEA's channel order;
    - `task_action`: the action the decoding sent to the task.
    """
    return {
        **task_info,
        "spikes": (response.it, response.t),
        "channel_rates": response.channel_rates,
        "task_action": task_action,
    }


class LivnGym(gym.Env):
    """A Gymnasium environment whose actions drive a task through a simulated culture.

    **Arguments**

    - `benchmark`: the task, a `gymnasium.Env` (e.g. `gym.make("Pendulum-v1")`).
    - `env`: a built `livn.env.Env` (`Env(...).init()`), configured as you want it
      (`apply_model_defaults()` for the default culture; weights and noise are not changed here).
      Spikes are recorded from the start; an Env that already ran must record spikes already.
    - `encoding`: action -> electrode currents (see `livn.integrations.gym.encodings`); its
      `action_space` is this environment's action space.
    - `decoding`: channel response -> task action (see `.decodings`); its `action_space`
      must equal the task's.
    - `duration`: culture window per step, whole ms (default 100).
    - `**run_kwargs`: passed on to `env.run` every step; `key=` (diffrax: the JAX noise key).

    **Spaces and reward**: action space from the encoding; observation space and reward from the task.

    **Reset**: `reset(seed=..., options=...)` resets the task. A culture has memory, so by
    default it keeps its state across episodes; `options={"clear_culture": True}` returns it
    to t = 0 (`Env.clear`). A reset with a seed asks for a reproducible episode and therefore
    clears the culture too, unless `options={"clear_culture": False}`.

    **info** of a step: the task's info plus `spikes` (`(it, t)`: the window's spikes, gids and ms),
    `channel_rates` (Hz per channel) and `task_action`.
    """

    metadata = {"render_modes": []}

    def __init__(self, benchmark: gym.Env, env: Env, encoding, decoding, duration: float = DEFAULT_WINDOW,
                 **run_kwargs):
        if not isinstance(benchmark, gym.Env):
            raise InvalidArgumentError(f"benchmark must be a gymnasium.Env; got {describe(benchmark)}")
        check_setup(benchmark.action_space, env, encoding, decoding)
        if set(run_kwargs) - {"key"}:
            raise InvalidArgumentError(
                f"the only env.run keyword LivnGym passes on is key= (capability 'noise_keys'); got {sorted(run_kwargs)}"
            )
        if "key" in run_kwargs:
            env.require(NOISE_KEYS, "LivnGym(key=...)")
        self.benchmark = benchmark
        self.env = env
        self.encoding = encoding
        self.decoding = decoding
        self.duration = check_window(duration)
        self.run_kwargs = run_kwargs
        self.action_space = encoding.action_space
        self.observation_space = benchmark.observation_space
        self.render_mode = getattr(benchmark, "render_mode", None)
        if env.t == 0:
            env.record_spikes()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset the task (and, see the class docs, possibly the culture); returns `(observation, info)`."""
        super().reset(seed=seed)
        options = {} if options is None else dict(options)
        clear = options.pop(CLEAR_CULTURE, seed is not None)
        if not isinstance(clear, (bool, np.bool_)):
            raise InvalidArgumentError(f"options['{CLEAR_CULTURE}'] must be True or False; got {describe(clear)}")
        if clear:
            self.env.clear()
        return self.benchmark.reset(seed=seed, options=options or None)

    def step(self, action):
        """Stimulate with `action`, run one culture window, act on the task with the decoded action."""
        check_action(self.action_space, action)
        inputs = self.encoding(action, self.duration, self.env.io.channel_ids)
        result = self.env.run(self.duration, self.env.cell_stimulus(inputs), **self.run_kwargs)
        response = respond(self.env, result.it, result.t, self.duration)
        task_action = self.decoding(response)
        observation, reward, terminated, truncated, info = self.benchmark.step(task_action)
        return observation, reward, terminated, truncated, step_info(response, task_action, info)

    def render(self):
        return self.benchmark.render()

    def close(self):
        self.benchmark.close()
        super().close()

    def __repr__(self) -> str:
        return f"LivnGym({self.benchmark}, {self.env!r}, {self.encoding!r}, {self.decoding!r}, duration={self.duration})"
