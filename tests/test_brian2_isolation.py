"""An Env must not disturb a user's own brian2 network that runs in the same process."""

import numpy as np

import brian2 as b2

from livn.env import Env


def _users_noisy_network():
    group = b2.NeuronGroup(5, "dv/dt = -v/(10*ms) + xi/sqrt(ms) : 1", method="euler", name="users_group*")
    monitor = b2.StateMonitor(group, "v", record=True, name="users_monitor*")
    return b2.Network(group, monitor), monitor


def test_env_leaves_a_users_random_stream_alone(s1_dir):
    b2.seed(42)
    net, monitor = _users_noisy_network()
    net.run(5 * b2.ms)
    net.run(5 * b2.ms)
    undisturbed = np.array(monitor.v[:])

    b2.seed(42)
    net, monitor = _users_noisy_network()
    net.run(5 * b2.ms)
    Env(s1_dir).init().apply_model_defaults().record_spikes().run(20)  # in between
    net.run(5 * b2.ms)
    np.testing.assert_array_equal(np.array(monitor.v[:]), undisturbed)


def test_env_leaves_numpys_global_random_state_alone(s1_dir):
    np.random.seed(7)
    expected = np.random.random(3)
    np.random.seed(7)
    Env(s1_dir).init().apply_model_defaults().record_spikes().run(20)
    np.testing.assert_array_equal(np.random.random(3), expected)
