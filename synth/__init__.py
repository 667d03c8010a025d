"""Synthetic DST-shaped deliveries with known true effects (``regdml synth``).

Public API
----------
generate_delivery
    Write every register of ``shared/docs/delivery_format.md`` and the ground-truth file.
SynthParams
    The parameters of the synthetic world.
WORLDS, world_params
    The named worlds (``easy``, ``realistic``, ``confounded``) and their parameters.
"""

from synth.generate import GENERATOR_VERSION, default_truth_path, generate_delivery, meetings_path_of
from synth.params import WORLDS, SynthParams, world_params

__version__ = GENERATOR_VERSION
__all__ = [
    "GENERATOR_VERSION",
    "WORLDS",
    "SynthParams",
    "default_truth_path",
    "generate_delivery",
    "meetings_path_of",
    "world_params",
]
