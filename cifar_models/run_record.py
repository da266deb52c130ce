"""The run record (``run.json`` beside a checkpoint's weights), typed: every field training writes, read back by one
parser that refuses a missing or wrongly typed field by name, and the figures derived from it, each defined once.

No reader guesses a default: a record without a field is refused with the field's name and the command that writes a
complete one. JSON has no NaN, so a float the writer could not measure is written as null and read back as NaN.
"""
from __future__ import annotations

import math
import statistics
import types
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any, get_args, get_origin, get_type_hints

from .recipe import Recipe, RecipeError

TRAIN_COMMAND = "python scripts/train_all.py --data PATH_TO_CIFAR10"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged or for another architecture; the message names the file."""


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch of training."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float  # at the epoch's last step
    epoch_seconds: float
    images_per_s: float  # training images per second over the epoch


@dataclass(frozen=True)
class ReliabilityBin:
    """One equal-width confidence bin of the test predictions."""

    low: float
    high: float
    count: int
    confidence: float  # mean confidence in the bin; NaN when it is empty
    accuracy: float  # NaN when it is empty


@dataclass(frozen=True)
class TestMetrics:
    """The test split's figures, measured on the weights as the checkpoint stores them."""

    n: int  # test images
    accuracy: float  # single view
    accuracy_tta: float  # averaged with the horizontal flip
    per_class_accuracy: tuple[float, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted class
    ece: float
    reliability: tuple[ReliabilityBin, ...]
    latency_ms: float  # one image
    throughput_images_per_s: float
    predictions: tuple[int, ...]  # predicted class of each test image, in the test split's order
    confidence: tuple[float, ...]  # the predicted class's probability, per test image


@dataclass(frozen=True)
class DataUsed:
    """Which data the run trained and was tested on."""

    source: str
    train: int  # images
    val: int
    test: int
    subset: int | None  # the --subset of a smoke run; None for the full training split


@dataclass(frozen=True)
class RunRecord:
    """What ``cifar_models.engine.train_model`` writes to ``run.json``: how the model was made and how it scored."""

    model: str
    model_options: dict[str, Any]
    params: int
    macs: int  # multiply-accumulates per image
    classes: tuple[str, ...]
    recipe: Recipe
    recipe_overrides: dict[str, Any]  # the model's departures from the shared recipe
    data_fingerprint: str
    data: DataUsed
    git_commit: str | None  # None outside a git checkout
    device: str
    precision: str  # of training and of the test metrics
    world_size: int
    rank_weight_checksums: tuple[float, ...]  # one per rank: equal when DDP kept the replicas in step
    torch_version: str
    train_seconds: float
    wall_seconds: float
    created: str  # ISO 8601, UTC
    history: tuple[EpochRecord, ...]
    test: TestMetrics

    @classmethod
    def from_json(cls, data: Any, source: object) -> RunRecord:
        """The record in ``data`` (parsed ``run.json``), or CheckpointError naming ``source`` and the first missing
        or wrongly typed field."""
        return _parse_or_refuse(data, cls, "", source)

    def to_json(self) -> dict[str, Any]:
        """The record as ``run.json`` holds it (NaN stays NaN here; ``checkpoint.write_json`` writes it as null)."""
        return asdict(self)

    @property
    def accuracy(self) -> float:
        """The test accuracy the lab compares models by: single view, no test-time augmentation."""
        return self.test.accuracy

    @property
    def tta_accuracy(self) -> float:
        return self.test.accuracy_tta

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def seed(self) -> int:
        return self.recipe.seed

    @property
    def is_smoke_run(self) -> bool:
        """Trained on a ``--subset`` of the training split, which says little about the full recipe."""
        return self.data.subset is not None

    @property
    def training_images_per_s(self) -> float:
        """The median epoch's training speed (NaN without one): the first epoch also pays for warm-up (cuDNN
        autotuning, compilation), which a mean would spread over the run."""
        speeds = [row.images_per_s for row in self.history if math.isfinite(row.images_per_s)]
        return float(statistics.median(speeds)) if speeds else math.nan


def parse_history(rows: Any, source: object) -> tuple[EpochRecord, ...]:
    """A ``history`` list as the engine writes it (in ``run.json`` and, while training, in ``resume.json``), or
    CheckpointError naming ``source`` and the first missing or wrongly typed field."""
    return _parse_or_refuse(rows, tuple[EpochRecord, ...], "history", source)


# ----------------------------------------------------------------------------------------------------------------
# Parsing by the annotated types


class _Refused(Exception):
    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


_SCALARS = {  # type -> (accepts a JSON value, its name in a message)
    str: (lambda value: isinstance(value, str), "text"),
    int: (lambda value: isinstance(value, int) and not isinstance(value, bool), "a whole number"),
    float: (lambda value: isinstance(value, (int, float)) and not isinstance(value, bool), "a number"),
}


def _parse_or_refuse(value: Any, kind: Any, where: str, source: object) -> Any:
    try:
        return _parse(value, kind, where)
    except _Refused as refused:
        raise CheckpointError(f"Run record {source} {refused.problem}; it was written by another version of this "
                              f"code or damaged. Retrain with `{TRAIN_COMMAND}`.") from None


def _wrong(value: Any, where: str, expected: str) -> _Refused:
    shown = repr(value)
    return _Refused(f"has {shown if len(shown) <= 40 else shown[:37] + '...'} as its '{where}' field, not {expected}")


def _parse(value: Any, kind: Any, where: str) -> Any:
    """``value`` from JSON as ``kind`` (a dataclass, a scalar, ``X | None``, ``tuple[X, ...]``, ``dict[str, Any]``
    or a Recipe); ``where`` is its field's dotted name in the messages."""
    if kind is Recipe:
        return _recipe(value, where)
    if is_dataclass(kind):
        if not isinstance(value, dict):
            raise _Refused("is not a JSON object") if not where else _wrong(value, where, "an object")
        hints = get_type_hints(kind)
        parsed = {}
        for field in fields(kind):
            name = f"{where}.{field.name}" if where else field.name
            if field.name not in value:
                raise _Refused(f"has no '{name}' field")
            parsed[field.name] = _parse(value[field.name], hints[field.name], name)
        return kind(**parsed)
    origin = get_origin(kind)
    if origin is types.UnionType:  # X | None
        (inner,) = [option for option in get_args(kind) if option is not type(None)]
        return None if value is None else _parse(value, inner, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise _wrong(value, where, "a list")
        item = get_args(kind)[0]
        return tuple(_parse(element, item, f"{where}[{index}]") for index, element in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _wrong(value, where, "an object")
        return dict(value)
    if kind is float and value is None:
        return math.nan  # the writer's null for NaN
    accepts, expected = _SCALARS[kind]
    if not accepts(value):
        raise _wrong(value, where, expected)
    return float(value) if kind is float else value


def _recipe(value: Any, where: str) -> Recipe:
    """The recipe with every one of its fields present (none filled in from today's defaults) and valid."""
    if not isinstance(value, dict):
        raise _wrong(value, where, "an object")
    for field in fields(Recipe):
        if field.name not in value:
            raise _Refused(f"has no '{where}.{field.name}' field")
    try:
        return Recipe.from_dict(value)
    except (RecipeError, TypeError) as error:
        raise _Refused(f"has a '{where}' field this code refuses ({error})") from None
