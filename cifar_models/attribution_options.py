"""The settings of an attribution, apart from captum: records and scripts name them without importing it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttributionOptions:
    baseline: str = "black"  # Integrated Gradients' starting point, a key of BASELINES
    # 64 steps: on 40 test images the trained checkpoints' convergence delta stayed within 5% of the score difference
    # for 92.5% of the images (all three models), against 45% with 32 steps (README, "Attribution")
    ig_steps: int = 64
    internal_batch_size: int = 64  # Integrated Gradients' steps go through the model this many at a time
    grad_cam_layer: str | None = None  # an inspectable layer name; None: default_grad_cam_layer(model)
    occlusion_window: int = 8
    occlusion_stride: int = 4
    smoothgrad_samples: int = 16
    smoothgrad_noise: float = 0.15  # noise standard deviation as a fraction of the input's value range
    # Integrated Gradients' precision: "auto" is bf16 where the device computes it natively (cifar_models.precision),
    # else fp32. Its steps run as one batch, where bf16 pays (2-3x on a CPU with AVX512-BF16), and its maps agree
    # with fp32's (correlation 0.996 or more on the committed checkpoints). The other methods stay fp32: Occlusion's
    # small score differences and SmoothGrad's noisy gradients drift in bf16 (SmoothGrad's correlation 0.68-0.87).
    ig_precision: str = "auto"
