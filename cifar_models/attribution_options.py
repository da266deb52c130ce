"""The settings of an attribution, apart from captum: records and scripts name them without importing it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttributionOptions:
    baseline: str = "black"  # Integrated Gradients' starting point, a key of BASELINES
    ig_steps: int = 32
    internal_batch_size: int = 32  # Integrated Gradients' steps go through the model this many at a time
    grad_cam_layer: str | None = None  # an inspectable layer name; None: default_grad_cam_layer(model)
    occlusion_window: int = 8
    occlusion_stride: int = 4
    smoothgrad_samples: int = 16
    smoothgrad_noise: float = 0.15  # noise standard deviation as a fraction of the input's value range
