"""Statistics of recorded culture activity.

```python
from livn.analysis import summarize, firing_rates, network_bursts
```
"""

from livn.analysis.spikes import (
    ActivitySummary,
    firing_rates,
    isi_cv,
    matched_spikes,
    network_bursts,
    summarize,
)

__all__ = [
    "ActivitySummary",
    "firing_rates",
    "isi_cv",
    "matched_spikes",
    "network_bursts",
    "summarize",
]
