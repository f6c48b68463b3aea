"""Registered environments: `gym.make("livn/Pendulum-S1-v0")` after `import livn.integrations.gym`.

Without that import, Gymnasium's module prefix imports it: `gym.make("livn.integrations.gym:livn/Pendulum-S1-v0")`.

| id | task | encoding | decoding |
|---|---|---|---|
| `livn/Pendulum-S1-v0` | `Pendulum-v1` | `ChannelAmplitudeEncoding` (16 channels, +-1 uA) | `ChannelRateDecoding.push_pull`: channels 0-7 vs 8-15 |
| `livn/CartPole-S1-v0` | `CartPole-v1` | `ChannelAmplitudeEncoding` (16 channels, +-1 uA) | `ChannelVoteDecoding`: channels 0-7 push left, 8-15 push right |
| `livn/MountainCarContinuous-S1-v0` | `MountainCarContinuous-v0` | `PulseEncoding` (10 ms, 0-20 uA) | `FirstSpikeDecoding` |

All run the predefined S1 culture with the model's default weights and noise, a 100 ms
window per step. Keyword arguments of `gym.make` override: `system` (a predefined name or a
system directory), `backend` (default `$LIVN_BACKEND`), `seed`, `duration` (ms),
`encoding`, `decoding`, `task_kwargs` (for the task's `gym.make`), and any `env.run` keyword.
On every id, `gym.make_vec(id, num_envs=B, vectorization_mode="vector_entry_point")` builds a
`LivnVectorEnv` (diffrax backend: B copies of the culture in one compiled call), and
`vectorization_mode="async"` one process and culture per copy on any backend.

Channels 0-7 are the two rows of electrodes on one side of the 4 x 4 array, 8-15 the other side.

Games the culture plays by itself (`GAMES`): `livn/Pong-S2-v0`, Pong after DishBrain on the S2
culture (`livn.integrations.gym.pong.PongEnv`; its keyword arguments pass through `gym.make`).
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

from livn.env import Env
from livn.errors import UnknownNameError
from livn.system import predefined

from .core import DEFAULT_WINDOW, LivnGym
from .decodings import ChannelRateDecoding, ChannelVoteDecoding, FirstSpikeDecoding
from .encodings import ChannelAmplitudeEncoding, PulseEncoding

#: Channels on one side of the standard 4 x 4 array (rows 0-1) and on the other (rows 2-3).
FIRST_HALF = tuple(range(8))
SECOND_HALF = tuple(range(8, 16))

#: Rate difference (Hz) between the halves that gives full-scale torque (Pendulum).
FULL_SCALE_RATE = 100.0


def _pendulum(action_space):
    return ChannelAmplitudeEncoding(), ChannelRateDecoding.push_pull(
        action_space, FIRST_HALF, SECOND_HALF, full_scale_rate=FULL_SCALE_RATE
    )


def _cartpole(action_space):
    return ChannelAmplitudeEncoding(), ChannelVoteDecoding(action_space, [FIRST_HALF, SECOND_HALF])


def _mountain_car(action_space):
    return PulseEncoding(), FirstSpikeDecoding(action_space)


#: Registered id -> (task id, default (encoding, decoding) for the task's action space).
ENVIRONMENTS = {
    "livn/Pendulum-S1-v0": ("Pendulum-v1", _pendulum),
    "livn/CartPole-S1-v0": ("CartPole-v1", _cartpole),
    "livn/MountainCarContinuous-S1-v0": ("MountainCarContinuous-v0", _mountain_car),
}


#: Registered id -> entry point of games the culture plays by itself (not a task behind `LivnGym`).
GAMES = {
    "livn/Pong-S2-v0": ("livn.integrations.gym.pong:PongEnv", {"system": "S2"}),
}


def _codecs(task: str, action_space, encoding, decoding):
    """`encoding` and `decoding`, each defaulting to the task's registered default."""
    if encoding is not None and decoding is not None:
        return encoding, decoding
    for task_id, defaults in ENVIRONMENTS.values():
        if task_id == task:
            default_encoding, default_decoding = defaults(action_space)
            return (default_encoding if encoding is None else encoding,
                    default_decoding if decoding is None else decoding)
    raise UnknownNameError(
        f"no default encoding/decoding for task {task!r}; pass encoding= and decoding= "
        f"(tasks with defaults: {sorted(t for t, _ in ENVIRONMENTS.values())})"
    )


def make_culture(system: str = "S1", backend: str | None = None, seed: int = 123) -> Env:
    """The default culture of the registered environments: built, model defaults applied."""
    directory = system if Path(system).is_dir() else predefined(system)
    return Env(directory, seed=seed, backend=backend).init().apply_model_defaults()


def make_livn_gym(task: str, system: str = "S1", backend: str | None = None, seed: int = 123,
                  duration: float = DEFAULT_WINDOW, encoding=None, decoding=None, task_kwargs: dict | None = None,
                  **run_kwargs) -> LivnGym:
    """A `LivnGym` on `gym.make(task, **task_kwargs)` with a fresh default culture (see module docs)."""
    benchmark = gym.make(task, **(task_kwargs or {}))
    encoding, decoding = _codecs(task, benchmark.action_space, encoding, decoding)
    return LivnGym(benchmark, make_culture(system, backend, seed), encoding, decoding, duration, **run_kwargs)


def make_livn_vector_env(task: str, num_envs: int, system: str = "S1", backend: str | None = "diffrax",
                         seed: int = 123, duration: float = DEFAULT_WINDOW, encoding=None, decoding=None,
                         task_kwargs: dict | None = None, keys=None, max_episode_steps=None):
    """A `LivnVectorEnv` of `num_envs` copies of the default culture, each with its own task."""
    from .vector import LivnVectorEnv

    kwargs = dict(task_kwargs or {})
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    benchmarks = [gym.make(task, **kwargs) for _ in range(num_envs)]
    encoding, decoding = _codecs(task, benchmarks[0].action_space, encoding, decoding)
    return LivnVectorEnv(benchmarks, make_culture(system, backend, seed), encoding, decoding, duration, keys=keys)


def register_environments() -> None:
    """Register the ids of `ENVIRONMENTS` with Gymnasium (idempotent)."""
    for env_id, (task, _) in ENVIRONMENTS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=make_livn_gym,
            vector_entry_point=make_livn_vector_env,
            kwargs={"task": task},
        )
    for env_id, (entry_point, kwargs) in GAMES.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, kwargs=dict(kwargs))
