"""What the dashboard shows, computed here from run records and data so that it can be tested without a browser.

Run records are the ``run.json`` files training writes (see :mod:`cifar_models.checkpoint`); functions take them as
``{model name: record}``. Tables come back as pandas frames in long form, ready for Altair. Nothing here imports
Streamlit.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd
import torch

from .augment import PARAMETERS, AugmentPipeline, describe_draws, to_float_batch, to_uint8_images
from .data import CIFAR10, CLASSES
from .recipe import DEFAULT_RECIPE

Records = dict[str, dict[str, Any]]

MODEL_TITLES = {"plain_cnn": "Plain CNN", "senet": "SENet", "inception": "Inception"}
SPLIT_TITLES = {"train": "train", "val": "validation", "test": "test"}

# "By far" needs a lead this large (percentage points of test accuracy) on top of being larger than the noise band.
BY_FAR_POINTS = 2.0
# Two-sided 95% normal quantile: the half-width of the noise band of an accuracy difference.
Z_95 = 1.96


def model_title(name: str) -> str:
    return MODEL_TITLES.get(name, name)


def ordered(records: Records) -> Records:
    """The lab's three models first, in their usual order, then any other."""
    rank = {name: i for i, name in enumerate(MODEL_TITLES)}
    return {name: records[name] for name in sorted(records, key=lambda n: (rank.get(n, len(rank)), n))}


def _test(record: dict) -> dict:
    return record.get("test") or {}


def _number(value) -> float:
    """A record's number, or NaN where the record has none (JSON writes NaN as null)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


# ----------------------------------------------------------------------------------------------------------------
# Formatting for cards and captions


def format_count(value: float) -> str:
    """2_784_250 -> '2.78 M', 555_500_000 -> '555.5 M', 1.2e9 -> '1.20 G'."""
    if not math.isfinite(value):
        return "—"
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.2f} {unit}" if scaled < 100 else f"{scaled:.1f} {unit}"
    return f"{value:.0f}"


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_percent(fraction: float) -> str:
    return "—" if not math.isfinite(fraction) else f"{100 * fraction:.2f}%"


# ----------------------------------------------------------------------------------------------------------------
# Learning curves


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
            raw = [_number(row.get(field)) for row in history]
            frames.append(pd.DataFrame({"model": name, "epoch": epochs, "metric": metric, "split": split,
                                        "raw": raw, "smoothed": debiased_ema(raw, smoothing)}))
    columns = ["model", "epoch", "metric", "split", "raw", "smoothed"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


# ----------------------------------------------------------------------------------------------------------------
# Test metrics


def tta_accuracies(records: Records) -> pd.DataFrame:
    """Long form: model, evaluation ('single view' | 'with TTA'), accuracy."""
    rows = [{"model": name, "evaluation": evaluation, "accuracy": _number(_test(record).get(field))}
            for name, record in ordered(records).items()
            for evaluation, field in (("single view", "accuracy"), ("with TTA", "accuracy_tta"))]
    return pd.DataFrame(rows, columns=["model", "evaluation", "accuracy"])


def per_class_accuracy(records: Records) -> pd.DataFrame:
    """Long form: model, class, accuracy."""
    rows = []
    for name, record in ordered(records).items():
        classes = record.get("classes") or CLASSES
        for class_name, accuracy in zip(classes, _test(record).get("per_class_accuracy") or []):
            rows.append({"model": name, "class": class_name, "accuracy": _number(accuracy)})
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
        counts = _test(record).get("confusion_matrix")
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
            for row in _test(record).get("reliability") or [] if row.get("count")]
    return pd.DataFrame(rows, columns=["model", "low", "high", "confidence", "accuracy", "count"])


# ----------------------------------------------------------------------------------------------------------------
# Cost and recipes


def cost_table(records: Records) -> pd.DataFrame:
    """One row per model: size, compute, time, speed and accuracy, each read from its record."""
    rows = []
    for name, record in ordered(records).items():
        test = _test(record)
        speeds = [_number(row.get("images_per_s")) for row in record.get("history") or []]
        speeds = [s for s in speeds if math.isfinite(s)]
        rows.append({
            "model": name,
            "parameters": _number(record.get("params")),
            "MACs per image": _number(record.get("macs")),
            "test accuracy": _number(test.get("accuracy")),
            "TTA accuracy": _number(test.get("accuracy_tta")),
            "training seconds": _number(record.get("train_seconds")),
            # the median epoch: the first epoch also pays for warm-up (cuDNN autotuning, compilation)
            "training images/s": float(np.median(speeds)) if speeds else math.nan,
            "inference images/s": _number(test.get("throughput_images_per_s")),
            "latency ms": _number(test.get("latency_ms")),
            "ECE": _number(test.get("ece")),
            "epochs": len(record.get("history") or []),
            "device": str(record.get("device") or "—"),
        })
    return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()


def model_card(record: dict) -> dict[str, str]:
    """The figures of a model's card on the home page, formatted."""
    row = cost_table({record.get("model", "model"): record}).iloc[0]
    return {
        "test accuracy": format_percent(row["test accuracy"]),
        "parameters": format_count(row["parameters"]),
        "multiply-accumulates": format_count(row["MACs per image"]) + " per image",
        "training time": f"{format_seconds(row['training seconds'])} for {row['epochs']} epochs",
        "device": row["device"],
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


# ----------------------------------------------------------------------------------------------------------------
# The verdict


@dataclass(frozen=True)
class Verdict:
    answer: str  # "yes", "no" or "cannot say"
    text: str  # the reasoning in plain words, with the figures it rests on


def noise_band(accuracy_a: float, accuracy_b: float, n: int) -> float:
    """Half-width of the 95% band of the difference of two accuracies measured on ``n`` test images each.

    It treats the two as independent binomial estimates; the models see the same images, so the true band of their
    difference is narrower and this one errs on the side of calling a lead noise.
    """
    variance = (accuracy_a * (1 - accuracy_a) + accuracy_b * (1 - accuracy_b)) / max(n, 1)
    return Z_95 * math.sqrt(variance)


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.1f}×" if math.isfinite(numerator / denominator) else "an unknown multiple of"


