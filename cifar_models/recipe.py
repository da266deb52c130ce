"""Every hyper-parameter of a training run in one visible object, saved with the results."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .augment import AugmentPipeline


def _default_augment() -> dict:
    # flip + reflect-pad-4 crop + 8x8 cutout: the augmentation of the fast public CIFAR-10 recipes (airbench)
    return AugmentPipeline(crop_padding=4, flip_p=0.5, cutout_size=8).to_dict()


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
        checks = [
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.lr > 0, "lr must be positive"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay must not be negative"),
            (0 <= self.warmup < 1, "warmup must be a fraction in [0, 1)"),
            (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (self.eval_batch_size >= 1, "eval_batch_size must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"recipe: {message}")
        # refuses unknown or out-of-range parameters, and spells out every one (a partial dict gets the defaults)
        object.__setattr__(self, "augment", AugmentPipeline.from_dict(self.augment).to_dict())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Recipe":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"recipe: unknown field(s) {unknown}; known fields: {sorted(known)}")
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
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read recipe {path}: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"recipe {path} must hold a JSON object")
    try:
        return Recipe.from_dict(data)
    except (TypeError, ValueError) as error:
        raise ValueError(f"recipe {path}: {error}") from None
