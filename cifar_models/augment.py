"""Batched augmentations as tensor operations, the same code for training (on the GPU) and previews (on the CPU).

Every augmentation works on a float batch ``(N, 3, H, W)`` with values in [0, 1] and is split in two steps:
``sample`` draws the random values for the batch (from an optional seeded ``torch.Generator``), ``apply`` uses them.
Keeping the draws lets the dashboard show the values each image actually got.

:class:`AugmentConfig` is the ``augment`` field of a training recipe: named, bounded parameters (their limits, labels
and help in the fields' metadata), written in JSON as a flat object::

    {"crop_padding": 4, "flip_p": 0.5, "rotate_degrees": 0.0, "brightness": 0.0, "contrast": 0.0, "saturation": 0.0,
     "cutout_size": 8, "mix": "none", "mix_alpha": 1.0}

:data:`AUGMENTATIONS` holds one :class:`Augmentation` per step (its parameters, the batched operation they build,
how a draw is described); :class:`AugmentPipeline` runs them in that order.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, get_type_hints

import numpy as np
import torch
import torch.nn.functional as F

from . import schema
from .schema import FieldSpec, Limits, spec

Draws = dict[str, torch.Tensor]
PROBABILITY = Limits(0.0, 1.0)
MIX_MODES = ("none", "mixup", "cutmix")


@dataclass(frozen=True)
class AugmentConfig:
    """Every augmentation parameter of a recipe. Left out of a recipe, a parameter is off (crop and flip: on)."""

    crop_padding: int = field(default=4, metadata=spec(
        limits=Limits(0, 8), label="Crop: padding (px)", group="geometry",
        help="reflect padding (pixels) before a random crop back to 32x32"))
    flip_p: float = field(default=0.5, metadata=spec(
        limits=PROBABILITY, label="Flip probability", group="geometry", help="probability of a horizontal flip"))
    rotate_degrees: float = field(default=0.0, metadata=spec(
        limits=Limits(0.0, 45.0), label="Rotation: largest angle (°)", group="geometry",
        help="largest rotation angle, either way"))
    brightness: float = field(default=0.0, metadata=spec(
        limits=PROBABILITY, label="Jitter: brightness", group="colour", help="brightness factor drawn in [1-b, 1+b]"))
    contrast: float = field(default=0.0, metadata=spec(
        limits=PROBABILITY, label="Jitter: contrast", group="colour", help="contrast factor drawn in [1-c, 1+c]"))
    saturation: float = field(default=0.0, metadata=spec(
        limits=PROBABILITY, label="Jitter: saturation", group="colour", help="saturation factor drawn in [1-s, 1+s]"))
    cutout_size: int = field(default=0, metadata=spec(
        limits=Limits(0, 32), label="Cutout: square side (px)", group="geometry",
        help="side of the grey square cut out (0: off)"))
    mix: str = field(default="none", metadata=spec(
        choices=MIX_MODES, label="Batch mixing", group="mixing", help="batch mixing: none, mixup or cutmix"))
    mix_alpha: float = field(default=1.0, metadata=spec(
        limits=Limits(0.05, 4.0), label="MixUp/CutMix alpha", group="mixing",
        help="Beta(alpha, alpha) for the mixing weight"))

    def __post_init__(self):
        schema.validate(self)  # built in code, checked as a recipe file is: AugmentConfig(flip_p=3) is refused


def _check(parameter: str, value: Any, operation: object) -> None:
    """Refuse a value the recipe's ``parameter`` would not take, for an operation built directly (SchemaError)."""
    schema.parse_field(AugmentConfig, parameter, value, type(operation).__name__)


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
        _check("crop_padding", self.padding, self)

    def sample(self, n: int, generator=None, device=None, height: int = 32, width: int = 32) -> Draws:
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
        _check("flip_p", self.p, self)

    def sample(self, n: int, generator=None, device=None, height: int = 32, width: int = 32) -> Draws:
        return {"flipped": torch.rand(n, generator=generator, device=device) < self.p}

    def apply(self, x: torch.Tensor, draws: Draws) -> torch.Tensor:
        return torch.where(draws["flipped"][:, None, None, None], x.flip(-1), x)


@dataclass(frozen=True)
class Rotation:
    """Rotate each image by an angle drawn uniformly in [-degrees, degrees], filling by reflection."""

    degrees: float = 10.0

    def __post_init__(self):
        _check("rotate_degrees", self.degrees, self)

    def sample(self, n: int, generator=None, device=None, height: int = 32, width: int = 32) -> Draws:
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
            _check(name, getattr(self, name), self)

    def sample(self, n: int, generator=None, device=None, height: int = 32, width: int = 32) -> Draws:
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
        _check("cutout_size", self.size, self)
        if not PROBABILITY.admits(self.fill):
            raise ValueError(f"cutout fill must be {PROBABILITY.describe()}, got {self.fill!r}")

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
        _check("mix", self.mode, self)
        _check("mix_alpha", self.alpha, self)

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
# One object per augmentation, and the pipeline that runs them


@dataclass(frozen=True)
class Parameter:
    """One recipe parameter of an augmentation: its name in ``augment``, its type and its spec (limits, label,
    help, and the group of controls a page puts it in)."""

    name: str
    kind: type
    spec: FieldSpec


def _parameters(*names: str) -> tuple[Parameter, ...]:
    kinds = get_type_hints(AugmentConfig)
    return tuple(Parameter(name, kinds[name], schema.field_spec(AugmentConfig, name)) for name in names)


