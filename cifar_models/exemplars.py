"""What a channel responds to: its "dataset examples" (OpenAI Microscope's term) on the test split.

For every inspectable layer of a model and each of its channels: the indices of the test images that activate it most
(by the channel's mean activation over its map) and the channel's mean activation per class. One forward pass over the
test split computes every layer at once; the result is cached beside the checkpoint as ``exemplars.safetensors``,
keyed by the weights' SHA-256 and the data's fingerprint, and holds index arrays only, never image copies.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from .normalization import model_input
from .checkpoint import atomic_write_bytes, require_writable, weights_digest
from .models.base import CifarNet, evaluating
from .precision import autocast, prepare_batch, resolve_precision

EXEMPLARS_FILE = "exemplars.safetensors"
TOP = 9  # a 3x3 grid of examples per channel


@dataclass(frozen=True)
class ChannelExemplars:
    """One layer's exemplars: row ``c`` belongs to channel ``c``."""

    top_indices: np.ndarray  # (C, TOP) int64: test-split indices, most activating first
    top_values: np.ndarray  # (C, TOP) float32: their mean activations
    class_means: np.ndarray  # (C, classes) float32: the channel's mean activation over each class's test images

    def for_channel(self, channel: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.top_indices[channel], self.top_values[channel], self.class_means[channel]


class _RunningTop:
    """The TOP largest values per channel seen so far, and where they were, updated batch by batch."""

    def __init__(self, channels: int, num_classes: int):
        self.values = torch.full((channels, 0), -torch.inf)
        self.indices = torch.zeros((channels, 0), dtype=torch.long)
        self.class_sums = torch.zeros(channels, num_classes, dtype=torch.float64)

    def update(self, means: torch.Tensor, indices: torch.Tensor, labels: torch.Tensor) -> None:
        """``means`` (N, C): each image's mean activation per channel; ``indices`` (N,) their test-split indices."""
        values = torch.cat([self.values, means.T], 1)
        where = torch.cat([self.indices, indices.expand(len(means.T), -1)], 1)
        kept = values.topk(min(TOP, values.shape[1]), dim=1)
        self.values, self.indices = kept.values, where.gather(1, kept.indices)
        self.class_sums.index_add_(1, labels, means.T.double())

    def result(self, class_counts: torch.Tensor) -> ChannelExemplars:
        return ChannelExemplars(self.indices.numpy(), self.values.float().numpy(),
                                (self.class_sums / class_counts.clamp(min=1)).float().numpy())


@torch.no_grad()
def compute_exemplars(model: CifarNet, images: np.ndarray, labels: np.ndarray, *, num_classes: int,
                      batch_size: int = 250, precision: str = "auto",
                      progress: bool = True) -> dict[str, ChannelExemplars]:
    """Exemplars of every inspectable layer of ``model`` over uint8 ``images`` (N, 32, 32, 3) with ``labels``."""
    device = next(model.parameters()).device
    precision = resolve_precision(precision, device)
    layers = model.inspectable_layers()
    running = {name: _RunningTop(layer.shape[0], num_classes) for name, layer in layers.items()}
    means: dict[str, torch.Tensor] = {}
    handles = []
    for name, layer in layers.items():
        def reduce_to_channel_means(_module, _inputs, output, name=name):
            means[name] = output.float().mean((2, 3)).cpu()  # (N, C): the map itself is not kept

        handles.append(model.get_submodule(layer.path).register_forward_hook(reduce_to_channel_means))
    labels_tensor = torch.as_tensor(labels, dtype=torch.long)
    try:
        with evaluating(model), autocast(precision, device):
            for start in tqdm(range(0, len(images), batch_size), desc=f"exemplars {type(model).__name__}",
                              unit="batch", disable=not progress):
                batch = prepare_batch(model_input(images[start:start + batch_size], device), precision)
                model(batch)
                index = torch.arange(start, start + len(batch))
                for name, top in running.items():
                    top.update(means[name], index, labels_tensor[index])
    finally:
        for handle in handles:
            handle.remove()
    counts = torch.bincount(labels_tensor, minlength=num_classes).double()
    return {name: top.result(counts) for name, top in running.items()}


def save_exemplars(path: str | Path, exemplars: dict[str, ChannelExemplars], key: dict) -> None:
    tensors = {}
    for name, layer in exemplars.items():
        tensors[f"{name}/top_indices"] = torch.from_numpy(layer.top_indices)
        tensors[f"{name}/top_values"] = torch.from_numpy(layer.top_values)
        tensors[f"{name}/class_means"] = torch.from_numpy(layer.class_means)
    metadata = {"key": json.dumps(key, sort_keys=True), "layers": json.dumps(list(exemplars))}
    atomic_write_bytes(Path(path), lambda temporary: save_file(tensors, temporary, metadata=metadata))


def load_exemplars(path: str | Path, key: dict) -> dict[str, ChannelExemplars] | None:
    """The cached exemplars, or None when there are none for this ``key`` (other weights or data) or the file is
    unreadable (it is then recomputed and replaced)."""
    try:
        with safe_open(str(path), framework="np") as stored:
            metadata = stored.metadata() or {}
            if metadata.get("key") != json.dumps(key, sort_keys=True):
                return None
            return {name: ChannelExemplars(stored.get_tensor(f"{name}/top_indices"),
                                           stored.get_tensor(f"{name}/top_values"),
                                           stored.get_tensor(f"{name}/class_means"))
                    for name in json.loads(metadata["layers"])}
    except (OSError, SafetensorError, KeyError, ValueError):
        return None


def _key(checkpoint_dir: str | Path, data_fingerprint: str, image_count: int) -> dict:
    return {"weights_sha256": weights_digest(checkpoint_dir), "data_fingerprint": data_fingerprint,
            "images": image_count, "top": TOP}


def stored_exemplars(checkpoint_dir: str | Path, *, data_fingerprint: str,
                     image_count: int) -> dict[str, ChannelExemplars] | None:
    """The exemplars stored beside the checkpoint for these weights and this data, or None (not computed yet)."""
    return load_exemplars(Path(checkpoint_dir) / EXEMPLARS_FILE, _key(checkpoint_dir, data_fingerprint, image_count))


def cached_exemplars(checkpoint_dir: str | Path, model: CifarNet, images: np.ndarray, labels: np.ndarray, *,
                     num_classes: int, data_fingerprint: str, precision: str = "auto",
                     progress: bool = True) -> dict[str, ChannelExemplars]:
    """The exemplars stored beside the checkpoint, computed and stored first if missing or stale; FolderNotWritable
    before any computing where they are missing and cannot be stored."""
    found = stored_exemplars(checkpoint_dir, data_fingerprint=data_fingerprint, image_count=len(images))
    if found is not None:
        return found
    require_writable(Path(checkpoint_dir), EXEMPLARS_FILE)  # before a minute of computing, not after it
    computed = compute_exemplars(model, images, labels, num_classes=num_classes, precision=precision,
                                 progress=progress)
    save_exemplars(Path(checkpoint_dir) / EXEMPLARS_FILE, computed,
                   _key(checkpoint_dir, data_fingerprint, len(images)))
    return computed
