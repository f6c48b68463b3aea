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
from livn.models.plasticity import (
    STDP,
    InhibitorySTDP,
    PlasticSynapses,
    SynapticScaling,
    check_rules,
    lower_plasticity,
    stdp_window,
)
from livn.models.lowering import RECEPTORS, LoweredNetwork, delay_in_steps, lower

__all__ = [
    "CultureModel",
    "NeuronType",
    "Heterogeneous",
    "Receptor",
    "REGULAR_SPIKING",
    "FAST_SPIKING",
    "check_weights",
    "projection_name",
    "LoweredNetwork",
    "lower",
    "delay_in_steps",
    "RECEPTORS",
    "STDP",
    "InhibitorySTDP",
    "SynapticScaling",
    "PlasticSynapses",
    "check_rules",
    "lower_plasticity",
    "stdp_window",
]
