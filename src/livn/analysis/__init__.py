"""Analyses of recorded culture activity, as culture papers report them.

```python
from livn.analysis import summarize, psth, recruitment_curve, avalanches, sttc_matrix, band_power

it, t, iv, v = result = env.run(10_000)
summarize(it, t, num_neurons=100, duration=10_000)   # rates, ISI CV, network bursts
avalanches(it, t, duration=10_000).branching_ratio   # ~1 near criticality
band_power(result.extracellular)["theta"]            # uV^2 per channel
```

Spikes are `it` (gids) and `t` (ms from the window start) as `Env.run` returns them; per
channel, the dicts `cit, ct` of `MEA.channel_recording`. Times ms, electrode currents uA,
rates Hz, extracellular voltage uV.

| function | computed by | why |
|---|---|---|
| `firing_rates`, `isi_cv`, `network_bursts`, `summarize`, `matched_spikes` | livn (numpy) | a few lines on `it, t` arrays; used by tuning and the conformance suite, so no optional dependency |
| `psth`, `channel_psth` | livn (numpy) | per-trial counts around stimuli are one `searchsorted`; Elephant's `time_histogram` sums over trials and needs a Neo `SpikeTrain` per trial |
| `recruitment_curve`, `channel_recruitment_curves`, `recruitment_from_counts`, `fit_sigmoid` | livn (numpy, `scipy.optimize.curve_fit`) | Elephant has no stimulus-response curves |
| `avalanches`, `channel_avalanches`, `mean_interevent_interval` | livn (numpy) | Elephant has no avalanche analysis (Beggs & Plenz 2003) |
| `power_law_fit` | livn (`scipy.special.zeta`) | discrete power-law maximum likelihood (Clauset et al. 2009); Elephant has none |
| `spike_time_tiling`, `sttc_matrix`, `channel_sttc_matrix` | Elephant (`spike_time_tiling_coefficient`) on Neo `SpikeTrain`s | Elephant implements Cutts & Eglen's coefficient, ported from the authors' C code |
| `power_spectrum`, `band_power` | Elephant (`spectral.welch_psd`) on a Neo `AnalogSignal` | Elephant's Welch estimate keeps units (uV^2/Hz); livn only sums it over bands |

Elephant and Neo come with the `analysis` extra (`pip install 'livn[analysis]'`); they are
imported only by the functions that use them, and without them those functions raise
`livn.errors.MissingDependencyError` naming the extra.
"""

from livn.analysis.avalanches import Avalanches, avalanches, channel_avalanches, mean_interevent_interval
from livn.analysis.power_law import PowerLawFit, power_law_fit
from livn.analysis.psth import PSTH, ChannelPSTH, channel_psth, psth
from livn.analysis.recruitment import (
    RecruitmentCurve,
    SigmoidFit,
    channel_recruitment_curves,
    fit_sigmoid,
    recruitment_curve,
    recruitment_from_counts,
)
from livn.analysis.spectra import BANDS, band_power, power_spectrum
from livn.analysis.spikes import (
    ActivitySummary,
    firing_rates,
    isi_cv,
    matched_spikes,
    network_bursts,
    summarize,
)
from livn.analysis.synchrony import PairwiseSTTC, channel_sttc_matrix, spike_time_tiling, sttc_matrix

__all__ = [
    "BANDS",
    "ActivitySummary",
    "Avalanches",
    "ChannelPSTH",
    "PSTH",
    "PairwiseSTTC",
    "PowerLawFit",
    "RecruitmentCurve",
    "SigmoidFit",
    "avalanches",
    "band_power",
    "channel_avalanches",
    "channel_psth",
    "channel_recruitment_curves",
    "channel_sttc_matrix",
    "firing_rates",
    "fit_sigmoid",
    "isi_cv",
    "matched_spikes",
    "mean_interevent_interval",
    "network_bursts",
    "power_law_fit",
    "power_spectrum",
    "psth",
    "recruitment_curve",
    "recruitment_from_counts",
    "spike_time_tiling",
    "sttc_matrix",
    "summarize",
]
