"""Gymnasium integration: the culture between an agent and a standard task.

```python
import gymnasium as gym
import livn.integrations.gym          # registers the livn/... environments

rl_env = gym.make("livn/Pendulum-S1-v0")
```

- `LivnGym(benchmark, env, encoding, decoding, duration=100, **run_kwargs)`: the wrapper.
- Encodings (agent action -> electrode uA): `PulseEncoding`, `ChannelAmplitudeEncoding`.
- Decodings (channel response -> task action): `FirstSpikeDecoding`, `ChannelRateDecoding`,
  `ChannelVoteDecoding`; they read a `ChannelResponse`.
- `LivnVectorEnv`: B copies of one culture stepped in one compiled call (diffrax backend).
- Registered ids: see `livn.integrations.gym.registration.ENVIRONMENTS`.
"""

from .core import CLEAR_CULTURE, DEFAULT_WINDOW, LivnGym
from .decodings import ChannelRateDecoding, ChannelResponse, ChannelVoteDecoding, Decoding, FirstSpikeDecoding
from .encodings import ChannelAmplitudeEncoding, Encoding, PulseEncoding
from .registration import ENVIRONMENTS, register_environments
from .vector import LivnVectorEnv

register_environments()

__all__ = [
    "CLEAR_CULTURE",
    "DEFAULT_WINDOW",
    "ENVIRONMENTS",
    "ChannelAmplitudeEncoding",
    "ChannelRateDecoding",
    "ChannelResponse",
    "ChannelVoteDecoding",
    "Decoding",
    "Encoding",
    "FirstSpikeDecoding",
    "LivnGym",
    "LivnVectorEnv",
    "PulseEncoding",
    "register_environments",
]
