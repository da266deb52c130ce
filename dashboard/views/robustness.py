"""The Robustness page's tables: each model's CIFAR-10-C results (``<model>/robustness.json``) and the degraded test
images with each model's prediction on them."""
from __future__ import annotations

import numpy as np
import pandas as pd

from cifar_models.corruptions import CORRUPTIONS, corrupt
from cifar_models.data import CLASSES
from cifar_models.models import model_title

from .common import format_percent, ordered

ROBUSTNESS_COMMAND = "python scripts/evaluate.py --robustness"
MCE_COLUMN = f"mCE ({model_title('plain_cnn')} = 100%)"  # plain_cnn is the reference, in AlexNet's place


def corruption_label(name: str) -> str:
    """'Gaussian noise (noise)': a corruption's title and family, for choosers and charts."""
    corruption = CORRUPTIONS[name]
    return f"{corruption.title} ({corruption.family})"


def accuracy_grid(results: dict[str, dict]) -> pd.DataFrame:
    """Long form over the models with a result: model, corruption (its label), family, severity, accuracy."""
    rows = [{"model": name, "corruption": corruption_label(corruption), "family": CORRUPTIONS[corruption].family,
             "severity": severity, "accuracy": accuracy}
            for name, result in ordered(results).items() if result
            for corruption, cells in result["accuracy"].items() if corruption in CORRUPTIONS
            for severity, accuracy in enumerate(cells, start=1)]
    return pd.DataFrame(rows, columns=["model", "corruption", "family", "severity", "accuracy"])


def summary_table(results: dict[str, dict]) -> pd.DataFrame:
    """One row per model with a result: clean and mean corruption accuracy on the subset, mCE, images, precision."""
    rows = {name: {"clean accuracy": result["clean_accuracy"],
                   "mean corruption accuracy": result["mean_corruption_accuracy"],
                   MCE_COLUMN: result.get("mean_corruption_error"),
                   "images": len(result["indices"]), "precision": result.get("precision")}
            for name, result in ordered(results).items() if result}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def missing_results(names: list[str], results: dict[str, dict]) -> list[str]:
    """The models without a current result (never measured, or measured on other weights)."""
    return [name for name in names if not results.get(name)]


def robustness_ranking(results: dict[str, dict]) -> str:
    """One sentence: which model holds up best under corruption, by mean corruption accuracy ('' without results)."""
    measured = {name: result for name, result in results.items() if result}
    if not measured:
        return ""
    ranking = sorted(measured, key=lambda name: measured[name]["mean_corruption_accuracy"], reverse=True)
    figures = ", ".join(f"{model_title(name)} {format_percent(measured[name]['mean_corruption_accuracy'])}"
                        for name in ranking)
    return f"Under corruption {model_title(ranking[0])} holds up best (mean corruption accuracy: {figures})."


def example_indices(labels: np.ndarray, seed: int) -> np.ndarray:
    """One test image per class, drawn with ``seed``: the images the page degrades."""
    rng = np.random.default_rng(seed)
    return np.array([rng.choice(np.flatnonzero(labels == label)) for label in range(len(CLASSES))])


def degraded_images(images: np.ndarray, corruption: str, severity: int, seed: int = 0) -> np.ndarray:
    return corrupt(images, corruption, severity, seed)


def prediction_table(predicted: dict[str, np.ndarray], labels: np.ndarray) -> pd.DataFrame:
    """Rows: each model's predicted class per image (columns 'image 1', ...), a ✓ or ✗ before it, and the truth."""
    columns = [f"image {i + 1}" for i in range(len(labels))]
    rows = {"true class": [CLASSES[label] for label in labels]}
    for name, classes in ordered(predicted).items():
        rows[name] = [f"{'✓' if guess == label else '✗'} {CLASSES[guess]}" for guess, label in zip(classes, labels)]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)
