"""The Augmentation page: which images, the training pipeline's draws with their values, the sliders' ranges and
the recipe it exports."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cifar_models.augment import AUGMENTATIONS, AugmentPipeline, Parameter
from cifar_models.data import CLASSES
from cifar_models.normalization import to_float_batch, to_uint8_images
from cifar_models.recipe import DEFAULT_RECIPE


def random_batch(total: int, count: int, seed: int) -> np.ndarray:
    """``count`` distinct image indices out of ``total``, chosen by ``seed``."""
    return np.sort(np.random.default_rng(seed).choice(total, size=min(count, total), replace=False))


def parse_indices(text: str, total: int, limit: int = 12) -> list[int]:
    """'3, 17 42' -> [3, 17, 42]; a ValueError says what is wrong in words."""
    words = text.replace(",", " ").split()
    if not words:
        raise ValueError("Enter at least one image index.")
    try:
        indices = [int(word) for word in words]
    except ValueError:
        raise ValueError(f"Image indices are whole numbers separated by commas or spaces, got {text!r}.") from None
    outside = [i for i in indices if not 0 <= i < total]
    if outside:
        raise ValueError(f"Indices must be between 0 and {total - 1}; {outside} are not.")
    if len(indices) > limit:
        raise ValueError(f"Choose at most {limit} images at a time (got {len(indices)}).")
    return list(dict.fromkeys(indices))


@dataclass(frozen=True)
class PreviewImage:
    """One row of the preview: the image, the class its label holds (what MixUp and CutMix mix), its caption."""

    pixels: np.ndarray  # uint8 (32, 32, 3)
    label: int
    caption: str


def preview_images(images: np.ndarray, labels: np.ndarray, indices, classes, own: tuple[np.ndarray, int, str]
                   | None = None) -> list[PreviewImage]:
    """The rows of the preview: the reader's own image first where there is one (``own``: pixels, the class it is
    given, its name), then the training images at ``indices``, numbered in batch order as MixUp/CutMix pair them."""
    rows = [] if own is None else [(own[0], own[1], f"{own[2]} (yours, as the models see it)")]
    rows += [(images[index], int(labels[index]), f"#{index} · {classes[labels[index]]} (original)") for index in indices]
    return [PreviewImage(pixels, label, f"image {row}: {caption}") for row, (pixels, label, caption) in enumerate(rows)]


def mixed_label(target: np.ndarray, classes: list[str] = CLASSES) -> str:
    """A soft target in words: 'cat' or '62% cat + 38% dog'."""
    order = [int(i) for i in np.argsort(-target) if target[i] > 0.005]
    if len(order) == 1:
        return classes[order[0]]
    return " + ".join(f"{target[i]:.0%} {classes[i]}" for i in order)


@dataclass(frozen=True)
class AugmentedDraw:
    images: np.ndarray  # uint8 (N, H, W, 3)
    captions: list[str]  # per image: the random values it drew, for the steps that are switched on


def augmentation_preview(images: np.ndarray, labels: np.ndarray, params: dict, draws: int, seed: int,
                         num_classes: int = len(CLASSES)) -> list[AugmentedDraw]:
    """``draws`` independent passes of the training pipeline over the same images, seeded for a repeatable preview.

    It runs :class:`AugmentPipeline`, the code training runs; labels are given so that MixUp/CutMix mix them too.
    Each caption joins the switched-on augmentations' own captions of what the image drew.
    """
    pipeline = AugmentPipeline.from_dict(params)
    active = [augmentation for augmentation in AUGMENTATIONS if augmentation.is_on(pipeline.config)]
    generator = torch.Generator().manual_seed(seed)
    batch = to_float_batch(images)
    targets = torch.as_tensor(labels, dtype=torch.int64)
    previews = []
    for _ in range(draws):
        result = pipeline(batch, targets, num_classes=num_classes, generator=generator)
        captions = []
        for i in range(len(images)):
            caption = " · ".join(step.caption(step.describe(result.draws[step.name], i, pipeline.config))
                                 for step in active if step.name in result.draws)
            if any(step.mixes_labels for step in active):  # the label training sees: MixUp and CutMix mix it too
                caption += f" · label {mixed_label(result.targets[i].numpy())}"
            captions.append(caption or "unchanged")
        previews.append(AugmentedDraw(to_uint8_images(result.images), captions))
    return previews


def default_augmentation() -> dict:
    """The augmentation of the default training recipe: where the preview starts."""
    return DEFAULT_RECIPE.to_dict()["augment"]


def parameters() -> list[Parameter]:
    """Every augmentation parameter in the order of :data:`AUGMENTATIONS`: one control each, with its label, help
    and group (the page's column) from the recipe's field metadata."""
    return [parameter for augmentation in AUGMENTATIONS for parameter in augmentation.parameters]


def slider_spec(name: str) -> dict:
    """Bounds, step and help of an augmentation parameter's slider (from its limits), and its start: the default
    recipe's value."""
    [parameter] = [parameter for parameter in parameters() if parameter.name == name]
    low, high = parameter.spec.limits.low, parameter.spec.limits.high
    default = default_augmentation()[name]
    # pixels, and the rotation's degrees (a slider of 0 to 45 in steps of 1 that showed "0.00 / 45.00")
    whole = parameter.kind is int or high > 5
    step = 1 if whole else 0.05
    cast = int if whole else float
    return {"min_value": cast(low), "max_value": cast(high), "default": cast(default), "step": cast(step),
            "help": parameter.spec.help}


def training_recipe(augment: dict) -> dict:
    """The full recipe training would run with these augmentations: what ``train_all.py --recipe FILE`` reads."""
    return DEFAULT_RECIPE.updated(augment=augment).to_dict()
