"""livn: a testbed for learning to interact with simulated in vitro neural cultures.

```python
import livn

env = livn.make("S1")                  # a built Env with the model defaults applied
env.record_spikes()
it, t, iv, v = env.run(100)            # ms
```

The top-level names (`Env`, `MEA`, `System`, `predefined`, `make`) are imported on
first use, so `import livn` is quick and imports no simulator.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS = {
    "Env": "livn.env",
    "MEA": "livn.io",
    "System": "livn.system",
    "predefined": "livn.system",
}

__all__ = ["Env", "MEA", "System", "predefined", "make", "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'livn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


def make(name, backend: str | None = None, seed: int = 123):
    """A built `Env` of a culture with the model defaults applied (weights and noise; tuned where tuned).

    **Arguments**

    - `name`: a predefined system ("S1" ... "S4", "E", "E5I", "E3I", "EI") or a system directory path.
    - `backend`: "brian2", "diffrax" or "neuron"; default from `LIVN_BACKEND`, else brian2.
    - `seed`: non-negative integer; the same seed gives the same culture and spikes.

    **Returns**: the `Env`. `livn.system.make(name)` returns the `System` instead.
    """
    from livn.env import Env
    from livn.system import make as make_system

    return Env(make_system(name), seed=seed, backend=backend).init().apply_model_defaults()
