"""The lab's architectures; importing this package registers them."""
from . import inception, plain_cnn, senet  # noqa: F401  (registration happens on import)
from .base import CifarNet, InspectableLayer, capture_activations, count_macs
from .registry import (MODELS, ModelSpec, UnknownModelError, build_model, display_order, model_colour, model_title,
                       register_model)

__all__ = ["MODELS", "CifarNet", "InspectableLayer", "ModelSpec", "UnknownModelError", "build_model",
           "capture_activations", "count_macs", "display_order", "model_colour", "model_title", "register_model"]
