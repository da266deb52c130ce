"""The Augmentation page: which images, the training pipeline's draws with their values, the sliders' ranges and
the recipe it exports."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cifar_models.augment import JITTERS, PARAMETERS, AugmentPipeline, describe_draws, to_float_batch, to_uint8_images
from cifar_models.data import CLASSES
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


# which drawn values matter for the parameters chosen: a step whose parameter is off draws values it does not use
_STEP_ACTIVE = {
    "crop": lambda p: p["crop_padding"] > 0,
    "flip": lambda p: p["flip_p"] > 0,
    "rotate": lambda p: p["rotate_degrees"] > 0,
    "jitter": lambda p: p["brightness"] > 0 or p["contrast"] > 0 or p["saturation"] > 0,
    "cutout": lambda p: p["cutout_size"] > 0,
    "mix": lambda p: p["mix"] != "none",
}


# a caption's words per step, short enough for a 160-pixel column
_CAPTION_WORDS = {
    "crop": lambda words: words,  # "shift (+2, -3)"
    "flip": lambda words: "flipped" if words == "yes" else "not flipped",
    "rotate": lambda words: f"rotated {words}",
    "jitter": lambda words: words,  # "b×1.08, s×0.93": the factors switched on
    "cutout": lambda words: words.replace("centre", "cutout at"),
    "mix": lambda words: words,  # "λ=0.62 with image 2"
}


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
    """
    pipeline = AugmentPipeline.from_dict(params)
    active = [step for step, is_on in _STEP_ACTIVE.items() if is_on(pipeline.params)]
    jitters = tuple(name for name in JITTERS if pipeline.params[name] > 0)
    generator = torch.Generator().manual_seed(seed)
    batch = to_float_batch(images)
    targets = torch.as_tensor(labels, dtype=torch.int64)
    previews = []
    for _ in range(draws):
        result = pipeline(batch, targets, num_classes=num_classes, generator=generator)
        captions = []
        for i in range(len(images)):
            words = describe_draws(result.draws, i, jitters)
            caption = " · ".join(_CAPTION_WORDS[step](words[step]) for step in active if step in words)
            if "mix" in active:  # the label training sees: MixUp and CutMix mix the labels too
                caption += f" · label {mixed_label(result.targets[i].numpy())}"
            captions.append(caption or "unchanged")
        previews.append(AugmentedDraw(to_uint8_images(result.images), captions))
    return previews


def default_augmentation() -> dict:
    """The augmentation of the default training recipe: where the preview starts."""
    return DEFAULT_RECIPE.to_dict()["augment"]


def slider_spec(name: str) -> dict:
    """Bounds, step and help of an augmentation parameter's slider (from :data:`PARAMETERS`), and its start: the
    default recipe's value."""
    _off, low, high, description = PARAMETERS[name]
    default = default_augmentation()[name]
    # pixels, and the rotation's degrees (a slider of 0 to 45 in steps of 1 that showed "0.00 / 45.00")
    whole = (isinstance(low, int) and isinstance(high, int)) or high > 5
    step = 1 if whole else 0.05
    cast = int if whole else float
    return {"min_value": cast(low), "max_value": cast(high), "default": cast(default), "step": cast(step),
            "help": description}


def training_recipe(augment: dict) -> dict:
    """The full recipe training would run with these augmentations: what ``train_all.py --recipe FILE`` reads."""
    return DEFAULT_RECIPE.updated(augment=AugmentPipeline.from_dict(augment).to_dict()).to_dict()
