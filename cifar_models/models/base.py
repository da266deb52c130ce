"""What every model of the lab offers the dashboard: named inspectable layers, parameter and MAC counts."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class InspectableLayer:
    """A layer a caller may hook: ``path`` is the submodule whose output is meant; ``shape`` its (C, H, W)."""

    name: str
    path: str
    kind: str  # "block" (a block's output), "gate" (SE excitation weights) or "branch" (an Inception branch)
    shape: tuple[int, int, int]


class CifarNet(nn.Module):
    """Base of the lab's models: subclasses fill ``self.inspectable`` in their constructor."""

    num_classes: int

    def __init__(self) -> None:
        super().__init__()
        self.inspectable: dict[str, InspectableLayer] = {}

    def expose(self, name: str, path: str, kind: str, shape: tuple[int, int, int]) -> None:
        self.inspectable[name] = InspectableLayer(name, path, kind, tuple(shape))

    def inspectable_layers(self, kind: str | None = None) -> dict[str, InspectableLayer]:
        return {n: layer for n, layer in self.inspectable.items() if kind is None or layer.kind == kind}

    def follow_training(self, step: int, total_steps: int) -> None:
        """Tell every layer whose behaviour is scheduled over training (e.g. a ramped DropBlock) which training step
        comes next; layers without a schedule ignore it."""
        for module in self.modules():
            if module is not self and hasattr(module, "follow_training"):
                module.follow_training(step, total_steps)

    def hold_schedules_on_device(self, device: torch.device) -> None:
        """Move every scheduled value (e.g. a ramped DropBlock's rate) into a device tensor that
        :meth:`follow_training` fills in place: what a captured CUDA graph or a compiled model needs."""
        for module in self.modules():
            if module is not self and hasattr(module, "hold_schedule_on_device"):
                module.hold_schedule_on_device(device)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def macs_per_image(self) -> int:
        return count_macs(self)


@contextmanager
def evaluating(model: nn.Module):
    """Eval mode for the duration, then the mode the model had."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def count_macs(model: nn.Module, image_size: int = 32) -> int:
    """Multiply-accumulates of convolutions and linear layers for one image (the bulk of the work)."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs, output):
        nonlocal total
        kh, kw = module.kernel_size
        total += output[0].numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inputs, output):
        nonlocal total
        total += module.in_features * module.out_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        with evaluating(model), torch.no_grad():
            parameter = next(model.parameters())
            model(torch.zeros(1, 3, image_size, image_size, device=parameter.device))
    finally:
        for handle in handles:
            handle.remove()
    return total


def capture_activations(model: CifarNet, images: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, dict]:
    """Run ``images`` through ``model`` and return (logits, {layer name: its output}) for the named layers."""
    layers = model.inspectable_layers()
    unknown = [n for n in names if n not in layers]
    if unknown:
        raise KeyError(f"unknown layer(s) {unknown}; this model exposes {list(layers)}")
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name in names:
        def hook(_module, _inputs, output, name=name):
            captured[name] = output.detach()

        handles.append(model.get_submodule(layers[name].path).register_forward_hook(hook))
    try:
        logits = model(images)
    finally:
        for handle in handles:
            handle.remove()
    return logits, captured


def init_weights(model: nn.Module) -> None:
    """The one weight-init loop (torchvision's ResNet scheme)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)
