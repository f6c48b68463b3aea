"""Systems: turning a YAML config into a system directory (see `livn.system` to read one).

Public names are re-exported here; the implementation lives in `config` (schema,
validation, shipped configs) and `generate` (placement, connection rule, writing).
"""

from livn.systems.config import KERNELS, check_config, config_path, load_config, shipped_configs
from livn.systems.generate import connect, generate, place_neurons, population_ranges

__all__ = [
    "KERNELS",
    "check_config",
    "config_path",
    "connect",
    "generate",
    "load_config",
    "place_neurons",
    "population_ranges",
    "shipped_configs",
]
