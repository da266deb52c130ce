"""Every hyper-parameter of a training run in one visible object, saved with the results."""
from __future__ import annotations

import json
import math
from numbers import Real
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import get_type_hints

from .augment import AugmentPipeline


def _default_augment() -> dict:
    # flip + reflect-pad-4 crop + 8x8 cutout: the augmentation of the fast public CIFAR-10 recipes (airbench)
    return AugmentPipeline(crop_padding=4, flip_p=0.5, cutout_size=8).to_dict()


class RecipeError(ValueError):
    """A recipe field of the wrong type or out of range; the message names the field and what it takes."""


@dataclass(frozen=True)
class Limits:
    """The values a numeric field takes: from ``low`` to ``high`` (None: unbounded), each included unless open."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def describe(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '≥'} {self.low}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"


# numeric field -> the values it takes
FIELD_LIMITS: dict[str, Limits] = {
    "epochs": Limits(1),
    "batch_size": Limits(1),
    "lr": Limits(0, low_open=True),
    "momentum": Limits(0, 1, high_open=True),
    "weight_decay": Limits(0),
    "warmup": Limits(0, 1, high_open=True),
    "label_smoothing": Limits(0, 1, high_open=True),
    "seed": Limits(0, 2**32 - 1),  # PCG64 needs it non-negative; the per-epoch seeds derived from it fit 64 bits
    "eval_batch_size": Limits(1),
}


def _shown(value) -> str:
    """A value as the user wrote it in JSON, with its JSON type where that is the problem."""
    kind = {str: "a string", list: "a list", dict: "an object"}.get(type(value))
    return f"{json.dumps(value, default=repr)}{f' ({kind})' if kind else ''}"


def _number(name: str, value, whole: bool) -> int | float:
    limits = FIELD_LIMITS[name]
    if (isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value)
            or (whole and not float(value).is_integer()) or not limits.admits(value)):
        takes = "a whole number" if whole else "a number"
        raise RecipeError(f"{name} must be {takes} {limits.describe()}, got {_shown(value)}")
    return int(value) if whole else float(value)


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise RecipeError(f"{name} must be true or false, got {_shown(value)}")
    return value


def _augmentation(name: str, value) -> dict:
    if not isinstance(value, Mapping):
        raise RecipeError(f'{name} must be an object of augmentation parameters, e.g. {{"flip_p": 0.5}}, '
                          f"got {_shown(value)}")
    try:
        # refuses unknown or out-of-range parameters, and spells out every one (a partial dict gets the defaults)
        return AugmentPipeline.from_dict(dict(value)).to_dict()
    except ValueError as error:
        raise RecipeError(f"{name}: {error}") from None


# annotated type -> the check that refuses anything else and returns the value as that type (2.0 -> 2)
FIELD_TYPES: dict[type, Callable[[str, object], object]] = {
    int: lambda name, value: _number(name, value, whole=True),
    float: lambda name, value: _number(name, value, whole=False),
    bool: _flag,
    dict: _augmentation,
}


@dataclass(frozen=True)
class Recipe:
    epochs: int = 40  # passes over the training split
    batch_size: int = 512  # global batch: under torchrun each of N ranks takes batch_size / N
    lr: float = 0.2  # peak learning rate of SGD's one-cycle schedule
    momentum: float = 0.9  # SGD momentum
    nesterov: bool = True  # Nesterov momentum
    weight_decay: float = 5e-4  # L2 on convolution and linear weights; none on BatchNorm and biases
    warmup: float = 0.15  # fraction of steps rising linearly from 0 to lr; the rest decays linearly to 0
    label_smoothing: float = 0.1  # cross-entropy label smoothing
    augment: dict = field(default_factory=_default_augment)  # AugmentPipeline parameters, run on the device
    seed: int = 0  # seeds the weights, shuffling, augmentation and dropout
    compile: bool = False  # torch.compile the model (CUDA only; worth it for long runs, costs ~30-100 s at start)
    eval_batch_size: int = 1024  # batch size of the validation and test passes

    def __post_init__(self):
        # Every field is checked by its annotated type and limits and stored as that type, so a recipe from JSON
        # trains and records exactly what it says, or is refused naming the field and what it takes.
        for name, kind in get_type_hints(Recipe).items():
            object.__setattr__(self, name, FIELD_TYPES[kind](name, getattr(self, name)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Recipe":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RecipeError(f"unknown field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**data)

    def updated(self, **changes) -> "Recipe":
        return replace(self, **changes)

    def learning_rate(self, step: int, total_steps: int) -> float:
        """One-cycle: linear warm-up to ``lr`` over the first ``warmup`` of the steps, then linear decay to 0."""
        peak = max(int(self.warmup * total_steps), 1)
        if step < peak:
            return self.lr * (step + 1) / peak
        return self.lr * max(total_steps - step, 0) / max(total_steps - peak, 1)


DEFAULT_RECIPE = Recipe()

# Per-model departures from the shared recipe, recorded in each run. The three are compared under the same budget,
# so this stays empty unless a model cannot train at all under the shared settings.
MODEL_OVERRIDES: dict[str, dict] = {}


def recipe_for(model_name: str, base: Recipe = DEFAULT_RECIPE,
               overrides: dict[str, dict] | None = None) -> tuple[Recipe, dict]:
    """The recipe ``model_name`` trains with, and the overrides applied to ``base`` to get it."""
    applied = dict((MODEL_OVERRIDES if overrides is None else overrides).get(model_name, {}))
    return base.updated(**applied), applied


def load_recipe_file(path: str | Path) -> Recipe:
    """A JSON recipe: any subset of the fields; the rest keep their defaults."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:  # ValueError: not UTF-8 or not JSON
        raise RecipeError(f"cannot read recipe {path}: {error}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {path}: the file must hold a JSON object, not {_shown(data)}")
    try:
        return Recipe.from_dict(data)
    except RecipeError as error:
        raise RecipeError(f"recipe {path}: {error}") from None