def _comparability(records: Records) -> str:
    """A warning when the runs did not get the same budget, data or evaluation, or only a subset, else ''."""
    differing = list(recipe_table(records, differences_only=True).index)
    for label, read in (("data subset", lambda r: (r.get("data") or {}).get("subset")),
                        ("data set", lambda r: r.get("data_fingerprint")),
                        ("number of test images", lambda r: _test(r).get("n"))):
        if len({json.dumps(read(r), default=str) for r in records.values()}) > 1:
            differing.append(label)
    warning = (f" Caution: the runs differ in {', '.join(differing)}, so this is not a like-for-like comparison."
               if differing else "")
    subsets = sorted({subset for r in records.values() if (subset := (r.get("data") or {}).get("subset"))})
    if subsets:
        warning += (f" These are smoke runs on {' and '.join(f'{n:,}' for n in subsets)} training images, which say "
                    "little about the full recipe.")
    return warning


def senet_verdict(records: Records) -> Verdict:
    """'Is SENet the best by far?', answered from the records' test accuracies, sizes and training times.

    By far means a lead of at least :data:`BY_FAR_POINTS` percentage points over the runner-up that is also larger
    than the noise band of the difference (:func:`noise_band`).
    """
    table = cost_table(records)
    if "senet" not in table.index:
        return Verdict("cannot say", "There is no SENet run record to judge, so the question stays open.")
    scored = table[table["test accuracy"].notna()]
    if "senet" not in scored.index or len(scored) < 2:
        return Verdict("cannot say", "SENet needs a test accuracy and at least one other model with one to be "
                                     "compared against.")
    ranking = scored.sort_values("test accuracy", ascending=False)
    senet = ranking.loc["senet"]
    best_name = ranking.index[0]
    others = ranking.drop(index="senet")
    rival_name = best_name if best_name != "senet" else others.index[0]
    rival = ranking.loc[rival_name]
    sizes = [_number(_test(records[name]).get("n")) for name in (rival_name, "senet")]
    n = int(min(sizes)) if all(math.isfinite(size) and size > 0 for size in sizes) else 0
    if n == 0:
        return Verdict("cannot say", "The records do not say how many test images the accuracies rest on.")
    lead = 100 * (senet["test accuracy"] - rival["test accuracy"])
    band = 100 * noise_band(senet["test accuracy"], rival["test accuracy"], n)
    cost = (f" SENet costs {_ratio(senet['MACs per image'], rival['MACs per image'])} {model_title(rival_name)}'s "
            f"multiply-accumulates per image and {_ratio(senet['training seconds'], rival['training seconds'])} "
            f"its training time.")
    figures = (f"SENet reaches {format_percent(senet['test accuracy'])} test accuracy, {model_title(rival_name)} "
               f"{format_percent(rival['test accuracy'])}")
    noise = f"on {n:,} test images a difference within ±{band:.2f} points can be chance"
    if best_name != "senet":
        answer = "no"
        text = (f"No. {model_title(best_name)} is the most accurate. {figures}: SENet trails by {-lead:.2f} points "
                f"({noise}).")
    elif lead <= band:
        answer = "no"
        text = f"No. {figures}: SENet leads by {lead:.2f} points, but {noise}, so this is a tie."
    elif lead < BY_FAR_POINTS:
        answer = "no"
        text = (f"Best, but not by far. {figures}: SENet leads by {lead:.2f} points, more than the ±{band:.2f} "
                f"points of chance on {n:,} test images but less than the {BY_FAR_POINTS:g} points we call 'by far'.")
    else:
        answer = "yes"
        text = (f"Yes. {figures}: SENet leads by {lead:.2f} points, beyond the ±{band:.2f} points of chance on "
                f"{n:,} test images and beyond the {BY_FAR_POINTS:g} points we call 'by far'.")
    return Verdict(answer, text + cost + _comparability(records))


