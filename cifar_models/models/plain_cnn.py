"""The seed's PlainCNN: five convolution blocks with DropBlock in the first three, then a wide MLP head."""
from __future__ import annotations

import torch
from torch import nn

from .base import CifarNet, init_weights
from .dropblock import DeviceDropBlock2D
from .registry import register_model


class ConvBlock(nn.Module):
    """Conv -> BatchNorm -> ReLU -> DropBlock (optional) -> AvgPool 2: halves the resolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, drop_block: int | None, drop_prob: float):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.drop = DeviceDropBlock2D(drop_prob, drop_block) if drop_block else nn.Identity()
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.drop(self.relu(self.bn(self.conv(x)))))


class PlainCNN(CifarNet):
    # (out channels, kernel, DropBlock size or None); padding is kernel // 2: 3/2/2/1/1
    BLOCKS = ((32, 7, 8), (64, 5, 4), (128, 5, 2), (256, 3, None), (512, 3, None))

    def __init__(self, *, num_classes: int = 10, drop_prob: float = 0.3, head_width: int = 2000,
                 head_dropout: float = 0.4):
        super().__init__()
        self.num_classes = num_classes
        blocks, channels, size = [], 3, 32
        for index, (width, kernel, drop_block) in enumerate(self.BLOCKS, start=1):
            blocks.append(ConvBlock(channels, width, kernel, drop_block, drop_prob))
            self.expose(f"conv{index}", f"features.{index - 1}.relu", "block", (width, size, size))
            size //= 2
            self.expose(f"block{index}", f"features.{index - 1}", "block", (width, size, size))
            channels = width
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * size * size, head_width),
            nn.LeakyReLU(),
            nn.Dropout(head_dropout),
            nn.Linear(head_width, num_classes),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (N, 512, 1, 1)
        return self.head(x)


@register_model("plain_cnn", title="Plain CNN", order=0, colour="#4c78a8",
                summary="Five convolution blocks with DropBlock in the first three: the baseline.")
def plain_cnn(*, num_classes: int = 10, drop_prob: float = 0.3) -> PlainCNN:
    """The seed's plain CNN (2,784,250 parameters) regularised with DropBlock.

    DropBlock: Ghiasi, Lin and Le, "DropBlock: A regularization method for convolutional networks", NeurIPS 2018.
    """
    return PlainCNN(num_classes=num_classes, drop_prob=drop_prob)
