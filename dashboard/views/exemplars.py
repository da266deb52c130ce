"""What a channel responds to: its exemplar test images and its class profile, as images and a table to show."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cifar_models.exemplars import ChannelExemplars
from cifar_models.images import enlarge


@dataclass(frozen=True)
class ExemplarTile:
    image: np.ndarray  # uint8 RGB, enlarged
    caption: str


def exemplar_tiles(layer: ChannelExemplars, channel: int, images: np.ndarray, labels: np.ndarray,
                   classes: list[str], scale: int) -> list[ExemplarTile]:
    """The channel's most activating test images, most first, each captioned with its class, index and activation."""
    indices, values, _ = layer.for_channel(channel)
    return [ExemplarTile(enlarge(images[index], scale), f"{classes[labels[index]]} · #{index} · {value:.3g}")
            for index, value in zip(indices, values)]


def class_profile(layer: ChannelExemplars, channel: int, classes: list[str]) -> pd.DataFrame:
    """class, mean activation and its share of the class means' sum: which classes drive the channel."""
    means = layer.class_means[channel].astype(float)
    total = np.abs(means).sum()
    return pd.DataFrame({"class": classes, "mean activation": means,
                         "share": means / total if total else np.zeros_like(means)})