def _jitter_words(draws: Draws, index: int, config: AugmentConfig | None) -> str:
    """The factors switched on in ``config`` (all three without one), e.g. ``b×1.08, s×0.93``."""
    names = [name for name in JITTERS if config is None or getattr(config, name) > 0]
    return ", ".join(f"{name[0]}×{float(draws[name][index]):.2f}" for name in names)


@dataclass(frozen=True)
class Augmentation:
    """One augmentation step: its recipe parameters, the batched operation they build, whether they switch it on,
    and what an image drew in words (``describe``) and as a preview's caption (``caption``, short enough for a
    160-pixel column)."""

    name: str  # its key in the draws
    parameters: tuple[Parameter, ...]
    build: Callable[[AugmentConfig], Any]  # an operation with sample(n, generator, device, height, width) and apply
    is_on: Callable[[AugmentConfig], bool]
    describe: Callable[[Draws, int, AugmentConfig | None], str]
    caption: Callable[[str], str]
    mixes_labels: bool = False  # applied to the batch with its targets, and only when labels are given


JITTERS = ("brightness", "contrast", "saturation")

AUGMENTATIONS: tuple[Augmentation, ...] = (
    Augmentation("crop", _parameters("crop_padding"), lambda c: RandomCrop(c.crop_padding),
                 lambda c: c.crop_padding > 0,
                 lambda d, i, c: f"shift ({int(d['dx'][i]):+d}, {int(d['dy'][i]):+d})", lambda words: words),
    Augmentation("flip", _parameters("flip_p"), lambda c: HorizontalFlip(c.flip_p), lambda c: c.flip_p > 0,
                 lambda d, i, c: "yes" if bool(d["flipped"][i]) else "no",
                 lambda words: "flipped" if words == "yes" else "not flipped"),
    Augmentation("rotate", _parameters("rotate_degrees"), lambda c: Rotation(c.rotate_degrees),
                 lambda c: c.rotate_degrees > 0, lambda d, i, c: f"{float(d['angle'][i]):+.1f}°",
                 lambda words: f"rotated {words}"),
    Augmentation("jitter", _parameters(*JITTERS), lambda c: ColorJitter(c.brightness, c.contrast, c.saturation),
                 lambda c: any(getattr(c, name) > 0 for name in JITTERS), _jitter_words, lambda words: words),
    Augmentation("cutout", _parameters("cutout_size"), lambda c: Cutout(c.cutout_size), lambda c: c.cutout_size > 0,
                 lambda d, i, c: f"centre ({int(d['cx'][i])}, {int(d['cy'][i])})",
                 lambda words: words.replace("centre", "cutout at")),
    Augmentation("mix", _parameters("mix", "mix_alpha"), lambda c: BatchMix(c.mix, c.mix_alpha),
                 lambda c: c.mix != "none", lambda d, i, c: f"λ={float(d['lam']):.2f} with image {int(d['partner'][i])}",
                 lambda words: words, mixes_labels=True),
)


class Augmented(NamedTuple):
    images: torch.Tensor  # (N, 3, H, W) float in [0, 1]
    targets: torch.Tensor | None  # (N, classes) soft targets, or None when no labels were given
    draws: dict[str, Draws]  # augmentation name -> the random values it drew


class AugmentPipeline:
    """The augmentations of :data:`AUGMENTATIONS` in order, as ``config`` sets them."""

    def __init__(self, config: AugmentConfig | None = None):
        self.config = config if config is not None else AugmentConfig()
        self.steps = {augmentation.name: augmentation.build(self.config) for augmentation in AUGMENTATIONS}

    @classmethod
    def from_dict(cls, params: dict | None) -> AugmentPipeline:
        """From ``augment``'s JSON layout (a partial dict: the rest off); SchemaError names a refused parameter."""
        return cls(schema.parse(AugmentConfig, dict(params or {}), "augmentation parameters"))

    def to_dict(self) -> dict:
        return schema.to_json(self.config)

    def __repr__(self) -> str:
        return f"AugmentPipeline({self.config!r})"

    def __call__(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, num_classes: int = 10,
                 generator: torch.Generator | None = None) -> Augmented:
        n, device, (height, width) = len(x), x.device, x.shape[-2:]
        draws: dict[str, Draws] = {}
        targets = None if labels is None else F.one_hot(labels, num_classes).to(x.dtype)
        for augmentation in AUGMENTATIONS:
            step = self.steps[augmentation.name]
            if augmentation.mixes_labels and (targets is None or not augmentation.is_on(self.config)):
                continue  # nothing to mix with, or switched off: no draw
            draws[augmentation.name] = step.sample(n, generator, device, height, width)
            if augmentation.mixes_labels:
                x, targets = step.apply(x, targets, draws[augmentation.name])
            else:
                x = step.apply(x, draws[augmentation.name])
        return Augmented(x, targets, draws)


def describe_draws(draws: dict[str, Draws], index: int, config: AugmentConfig | None = None) -> dict[str, str]:
    """The values image ``index`` actually drew, in words, e.g. ``{"crop": "shift (+2, -3)", "flip": "yes"}``;
    the colour jitter names the factors switched on in ``config`` (all three without one)."""
    return {augmentation.name: augmentation.describe(draws[augmentation.name], index, config)
            for augmentation in AUGMENTATIONS if augmentation.name in draws}
