"""What the models compute inside, as arrays and tables the dashboard only has to show.

Feature maps of any inspectable layer with the top-k channels and a colour scale per map, per layer or across
models; the same image through the three models at comparable depths (layers of the same spatial resolution); the
first convolution's filters as images; SENet's excitation gates for an image against its class average; and each
Inception branch's share of its module's output.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

from .normalization import model_input
from .images import ColourScale, colour_scale, enlarge_to
from .models.base import CifarNet, InspectableLayer, capture_activations, evaluating


def flush_denormals() -> None:
    """Make the CPU treat denormal floats as zero, for the whole process (the dashboard and benchmarks call this).

    Explaining one image at a time on a CPU meets many tiny activations (near a black baseline, in weakly trained or
    regularised layers). As denormal floats they take the CPU's slow path: the attribution panel ran 9.6 s instead of
    0.8 s on 2 cores. Flushing them to zero changes no result by more than 1e-38. A library import must not change a
    process-wide setting behind its caller's back, hence a function.
    """
    torch.set_flush_denormal(True)


@contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads in this thread, then give it back the count it had.

    One image's operations are small: split over two threads, each one waits for the slower half. When another
    process holds one of two cores, that half waits for its time slice: the attribution panel took 5.2 s instead of
    1.45 s. Under OpenMP the count belongs to the calling thread, and threads that first use torch inside the block
    start with it; threads already running keep theirs.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


SCALE_SCOPES = {"map": "per map", "layer": "per layer", "models": "across models"}


# ----------------------------------------------------------------------------------------------------------------
# Feature maps


@dataclass
class FeatureMaps:
    probabilities: np.ndarray  # (classes,)
    maps: dict[str, np.ndarray]  # layer name -> (C, H, W) float32


def feature_maps(model: CifarNet, image: np.ndarray, layers: list[str]) -> FeatureMaps:
    """One uint8 (32, 32, 3) image through ``model`` in eval mode, keeping the named layers' outputs."""
    device = next(model.parameters()).device
    with evaluating(model), torch.no_grad():
        logits, captured = capture_activations(model, model_input(image[None], device), layers)
    return FeatureMaps(torch.softmax(logits[0].float(), 0).cpu().numpy(),
                       {name: output[0].float().cpu().numpy() for name, output in captured.items()})


def top_channels(maps: np.ndarray, k: int | None) -> np.ndarray:
    """Channel indices by mean activation, largest first; all channels when ``k`` is None."""
    order = np.argsort(-maps.reshape(len(maps), -1).mean(1), kind="stable")
    return order if k is None else order[:k]


@dataclass(frozen=True)
class MapTile:
    channel: int
    image: np.ndarray  # uint8 RGB, enlarged for display
    scale: ColourScale

    def caption(self, with_range: bool = False) -> str:
        """'#45', or with the tile's own scale (where each map has one) '#45 · max 0.47'; the colour bar beside the
        tiles gives the shared scale."""
        if not with_range:
            return f"#{self.channel}"
        extent = f"±{self.scale.high:.2g}" if self.scale.diverging else f"max {self.scale.high:.2g}"
        return f"#{self.channel} · {extent}"


def map_tiles(maps: np.ndarray, channels: Iterable[int], scope: str, shared: ColourScale | None = None,
              pixels: int = 96) -> list[MapTile]:
    """Coloured tiles of ``maps[channels]``.

    ``scope`` "map" scales each channel by itself (shows every map's pattern, hides how strong it is), "layer" uses
    one scale for the whole layer (compares channels), "models" uses ``shared``, one scale for several models'
    layers (compares models; from :func:`colour_scale` over their maps).
    """
    if scope not in SCALE_SCOPES:
        raise ValueError(f"unknown colour scale scope {scope!r}; choose from {', '.join(SCALE_SCOPES)}")
    if scope == "models" and shared is None:
        raise ValueError("a colour scale across models needs the shared scale of all the models' maps")
    layer_scale = colour_scale(maps) if scope == "layer" else shared
    tiles = []
    for channel in channels:
        scale = colour_scale(maps[channel]) if scope == "map" else layer_scale
        tiles.append(MapTile(int(channel), enlarge_to(scale.colourise(maps[channel]), pixels), scale))
    return tiles


def deepest_block(model: CifarNet, min_size: int) -> str:
    """The name of the deepest block output that still has at least ``min_size`` x ``min_size`` positions."""
    blocks = [layer for layer in model.inspectable_layers("block").values() if layer.shape[1] >= min_size]
    return blocks[-1].name


def comparable_depths(layers_by_model: dict[str, dict[str, InspectableLayer]]) -> dict[str, dict[str, str | None]]:
    """Depths the models can be compared at: per spatial resolution, each model's last block at that resolution.

    The three architectures have different numbers of layers, but each halves its resolution in stages, so the
    last block at 16x16 (say) has seen the same downsampling in all of them. A model without a block at some
    resolution (the Inception net starts at 16x16) gets None there.
    """
    depths: dict[int, dict[str, str]] = {}
    for model_name, layers in layers_by_model.items():
        for layer in layers.values():
            if layer.kind == "block":
                depths.setdefault(layer.shape[1], {})[model_name] = layer.name  # later blocks overwrite earlier ones
    return {f"{size}x{size}": {m: depths[size].get(m) for m in layers_by_model}
            for size in sorted(depths, reverse=True)}


