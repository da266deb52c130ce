"""The graphed step mode checked where it runs, before a GPU session trusts it with a sweep (its first call runs this):

    python scripts/check_graphed_step.py              # on CUDA: every check; on a CPU: those without the capture

Each check runs the tiny trainer of cifar_models.step_rehearsal (Plain CNN with a ramped DropBlock, 12 random images,
3 steps an epoch) and prints one line, "ok" or what went wrong. The capture needs CUDA: on a CPU those checks say so
and the graphed path runs uncaptured against eager, as the GPU session's rehearsal does. Exit status 1 when a check
fails, 2 for a device this machine lacks.
"""
from __future__ import annotations

import io
import os
import sys
import traceback
from dataclasses import dataclass
from typing import Callable

import torch
from tqdm.auto import tqdm

from cifar_models import distributed
from cifar_models.arguments import ScriptParser
from cifar_models.step_modes import SYNC_CHECK_VARIABLE, sync_check
from cifar_models.step_rehearsal import assert_trained_alike, captured_trainer, tiny_trainer, two_epochs


def replayed(trainer, lr: float) -> torch.Tensor:
    trainer.static.load(torch.arange(4, device=trainer.images.device), lr)
    return trainer.static.run().clone()


def each_replay_draws_anew(device: torch.device) -> None:
    """The classic CUDA-graph bug is a replay that reuses the capture's random numbers. At learning rate 0 (weights
    unchanged) the same batch replayed twice gets new augmentation, DropBlock and dropout draws, so another loss;
    reseeding both generators as each epoch does gives the first losses back, exactly."""
    trainer = captured_trainer(device)
    trainer.model.follow_training(3, 6)  # a DropBlock rate above 0
    losses = []
    for _ in range(2):
        torch.manual_seed(11)
        trainer.generator.manual_seed(11)
        losses.append([replayed(trainer, 0.0)[0].item(), replayed(trainer, 0.0)[0].item()])
    assert losses[0][0] != losses[0][1], f"a replay drew the same random numbers as the one before: {losses[0]}"
    assert losses[0] == losses[1], f"reseeding did not reach the graph's generators: {losses}"


def takes_the_learning_rate(device: torch.device) -> None:
    trainer = captured_trainer(device)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    replayed(trainer, 0.0)
    assert all(torch.equal(p, b) for p, b in zip(trainer.model.parameters(), before)), "lr 0 moved the weights"
    replayed(trainer, 0.1)
    assert any(not torch.equal(p, b) for p, b in zip(trainer.model.parameters(), before)), "lr 0.1 did not"


def trains_as_eager_does(device: torch.device, captured: bool) -> None:
    """Two epochs of the graphed path against two eager epochs from the same weights and seeds: close (cuDNN and the
    fused SGD round differently; the correct counts are left out, where one near-tie could flip), and on CUDA no
    epoch synchronises with the host (CIFAR_SYNC_CHECK=error raises at any sync; the progress bar is on, so its
    non-blocking read is checked too)."""
    eager = tiny_trainer(False, device)
    graphed = captured_trainer(device) if captured else tiny_trainer(True, device)
    os.environ[SYNC_CHECK_VARIABLE] = "error"
    figures = []
    for trainer in (eager, graphed):
        with tqdm(total=6, file=io.StringIO()) as bar, sync_check(device):
            figures.append(two_epochs(trainer, bar))
    tolerance = 1e-2 if captured else 1e-4
    for theirs, ours in zip(*figures):
        torch.testing.assert_close(ours[[0, 2]], theirs[[0, 2]], rtol=tolerance, atol=tolerance)
    assert_trained_alike(graphed, eager, tolerance)


@dataclass(frozen=True)
class Check:
    title: str
    run: Callable[[torch.device], None]
    needs_capture: bool


CHECKS = (
    Check("each replay draws new random numbers; a reseed replays the same", each_replay_draws_anew, True),
    Check("the captured step takes the learning rate it is given", takes_the_learning_rate, True),
    Check("the captured step trains as eager does, with no host sync in an epoch",
          lambda device: trains_as_eager_does(device, captured=True), True),
    Check("the graphed path, uncaptured, trains as eager does",
          lambda device: trains_as_eager_does(device, captured=False), False),
)


def main(argv: list[str] | None = None) -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    args = parser.parse_args(argv)
    try:
        device = distributed.device_here(args.device)
    except distributed.DeviceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = 0
    for check in CHECKS:
        if check.needs_capture and device.type != "cuda":
            print(f"needs CUDA, not run on {device.type}: {check.title}")
            continue
        try:
            check.run(device)
            print(f"ok: {check.title}")
        except Exception as error:  # every check reports, whatever the first one raised
            failed += 1
            print(f"FAILED: {check.title}: {type(error).__name__}: {error}")
            traceback.print_exc(file=sys.stderr)
    print(f"{failed} of the checks failed" if failed else "every check that can run here passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
