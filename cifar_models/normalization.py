"""What every model is fed: uint8 ``(N, H, W, 3)`` images as float ``(N, 3, H, W)`` batches in [0, 1], scaled by
CIFAR-10's per-channel statistics; and the way back, for display. Training, evaluation, attribution and the dashboard
all convert through here."""
from __future__ import annotations

import functools

import numpy as np
import torch

# Per-channel mean and standard deviation of CIFAR-10's training images: what the models' inputs are scaled by.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def to_float_batch(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` to float ``(N, 3, H, W)`` in [0, 1]."""
    return torch.as_tensor(images).permute(0, 3, 1, 2).float().div_(255)


def to_uint8_images(batch: torch.Tensor) -> np.ndarray:
    """Float ``(N, 3, H, W)`` in [0, 1] back to uint8 ``(N, H, W, 3)`` for display."""
    return (batch.detach().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


@functools.cache
def _channel_statistics(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """MEAN and STD as ``(3, 1, 1)`` tensors on ``device``, made once: copying them from the host every batch would
    make the host wait for the GPU's queue to drain at every training step (a blocking host-to-device copy)."""
    return (torch.tensor(MEAN, dtype=dtype)[:, None, None].to(device),
            torch.tensor(STD, dtype=dtype)[:, None, None].to(device))


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """[0, 1] images to the models' input scale."""
    mean, std = _channel_statistics(batch.device, batch.dtype)
    return (batch - mean) / std


def denormalize(batch: torch.Tensor) -> torch.Tensor:
    """The models' input scale back to [0, 1] images (for drawing overlays)."""
    mean, std = _channel_statistics(batch.device, batch.dtype)
    return (batch * std + mean).clamp(0, 1)


def model_input(images: torch.Tensor | np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` images to a normalised float batch on ``device``: what every model is fed."""
    return normalize(to_float_batch(torch.as_tensor(images).to(device)))