# ----------------------------------------------------------------------------------------------------------------
# First-layer filters


def first_convolution(model: nn.Module) -> nn.Conv2d:
    """The convolution that reads the RGB image."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == 3:
            return module
    raise ValueError(f"{type(model).__name__} has no convolution over the 3 colour channels")


def filter_images(model: nn.Module, pixels: int = 64) -> list[np.ndarray]:
    """Each first-layer filter as an RGB image; mid-grey is a zero weight, each filter scaled by its largest weight."""
    weights = first_convolution(model).weight.detach().float().cpu().numpy()  # (C, 3, k, k)
    extent = np.abs(weights).reshape(len(weights), -1).max(1).clip(min=1e-12)[:, None, None, None]
    scaled = 0.5 + weights / (2 * extent)
    return [enlarge_to((w.transpose(1, 2, 0) * 255).round().astype(np.uint8), pixels) for w in scaled]


# ----------------------------------------------------------------------------------------------------------------
# SENet's excitation gates


def excitation_gates(model: CifarNet, images: np.ndarray, batch_size: int = 128) -> dict[str, np.ndarray]:
    """Gate layer name -> (N, C): the sigmoid weight SE gives each channel, for uint8 images (N, 32, 32, 3)."""
    names = list(model.inspectable_layers("gate"))
    if not names:
        raise ValueError(f"{type(model).__name__} has no Squeeze-and-Excitation gates")
    device = next(model.parameters()).device
    gates: dict[str, list[np.ndarray]] = {name: [] for name in names}
    with evaluating(model), torch.no_grad():
        for start in range(0, len(images), batch_size):
            _, captured = capture_activations(model, model_input(images[start:start + batch_size], device), names)
            for name in names:
                gates[name].append(captured[name].flatten(1).float().cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in gates.items()}


def class_average_gates(model: CifarNet, class_images: np.ndarray) -> dict[str, np.ndarray]:
    """Gate layer name -> (C,): each channel's gate averaged over ``class_images`` (uint8, N x 32 x 32 x 3)."""
    return {name: values.mean(0) for name, values in excitation_gates(model, class_images).items()}


def gate_comparison(model: CifarNet, image: np.ndarray, class_images: np.ndarray) -> pd.DataFrame:
    """Per gate layer and channel: this image's gate, the class average and the difference (long table)."""
    own = excitation_gates(model, image[None])
    average = class_average_gates(model, class_images)
    frames = [pd.DataFrame({"layer": name, "channel": np.arange(len(average[name])), "this image": own[name][0],
                            "class average": average[name], "difference": own[name][0] - average[name]})
              for name in own]
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------------------------------------------
# Inception branches


def branch_shares(model: CifarNet, image: np.ndarray) -> pd.DataFrame:
    """Per Inception module and branch: the branch's share of the module's total activation and of its channels.

    Every branch ends in a ReLU, so its output is non-negative and the sums add up to the module's output. A
    branch whose activation share exceeds its channel share carries more than its width suggests.
    """
    branches = model.inspectable_layers("branch")
    if not branches:
        raise ValueError(f"{type(model).__name__} has no Inception branches")
    maps = feature_maps(model, image, list(branches)).maps
    rows = []
    for name, layer in branches.items():
        module, branch = name.rsplit(".", 1)
        rows.append({"module": module, "branch": branch, "activation": float(maps[name].sum()),
                     "channels": layer.shape[0]})
    table = pd.DataFrame(rows)
    for column, share in (("activation", "activation share"), ("channels", "channel share")):
        table[share] = table[column] / table.groupby("module", sort=False)[column].transform("sum").clip(lower=1e-12)
    return table


# ----------------------------------------------------------------------------------------------------------------
# Predictions and mistakes


def class_probability_table(probabilities: dict[str, np.ndarray], classes: list[str], top: int | None = None
                            ) -> pd.DataFrame:
    """Long table (model, rank, class, probability) of each model's ``top`` classes (all when None), best first."""
    rows = []
    for model_name, values in probabilities.items():
        order = np.argsort(-values, kind="stable")[:top]
        rows += [{"model": model_name, "rank": rank, "class": classes[i], "probability": float(values[i])}
                 for rank, i in enumerate(order, start=1)]
    return pd.DataFrame(rows, columns=["model", "rank", "class", "probability"])


def misclassified(predictions: Iterable[int], labels: np.ndarray, true_class: int | None = None,
                  predicted_class: int | None = None) -> np.ndarray:
    """Indices of the wrongly predicted images, optionally only those of one true and/or one predicted class.

    ``predictions`` may cover only the first N images (a run record keeps those of the test images it evaluated).
    """
    predicted = np.asarray(list(predictions), dtype=np.int64)
    truth = np.asarray(labels)[: len(predicted)]
    keep = predicted != truth
    if true_class is not None:
        keep &= truth == true_class
    if predicted_class is not None:
        keep &= predicted == predicted_class
    return np.flatnonzero(keep)
