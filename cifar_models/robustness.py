"""Robustness to common corruptions, the CIFAR-10-C protocol, on a stratified subset of our test split.

Every model sees the same images: the first ``per_class`` test images of each class, corrupted by each of the 15
corruptions at each of the 5 severities (``cifar_models.corruptions``, seeded). Per model it records the accuracy per
corruption x severity, the mean corruption accuracy (mCA, the mean of those 75 cells) and, as ImageNet-C does with
AlexNet, the corruption error relative to ``plain_cnn``: CE_c = sum_s err(model, c, s) / sum_s err(plain_cnn, c, s),
and mCE, their mean over corruptions (1.0 = the baseline's robustness; lower is better).

The result lives beside the checkpoint in ``<model>/robustness.json``, with the sha256 of the weights it was measured
on: a retrained model's old result is recognised as stale and not shown as current.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import schema
from .checkpoint import WEIGHTS_FILE, require_writable, weights_digest, write_json
from .corruptions import CORRUPTION_NAMES, SEVERITIES, corrupt
from .evaluation import predict_logits
from .run_record import CheckpointError
from .schema import COUNT, UNIT, Limits, spec

ROBUSTNESS_FILE = "robustness.json"
BASELINE_MODEL = "plain_cnn"
DEFAULT_PER_CLASS = 25  # 250 images: the three models within 15 minutes on a 2-core CPU (benchmark_robustness.py)
DEFAULT_SEED = 0


def stratified_subset(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Sorted indices of the first ``per_class`` images of each class, in test-split order."""
    labels = np.asarray(labels)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise ValueError(f"class {label} has {len(members)} test images, fewer than the {per_class} asked for")
        chosen.append(members[:per_class])
    return np.sort(np.concatenate(chosen))


def protocol(per_class: int, seed: int, test_size: int) -> dict[str, Any]:
    """What a result was measured under; results are comparable only under equal protocols."""
    return {"corruptions": list(CORRUPTION_NAMES), "severities": list(SEVERITIES), "per_class": per_class,
            "seed": seed, "test_size": test_size,
            "subset": f"the first {per_class} test images of each class"}


def accuracy_grid(models: dict[str, tuple[nn.Module, str]], images: np.ndarray, labels: np.ndarray, *,
                  device: torch.device, seed: int = DEFAULT_SEED, batch_size: int = 500,
                  progress: bool = True) -> dict[str, dict[str, Any]]:
    """Per model (``name -> (model, precision)``): clean accuracy, accuracy per corruption x severity and each
    corrupted image's predicted class. Each corrupted set is generated once and shown to every model."""
    labels = np.asarray(labels)
    results = {name: {"clean_accuracy": None, "accuracy": {}, "predictions": {}} for name in models}

    def predict(model: nn.Module, precision: str, batch: np.ndarray) -> np.ndarray:
        return predict_logits(model, batch, device=device, batch_size=batch_size, precision=precision).argmax(1).numpy()

    cells = [(name, severity) for name in CORRUPTION_NAMES for severity in SEVERITIES]
    with tqdm(total=(len(cells) + 1) * len(models), desc="robustness", unit="eval", disable=not progress) as bar:
        for name, (model, precision) in models.items():
            results[name]["clean_accuracy"] = float((predict(model, precision, images) == labels).mean())
            bar.update()
        for corruption, severity in cells:
            bar.set_postfix_str(f"{corruption} s{severity}")
            corrupted = corrupt(images, corruption, severity, seed)
            for name, (model, precision) in models.items():
                predicted = predict(model, precision, corrupted)
                results[name]["accuracy"].setdefault(corruption, []).append(float((predicted == labels).mean()))
                results[name]["predictions"].setdefault(corruption, []).append(predicted.tolist())
                bar.update()
    return results


def mean_corruption_accuracy(accuracy: dict[str, list[float]]) -> float:
    return float(np.mean([cell for severities in accuracy.values() for cell in severities]))


def corruption_errors(accuracy: dict[str, list[float]], baseline: dict[str, list[float]]) -> dict[str, float]:
    """CE per corruption: the model's errors summed over severities over the baseline's (ImageNet-C's CE)."""
    return {name: float(np.sum(1 - np.asarray(cells)) / max(np.sum(1 - np.asarray(baseline[name])), 1e-12))
            for name, cells in accuracy.items()}


def summarise(result: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any]:
    """The figures a robustness record keeps on top of the grid: mCA, and CE and mCE against ``baseline``'s grid
    (None when there is no baseline result under the same protocol)."""
    errors = corruption_errors(result["accuracy"], baseline["accuracy"]) if baseline else None
    return {"mean_corruption_accuracy": mean_corruption_accuracy(result["accuracy"]),
            "baseline": BASELINE_MODEL, "corruption_error": errors,
            "mean_corruption_error": float(np.mean(list(errors.values()))) if errors else None}


@dataclass(frozen=True)
class Protocol:
    """What a result was measured under (see :func:`protocol`)."""

    corruptions: tuple[str, ...]
    severities: tuple[int, ...] = field(metadata=spec(limits=Limits(1, max(SEVERITIES))))
    per_class: int = field(metadata=spec(limits=Limits(1)))
    seed: int = field(metadata=spec(limits=COUNT))
    test_size: int = field(metadata=spec(limits=Limits(1)))
    subset: str