# ----------------------------------------------------------------------------------------------------------------
# The data set


def split_sizes(data: CIFAR10) -> dict[str, int]:
    return {title: len(getattr(data, split)) for split, title in SPLIT_TITLES.items()}


def class_distribution(data: CIFAR10) -> pd.DataFrame:
    """Long form: split, class, count."""
    rows = [{"split": title, "class": class_name, "count": int(count)}
            for split, title in SPLIT_TITLES.items()
            for class_name, count in zip(data.classes, getattr(data, split).class_counts(data.num_classes))]
    return pd.DataFrame(rows, columns=["split", "class", "count"])


def channel_statistics(images: np.ndarray, chunk: int = 4096) -> pd.DataFrame:
    """Per-channel mean and standard deviation of uint8 ``(N, H, W, 3)`` images, on the [0, 1] scale.

    Sums run in chunks of float64 so that 45,000 images need megabytes, not the gigabyte a float copy would take.
    """
    total = np.zeros(3)
    squares = np.zeros(3)
    for start in range(0, len(images), chunk):
        pixels = images[start:start + chunk].reshape(-1, 3).astype(np.float64) / 255
        total += pixels.sum(axis=0)
        squares += np.square(pixels).sum(axis=0)
    count = max(len(images) * images.shape[1] * images.shape[2], 1) if images.ndim == 4 else 1
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - np.square(mean), 0))
    return pd.DataFrame({"mean": mean, "std": std}, index=pd.Index(["red", "green", "blue"], name="channel"))


def sample_order(labels: np.ndarray, class_index: int | None, seed: int) -> np.ndarray:
    """Indices of a split's images (of one class, or all), in an order shuffled by ``seed``."""
    members = np.arange(len(labels)) if class_index is None else np.flatnonzero(labels == class_index)
    return np.random.default_rng(seed).permutation(members)


def page_count(total: int, per_page: int) -> int:
    return max(math.ceil(total / per_page), 1)


def page_of(indices: np.ndarray, page: int, per_page: int) -> np.ndarray:
    """The ``page``-th (from 1) slice of ``per_page`` indices."""
    start = (page - 1) * per_page
    return indices[start:start + per_page]


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling, so 32x32 pixels stay crisp squares instead of the browser's blur."""
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


