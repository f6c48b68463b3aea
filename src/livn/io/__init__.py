"""The multi-electrode array: electrodes in, channels out.

- `livn.io.mea`: the electrode layout (`MEA`), stimulation through electrodes
  (electrode current -> injected current per neuron) and spikes per channel.
- `livn.io.extracellular`: what the electrodes record as voltage: spike waveforms,
  a local field potential proxy, noise and stimulation artifacts (uV).
"""

from livn.io.extracellular import ExtracellularRecorder, ExtracellularRecording, ExtracellularSettings
from livn.io.mea import MEA, Coupling, check_electrode_inputs, check_neuron_coordinates

__all__ = [
    "MEA", "Coupling", "check_electrode_inputs", "check_neuron_coordinates",
    "ExtracellularRecorder", "ExtracellularRecording", "ExtracellularSettings",
]
