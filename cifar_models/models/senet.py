"""SE-ResNet: a CIFAR ResNet-18 whose every residual block is gated by Squeeze-and-Excitation."""
from __future__ import annotations

import torch
from torch import nn

from .base import CifarNet, init_weights
from .registry import register_model


class SqueezeExcitation(nn.Module):
    """Squeeze (global average) -> bottleneck MLP -> sigmoid gate per channel -> re-weight the input."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.excite = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1)
        )
        self.gate = nn.Sigmoid()  # its output (N, C, 1, 1) is what the dashboard shows as "excitation"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.excite(self.squeeze(x)))


class SEBasicBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> SE, plus the (projected) shortcut, then ReLU."""

    def __init__(self, in_channels: int, channels: int, stride: int, reduction: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.se = SqueezeExcitation(channels, reduction)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(channels))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu2(out + self.shortcut(x))  # residual and shortcut: (N, C, H/stride, W/stride)


class SENet(CifarNet):
    def __init__(self, *, num_classes: int = 10, width: int = 64, blocks: tuple[int, ...] = (2, 2, 2, 2),
                 reduction: int = 16):
        super().__init__()
        self.num_classes = num_classes
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.expose("stem", "stem", "block", (width, 32, 32))
        stages, channels, size = [], width, 32
        for stage, count in enumerate(blocks, start=1):
            out_channels = width * 2 ** (stage - 1)
            layers = []
            for index in range(count):
                stride = 2 if stage > 1 and index == 0 else 1
                size //= stride
                layers.append(SEBasicBlock(channels, out_channels, stride, reduction))
                channels = out_channels
                path = f"stages.{stage - 1}.{index}"
                self.expose(f"stage{stage}.block{index + 1}", path, "block", (channels, size, size))
                self.expose(f"stage{stage}.block{index + 1}.gate", f"{path}.se.gate", "gate", (channels, 1, 1))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)
        for module in self.modules():  # start each residual branch at zero: the block begins as the identity
            if isinstance(module, SEBasicBlock):
                nn.init.zeros_(module.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))  # (N, 8 * width, 4, 4)
        return self.fc(torch.flatten(self.pool(x), 1))


@register_model("senet", title="SENet", order=1, colour="#f58518",
                summary="SE-ResNet-18: every residual block re-weights its channels with a squeeze-and-excitation gate.")
def senet(*, num_classes: int = 10, width: int = 64, blocks: tuple[int, ...] = (2, 2, 2, 2),
          reduction: int = 16) -> SENet:
    """SE-ResNet-18 for 32x32 images (about 11.3 M parameters at width 64).

    Hu, Shen and Sun, "Squeeze-and-Excitation Networks", CVPR 2018; the residual body is He et al.'s ResNet-18
    ("Deep Residual Learning for Image Recognition", CVPR 2016) with a 3x3 stem for CIFAR.
    """
    return SENet(num_classes=num_classes, width=width, blocks=tuple(blocks), reduction=reduction)