# ----------------------------------------------------------------------------------------------------------------
# Augmentation previews


def random_batch(total: int, count: int, seed: int) -> np.ndarray:
    """``count`` distinct image indices out of ``total``, chosen by ``seed``."""
    return np.sort(np.random.default_rng(seed).choice(total, size=min(count, total), replace=False))


def parse_indices(text: str, total: int, limit: int = 12) -> list[int]:
    """'3, 17 42' -> [3, 17, 42]; a ValueError says what is wrong in words."""
    words = text.replace(",", " ").split()
    if not words:
        raise ValueError("Enter at least one image index.")
    try:
        indices = [int(word) for word in words]
    except ValueError:
        raise ValueError(f"Image indices are whole numbers separated by commas or spaces, got {text!r}.") from None
    outside = [i for i in indices if not 0 <= i < total]
    if outside:
        raise ValueError(f"Indices must be between 0 and {total - 1}; {outside} are not.")
    if len(indices) > limit:
        raise ValueError(f"Choose at most {limit} images at a time (got {len(indices)}).")
    return list(dict.fromkeys(indices))


# which drawn values matter for the parameters chosen: a step whose parameter is off draws values it does not use
_STEP_ACTIVE = {
    "crop": lambda p: p["crop_padding"] > 0,
    "flip": lambda p: p["flip_p"] > 0,
    "rotate": lambda p: p["rotate_degrees"] > 0,
    "jitter": lambda p: p["brightness"] > 0 or p["contrast"] > 0 or p["saturation"] > 0,
    "cutout": lambda p: p["cutout_size"] > 0,
    "mix": lambda p: p["mix"] != "none",
}


@dataclass(frozen=True)
class AugmentedDraw:
    images: np.ndarray  # uint8 (N, H, W, 3)
    captions: list[str]  # per image: the random values it drew, for the steps that are switched on


def augmentation_preview(images: np.ndarray, labels: np.ndarray, params: dict, draws: int, seed: int,
                         num_classes: int = len(CLASSES)) -> list[AugmentedDraw]:
    """``draws`` independent passes of the training pipeline over the same images, seeded for a repeatable preview.

    It runs :class:`AugmentPipeline`, the code training runs; labels are given so that MixUp/CutMix mix them too.
    """
    pipeline = AugmentPipeline.from_dict(params)
    active = [step for step, is_on in _STEP_ACTIVE.items() if is_on(pipeline.params)]
    generator = torch.Generator().manual_seed(seed)
    batch = to_float_batch(images)
    targets = torch.as_tensor(labels, dtype=torch.int64)
    previews = []
    for _ in range(draws):
        result = pipeline(batch, targets, num_classes=num_classes, generator=generator)
        captions = []
        for i in range(len(images)):
            words = describe_draws(result.draws, i)
            captions.append(" · ".join(f"{step} {words[step]}" for step in active if step in words) or "unchanged")
        previews.append(AugmentedDraw(to_uint8_images(result.images), captions))
    return previews


def default_augmentation() -> dict:
    """The augmentation of the default training recipe: where the preview starts."""
    return DEFAULT_RECIPE.to_dict()["augment"]


def slider_spec(name: str) -> dict:
    """Bounds, step and help of an augmentation parameter's slider (from :data:`PARAMETERS`), and its start: the
    default recipe's value."""
    _off, low, high, description = PARAMETERS[name]
    default = default_augmentation()[name]
    whole = isinstance(low, int) and isinstance(high, int)
    step = 1 if whole else (0.05 if high <= 5 else 1.0)
    cast = int if whole else float
    return {"min_value": cast(low), "max_value": cast(high), "default": cast(default), "step": cast(step),
            "help": description}


def training_recipe(augment: dict) -> dict:
    """The full recipe training would run with these augmentations: what ``train_all.py --recipe FILE`` reads."""
    return DEFAULT_RECIPE.updated(augment=AugmentPipeline.from_dict(augment).to_dict()).to_dict()