@dataclass(frozen=True)
class RobustnessRecord:
    """``<model>/robustness.json``, as :func:`evaluate_checkpoints` writes it."""

    model: str
    weights_sha256: str
    protocol: Protocol
    indices: tuple[int, ...] = field(metadata=spec(limits=COUNT))  # the test images, in test-split order
    precision: str
    device: str
    seconds_all_models: float = field(metadata=spec(limits=COUNT))
    clean_accuracy: float = field(metadata=spec(limits=UNIT))
    accuracy: dict[str, tuple[float, ...]] = field(metadata=spec(limits=UNIT))  # corruption -> one per severity
    predictions: dict[str, tuple[tuple[int, ...], ...]] = field(metadata=spec(limits=COUNT))  # per severity, image
    mean_corruption_accuracy: float = field(metadata=spec(limits=UNIT))
    baseline: str
    corruption_error: dict[str, float] | None = field(metadata=spec(limits=COUNT))  # None: no baseline result
    mean_corruption_error: float | None = field(metadata=spec(limits=COUNT))

    def inconsistencies(self) -> Iterator[tuple[str, str]]:
        """Every grid covers the protocol's corruptions and severities, every prediction list its images."""
        corruptions, severities = set(self.protocol.corruptions), len(self.protocol.severities)
        for name, grid in (("accuracy", self.accuracy), ("predictions", self.predictions),
                           ("corruption_error", self.corruption_error or dict.fromkeys(corruptions))):
            if set(grid) != corruptions:
                yield name, f"must hold the protocol's corruptions {sorted(corruptions)}, got {sorted(grid)}"
        for corruption, cells in self.accuracy.items():
            if len(cells) != severities:
                yield f"accuracy.{corruption}", f"must hold one accuracy per severity ({severities}), got {len(cells)}"
        for corruption, rows in self.predictions.items():
            wrong = [len(row) for row in rows if len(row) != len(self.indices)]
            if len(rows) != severities or wrong:
                yield f"predictions.{corruption}", (f"must hold {severities} lists of one class per image "
                                                    f"({len(self.indices)})")
        if any(index >= self.protocol.test_size for index in self.indices):
            yield "indices", f"must be test images, in [0, {self.protocol.test_size})"


def read_robustness(checkpoint_dir: str | Path) -> dict[str, Any] | None:
    """The robustness record beside a checkpoint (in its JSON layout, every field checked) if it was measured on
    these very weights; None where there is none or it was measured on other weights. A damaged one is refused
    with CheckpointError naming the file and the field."""
    folder = Path(checkpoint_dir)
    path = folder / ROBUSTNESS_FILE
    if not path.is_file() or not (folder / WEIGHTS_FILE).is_file():
        return None
    source = f"Robustness result {path}"
    try:
        raw = schema.load_json(path, source)
        if isinstance(raw, dict) and raw.get("weights_sha256") != weights_digest(folder):
            return None  # measured on other weights: stale, not shown as current
        return schema.to_json(schema.parse(RobustnessRecord, raw, source))
    except schema.SchemaError as error:
        raise CheckpointError(str(error)) from None


def evaluate_checkpoints(found: dict[str, Path], loaded: dict[str, tuple[nn.Module, str]], test_images: np.ndarray,
                         test_labels: np.ndarray, *, device: torch.device, per_class: int = DEFAULT_PER_CLASS,
                         seed: int = DEFAULT_SEED, progress: bool = True) -> dict[str, dict[str, Any]]:
    """Measure ``loaded`` models (name -> (model, precision)) and write ``robustness.json`` beside each checkpoint
    in ``found``; CE is taken against plain_cnn's result under the same protocol (measured now or on disk).
    Returns the records written, by model; FolderNotWritable before any measuring where one cannot be written."""
    for name in loaded:
        require_writable(found[name], ROBUSTNESS_FILE)
    indices = stratified_subset(test_labels, per_class)
    terms = protocol(per_class, seed, len(test_labels))
    started = time.perf_counter()
    grids = accuracy_grid(loaded, test_images[indices], test_labels[indices], device=device, seed=seed,
                          progress=progress)
    seconds = time.perf_counter() - started
    baseline = grids.get(BASELINE_MODEL)
    if baseline is None and BASELINE_MODEL in found:
        try:
            on_disk = read_robustness(found[BASELINE_MODEL])
        except CheckpointError:  # a damaged baseline result counts as none: CE is left out, as without a result
            on_disk = None
        baseline = on_disk if on_disk and on_disk.get("protocol") == terms else None
    records = {}
    for name, grid in grids.items():
        record = {"model": name, "weights_sha256": weights_digest(found[name]), "protocol": terms,
                  "indices": indices.tolist(), "precision": loaded[name][1], "device": str(device),
                  "seconds_all_models": round(seconds, 1), **grid, **summarise(grid, baseline)}
        write_json(found[name] / ROBUSTNESS_FILE, record)
        records[name] = record
    return records
