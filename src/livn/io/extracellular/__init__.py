"""What the electrodes of an MEA record as voltage: extracellular traces in uV.

Each channel c is sampled at `fs_hz` on the absolute grid of times k / fs_hz (s) since the
culture's t = 0, and records

    trace_c(t) = clip(spikes_c(t) + lfp_c(t) + noise_c(t) + artifact_c(t), +-amplifier_range_uv)

which is then set to 0 around electrode stimulation when blanking is on.

**Point-source law.** A current I (nA) leaving a point into a homogeneous medium of
conductivity sigma (S/m) sets the potential V = I / (4 pi sigma r) at distance r (um);
in uV, V = 1000 I / (4 pi sigma max(r, r_min)), where r_min (`min_distance_um`, 10 um) keeps
a neuron on top of an electrode finite (`point_source_uv`). A single soma is treated as a
monopole, as in the simplest forward models: real cells return the current through their
dendrites, so real fields fall off faster than 1/r far from the soma.

**Spikes.** Every spike of neuron n at time t_s adds A_cn * w(t - t_s) to every channel c,
with the amplitude A_cn = point_source_uv(`spike_current_na`, r_cn) (6 nA: 159 uV at 10 um,
16 uV at 100 um, 3 uV at 500 um, with sigma = 0.3 S/m) and the waveform (`spike_template`)

    b(tau; t_p, s) = (tau / t_p)^k exp(k (1 - tau / t_p)),   k = (t_p / s)^2     (tau > 0; 0 otherwise)
    w(tau) = [-b(tau; trough_ms, trough_width_ms)
              + repolarisation_ratio * b(tau; repolarisation_ms, repolarisation_width_ms)] / N

for 0 <= tau < `waveform_ms` and 0 elsewhere. Each bump is a gamma-shaped pulse that is exactly
0 at the spike time (so the waveform is causal), peaks at t_p with value 1 and has a width
(standard deviation) of about s. N makes the trough exactly -1. The defaults give a sharp
trough at 0.4 ms (full width at half minimum 0.15 ms) and a positive repolarisation phase
peaking at 0.8 ms at 0.31 of the trough's size (full width at half maximum 0.55 ms), back
within 0.1 % of 0 by 2 ms;
cutting it at 3 ms drops less than 1e-6 of the trough. It is sampled exactly at each spike's
offset from the sample grid (spikes are on the 0.1 ms integration grid, samples on 1 / fs).

**Local field potential** (when `lfp`): the weighted-sum proxy of Mazzoni et al. (2015,
PLoS Comput Biol 11:e1004584), computed from the AMPA and GABA_A currents (nA) of the
excitatory neurons, each weighted by the point-source law to each channel:

    P_c(t) = -lfp_scale * sum_n point_source_uv(|I_AMPA,n(t - lfp_delay_ms)| - lfp_gaba_ratio |I_GABA,n(t)|, r_cn)

with the paper's 6 ms delay and ratio 1.65. The proxy fixes the shape of the field, not its
scale or sign. The sign here makes excitatory synaptic input (an inward current, a current
sink near the cells) a negative field, the polarity of the spike's own trough. `lfp_scale`
(0.1) stands for the cancellation between each cell's synaptic sinks and its return
currents, which a point neuron cannot resolve; it gives fields in the tens of uV, the size of
field potentials recorded from cultures on MEAs: on S2 (80 excitatory neurons over
400 x 400 um, seed 1, model defaults) 1 s of bursting activity gives 60-110 uV peak to peak
(standard deviation 5-7 uV, mean -0.4 uV) on the 16 electrodes. The currents arrive every `lfp_dt_ms` (0.5 ms) and are interpolated linearly to the
sample grid one current sample late (P at t - lfp_dt_ms), so that each window needs only its
own currents; currents before t = 0 count as 0. The proxy keeps its slow components (there is
no high-pass filter), like a DC-coupled amplifier.

**Noise.** Gaussian white noise, independent per channel, band-passed by a Butterworth filter
(`noise_band_hz`, 300-6000 Hz, `noise_filter_order` 3 per edge) and scaled by the filter's
noise gain (the energy of its impulse response) so its RMS is `noise_uv`. The filter is
run in for as long as its impulse response lasts before t = 0, so the noise is stationary from
the first sample. The same seed gives the same noise.

**Stimulation artifacts.** Electrode e passing I_e(t) uA adds, on channel c, the point-source
potential -point_source_uv(1000 I_e, d_ce) (d_ce the electrode distance; r_min for e itself),
negative for livn's positive (cathodic) current, which draws current out of the medium. It is
passed through a first-order recovery with time constant `artifact_decay_ms` (1 ms), the
charging and discharging of the electrode interface and amplifier input: sample by sample,
y_k = a y_(k-1) + (1 - a) x_k with a = exp(-1 / (fs tau)). With the defaults, 1 uA on an
electrode gives -26.5 mV there and -1.3 mV at 200 um, so the amplifier saturates: every trace
clips at +-`amplifier_range_uv` (5 mV). With `blanking_ms` set, all channels read 0 from each
stimulation's onset until `blanking_ms` after its end (a stimulation is a run of rows with
any non-zero current), as rigs blank their amplifiers; the recording lists the blanked samples.

**Windows.** `ExtracellularRecorder.record` synthesises one window after another; waveform
tails, the noise filter, the LFP history and the artifact recovery carry over, so a recording
made in windows equals one made at once (to float32 rounding). Traces stay in memory, or with
`file=` stream to an HDF5 file (`ExtracellularFile`), one flushed window at a time, with
memory that does not grow with the recording's length.
"""

from livn.io.extracellular.model import ExtracellularSettings, noise_filter, point_source_uv, spike_template
from livn.io.extracellular.recorder import ExtracellularRecorder
from livn.io.extracellular.recording import (
    FILE_FORMAT,
    FILE_FORMAT_VERSION,
    ExtracellularFile,
    ExtracellularRecording,
    read_recording,
)

__all__ = [
    "ExtracellularFile",
    "ExtracellularRecorder",
    "ExtracellularRecording",
    "ExtracellularSettings",
    "FILE_FORMAT",
    "FILE_FORMAT_VERSION",
    "noise_filter",
    "point_source_uv",
    "read_recording",
    "spike_template",
]
