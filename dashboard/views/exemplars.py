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



# Exemplars are computed at the checkpoint's precision, bfloat16 on an accelerator: 8 significant bits, so two
# activations within 2**-8 of each other (relative) cannot be told apart. A channel whose most activating test image
# is within that of its ninth has no ranking to show: the nine tie, and their order is just that of their indices.
TIE_RESOLUTION = 2.0 ** -8


def tie_note(layer: ChannelExemplars, channel: int) -> str:
    """Why the channel's exemplars are no ranking ('' where they are one): its top images all reach the same value
    (SENet's saturated gates; a ReLU channel that never fires)."""
    _, values, _ = layer.for_channel(channel)
    highest, lowest = float(values[0]), float(values[-1])
    if highest - lowest > TIE_RESOLUTION * max(abs(highest), np.finfo(np.float32).tiny):
        return ""
    means = layer.class_means[channel]
    return (f"This channel barely varies: its {len(values)} most activating test images all reach {highest:.3g} "
            f"(equal within bfloat16's precision, 1 part in {int(1 / TIE_RESOLUTION)}), and its class means run "
            f"from {float(means.min()):.3g} to {float(means.max()):.3g}. The images below are tied, shown in test-index "
            "order: they are not a ranking of what the channel responds to.")
