"""One definition of the culture dynamics, shared by every backend."""

from livn.models.culture import (
    FAST_SPIKING,
    REGULAR_SPIKING,
    CultureModel,
    Heterogeneous,
    NeuronType,
    Receptor,
    check_weights,
    projection_name,
)

__all__ = [
    "CultureModel",
    "NeuronType",
    "Heterogeneous",
    "Receptor",
    "REGULAR_SPIKING",
    "FAST_SPIKING",
    "check_weights",
    "projection_name",
]
