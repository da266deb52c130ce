"""The run record (``run.json`` beside a checkpoint's weights), typed: every field training writes, read back by the
one schema parser (``cifar_models.schema``), and the figures derived from it, each defined once.

A field without a default is refused by name when it is missing; a field added later has a default that the records
written before it get (``schema_version`` is one: records from before it was written are version 1). Every number is
checked against what it can be: accuracies within [0, 1], predicted classes within the record's classes, one
prediction and one confidence per test image (or none recorded), a confusion matrix of classes x classes summing to the test images, the
reliability bins' counts summing to them too, and a history of epochs 1, 2, ... up to the recipe's. JSON has no NaN,
so a figure the writer could not measure is written as null and read back as NaN where the field allows it.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import schema
from .model_options import recorded_options
from .recipe import Recipe
from .schema import COUNT, UNIT, Limits, SchemaError, spec
from .step_modes import STEP_MODES

RUN_RECORD_VERSION = 1  # raise it, with a reader for the older layout, when a change cannot be a field's default

MEASURED = spec(limits=Limits(0), null_is_nan=True)  # a non-negative figure that may not have been measured
MEASURED_RATE = spec(limits=UNIT, null_is_nan=True)  # an accuracy or confidence that may not have been measured


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged or for another architecture; the message names the file."""


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch of training."""

    epoch: int = field(metadata=spec(limits=Limits(1)))
    train_loss: float = field(metadata=MEASURED)
    train_acc: float = field(metadata=MEASURED_RATE)
    val_loss: float = field(metadata=MEASURED)
    val_acc: float = field(metadata=MEASURED_RATE)
    lr: float = field(metadata=MEASURED)  # at the epoch's last step
    epoch_seconds: float = field(metadata=MEASURED)
    images_per_s: float = field(metadata=MEASURED)  # training images per second over the epoch


def history_problems(history: tuple[EpochRecord, ...], epochs: int) -> Iterator[tuple[str, str]]:
    """(field, problem) where a history is not epochs 1, 2, ... in order, or holds more than ``epochs``."""
    if len(history) > epochs:
        yield "history", f"holds {len(history)} epochs, more than the recipe's {epochs}"
    for index, row in enumerate(history):
        if row.epoch != index + 1:
            yield f"history[{index}].epoch", f"must be {index + 1} (epochs 1, 2, ... in order), got {row.epoch}"


@dataclass(frozen=True)
class ReliabilityBin:
    """One equal-width confidence bin of the test predictions."""

    low: float = field(metadata=spec(limits=UNIT))
    high: float = field(metadata=spec(limits=UNIT))
    count: int = field(metadata=spec(limits=COUNT))
    confidence: float = field(metadata=MEASURED_RATE)  # mean confidence in the bin; NaN when it is empty
    accuracy: float = field(metadata=MEASURED_RATE)  # NaN when it is empty


@dataclass(frozen=True)
class TestMetrics:
    """The test split's figures, measured on the weights as the checkpoint stores them."""

    n: int = field(metadata=spec(limits=Limits(1)))  # test images
    accuracy: float = field(metadata=spec(limits=UNIT))  # single view
    accuracy_tta: float = field(metadata=spec(limits=UNIT))  # averaged with the horizontal flip
    per_class_accuracy: tuple[float, ...] = field(metadata=spec(limits=UNIT))
    confusion_matrix: tuple[tuple[int, ...], ...] = field(metadata=spec(limits=COUNT))  # rows: true, columns: predicted
    ece: float = field(metadata=MEASURED_RATE)
    reliability: tuple[ReliabilityBin, ...]
    latency_ms: float = field(metadata=MEASURED)  # one image
    throughput_images_per_s: float = field(metadata=MEASURED)
    predictions: tuple[int, ...] = field(metadata=spec(limits=COUNT))  # predicted class per test image, in order
    confidence: tuple[float, ...] = field(metadata=spec(limits=UNIT))  # the predicted class's probability, per image

    def inconsistencies(self) -> Iterator[tuple[str, str]]:
        """Every per-image list covers the whole test set; the matrix and the bins count each image once."""
        for name in ("predictions", "confidence"):  # empty: not recorded (the gallery and paired tests say so)
            if len(getattr(self, name)) not in (0, self.n):
                yield name, f"must hold one value per test image (n = {self.n}) or none, got {len(getattr(self, name))}"
        if len(self.confidence) != len(self.predictions):
            yield "confidence", f"must hold one value per prediction ({len(self.predictions)}), got {len(self.confidence)}"
        if sum(map(sum, self.confusion_matrix)) != self.n:
            yield "confusion_matrix", f"must count the {self.n} test images, got {sum(map(sum, self.confusion_matrix))}"
        if sum(row.count for row in self.reliability) != self.n:
            yield "reliability", f"counts must sum to the {self.n} test images, got {sum(r.count for r in self.reliability)}"

    def class_problems(self, classes: int) -> Iterator[tuple[str, str]]:
        """(field, problem) where a figure does not fit ``classes`` classes."""
        if len(self.per_class_accuracy) != classes:
            yield "per_class_accuracy", f"must hold one accuracy per class ({classes}), got {len(self.per_class_accuracy)}"
        if len(self.confusion_matrix) != classes or any(len(row) != classes for row in self.confusion_matrix):
            yield "confusion_matrix", f"must be {classes} x {classes}, one row and column per class"
        wrong = next((index for index, label in enumerate(self.predictions) if label >= classes), None)
        if wrong is not None:
            yield f"predictions[{wrong}]", f"must be a class in [0, {classes}), got {self.predictions[wrong]}"


