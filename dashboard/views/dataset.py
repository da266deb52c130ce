"""The Dataset page: split sizes, class counts, channel statistics, and the grid's order and paging."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cifar_models.data import CIFAR10

SPLIT_TITLES = {"train": "train", "val": "validation", "test": "test"}


def split_sizes(data: CIFAR10) -> dict[str, int]:
    return {title: len(getattr(data, split)) for split, title in SPLIT_TITLES.items()}


def class_distribution(data: CIFAR10) -> pd.DataFrame:
    """Long form: split, class, count."""
    rows = [{"split": title, "class": class_name, "count": int(count)}
            for split, title in SPLIT_TITLES.items()
            for class_name, count in zip(data.classes, getattr(data, split).class_counts(data.num_classes))]
    return pd.DataFrame(rows, columns=["split", "class", "count"])


def channel_statistics(images: np.ndarray, chunk: int = 4096) -> pd.DataFrame:
    """Per-channel mean and standard deviation of uint8 ``(N, H, W, 3)`` images, on the [0, 1] scale.

    Sums run in chunks of float64 so that 45,000 images need megabytes, not the gigabyte a float copy would take.
    """
    total = np.zeros(3)
    squares = np.zeros(3)
    for start in range(0, len(images), chunk):
        pixels = images[start:start + chunk].reshape(-1, 3).astype(np.float64) / 255
        total += pixels.sum(axis=0)
        squares += np.square(pixels).sum(axis=0)
    count = max(len(images) * images.shape[1] * images.shape[2], 1) if images.ndim == 4 else 1
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - np.square(mean), 0))
    return pd.DataFrame({"mean": mean, "std": std}, index=pd.Index(["red", "green", "blue"], name="channel"))


def sample_order(labels: np.ndarray, class_index: int | None, seed: int) -> np.ndarray:
    """Indices of a split's images (of one class, or all), in an order shuffled by ``seed``."""
    members = np.arange(len(labels)) if class_index is None else np.flatnonzero(labels == class_index)
    return np.random.default_rng(seed).permutation(members)


def page_count(total: int, per_page: int) -> int:
    return max(math.ceil(total / per_page), 1)


def page_of(indices: np.ndarray, page: int, per_page: int) -> np.ndarray:
    """The ``page``-th (from 1) slice of ``per_page`` indices."""
    start = (page - 1) * per_page
    return indices[start:start + per_page]
