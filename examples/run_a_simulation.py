"""Run the S1 culture for 100 ms and read it out through the multi-electrode array."""

from livn.env import Env
from livn.io import MEA
from livn.system import make, predefined

env = Env(predefined("S1")).init()
env.apply_model_defaults()
env.record_spikes()
env.record_voltage()
it, t, iv, v = env.run(100)  # ms
print("Initial voltages: ", v[:, 0])  # mV

system = make("S1")
mea = MEA.from_directory(system.uri)
cit, ct = mea.channel_recording(system.neuron_coordinates, it, t)
print(f"{len(it)} spikes from {system.num_neurons} neurons in 100 ms")
for channel in sorted(cit):
    if len(cit[channel]):
        print(f"channel {channel:2d}: {len(cit[channel])} spikes from neurons {sorted(set(cit[channel].tolist()))}")
