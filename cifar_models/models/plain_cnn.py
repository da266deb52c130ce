"""The seed's PlainCNN: five convolution blocks with DropBlock in the first three, then a wide MLP head."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .. import schema
from ..schema import Limits, spec
from .base import CifarNet, init_weights
from .dropblock import DeviceDropBlock2D
from .registry import register_model


class ConvBlock(nn.Module):
    """Conv -> BatchNorm -> ReLU -> DropBlock (optional) -> AvgPool 2: halves the resolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, drop_block: int | None, drop_prob: float,
                 ramp: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.drop = DeviceDropBlock2D(drop_prob, drop_block, ramp=ramp) if drop_block else nn.Identity()
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.drop(self.relu(self.bn(self.conv(x)))))


DROP_SCHEDULES = ("fixed", "linear")  # DropBlock's drop probability: the target from the first step, or ramped to it
BLOCKS = ((32, 7), (64, 5), (128, 5), (256, 3), (512, 3))  # (out channels, kernel); padding is kernel // 2: 3/2/2/1/1


@dataclass(frozen=True)
class PlainCNNOptions:
    """The options Plain CNN's builder takes, typed for the one schema parser: ``train_all.py --model-option`` and a
    recipe file's ``model_options`` are checked against these fields (``cifar_models.model_options``)."""

    drop_prob: float = field(default=0.3, metadata=spec(
        limits=Limits(0, 1, high_open=True), help="DropBlock's target drop probability"))
    drop_block_sizes: tuple[int, ...] = field(default=(8, 4, 2), metadata=spec(
        limits=Limits(1), help=f"DropBlock's block size in each block from the first (at most {len(BLOCKS)}); the "
                               "blocks after them have none"))
    drop_schedule: str = field(default="fixed", metadata=spec(
        choices=DROP_SCHEDULES, help="fixed: the target from the first step (the seed's); linear: ramped from 0 at "
                                     "the first training step to the target at the last (the paper's)"))

    def inconsistencies(self):
        if len(self.drop_block_sizes) > len(BLOCKS):
            yield "drop_block_sizes", (f"holds at most {len(BLOCKS)} sizes (one per block from the first), got "
                                       f"{len(self.drop_block_sizes)}")


# The seed's fixed 0.3 DropBlock: what every run whose run.json does not state an option trained with (records held
# only the options given until they held all of them), so the builder's own defaults. Never change these: the lab's
# default is PlainCNNOptions's, which train_all.py records in full; these rebuild the records written before.
UNSTATED_OPTIONS = {"drop_prob": 0.3, "drop_block_sizes": (8, 4, 2), "drop_schedule": "fixed"}


class PlainCNN(CifarNet):
    BLOCKS = BLOCKS
    DROP_BLOCK_SIZES = UNSTATED_OPTIONS["drop_block_sizes"]  # the seed's DropBlock sizes of the first three blocks

    def __init__(self, *, num_classes: int = 10, drop_prob: float = UNSTATED_OPTIONS["drop_prob"],
                 drop_block_sizes: tuple[int, ...] = DROP_BLOCK_SIZES,
                 drop_schedule: str = UNSTATED_OPTIONS["drop_schedule"], head_width: int = 2000,
                 head_dropout: float = 0.4):
        super().__init__()
        # refused (SchemaError, a ValueError) as the command line and a recipe file are, naming the option
        schema.parse(PlainCNNOptions, schema.to_json({"drop_prob": drop_prob, "drop_block_sizes": drop_block_sizes,
                                                      "drop_schedule": drop_schedule}), "plain_cnn")
        self.num_classes = num_classes
        blocks, channels, size = [], 3, 32
        sizes = [*drop_block_sizes, *[None] * (len(self.BLOCKS) - len(drop_block_sizes))]
        for index, ((width, kernel), drop_block) in enumerate(zip(self.BLOCKS, sizes), start=1):
            blocks.append(ConvBlock(channels, width, kernel, drop_block, drop_prob, drop_schedule == "linear"))
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


@register_model("plain_cnn", title="Plain CNN", order=0, colour="#4c78a8", options=PlainCNNOptions,
                unstated_options=UNSTATED_OPTIONS,
                summary="Five convolution blocks with DropBlock in the first three: the baseline.")
def plain_cnn(*, num_classes: int = 10, drop_prob: float = UNSTATED_OPTIONS["drop_prob"],
              drop_block_sizes: tuple[int, ...] = PlainCNN.DROP_BLOCK_SIZES,
              drop_schedule: str = UNSTATED_OPTIONS["drop_schedule"]) -> PlainCNN:
    """The seed's plain CNN (2,784,250 parameters) regularised with DropBlock.

    ``drop_prob`` is DropBlock's target drop probability in the blocks of ``drop_block_sizes`` (one size per block,
    from the first); ``drop_schedule="linear"`` ramps it from 0 at the first training step to the target at the
    last, as the paper trains it, ``"fixed"`` (the seed's) applies the target from the first step.
    An option not given is the seed's (``UNSTATED_OPTIONS``), as every record that does not state it was trained;
    the lab's default is ``PlainCNNOptions``'s, which ``train_all.py`` gives in full.

    DropBlock: Ghiasi, Lin and Le, "DropBlock: A regularization method for convolutional networks", NeurIPS 2018.
    """
    return PlainCNN(num_classes=num_classes, drop_prob=drop_prob, drop_block_sizes=tuple(drop_block_sizes),
                    drop_schedule=drop_schedule)
