"""Batched augmentations as tensor operations, the same code for training (on the GPU) and previews (on the CPU).

Every augmentation works on a float batch ``(N, 3, H, W)`` with values in [0, 1] and is split in two steps:
``sample`` draws the random values for the batch (from an optional seeded ``torch.Generator``), ``apply`` uses them.
Keeping the draws lets the dashboard show the values each image actually got.

:class:`AugmentPipeline` composes them from a flat dict of named, bounded parameters, the ``augment`` field of a
training recipe::

    {"crop_padding": 4, "flip_p": 0.5, "cutout_size": 8, "brightness": 0.0, "contrast": 0.0, "saturation": 0.0,
     "rotate_degrees": 0.0, "mix": "none", "mix_alpha": 1.0}
"""
from __future__ import annotations

import functools

import math
from numbers import Real
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

Draws = dict[str, torch.Tensor]


# Per-channel mean and standard deviation of CIFAR-10's training images: what the models' inputs are scaled by.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def to_float_batch(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` to float ``(N, 3, H, W)`` in [0, 1]."""
    return torch.as_tensor(images).permute(0, 3, 1, 2).float().div_(255)


@functools.cache
def _channel_statistics(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """MEAN and STD as ``(3, 1, 1)`` tensors on ``device``, made once: copying them from the host every batch would
    make the host wait for the GPU's queue to drain at every training step (a blocking host-to-device copy)."""
    return (torch.tensor(MEAN, dtype=dtype)[:, None, None].to(device),
            torch.tensor(STD, dtype=dtype)[:, None, None].to(device))


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """[0, 1] images to the models' input scale."""
    mean, std = _channel_statistics(batch.device, batch.dtype)
    return (batch - mean) / std


def denormalize(batch: torch.Tensor) -> torch.Tensor:
    """The models' input scale back to [0, 1] images (for drawing overlays)."""
    mean, std = _channel_statistics(batch.device, batch.dtype)
    return (batch * std + mean).clamp(0, 1)


def model_input(images: torch.Tensor | np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` images to a normalised float batch on ``device``: what every model is fed."""
    return normalize(to_float_batch(torch.as_tensor(images).to(device)))


def to_uint8_images(batch: torch.Tensor) -> np.ndarray:
    """Float ``(N, 3, H, W)`` in [0, 1] back to uint8 ``(N, H, W, 3)`` for display."""
    return (batch.detach().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def _check(name: str, value: float, low: float, high: float) -> None:
    if not (isinstance(value, (int, float)) and low <= value <= high):
        raise ValueError(f"{name} must be between {low} and {high}, got {value!r}")


def _uniform(n: int, low: float, high: float, generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def _randint(n: int, high: int, generator, device) -> torch.Tensor:
    return torch.randint(0, high, (n,), generator=generator, device=device)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma, as torchvision's ``rgb_to_grayscale``: ``(N, 1, H, W)``."""
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


# ----------------------------------------------------------------------------------------------------------------
# Per-image augmentations


@dataclass(frozen=True)
class RandomCrop:
    """Reflect-pad by ``padding`` pixels, then crop back to the original size at a random offset."""

    padding: int = 4

    def __post_init__(self):
        _check("crop padding", self.padding, 0, 8)

    def sample(self, n: int, generator=None, device=None) -> Draws:
        span = 2 * self.padding + 1
        return {"dx": _randint(n, span, generator, device) - self.padding,
                "dy": _randint(n, span, generator, device) - self.padding}

    def apply(self, x: torch.Tensor, draws: Draws) -> torch.Tensor:
        if self.padding == 0:
            return x
        n, c, h, w = x.shape
        p = self.padding
        padded = F.pad(x, (p, p, p, p), mode="reflect")
        rows = (draws["dy"] + p)[:, None] + torch.arange(h, device=x.device)  # (N, H)
        cols = (draws["dx"] + p)[:, None] + torch.arange(w, device=x.device)  # (N, W)
        x = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * p))
        return x.gather(3, cols[:, None, None, :].expand(n, c, h, w))


@dataclass(frozen=True)
class HorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    p: float = 0.5

    def __post_init__(self):
        _check("flip probability", self.p, 0.0, 1.0)

    def sample(self, n: int, generator=None, device=None) -> Draws:
        return {"flipped": torch.rand(n, generator=generator, device=device) < self.p}

    def apply(self, x: torch.Tensor, draws: Draws) -> torch.Tensor:
        return torch.where(draws["flipped"][:, None, None, None], x.flip(-1), x)


@dataclass(frozen=True)
class Rotation:
    """Rotate each image by an angle drawn uniformly in [-degrees, degrees], filling by reflection."""

    degrees: float = 10.0

    def __post_init__(self):
        _check("rotation degrees", self.degrees, 0.0, 45.0)

    def sample(self, n: int, generator=None, device=None) -> Draws:
        return {"angle": _uniform(n, -self.degrees, self.degrees, generator, device)}

    def apply(self, x: torch.Tensor, draws: Draws) -> torch.Tensor:
        if self.degrees == 0:
            return x
        radians = draws["angle"].to(x.dtype) * (math.pi / 180)
        cos, sin, zero = radians.cos(), radians.sin(), torch.zeros_like(radians)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)  # (N, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


@dataclass(frozen=True)
class ColorJitter:
    """Scale brightness, contrast and saturation by factors drawn in [1 - s, 1 + s] (torchvision's definitions)."""

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0

    def __post_init__(self):
        for name in ("brightness", "contrast", "saturation"):
            _check(name, getattr(self, name), 0.0, 1.0)

    def sample(self, n: int, generator=None, device=None) -> Draws:
        return {name: _uniform(n, 1 - strength, 1 + strength, generator, device)
                for name, strength in (("brightness", self.brightness), ("contrast", self.contrast),
                                       ("saturation", self.saturation))}

    def apply(self, x: torch.Tensor, draws: Draws) -> torch.Tensor:
        def factor(name):
            return draws[name].to(x.dtype)[:, None, None, None]

        if self.brightness:
            x = (x * factor("brightness")).clamp(0, 1)
        if self.contrast:
            mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
            x = (mean + factor("contrast") * (x - mean)).clamp(0, 1)
        if self.saturation:
            gray = _gray(x)
            x = (gray + factor("saturation") * (x - gray)).clamp(0, 1)
        return x


@dataclass(frozen=True)
class Cutout:
    """Fill a ``size`` x ``size`` square at a random centre with grey (DeVries & Taylor, 2017; clipped at borders)."""

    size: int = 8
    fill: float = 0.5

    def __post_init__(self):
        _check("cutout size", self.size, 0, 32)
        _check("cutout fill", self.fill, 0.0, 1.0)

    def sample(self, n: int, generator=None, device=None, height: int = 32, width: int = 32) -> Draws:
        return {"cy": _randint(n, height, generator, device), "cx": _randint(n, width, generator, device)}

    def apply(self, x: torch.Tensor, draws: Draws) -> torch.Tensor:
        if self.size == 0:
            return x
        h, w = x.shape[-2:]
        top = draws["cy"][:, None] - self.size // 2
        left = draws["cx"][:, None] - self.size // 2
        rows = torch.arange(h, device=x.device)[None, :]
        cols = torch.arange(w, device=x.device)[None, :]
        inside_rows = (rows >= top) & (rows < top + self.size)  # (N, H)
        inside_cols = (cols >= left) & (cols < left + self.size)  # (N, W)
        hole = (inside_rows[:, :, None] & inside_cols[:, None, :])[:, None]  # (N, 1, H, W)
        return x.masked_fill(hole, self.fill)


# ----------------------------------------------------------------------------------------------------------------
# Batch-level mixing


def _beta(alpha: float, generator, device) -> float:
    """One Beta(alpha, alpha) draw, seeded from the torch generator so a preview is reproducible."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device).item())
    return float(np.random.default_rng(seed).beta(alpha, alpha))


@dataclass(frozen=True)
class BatchMix:
    """MixUp (Zhang et al., 2018) or CutMix (Yun et al., 2019) of each image with a random partner in the batch."""

    mode: str = "none"  # "none", "mixup" or "cutmix"
    alpha: float = 1.0

    def __post_init__(self):
        if self.mode not in ("none", "mixup", "cutmix"):
            raise ValueError(f"mix must be 'none', 'mixup' or 'cutmix', got {self.mode!r}")
        _check("mix alpha", self.alpha, 0.05, 4.0)

    def sample(self, n: int, generator=None, device=None, height: int = 32, width: int = 32) -> Draws:
        lam = _beta(self.alpha, generator, device)
        draws = {"partner": torch.randperm(n, generator=generator, device=device),
                 "lam": torch.tensor(lam, device=device)}
        if self.mode == "cutmix":
            cut_h, cut_w = int(height * math.sqrt(1 - lam)), int(width * math.sqrt(1 - lam))
            cy, cx = (int(v) for v in torch.randint(0, 1 << 30, (2,), generator=generator, device=device))
            cy, cx = cy % height, cx % width
            top, left = max(cy - cut_h // 2, 0), max(cx - cut_w // 2, 0)
            bottom, right = min(cy + cut_h - cut_h // 2, height), min(cx + cut_w - cut_w // 2, width)
            draws["box"] = torch.tensor([top, left, bottom, right], device=device)
            # the label weight follows the area actually pasted after clipping at the borders
            draws["lam"] = torch.tensor(1 - (bottom - top) * (right - left) / (height * width), device=device)
        return draws

    def apply(self, x: torch.Tensor, targets: torch.Tensor, draws: Draws) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mode == "none":
            return x, targets
        partner, lam = draws["partner"], draws["lam"].to(x.dtype)
        if self.mode == "mixup":
            x = lam * x + (1 - lam) * x[partner]
        else:
            top, left, bottom, right = (int(v) for v in draws["box"])
            x = x.clone()
            x[:, :, top:bottom, left:right] = x[partner, :, top:bottom, left:right]
        return x, lam * targets + (1 - lam) * targets[partner]


# ----------------------------------------------------------------------------------------------------------------
# Functional forms: one call each, for scripts and tests


def _run(augmentation, x: torch.Tensor, generator) -> torch.Tensor:
    return augmentation.apply(x, augmentation.sample(len(x), generator, x.device))


def random_crop(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    return _run(RandomCrop(padding), x, generator)


def horizontal_flip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    return _run(HorizontalFlip(p), x, generator)


def rotate(x: torch.Tensor, degrees: float = 10.0, generator: torch.Generator | None = None) -> torch.Tensor:
    return _run(Rotation(degrees), x, generator)


def color_jitter(x: torch.Tensor, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    return _run(ColorJitter(brightness, contrast, saturation), x, generator)


def cutout(x: torch.Tensor, size: int = 8, generator: torch.Generator | None = None) -> torch.Tensor:
    return _run(Cutout(size), x, generator)


def _mix(mode: str, x, targets, alpha, generator):
    mix = BatchMix(mode, alpha)
    return mix.apply(x, targets, mix.sample(len(x), generator, x.device, *x.shape[-2:]))


def mixup(x: torch.Tensor, targets: torch.Tensor, alpha: float = 1.0, generator: torch.Generator | None = None):
    """``targets`` are one-hot (or soft) ``(N, classes)``; returns mixed images and targets."""
    return _mix("mixup", x, targets, alpha, generator)


def cutmix(x: torch.Tensor, targets: torch.Tensor, alpha: float = 1.0, generator: torch.Generator | None = None):
    return _mix("cutmix", x, targets, alpha, generator)


# ----------------------------------------------------------------------------------------------------------------
# The pipeline

# name in the recipe dict -> (default, low, high, what it does); defaults are "off" except crop and flip
PARAMETERS: dict[str, tuple[float | str, float | None, float | None, str]] = {
    "crop_padding": (4, 0, 8, "reflect padding (pixels) before a random crop back to 32x32"),
    "flip_p": (0.5, 0.0, 1.0, "probability of a horizontal flip"),
    "rotate_degrees": (0.0, 0.0, 45.0, "largest rotation angle, either way"),
    "brightness": (0.0, 0.0, 1.0, "brightness factor drawn in [1-b, 1+b]"),
    "contrast": (0.0, 0.0, 1.0, "contrast factor drawn in [1-c, 1+c]"),
    "saturation": (0.0, 0.0, 1.0, "saturation factor drawn in [1-s, 1+s]"),
    "cutout_size": (0, 0, 32, "side of the grey square cut out (0: off)"),
    "mix": ("none", None, None, "batch mixing: none, mixup or cutmix"),
    "mix_alpha": (1.0, 0.05, 4.0, "Beta(alpha, alpha) for the mixing weight"),
}


class Augmented(NamedTuple):
    images: torch.Tensor  # (N, 3, H, W) float in [0, 1]
    targets: torch.Tensor | None  # (N, classes) soft targets, or None when no labels were given
    draws: dict[str, Draws]  # augmentation name -> the random values it drew


class AugmentPipeline:
    """Crop, flip, rotation, colour jitter, cutout, then batch mixing, built from a flat parameter dict."""

    def __init__(self, **params):
        unknown = set(params) - set(PARAMETERS)
        if unknown:
            raise ValueError(f"unknown augmentation parameter(s) {sorted(unknown)}; known: {sorted(PARAMETERS)}")
        self.params = {name: params.get(name, default) for name, (default, *_rest) in PARAMETERS.items()}
        p = self.params
        # The steps below check the ranges; float() would also take "0.5" or true, so refuse those here and keep
        # each number as its parameter's type (a recipe records 0.5, not a numpy scalar or a string).
        for name, (default, *_rest) in PARAMETERS.items():
            value = p[name]
            if isinstance(default, str):
                continue
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise ValueError(f"{name} must be a number, got {value!r}")
            p[name] = _whole(value, name) if isinstance(default, int) else float(value)
        self.steps = {
            "crop": RandomCrop(_whole(p["crop_padding"], "crop_padding")),
            "flip": HorizontalFlip(float(p["flip_p"])),
            "rotate": Rotation(float(p["rotate_degrees"])),
            "jitter": ColorJitter(float(p["brightness"]), float(p["contrast"]), float(p["saturation"])),
            "cutout": Cutout(_whole(p["cutout_size"], "cutout_size")),
        }
        self.mix = BatchMix(str(p["mix"]), float(p["mix_alpha"]))

    @classmethod
    def from_dict(cls, params: dict | None) -> "AugmentPipeline":
        return cls(**(params or {}))

    def to_dict(self) -> dict:
        return dict(self.params)

    def __repr__(self) -> str:
        return f"AugmentPipeline({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"

    def __call__(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, num_classes: int = 10,
                 generator: torch.Generator | None = None) -> Augmented:
        n, device = len(x), x.device
        draws: dict[str, Draws] = {}
        for name, step in self.steps.items():
            if name == "cutout":
                draws[name] = step.sample(n, generator, device, *x.shape[-2:])
            else:
                draws[name] = step.sample(n, generator, device)
            x = step.apply(x, draws[name])
        targets = None
        if labels is not None:
            targets = F.one_hot(labels, num_classes).to(x.dtype)
            if self.mix.mode != "none":
                draws["mix"] = self.mix.sample(n, generator, device, *x.shape[-2:])
                x, targets = self.mix.apply(x, targets, draws["mix"])
        return Augmented(x, targets, draws)


def _whole(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Real) or not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number of pixels, got {value!r}")
    return int(value)


JITTERS = ("brightness", "contrast", "saturation")


def describe_draws(draws: dict[str, Draws], index: int, jitters: tuple[str, ...] = JITTERS) -> dict[str, str]:
    """The values image ``index`` actually drew, in words, e.g. ``{"crop": "shift (+2, -3)", "flip": "yes"}``;
    the colour jitter names the factors in ``jitters`` only (those switched on)."""
    words: dict[str, str] = {}
    if "crop" in draws:
        words["crop"] = f"shift ({int(draws['crop']['dx'][index]):+d}, {int(draws['crop']['dy'][index]):+d})"
    if "flip" in draws:
        words["flip"] = "yes" if bool(draws["flip"]["flipped"][index]) else "no"
    if "rotate" in draws:
        words["rotate"] = f"{float(draws['rotate']['angle'][index]):+.1f}°"
    if "jitter" in draws:
        words["jitter"] = ", ".join(f"{name[0]}×{float(draws['jitter'][name][index]):.2f}" for name in jitters)
    if "cutout" in draws:
        words["cutout"] = f"centre ({int(draws['cutout']['cx'][index])}, {int(draws['cutout']['cy'][index])})"
    if "mix" in draws:
        partner = int(draws["mix"]["partner"][index])
        words["mix"] = f"λ={float(draws['mix']['lam']):.2f} with image {partner}"
    return words
