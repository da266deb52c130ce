"""Evaluation: predictions (optionally with flip test-time augmentation) and the metrics a run record keeps."""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from .normalization import model_input
from .models.base import evaluating
from .precision import autocast, prepare_batch, resolve_precision


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor | np.ndarray, *, device: str | torch.device | None = None,
                   batch_size: int = 256, precision: str = "auto") -> torch.Tensor:
    """Float32 logits ``(N, classes)`` on the CPU for uint8 images ``(N, 32, 32, 3)``, computed in ``precision``
    (``auto``: bf16 where the device runs it natively, see ``cifar_models.precision``)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    precision = resolve_precision(precision, device)
    images = torch.as_tensor(images)
    outputs = []
    with evaluating(model), autocast(precision, device):
        for start in range(0, len(images), batch_size):
            batch = prepare_batch(model_input(images[start:start + batch_size], device), precision)
            outputs.append(model(batch).float().cpu())
    return torch.cat(outputs) if outputs else torch.zeros(0, 0)


def predict_proba(model: nn.Module, images: torch.Tensor | np.ndarray, device: str | torch.device | None = None,
                  batch_size: int = 256, precision: str = "auto") -> np.ndarray:
    """Class probabilities ``(N, classes)`` as a numpy array."""
    logits = predict_logits(model, images, device=device, batch_size=batch_size, precision=precision)
    return torch.softmax(logits, 1).numpy()


def plain_and_tta_logits(model: nn.Module, images: torch.Tensor | np.ndarray, *, device: str | torch.device,
                         batch_size: int = 256, precision: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of the images as they are, and averaged with their mirror images (flip TTA): two forward passes."""
    plain = predict_logits(model, images, device=device, batch_size=batch_size, precision=precision)
    mirrored = torch.as_tensor(images).flip(2)  # uint8 (N, H, W, 3): axis 2 is the width
    return plain, (plain + predict_logits(model, mirrored, device=device, batch_size=batch_size,
                                          precision=precision)) / 2


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts, rows the true class and columns the predicted one."""
    return np.bincount(labels * num_classes + predictions, minlength=num_classes**2).reshape(num_classes, num_classes)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> list[dict]:
    """Per confidence bin: mean confidence, accuracy and count (the reliability diagram's data)."""
    confidence = probs.max(1)
    correct = probs.argmax(1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for index in range(bins):
        members = which == index
        count = int(members.sum())
        rows.append({"low": float(edges[index]), "high": float(edges[index + 1]), "count": count,
                     "confidence": float(confidence[members].mean()) if count else None,
                     "accuracy": float(correct[members].mean()) if count else None})
    return rows


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE (Guo et al., 2017): the count-weighted gap between confidence and accuracy over equal-width bins."""
    total = len(labels)
    return float(sum(row["count"] / total * abs(row["confidence"] - row["accuracy"])
                     for row in reliability_bins(probs, labels, bins) if row["count"]))


@torch.no_grad()
def measure_latency_ms(model: nn.Module, images: np.ndarray, device: torch.device, repeats: int = 20,
                       precision: str = "auto") -> float:
    """Mean wall time of one single-image forward pass, after warm-up, with device synchronisation."""
    def synchronise():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    precision = resolve_precision(precision, device)
    batches = [prepare_batch(model_input(images[i % len(images)][None], device), precision) for i in range(repeats)]
    with evaluating(model), autocast(precision, device):
        for batch in batches[:3]:
            model(batch)
        synchronise()
        started = time.perf_counter()
        for batch in batches:
            model(batch)
        synchronise()
    return (time.perf_counter() - started) / repeats * 1000


def evaluate_test(model: nn.Module, images: np.ndarray | torch.Tensor, labels: np.ndarray, *, device: torch.device,
                  num_classes: int = 10, batch_size: int = 1024, precision: str = "auto") -> dict:
    """The ``test`` block of a run record."""
    labels = np.asarray(labels)
    started = time.perf_counter()
    plain_logits, tta_logits = plain_and_tta_logits(model, images, device=device, batch_size=batch_size,
                                                    precision=precision)
    throughput = 2 * len(labels) / max(time.perf_counter() - started, 1e-9)  # every image went through twice
    plain = torch.softmax(plain_logits, 1).numpy()
    predictions = plain.argmax(1)
    matrix = confusion_matrix(labels, predictions, num_classes)
    per_class = matrix.diagonal() / np.maximum(matrix.sum(1), 1)
    return {
        "n": int(len(labels)),
        "accuracy": float((predictions == labels).mean()),
        "accuracy_tta": float((tta_logits.argmax(1).numpy() == labels).mean()),
        "per_class_accuracy": per_class.tolist(),
        "confusion_matrix": matrix.tolist(),
        "ece": expected_calibration_error(plain, labels),
        "reliability": reliability_bins(plain, labels),
        "latency_ms": measure_latency_ms(model, np.asarray(images[:32]), device, precision=precision),
        "throughput_images_per_s": throughput,
        "predictions": predictions.tolist(),
        "confidence": [round(float(c), 4) for c in plain.max(1)],
    }
