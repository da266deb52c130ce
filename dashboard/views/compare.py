"""The Compare page's tables: learning curves, test metrics, confusion, calibration, cost and recipes."""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from cifar_models.models import model_title
from cifar_models.run_record import EpochRecord, RunRecord

from .common import Records, format_count, format_percent, format_seconds, ordered

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


def learning_curves(histories: dict[str, Sequence[EpochRecord]], smoothing: float) -> pd.DataFrame:
    """Long form: model, epoch, metric ('loss' | 'accuracy'), split ('train' | 'validation'), raw, smoothed, from
    each model's finished epochs (a run record's or, while it trains, its resume record's)."""
    frames = []
    for name, history in ordered(histories).items():
        epochs = [row.epoch for row in history]
        for (metric, split), field in CURVES.items():
            raw = [getattr(row, field) for row in history]
            frames.append(pd.DataFrame({"model": name, "epoch": epochs, "metric": metric, "split": split,
                                        "raw": raw, "smoothed": debiased_ema(raw, smoothing)}))
    columns = ["model", "epoch", "metric", "split", "raw", "smoothed"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def smoothing_lag(curves: pd.DataFrame) -> float:
    """The largest gap between an accuracy curve's last smoothed point and its last raw value (a fraction): how far an
    average over past epochs trails, at its end, a curve that still rises."""
    accuracy = curves[curves["metric"] == "accuracy"].sort_values("epoch")
    last = accuracy.groupby(["model", "split"]).last()
    return float((last["raw"] - last["smoothed"]).abs().max()) if len(last) else 0.0


def seed_accuracies(seed_records: dict[str, Sequence[RunRecord]]) -> pd.DataFrame:
    """Long form over every seed's record: model, evaluation ('single view' | 'with TTA'), seed, accuracy."""
    rows = [{"model": name, "evaluation": evaluation, "seed": record.seed, "accuracy": accuracy}
            for name, records in ordered(seed_records).items() for record in records
            for evaluation, accuracy in (("single view", record.accuracy), ("with TTA", record.tta_accuracy))
            if math.isfinite(accuracy)]
    return pd.DataFrame(rows, columns=["model", "evaluation", "seed", "accuracy"])


def per_class_accuracy(records: Records) -> pd.DataFrame:
    """Long form: model, class, accuracy."""
    rows = []
    for name, record in ordered(records).items():
        for class_name, accuracy in zip(record.classes, record.test.per_class_accuracy):
            rows.append({"model": name, "class": class_name, "accuracy": accuracy})
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
        counts = record.test.confusion_matrix
        if not counts:
            continue
        classes = record.classes
        fractions = normalized_confusion(counts)
        for t, true_name in enumerate(classes):
            for p, predicted_name in enumerate(classes):
                rows.append({"model": name, "true": true_name, "predicted": predicted_name,
                             "count": int(counts[t][p]), "fraction": float(fractions[t, p])})
    return pd.DataFrame(rows, columns=["model", "true", "predicted", "count", "fraction"])


def reliability(records: Records) -> pd.DataFrame:
    """Long form of the non-empty confidence bins: model, low, high, confidence, accuracy, count."""
    rows = [{"model": name, "low": row.low, "high": row.high, "confidence": row.confidence, "accuracy": row.accuracy,
             "count": row.count}
            for name, record in ordered(records).items()
            for row in record.test.reliability if row.count]
    return pd.DataFrame(rows, columns=["model", "low", "high", "confidence", "accuracy", "count"])


def cost_table(records: Records) -> pd.DataFrame:
    """One row per model: size, compute, time, speed and accuracy, each read from its record."""
    rows = []
    for name, record in ordered(records).items():
        rows.append({
            "model": name,
            "parameters": float(record.params),
            "MACs per image": float(record.macs),
            "test accuracy": record.accuracy,
            "TTA accuracy": record.tta_accuracy,
            "training seconds": record.train_seconds,
            "training images/s": record.training_images_per_s,
            "inference images/s": record.test.throughput_images_per_s,
            "latency ms": record.test.latency_ms,
            "ECE": record.test.ece,
            "epochs": record.epochs_run,
            "device": record.device,
            "precision": record.precision,
        })
    return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()


def _figure(value: float, pattern: str) -> str:
    return pattern.format(value) if math.isfinite(value) else "—"


# the cost table's rows as shown: (label, column of cost_table, how it is written)
COST_ROWS = (
    ("test accuracy", "test accuracy", format_percent),
    ("with flip TTA", "TTA accuracy", format_percent),
    ("parameters", "parameters", format_count),
    ("multiply-accumulates per image", "MACs per image", format_count),
    ("training time", "training seconds", format_seconds),
    ("training images/s (median epoch)", "training images/s", lambda v: _figure(v, "{:,.0f}")),
    ("inference images/s", "inference images/s", lambda v: _figure(v, "{:,.0f}")),
    ("latency per image", "latency ms", lambda v: _figure(v, "{:.2f} ms")),
    ("calibration error (ECE, 15 bins)", "ECE", lambda v: _figure(v, "{:.3f}")),
    ("epochs", "epochs", str),
    ("device", "device", str),
    ("precision", "precision", str),
)


def cost_display(costs: pd.DataFrame) -> pd.DataFrame:
    """``cost_table`` turned for reading at any width: one row per figure, one column per model (by title), each
    value written out (percent, M/G, minutes)."""
    return pd.DataFrame({model_title(name): [write(costs.loc[name, column]) for _, column, write in COST_ROWS]
                         for name in costs.index},
                        index=pd.Index([label for label, _, _ in COST_ROWS], name="figure"))


FIRST_ONLY, SECOND_ONLY = "only the first right", "only the second right"


def pair_display(pairs: pd.DataFrame) -> pd.DataFrame:
    """The table of model pairs (``evidence.pair_table``) narrowed for reading: its 'only <model> right' columns, one
    per model and empty where the model is not in the pair, folded into the pair's first and second model's."""
    only = [column for column in pairs.columns if column.startswith("only ") and column.endswith(" right")]
    if not only:
        return pairs
    models = [pair.split(" − ") for pair in pairs.index]
    shown = pairs.drop(columns=only)
    at = min(pairs.columns.get_loc(column) for column in only)
    for offset, (column, which) in enumerate(((FIRST_ONLY, 0), (SECOND_ONLY, 1))):
        shown.insert(at + offset, column, [pairs.loc[pair, f"only {titles[which]} right"]
                                           for pair, titles in zip(pairs.index, models)])
    return shown


# how the table of model pairs is written: differences in points with their sign, counts whole, p-values to 3 digits
PAIR_FORMATS = {
    FIRST_ONLY: lambda value: f"{int(value):,}",
    SECOND_ONLY: lambda value: f"{int(value):,}",
    "difference (points)": lambda value: f"{value:+.2f}",
    "McNemar p": lambda value: f"{value:.3g}",
    "Holm p": lambda value: f"{value:.3g}",
    "significant": lambda value: "yes" if value else "no",
}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, inner in value.items() for k, v in _flatten(inner, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): value}


def recipe_table(records: Records, differences_only: bool = False) -> pd.DataFrame:
    """Rows: recipe settings (augmentations as ``augment.<name>``); columns: models. Values as JSON text.

    ``differences_only`` keeps the settings on which the models do not all agree (a missing setting counts as a
    difference).
    """
    flat = {name: _flatten(record.recipe.to_dict()) for name, record in ordered(records).items()}
    settings = list(dict.fromkeys(key for values in flat.values() for key in values))
    missing = object()
    if differences_only:
        settings = [key for key in settings
                    if len({json.dumps(values.get(key, missing), default=str) for values in flat.values()}) > 1]
    # text, because a column mixes numbers, booleans and words, which a typed table cannot hold
    table = {name: [json.dumps(values[key]) if key in values else "—" for key in settings]
             for name, values in flat.items()}
    return pd.DataFrame(table, index=pd.Index(settings, name="setting"))
