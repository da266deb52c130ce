"""Every hyper-parameter of a training run in one visible object, saved with the results."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import schema
from .augment import AugmentConfig
from .model_options import RECIPE_FIELD, options_of_models
from .schema import Limits, SchemaError, spec


def _default_augment() -> AugmentConfig:
    # flip + reflect-pad-4 crop + 8x8 cutout: the augmentation of the fast public CIFAR-10 recipes (airbench)
    return AugmentConfig(crop_padding=4, flip_p=0.5, cutout_size=8)


class RecipeError(SchemaError):
    """A recipe field of the wrong type or out of range; the message names the field and what it takes."""


FRACTION = Limits(0, 1, high_open=True)


@dataclass(frozen=True)
class Recipe:
    epochs: int = field(default=40, metadata=spec(limits=Limits(1), help="passes over the training split"))
    batch_size: int = field(default=512, metadata=spec(
        limits=Limits(1), help="global batch: under torchrun each of N ranks takes batch_size / N"))
    lr: float = field(default=0.2, metadata=spec(
        limits=Limits(0, low_open=True), help="peak learning rate of SGD's one-cycle schedule"))
    momentum: float = field(default=0.9, metadata=spec(limits=FRACTION, help="SGD momentum"))
    nesterov: bool = field(default=True, metadata=spec(help="Nesterov momentum"))
    weight_decay: float = field(default=5e-4, metadata=spec(
        limits=Limits(0), help="L2 on convolution and linear weights; none on BatchNorm and biases"))
    warmup: float = field(default=0.15, metadata=spec(
        limits=FRACTION, help="fraction of steps rising linearly from 0 to lr; the rest decays linearly to 0"))
    label_smoothing: float = field(default=0.1, metadata=spec(limits=FRACTION, help="cross-entropy label smoothing"))
    augment: AugmentConfig = field(default_factory=_default_augment, metadata=spec(
        help="the augmentations, run on the device (a parameter left out is off; crop and flip: on)"))
    seed: int = field(default=0, metadata=spec(  # PCG64 needs it non-negative; the per-epoch seeds fit 64 bits
        limits=Limits(0, 2**32 - 1), help="seeds the weights, shuffling, augmentation and dropout"))
    compile: bool = field(default=False, metadata=spec(
        help="torch.compile the model (CUDA only; worth it for long runs, costs ~30-100 s at start)"))
    eval_batch_size: int = field(default=1024, metadata=spec(
        limits=Limits(1), help="batch size of the validation and test passes"))

    def __post_init__(self):
        # Checked by the fields' types and limits and stored as those types, so a recipe trains and records exactly
        # what it says, or is refused naming the field and what it takes.
        try:
            schema.validate(self)
        except SchemaError as error:
            raise RecipeError(str(error)) from None

    def to_dict(self) -> dict:
        """The recipe in its JSON layout (``augment`` as a flat object), as ``run.json`` and recipe files hold it."""
        return schema.to_json(self)

    @classmethod
    def from_dict(cls, data: dict, source: object = "recipe") -> Recipe:
        """A recipe from JSON: any subset of the fields, the rest keep their defaults; RecipeError names the field."""
        try:
            return schema.parse(cls, data, source)
        except SchemaError as error:
            raise RecipeError(str(error)) from None

    def updated(self, **changes) -> Recipe:
        """This recipe with ``changes`` (values as a recipe file writes them, or typed: ``augment`` may be either)."""
        return type(self).from_dict({**self.to_dict(), **schema.to_json(changes)})

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


@dataclass(frozen=True)
class RecipeFile:
    """What a recipe file holds: the recipe, and the options given per model (``{"plain_cnn": {"drop_prob": 0.1}}``
    under ``model_options``; none in a file without them)."""

    recipe: Recipe
    model_options: dict[str, dict[str, Any]]


def read_recipe_file(path: str | Path) -> RecipeFile:
    """A JSON recipe: any subset of the fields (the rest keep their defaults) and, optionally, ``model_options``. A
    duplicate key, a file too deeply nested to read, every field's type and range and every model option are refused
    naming the file and the field (RecipeError)."""
    source = f"recipe {path}"
    try:
        data = schema.load_json(path, source)
        options = data.pop(RECIPE_FIELD, {}) if isinstance(data, dict) else {}
        return RecipeFile(schema.parse(Recipe, data, source), options_of_models(options, source))
    except SchemaError as error:
        raise RecipeError(str(error)) from None


def load_recipe_file(path: str | Path) -> Recipe:
    """The recipe of a recipe file (:func:`read_recipe_file`; its model options, checked, are left out)."""
    return read_recipe_file(path).recipe
