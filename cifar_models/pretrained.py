"""The trained models, as users of pretrained CIFAR models expect them: ``load_pretrained("senet")`` is the model in
eval mode, ready to predict, with the run record that made it as ``model.run_record`` (its classes, recipe, test
accuracy, ...). ``hubconf.py`` at the repository's root offers the same through ``torch.hub.load``.

The models take normalised float batches ``(N, 3, 32, 32)``; ``cifar_models.evaluation.predict_logits(model,
images)`` feeds them uint8 ``(N, 32, 32, 3)`` images the way training did.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .checkpoint import load_checkpoint
from .models import MODELS, build_model
from .run_record import CheckpointError

# the committed checkpoints: ``checkpoints/`` beside the package in this repository (not the working directory's)
REPOSITORY_CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


def load_pretrained(name: str, checkpoints: str | os.PathLike | None = None,
                    device: str | torch.device = "cpu") -> nn.Module:
    """The trained model ``name`` from ``<checkpoints>/<name>/`` (default: this repository's committed
    ``checkpoints/``), on ``device`` in eval mode, with its run record as ``model.run_record``.

    A ValueError names an unknown ``name``; a CheckpointError names the file that is missing or damaged, or a
    folder whose run record is of another model.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} for load_pretrained; choose from {', '.join(MODELS)}")
    if checkpoints is None and not REPOSITORY_CHECKPOINTS.is_dir():
        raise CheckpointError(f"There are no committed checkpoints at {REPOSITORY_CHECKPOINTS} (an installed copy of "
                              "the package does not carry them); pass `checkpoints`, the folder that holds the "
                              "<model>/ folders.")
    folder = Path(REPOSITORY_CHECKPOINTS if checkpoints is None else checkpoints) / name
    loaded = load_checkpoint(folder, device)
    if loaded.record.model != name:
        raise CheckpointError(f"{folder} holds a {loaded.record.model} checkpoint, not {name} (the `checkpoints` "
                              f"argument names the folder that holds <model>/ folders)")
    model = loaded.model
    model.run_record = loaded.record  # a plain attribute: not a parameter, buffer or part of the state dict
    return model


def hub_model(name: str, pretrained: bool = False, checkpoints: str | os.PathLike | None = None,
              device: str | torch.device = "cpu", **options) -> nn.Module:
    """``torch.hub`` entry point of model ``name``: trained (``pretrained=True``, from :func:`load_pretrained`) or
    the untrained architecture built with ``options`` (its ``run_record`` is None)."""
    if pretrained:
        if options:
            raise ValueError(f"{name}: a pretrained model is built as its run record says; drop "
                             f"{', '.join(sorted(options))}")
        return load_pretrained(name, checkpoints, device)
    model = build_model(name, **options).to(device)
    model.run_record = None
    return model
