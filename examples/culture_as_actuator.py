"""The culture as an actuator: Pendulum-v1 driven through the simulated S1 culture.

The agent's action is a stimulation pattern (an amplitude per electrode); the culture
responds; the channels' firing rates, decoded push-pull, are the pendulum's torque.
Here a hand-written controller stimulates one side of the array or the other to push
the pendulum in the direction it is swinging (energy pumping), against random stimulation;
it prints how often the culture's torque went the way the controller asked. Learning a
policy that swings the pendulum up through the culture is benchmarks/rl.py's job.
"""

import gymnasium as gym
import numpy as np

import livn.integrations.gym  # noqa: F401  (registers livn/Pendulum-S1-v0)

rl_env = gym.make("livn/Pendulum-S1-v0", backend="diffrax", duration=50)  # 50 ms of culture per step
FIRST_SIDE = np.array([1.0] * 8 + [-1.0] * 8, dtype=np.float32)  # channels 0-7 on, 8-15 inhibited


def pump(observation):
    """Stimulate the side whose channels push the torque along the angular velocity."""
    cos_theta, sin_theta, velocity = observation
    return FIRST_SIDE if velocity >= 0 else -FIRST_SIDE


rng = np.random.default_rng(0)
for name, policy in (("random stimulation", lambda obs: rng.uniform(-1, 1, 16).astype(np.float32)),
                     ("energy pumping", pump)):
    observation, _ = rl_env.reset(seed=0)
    total, agree, torques, rates = 0.0, [], [], []
    for _ in range(100):
        velocity = observation[2]
        observation, reward, terminated, truncated, info = rl_env.step(policy(observation))
        total += reward
        torque = float(info["task_action"][0])
        agree.append(np.sign(torque) == (1.0 if velocity >= 0 else -1.0))
        torques.append(torque)
        rates.append(info["channel_rates"])
    print(f"{name:>18}: torque along the swing in {100 * np.mean(agree):.0f}% of steps, "
          f"mean |torque| {np.mean(np.abs(torques)):.2f}, mean channel rate {np.mean(rates):.1f} Hz, "
          f"return over 100 steps {total:.1f}")
