"""A tiny trainer to check the step modes against each other: Plain CNN with a ramped DropBlock on 12 random images,
3 steps an epoch, eager or on the graphed path. The CPU tests (tests/test_step_modes.py) run the graphed path without
its capture; ``scripts/check_graphed_step.py``, the GPU session's first check, captures it on CUDA as well."""
from __future__ import annotations

import warnings

import torch
from tqdm.auto import tqdm

from .augment import AugmentPipeline
from .distributed import Ranks
from .engine import Trainer, _reseed, make_optimizer
from .models import build_model
from .recipe import Recipe
from .step_modes import StaticStep, try_capture

RECIPE = Recipe(epochs=2, batch_size=4)


def tiny_trainer(graph_ready: bool, device: torch.device) -> Trainer:
    """Eager, or on the graphed path (fused SGD, schedules held on the device, the step through static buffers)
    without the capture; the same weights and data either way."""
    torch.manual_seed(0)
    model = build_model("plain_cnn", drop_prob=0.2, drop_schedule="linear").to(device)
    images = torch.randint(0, 256, (12, 32, 32, 3), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    trainer = Trainer(model, model, make_optimizer(model, RECIPE, fused=graph_ready), AugmentPipeline(RECIPE.augment),
                      images.to(device), (torch.arange(12) % 10).to(device), RECIPE, batch=4, steps_per_epoch=3,
                      precision="fp32", num_classes=10)
    if graph_ready:
        model.hold_schedules_on_device(device)
        trainer.static = StaticStep(trainer.train_step, trainer.images, trainer.labels, trainer.batch)
    return trainer


def captured_trainer(device: torch.device) -> Trainer:
    """:func:`tiny_trainer` on the graphed path with its step captured in a CUDA graph; AssertionError naming the
    capture's error where it fails."""
    trainer = tiny_trainer(True, device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        captured = try_capture(trainer.static, trainer.model, trainer.optimizer, trainer.generator, "plain_cnn")
    assert captured, "; ".join(str(warning.message) for warning in caught)
    return trainer


def two_epochs(trainer: Trainer, bar: tqdm) -> list[torch.Tensor]:
    """Two epochs' figures, the steps numbered from 1: at step 0 the ramp's rate is 0, where eager skips drawing
    DropBlock's mask and the graphed step must draw it anyway, so from there on their random streams would part."""
    figures = []
    for epoch, first_step in ((1, 1), (2, 4)):
        _reseed(RECIPE, epoch, Ranks(), trainer.generator)
        figures.append(trainer.train_epoch(first_step, bar))
    return figures


def assert_trained_alike(ours: Trainer, theirs: Trainer, tolerance: float) -> None:
    """The same weights, BatchNorm statistics and momentum, within ``tolerance`` (relative and absolute)."""
    reference = theirs.model.state_dict()
    for name, tensor in ours.model.state_dict().items():
        torch.testing.assert_close(tensor, reference[name], rtol=tolerance, atol=tolerance, msg=name)
    for mine, other in zip(ours.optimizer.param_groups[0]["params"], theirs.optimizer.param_groups[0]["params"]):
        torch.testing.assert_close(ours.optimizer.state[mine]["momentum_buffer"],
                                   theirs.optimizer.state[other]["momentum_buffer"], rtol=tolerance, atol=tolerance)
