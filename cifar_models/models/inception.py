"""An Inception network for CIFAR: GoogLeNet's modules with BN-Inception's double 3x3, on a stride-2 stem."""
from __future__ import annotations

import torch
from torch import nn

from .base import CifarNet, init_weights
from .registry import register_model


def conv_bn_relu(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class InceptionModule(nn.Module):
    """Four parallel branches over the same input, concatenated along channels:

    1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 (a 5x5's field at lower cost) | 3x3 max-pool -> 1x1 projection
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int, d3_reduce: int, d3: int, pool_proj: int):
        super().__init__()
        self.branch1x1 = conv_bn_relu(in_channels, c1, 1)
        self.branch3x3 = nn.Sequential(conv_bn_relu(in_channels, c3_reduce, 1), conv_bn_relu(c3_reduce, c3, 3))
        self.branch_double3x3 = nn.Sequential(conv_bn_relu(in_channels, d3_reduce, 1), conv_bn_relu(d3_reduce, d3, 3),
                                              conv_bn_relu(d3, d3, 3))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv_bn_relu(in_channels, pool_proj, 1))
        self.out_channels = c1 + c3 + d3 + pool_proj

    BRANCHES = ("branch1x1", "branch3x3", "branch_double3x3", "branch_pool")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1x1(x), self.branch3x3(x), self.branch_double3x3(x), self.branch_pool(x)]
        return torch.cat(branches, 1)  # (N, c1 + c3 + d3 + pool_proj, H, W)


# GoogLeNet's module widths (Szegedy et al., Table 1): (c1, c3 reduce, c3, double-3x3 reduce, double-3x3, pool proj)
STAGES: tuple[tuple[tuple[int, ...], ...], ...] = (
    ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),  # 3a, 3b at 16x16
    ((192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
     (256, 160, 320, 32, 128, 128)),  # 4a, 4b, 4c, 4e at 8x8
    ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),  # 5a, 5b at 4x4
)


class InceptionNet(CifarNet):
    def __init__(self, *, num_classes: int = 10, width: float = 1.0, dropout: float = 0.2):
        super().__init__()
        self.num_classes = num_classes

        def scaled(channels: int) -> int:
            return max(int(round(channels * width)), 4)

        stem_width = scaled(128)
        # The stem halves the resolution at once: modules at 32x32 made a GoogLeNet epoch 3-6 s on an H200,
        # dominated by many small kernels at full resolution.
        self.stem = nn.Sequential(conv_bn_relu(3, scaled(64), 3), conv_bn_relu(scaled(64), stem_width, 3, stride=2))
        self.expose("stem", "stem", "block", (stem_width, 16, 16))
        stages, channels, size = [], stem_width, 16
        for stage, modules in enumerate(STAGES, start=1):
            layers: list[nn.Module] = [nn.MaxPool2d(2)] if stage > 1 else []
            size //= 2 if stage > 1 else 1
            for index, widths in enumerate(modules, start=1):
                module = InceptionModule(channels, *(scaled(w) for w in widths))
                path = f"stages.{stage - 1}.{len(layers)}"
                name = f"stage{stage}.module{index}"
                self.expose(name, path, "block", (module.out_channels, size, size))
                branch_widths = (module.branch1x1[1].num_features, module.branch3x3[-1][1].num_features,
                                 module.branch_double3x3[-1][1].num_features, module.branch_pool[-1][1].num_features)
                for branch, branch_width in zip(InceptionModule.BRANCHES, branch_widths):
                    self.expose(f"{name}.{branch}", f"{path}.{branch}", "branch", (branch_width, size, size))
                layers.append(module)
                channels = module.out_channels
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))  # (N, 1024 * width, 4, 4)
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))


@register_model("inception", title="Inception", order=2, colour="#54a24b",
                summary="GoogLeNet's Inception modules: parallel 1x1, 3x3, double-3x3 and pooling branches.")
def inception(*, num_classes: int = 10, width: float = 1.0, dropout: float = 0.2) -> InceptionNet:
    """An Inception network for 32x32 images (about 5.6 M parameters at width 1).

    Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (the modules and their widths); the double 3x3
    branch replaces the 5x5 as in Ioffe and Szegedy, "Batch Normalization", ICML 2015 (BN-Inception).
    """
    return InceptionNet(num_classes=num_classes, width=width, dropout=dropout)
