"""SAC on Pendulum-v1 through the simulated S1 culture (`livn/Pendulum-S1-v0`), with baselines.

```sh
uv run python benchmarks/rl.py                 # 3 seeds; learning curves, baselines, report
uv run python benchmarks/rl.py --replay        # first fill SAC's replay buffer from a livn dataset
uv run python benchmarks/rl.py --quick         # a tiny end-to-end run (the tests use it)
```

Agent: SAC from skrl (JAX backend). skrl's JAX path reuses the jax/flax we already
install for the diffrax backend; Stable-Baselines3 would need PyTorch, whose PyPI wheels
pull several GB of CUDA libraries onto a CPU machine and would not fit CI's time.

Conditions, each trained and evaluated on the same schedule and seeds:

- `sac_culture`: SAC whose actions are stimulation patterns (16 channel amplitudes);
  the culture's channel rates, decoded push-pull, are the pendulum's torque.
- `random_stimulation`: uniformly random stimulation patterns through the same culture.
- `sac_direct`: SAC acting on Pendulum-v1 directly (the ceiling).
- `sac_culture_replay` (with `--replay`): like `sac_culture` (same random exploration
  at the start), with the replay buffer first filled from a livn dataset (see
  `replay_transitions`) and `--pretrain-updates` gradient updates on it before the first step.

Evaluation: every `--eval-every` steps, `--eval-episodes` episodes with the policy's
mean action on a separate evaluation environment (its own culture), seeds 10_000 + k.

Writes to `--out` (default `rl-results/`): `learning_curve.csv` (condition, seed, step,
mean and std of the evaluation returns), `learning_curve.png` (mean +- std over seeds)
and `report.md` (final mean return +- spread over seeds per condition, CPU time).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from _device import add_device_argument, device_report, use_device

CONDITIONS = ("sac_culture", "random_stimulation", "sac_direct")


# -- environments ----------------------------------------------------------------------------


def make_env(condition: str, duration: float, backend: str, episode_steps: int | None = None, culture_seed: int = 123):
    """Pendulum-v1 (episodes of `episode_steps`, default 200), directly or through the S1 culture."""
    import gymnasium as gym

    import livn.integrations.gym  # noqa: F401  (registers livn/...)

    task_kwargs = {} if episode_steps is None else {"max_episode_steps": episode_steps}
    if condition == "sac_direct":
        return gym.make("Pendulum-v1", **task_kwargs)
    return gym.make("livn/Pendulum-S1-v0", backend=backend, duration=duration, seed=culture_seed,
                    task_kwargs=task_kwargs)


# -- SAC (skrl, JAX) ---------------------------------------------------------------------------


def make_agent(observation_space, action_space, seed: int, learning_starts: int, memory_size: int, batch_size: int):
    """skrl's SAC with two 256-unit hidden layers per network.

    Updates start once the buffer holds a full batch: skrl samples min(size, batch) transitions,
    so smaller buffers would recompile the update at every step.
    """
    import flax.linen as nn
    import jax.numpy as jnp
    from skrl import config
    from skrl.agents.jax.sac import SAC, SAC_CFG
    from skrl.memories.jax import RandomMemory
    from skrl.models.jax import DeterministicMixin, GaussianMixin, Model
    from skrl.utils import set_seed

    config.jax.backend = "jax"
    set_seed(seed)

    class Actor(GaussianMixin, Model):
        def __init__(self, observation_space, action_space, **kwargs):
            Model.__init__(self, observation_space=observation_space, action_space=action_space, **kwargs)
            GaussianMixin.__init__(self, clip_actions=True, clip_log_std=True, min_log_std=-5, max_log_std=2)

        @nn.compact
        def __call__(self, inputs, role):
            x = nn.relu(nn.Dense(256)(inputs["observations"]))
            x = nn.relu(nn.Dense(256)(x))
            # tanh keeps the mean inside the box: skrl's Gaussian is clipped, not squashed, and an
            # unbounded mean drifts past the bounds, where the evaluated (mean) action saturates.
            mean = nn.tanh(nn.Dense(self.num_actions)(x)) * jnp.asarray(self.action_space.high)
            return mean, {"log_std": nn.Dense(self.num_actions)(x)}

    class Critic(DeterministicMixin, Model):
        def __init__(self, observation_space, action_space, **kwargs):
            Model.__init__(self, observation_space=observation_space, action_space=action_space, **kwargs)
            DeterministicMixin.__init__(self)

        @nn.compact
        def __call__(self, inputs, role):
            x = jnp.concatenate([inputs["observations"], inputs["taken_actions"]], axis=-1)
            x = nn.relu(nn.Dense(256)(x))
            x = nn.relu(nn.Dense(256)(x))
            return nn.Dense(1)(x), {}

    models = {"policy": Actor(observation_space, action_space)}
    for role in ("critic_1", "critic_2", "target_critic_1", "target_critic_2"):
        models[role] = Critic(observation_space, action_space)
    for role, model in models.items():
        model.init_state_dict(role=role)
    memory = RandomMemory(memory_size=memory_size, num_envs=1)
    cfg = SAC_CFG(
        batch_size=batch_size, discount_factor=0.99, polyak=0.005, learning_rate=(1e-3, 1e-3, 1e-3),
        random_timesteps=learning_starts, learning_starts=max(learning_starts, batch_size), initial_entropy_value=0.2,
    )
    cfg.experiment.write_interval = 0
    cfg.experiment.checkpoint_interval = 0
    cfg.experiment.directory = str(Path(os.environ.get("TMPDIR", "/tmp")) / "livn-rl-skrl")
    agent = SAC(models=models, memory=memory, observation_space=observation_space, action_space=action_space, cfg=cfg)
    agent.init()
    return agent


def record(agent, obs, action, reward, next_obs, terminated, truncated, step, steps):
    import jax.numpy as jnp

    agent.record_transition(
        observations=jnp.asarray(obs, jnp.float32)[None], states=None, actions=jnp.asarray(action, jnp.float32)[None],
        rewards=jnp.asarray([[reward]], jnp.float32), next_observations=jnp.asarray(next_obs, jnp.float32)[None],
        next_states=None, terminated=jnp.asarray([[terminated]]), truncated=jnp.asarray([[truncated]]),
        infos={}, timestep=step, timesteps=steps,
    )


def policy_action(agent, obs, step: int, steps: int, deterministic: bool):
    import jax.numpy as jnp

    actions, outputs = agent.act(jnp.asarray(obs, jnp.float32)[None], None, timestep=step, timesteps=steps)
    action = outputs["mean_actions"] if deterministic and "mean_actions" in outputs else actions
    low, high = agent.action_space.low, agent.action_space.high
    return np.clip(np.asarray(action, dtype=np.float32)[0], low, high)


def evaluate(env, act, episodes: int) -> tuple[float, float]:
    """Mean and std of the return of `episodes` episodes (seeds 10_000 + k) with `act(obs)`."""
    returns = []
    for k in range(episodes):
        obs, _ = env.reset(seed=10_000 + k)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns)), float(np.std(returns))


# -- replay from a livn dataset ------------------------------------------------------------------


def make_small_dataset(out: Path, samples: int, duration: float) -> Path:
    """A small S1 dataset made by the sampling command's code, for `--replay` without `--dataset`.

    `livn.systems.sample.sample` with `samples` random stimulations of `duration` ms
    (1-8 pulses of 1-10 uA, 2-20 ms, as `livn systems sample` draws them), one trial
    each, split `train_with_noise` only (the agent's culture has background noise).
    Same layout and columns as `livn systems sample --system S1 --out DIR`.
    """
    from livn.systems.sample import SamplingPlan, sample

    plan = SamplingPlan(
        samples=samples, test_samples=0, t_end=float(duration), trials=1, seed=0,
        shard_size=max(1, samples), splits=("train_with_noise",),
    )
    return sample("S1", out, plan, progress=False)


def replay_transitions(dataset, duration: float, backend: str, seed: int):
    """Turn recorded (stimulation, response) pairs into Pendulum transitions for SAC's replay buffer.

    For each trial of each sample:

    1. action: the stimulation in the agent's action space. The agent's encoding sets a
       constant amplitude per channel over the window (`ChannelAmplitudeEncoding`, +-1 uA),
       so each channel's pulses are replaced by the constant current of equal charge over
       the window: `sum(amplitude * width) / duration` uA, divided by the encoding's
       `max_amplitude`, clipped to [-1, 1].
    2. response: the trial's spikes in [0, duration) ms, sorted into channels, decoded to a
       torque by the environment's own decoding.
    3. task: a state from the task's initial-state distribution (a seeded reset), one step
       with the decoded torque: observation, reward, next observation, terminated.

    The culture's state before the stimulation is not part of the agent's observation, so
    the transitions are what the agent could have seen; they are as good as the dataset's
    stimulations are like the agent's (constant currents here).
    """
    from livn.integrations.gym.core import respond
    from livn.stimulation import pulses_from_features

    livn_env = make_env("sac_culture", duration, backend).unwrapped
    encoding, decoding, culture = livn_env.encoding, livn_env.decoding, livn_env.env
    transitions = []
    k = 0
    for sample in dataset:
        charge = np.zeros(len(encoding.channels))
        for pulse in pulses_from_features(sample["features"]):
            if pulse.channel in encoding.channels:
                charge[encoding.channels.index(pulse.channel)] += pulse.amplitude * pulse.width
        action = np.clip(charge / duration / encoding.max_amplitude, -1, 1).astype(np.float32)
        for it, t in zip(sample["trial_it"], sample["trial_t"]):
            it, t = np.asarray(it, dtype=np.int64), np.asarray(t, dtype=float)
            keep = t < duration
            task_action = decoding(respond(culture, it[keep], t[keep], duration))
            obs, _ = livn_env.benchmark.reset(seed=seed * 1_000_000 + k)
            next_obs, reward, terminated, truncated, _ = livn_env.benchmark.step(task_action)
            transitions.append((obs, action, float(reward), next_obs, bool(terminated)))
            k += 1
    return transitions


# -- one run ----------------------------------------------------------------------------------


def run_condition(condition: str, seed: int, args) -> list[dict]:
    """Train (or not) one condition with one seed; returns evaluation rows."""
    env = make_env(condition, args.duration, args.backend, args.episode_steps)
    eval_env = make_env(condition, args.duration, args.backend, args.episode_steps)
    steps = args.steps
    rows = []
    started = time.process_time()

    def log(step, mean, std):
        rows.append({"condition": condition, "seed": seed, "step": step, "mean_return": mean, "std_return": std,
                     "cpu_s": time.process_time() - started})
        print(f"{condition:>20} seed {seed} step {step:>6}: return {mean:8.1f} +- {std:6.1f}", flush=True)

    if condition == "random_stimulation":
        rng = np.random.default_rng(seed)
        space = env.action_space
        for step in range(0, steps + 1, args.eval_every):
            log(step, *evaluate(eval_env, lambda obs: rng.uniform(space.low, space.high).astype(np.float32),
                                args.eval_episodes))
        return rows

    agent = make_agent(env.observation_space, env.action_space, seed, args.learning_starts, steps + 20_000,
                       args.batch_size)
    agent.enable_training_mode(True)
    if condition == "sac_culture_replay":
        transitions = replay_transitions(args.replay_data, args.duration, args.backend, seed)
        for obs, action, reward, next_obs, terminated in transitions:
            record(agent, obs, action, reward, next_obs, terminated, False, 0, steps)
        agent.enable_models_training_mode(True)
        for update in range(args.pretrain_updates):
            agent.update(timestep=update, timesteps=steps)
        agent.enable_models_training_mode(False)
        # Online, the same random exploration as sac_culture; updates go on from the first step.
        agent.cfg.learning_starts = args.batch_size if len(transitions) < args.batch_size else 0
        print(f"{condition:>20} seed {seed}: {len(transitions)} replay transitions, {args.pretrain_updates} updates",
              flush=True)

    log(0, *evaluate(eval_env, lambda obs: policy_action(agent, obs, steps, steps, True), args.eval_episodes))
    obs, _ = env.reset(seed=seed)
    for step in range(1, steps + 1):
        action = policy_action(agent, obs, step, steps, False)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        record(agent, obs, action, reward, next_obs, terminated, truncated, step, steps)
        agent.post_interaction(timestep=step, timesteps=steps)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
        if step % args.eval_every == 0:
            log(step, *evaluate(eval_env, lambda obs: policy_action(agent, obs, steps, steps, True), args.eval_episodes))
    return rows


# -- report -----------------------------------------------------------------------------------


def write_report(rows: list[dict], out: Path, args, wall: float) -> str:
    with open(out / "learning_curve.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    fig, ax = plt.subplots(figsize=(7, 4))
    lines = ["# SAC on Pendulum-v1 through the S1 culture\n",
             f"steps per seed: {args.steps}, seeds: {args.seeds}, culture window: {args.duration} ms, "
             f"backend: {args.backend}, episode steps: {args.episode_steps or 200}, evaluation: {args.eval_episodes} episodes every {args.eval_every} steps, "
             f"wall time: {wall:.0f} s\n",
             f"ran on: {device_report()}\n",
             "| condition | final mean return ± std over seeds | per seed | CPU s per seed |", "|---|---|---|---|"]
    for condition in conditions:
        sub = [r for r in rows if r["condition"] == condition]
        steps = sorted({r["step"] for r in sub})
        curves = np.array([[r["mean_return"] for r in sub if r["step"] == s] for s in steps])
        mean, std = curves.mean(axis=1), curves.std(axis=1)
        ax.plot(steps, mean, label=condition)
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        final = curves[-1]
        cpu = np.mean([max(r["cpu_s"] for r in sub if r["seed"] == s) for s in sorted({r["seed"] for r in sub})])
        lines.append(f"| {condition} | {final.mean():.1f} ± {final.std():.1f} | "
                     f"{', '.join(f'{x:.1f}' for x in final)} | {cpu:.0f} |")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title("Pendulum-v1: SAC through the S1 culture vs baselines")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "learning_curve.png", dpi=120)
    report = "\n".join(lines) + "\n"
    (out / "report.md").write_text(report)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for the tests (1 seed, few steps)")
    parser.add_argument("--replay", action="store_true", help="also train from a replay buffer filled from a dataset")
    parser.add_argument("--dataset", type=Path, help="livn dataset directory (default: make a small one in --out)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10_000, help="environment steps per seed")
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--eval-episodes", type=int, default=3)
    parser.add_argument("--learning-starts", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--pretrain-updates", type=int, default=2000)
    parser.add_argument("--episode-steps", type=int, default=None, help="episode length (default: the task's, 200)")
    parser.add_argument("--duration", type=float, default=100.0, help="culture window per step, ms")
    parser.add_argument("--backend", default="diffrax")
    parser.add_argument("--conditions", nargs="+", default=None, help=f"subset of {CONDITIONS} (+ sac_culture_replay)")
    parser.add_argument("--out", type=Path, default=Path("rl-results"))
    add_device_argument(parser)  # where JAX runs: SAC (skrl) and the diffrax culture
    args = parser.parse_args(argv)
    use_device(args.device)
    if args.quick:
        args.seeds, args.steps, args.eval_every, args.eval_episodes = 1, 64, 64, 1
        args.learning_starts, args.pretrain_updates, args.duration, args.batch_size = 32, 10, 20.0, 32
        args.episode_steps = 50
    for name in ("seeds", "steps", "eval_every", "eval_episodes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.duration < 1 or args.duration != round(args.duration):
        parser.error("--duration must be a whole number of ms >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    conditions = list(args.conditions or CONDITIONS)
    if args.replay:
        from livn.dataset import load

        directory = args.dataset
        if directory is None:
            samples = 10 if args.quick else 500
            directory = make_small_dataset(args.out / "dataset", samples, args.duration)
        # A private cache: Hugging Face's shared cache can serve a stale copy of a directory of the same name.
        args.replay_data = load(directory, "S1", split="train_with_noise", cache_dir=args.out / "hf-cache")
        conditions.append("sac_culture_replay") if "sac_culture_replay" not in conditions else None
    started = time.perf_counter()
    rows = []
    for condition in conditions:
        for seed in range(args.seeds):
            rows.extend(run_condition(condition, seed, args))
    report = write_report(rows, args.out, args, time.perf_counter() - started)
    print(report)
    (args.out / "config.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items() if k != "replay_data"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