@dataclass(frozen=True)
class DataUsed:
    """Which data the run trained and was tested on."""

    source: str
    train: int = field(metadata=spec(limits=COUNT))  # images
    val: int = field(metadata=spec(limits=COUNT))
    test: int = field(metadata=spec(limits=COUNT))
    subset: int | None = field(metadata=spec(limits=Limits(1)))  # the --subset of a smoke run; None: the full split


@dataclass(frozen=True)
class RunRecord:
    """What ``cifar_models.engine.train_model`` writes to ``run.json``: how the model was made and how it scored."""

    model: str
    model_options: dict[str, Any]  # all of them, as the builder takes them (JSON layout); read: filled, see below
    params: int = field(metadata=spec(limits=COUNT))
    macs: int = field(metadata=spec(limits=COUNT))  # multiply-accumulates per image
    classes: tuple[str, ...]
    recipe: Recipe
    recipe_overrides: dict[str, Any]  # the model's departures from the shared recipe
    data_fingerprint: str
    data: DataUsed
    git_commit: str | None  # None outside a git checkout
    device: str
    precision: str  # of training and of the test metrics
    world_size: int = field(metadata=spec(limits=Limits(1)))
    rank_weight_checksums: tuple[float, ...]  # one per rank: equal when DDP kept the replicas in step
    torch_version: str
    train_seconds: float = field(metadata=MEASURED)
    wall_seconds: float = field(metadata=MEASURED)
    created: str  # ISO 8601, UTC
    history: tuple[EpochRecord, ...]
    test: TestMetrics
    step_mode: str = field(default="eager", metadata=spec(  # older records: all trained eager
        choices=STEP_MODES, help="how the training step ran: eager, compiled or graphed (cifar_models.step_modes)"))
    schema_version: int = field(default=RUN_RECORD_VERSION, metadata=spec(
        limits=Limits(1, RUN_RECORD_VERSION), help="the layout of this record; newer ones need newer code"))

    def __post_init__(self):
        # every option the model trained with: a record written before records held all of them states only those
        # it was given (the committed ones: none), and the others are the values the builder had then
        object.__setattr__(self, "model_options", recorded_options(self.model, self.model_options))

    @classmethod
    def from_json(cls, data: Any, source: object) -> RunRecord:
        """The record in ``data`` (parsed ``run.json``), or CheckpointError naming ``source`` and the first missing,
        wrongly typed, out-of-range or inconsistent field."""
        try:
            return schema.parse(cls, data, f"Run record {source}")
        except SchemaError as error:
            raise CheckpointError(str(error)) from None

    def to_json(self) -> dict[str, Any]:
        """The record as ``run.json`` holds it (NaN stays NaN here; ``checkpoint.write_json`` writes it as null)."""
        return schema.to_json(self)

    def inconsistencies(self) -> Iterator[tuple[str, str]]:
        for name, problem in self.test.class_problems(len(self.classes)):
            yield f"test.{name}", problem
        yield from history_problems(self.history, self.recipe.epochs)
        if len(self.rank_weight_checksums) != self.world_size:
            yield "rank_weight_checksums", f"must hold one checksum per rank ({self.world_size})"

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


@dataclass(frozen=True)
class _History:
    """A bare history, as ``resume.json`` holds it beside its own fields."""

    history: tuple[EpochRecord, ...]

    def inconsistencies(self) -> Iterator[tuple[str, str]]:
        return history_problems(self.history, len(self.history))


def parse_history(rows: Any, source: object) -> tuple[EpochRecord, ...]:
    """A ``history`` list as the engine writes it (in ``run.json`` and, while training, in ``resume.json``), or
    CheckpointError naming ``source`` and the first missing, wrongly typed or out-of-order field."""
    try:
        return schema.parse(_History, {"history": rows}, source).history
    except SchemaError as error:
        raise CheckpointError(str(error)) from None
