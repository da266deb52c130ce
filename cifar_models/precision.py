"""Numeric precision of training and inference: ``auto``, ``bf16`` or ``fp32``.

``bf16`` runs the forward pass under bf16 autocast with channels_last tensors (weights and optimiser stay fp32). It
pays on CUDA and on CPUs with native bf16 instructions (AVX512-BF16 or AMX, e.g. Intel Sapphire Rapids: 2.6-4.8x faster
training than fp32 there); elsewhere bf16 is emulated and slower, so ``auto`` picks fp32.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn

PRECISIONS = ("auto", "bf16", "fp32")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU executes bf16 matrix products natively (AVX512-BF16 or AMX tiles)."""
    capability = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(capability, check, lambda: False)() for check in checks)


def resolve_precision(requested: str, device: torch.device) -> str:
    """``bf16`` or ``fp32``: what ``requested`` (one of PRECISIONS) means on ``device``."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {requested!r}")
    if requested != "auto":
        return requested
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16()):
        return "bf16"
    return "fp32"


def autocast(precision: str, device: torch.device, *, cache: bool = True):
    """The forward pass's context: bf16 autocast for ``bf16``, nothing for ``fp32``. ``cache=False`` for a step
    captured in a CUDA graph (torch's CUDA Graphs notes: autocast's weight cache must not outlive the capture)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return nullcontext()


def memory_format(precision: str) -> torch.memory_format:
    """channels_last with bf16 (what oneDNN and cuDNN's bf16 convolutions want), contiguous with fp32."""
    return torch.channels_last if precision == "bf16" else torch.contiguous_format


def prepare_model(model: nn.Module, precision: str) -> nn.Module:
    return model.to(memory_format=memory_format(precision))


def prepare_batch(batch: torch.Tensor, precision: str) -> torch.Tensor:
    return batch.contiguous(memory_format=memory_format(precision))


# One image at a time (the dashboard's predictions and explanations) bf16 does not pay on a CPU: converting weights
# and activations costs more than the smaller products save. Measured on a 2-core AMD EPYC with AVX512-BF16, one image
# through the trained checkpoints: SENet 15.0 ms in fp32 against 30.5 ms in bf16, Plain CNN 3.6 against 3.9 ms,
# Inception 23.5 against 21.6 ms. So single images run in fp32 everywhere; batches follow ``auto``.
SINGLE_IMAGE_PRECISION = "fp32"
