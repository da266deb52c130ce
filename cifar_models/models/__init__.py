"""The lab's architectures; importing this package registers them."""
from . import inception, plain_cnn, senet  # noqa: F401  (registration happens on import)
from .base import CifarNet, InspectableLayer, capture_activations, count_macs
from .registry import MODELS, UnknownModelError, build_model, register_model

__all__ = ["MODELS", "CifarNet", "InspectableLayer", "UnknownModelError", "build_model", "capture_activations",
           "count_macs", "register_model"]
