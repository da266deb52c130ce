"""The Compare page's tables: learning curves, test metrics, confusion, calibration, cost and recipes."""
from __future__ import annotations

import json
import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from cifar_models.data import CLASSES

from .common import Records, number, ordered, test_metrics

def debiased_ema(values: Iterable[float], weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average divided by ``1 - weight**n``.

    Without that correction the average starts at 0 and the first points are dragged towards it; with it the first
    smoothed point equals the first value. Non-finite values are passed through and do not enter the average.
    """
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    values = np.asarray(list(values), dtype=float)
    smoothed = values.copy()
    average, count = 0.0, 0
    for i, value in enumerate(values):
        if not math.isfinite(value):
            continue
        average = average * weight + (1 - weight) * value
        count += 1
        smoothed[i] = average / (1 - weight**count)
    return smoothed


CURVES = {  # (metric, split) -> history field
    ("loss", "train"): "train_loss",
    ("loss", "validation"): "val_loss",
    ("accuracy", "train"): "train_acc",
    ("accuracy", "validation"): "val_acc",
}


def learning_curves(records: Records, smoothing: float) -> pd.DataFrame:
    """Long form: model, epoch, metric ('loss' | 'accuracy'), split ('train' | 'validation'), raw, smoothed."""
    frames = []
    for name, record in ordered(records).items():
        history = record.get("history") or []
        epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
        for (metric, split), field in CURVES.items():
            raw = [number(row.get(field)) for row in history]
            frames.append(pd.DataFrame({"model": name, "epoch": epochs, "metric": metric, "split": split,
                                        "raw": raw, "smoothed": debiased_ema(raw, smoothing)}))
    columns = ["model", "epoch", "metric", "split", "raw", "smoothed"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def tta_accuracies(records: Records) -> pd.DataFrame:
    """Long form: model, evaluation ('single view' | 'with TTA'), accuracy."""
    rows = [{"model": name, "evaluation": evaluation, "accuracy": number(test_metrics(record).get(field))}
            for name, record in ordered(records).items()
            for evaluation, field in (("single view", "accuracy"), ("with TTA", "accuracy_tta"))]
    return pd.DataFrame(rows, columns=["model", "evaluation", "accuracy"])


def per_class_accuracy(records: Records) -> pd.DataFrame:
    """Long form: model, class, accuracy."""
    rows = []
    for name, record in ordered(records).items():
        classes = record.get("classes") or CLASSES
        for class_name, accuracy in zip(classes, test_metrics(record).get("per_class_accuracy") or []):
            rows.append({"model": name, "class": class_name, "accuracy": number(accuracy)})
    return pd.DataFrame(rows, columns=["model", "class", "accuracy"])


def normalized_confusion(counts: np.ndarray) -> np.ndarray:
    """Each row (true class) divided by its total, so a row reads 'of the true X, this fraction was called Y'."""
    counts = np.asarray(counts, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def confusion_frames(records: Records) -> pd.DataFrame:
    """Long form: model, true, predicted, count, fraction (of the true class's images)."""
    rows = []
    for name, record in ordered(records).items():
        counts = test_metrics(record).get("confusion_matrix")
        if not counts:
            continue
        classes = record.get("classes") or CLASSES
        fractions = normalized_confusion(counts)
        for t, true_name in enumerate(classes):
            for p, predicted_name in enumerate(classes):
                rows.append({"model": name, "true": true_name, "predicted": predicted_name,
                             "count": int(counts[t][p]), "fraction": float(fractions[t, p])})
    return pd.DataFrame(rows, columns=["model", "true", "predicted", "count", "fraction"])


def reliability(records: Records) -> pd.DataFrame:
    """Long form of the non-empty confidence bins: model, low, high, confidence, accuracy, count."""
    rows = [{"model": name, **{key: row.get(key) for key in ("low", "high", "confidence", "accuracy", "count")}}
            for name, record in ordered(records).items()
            for row in test_metrics(record).get("reliability") or [] if row.get("count")]
    return pd.DataFrame(rows, columns=["model", "low", "high", "confidence", "accuracy", "count"])


def cost_table(records: Records) -> pd.DataFrame:
    """One row per model: size, compute, time, speed and accuracy, each read from its record."""
    rows = []
    for name, record in ordered(records).items():
        test = test_metrics(record)
        speeds = [number(row.get("images_per_s")) for row in record.get("history") or []]
        speeds = [s for s in speeds if math.isfinite(s)]
        rows.append({
            "model": name,
            "parameters": number(record.get("params")),
            "MACs per image": number(record.get("macs")),
            "test accuracy": number(test.get("accuracy")),
            "TTA accuracy": number(test.get("accuracy_tta")),
            "training seconds": number(record.get("train_seconds")),
            # the median epoch: the first epoch also pays for warm-up (cuDNN autotuning, compilation)
            "training images/s": float(np.median(speeds)) if speeds else math.nan,
            "inference images/s": number(test.get("throughput_images_per_s")),
            "latency ms": number(test.get("latency_ms")),
            "ECE": number(test.get("ece")),
            "epochs": len(record.get("history") or []),
            "device": str(record.get("device") or "—"),
            "precision": str(record.get("precision") or "—"),
        })
    return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, inner in value.items() for k, v in _flatten(inner, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): value}


def recipe_table(records: Records, differences_only: bool = False) -> pd.DataFrame:
    """Rows: recipe settings (augmentations as ``augment.<name>``); columns: models. Values as JSON text.

    ``differences_only`` keeps the settings on which the models do not all agree (a missing setting counts as a
    difference).
    """
    flat = {name: _flatten(record.get("recipe") or {}) for name, record in ordered(records).items()}
    settings = list(dict.fromkeys(key for values in flat.values() for key in values))
    missing = object()
    if differences_only:
        settings = [key for key in settings
                    if len({json.dumps(values.get(key, missing), default=str) for values in flat.values()}) > 1]
    # text, because a column mixes numbers, booleans and words, which a typed table cannot hold
    table = {name: [json.dumps(values[key]) if key in values else "—" for key in settings]
             for name, values in flat.items()}
    return pd.DataFrame(table, index=pd.Index(settings, name="setting"))
