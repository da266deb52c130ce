"""The training engine: one loop for every model, fast on a GPU and deterministic on a CPU.

As in airbench: the whole training split sits on the device as uint8; each batch is augmented there with the library's
batched operations; the forward pass runs in bf16 autocast with channels_last on CUDA and on CPUs with native bf16
(``precision="auto"``, see ``cifar_models.precision``), in fp32 elsewhere or when asked. After every epoch the state
(weights, optimiser, step, history) is written atomically, so rerunning the same command after an interruption continues
from the last finished epoch. The random state is a function of (seed, epoch, rank): each epoch reseeds shuffling,
augmentation and dropout, so a resumed run draws exactly what the uninterrupted one would have.
"""
from __future__ import annotations

import hashlib
import json
import math
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from .augment import AugmentPipeline
from .checkpoint import RECORD_FILE, atomic_write_bytes, save_checkpoint, write_json
from .data import CIFAR10, CLASSES, Split, stratified_split
from .distributed import Ranks, all_reduce_sum, barrier
from .evaluation import evaluate_test, predict_logits
from .models import build_model
from .normalization import normalize, to_float_batch
from .precision import autocast, prepare_batch, prepare_model, resolve_precision
from .recipe import Recipe
from .run_record import RunRecord

RESUME_RECORD = "resume.json"
REPO_ROOT = Path(__file__).resolve().parents[1]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good epoch's state is kept."""


class ResumeMismatch(RuntimeError):
    """An interrupted run exists for this model but with other settings."""


@dataclass
class Progress:
    """Where a run stands: what a resume restores besides the tensors."""

    epoch: int = 0
    step: int = 0
    train_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


def check_subset(subset: int, batch_size: int, data: CIFAR10 | None = None) -> None:
    """Refuse a ``--subset`` a run cannot use, naming the valid range: at least one batch of training images (a
    whole number per class), at most the smallest class's training images times the classes. Without ``data`` only
    the lower bound is checked: it needs no data, so a script can refuse before loading any."""
    classes = data.num_classes if data is not None else len(CLASSES)
    low = -(-batch_size // classes) * classes
    high = int(data.train.class_counts().min()) * classes if data is not None else None
    valid = (f"the valid range is {low:,} to {high:,}" if high is not None else
             f"the valid range is {low:,} to the number of training images (45,000 in CIFAR-10)")
    if subset < low:
        raise ValueError(f"--subset {subset} is too small: a run needs at least one batch of training images, "
                         f"{low:,} with batch_size {batch_size} ({low // classes} of each of the {classes} classes); "
                         f"{valid}.")
    if high is not None and subset > high:
        raise ValueError(f"--subset {subset} is too large: the training split has {high // classes:,} images of its "
                         f"smallest class, so at most {high:,} ({classes} classes x {high // classes:,}); {valid}, or "
                         f"leave --subset out to train on all {len(data.train):,}.")


def subset_splits(data: CIFAR10, subset: int | None, seed: int) -> tuple[Split, Split, Split]:
    """The full splits, or for a smoke run: ``subset`` training images (stratified), a fifth as many validation
    images (stratified) and the first ``subset`` test images."""
    if subset is None:
        return data.train, data.val, data.test
    per_class = max(subset // data.num_classes, 1)
    val_per_class = max(min(per_class // 5, len(data.val) // data.num_classes), 1)
    _, train_index = stratified_split(data.train.labels, per_class, seed)
    _, val_index = stratified_split(data.val.labels, val_per_class, seed)
    return data.train.subset(train_index), data.val.subset(val_index), data.test.subset(np.arange(min(subset, len(data.test))))


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.SGD:
    """SGD with weight decay on convolution and linear weights only (decaying BatchNorm scales and biases hurts)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reseed(recipe: Recipe, epoch: int, ranks: Ranks, generator: torch.Generator) -> None:
    seed = (recipe.seed * 1_000_003 + epoch) * 1009 + ranks.rank
    torch.manual_seed(seed)  # dropout and DropBlock
    generator.manual_seed(seed)  # shuffling and augmentation


def _device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name and the threads torch uses ("cpu" where the OS doesn't say)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        model_names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                       if line.startswith("model name")]
    except OSError:
        model_names = []
    return f"{model_names[0]} ({torch.get_num_threads()} threads)" if model_names else "cpu"


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


# ----------------------------------------------------------------------------------------------------------------
# Resume state: <run dir>/state-epochNNNN.safetensors (tensors) + resume.json (the rest, written last)


def _save_resume(run_dir: Path, identity: dict, model: nn.Module, optimizer: torch.optim.Optimizer,
                 progress: Progress) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous()
    weights = f"state-epoch{progress.epoch:04d}.safetensors"
    atomic_write_bytes(run_dir / weights, lambda temporary: save_file(tensors, temporary))
    write_json(run_dir / RESUME_RECORD, {**identity, "weights": weights, "epoch": progress.epoch,
                                         "step": progress.step, "train_seconds": progress.train_seconds,
                                         "history": progress.history})
    for old in run_dir.glob("state-epoch*.safetensors"):
        if old.name != weights:
            old.unlink()


def _load_resume(run_dir: Path, identity: dict, model: nn.Module, optimizer: torch.optim.Optimizer) -> Progress | None:
    path = run_dir / RESUME_RECORD
    if not path.is_file():
        return None

    def damaged(error: Exception) -> ResumeMismatch:
        return ResumeMismatch(f"The interrupted run in {run_dir} is damaged ({type(error).__name__}: {error}); "
                              "add --fresh to discard it and start again.")

    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        raise damaged(error) from None
    expected = json.loads(json.dumps(identity))  # compare as JSON would store it (tuples become lists)
    different = [key for key in expected if saved.get(key) != expected[key]]
    if different:
        raise ResumeMismatch(f"{path} holds an interrupted run with a different {', '.join(different)}. Rerun with "
                             "the same settings to resume it, or add --fresh to discard it.")
    try:
        tensors = load_file(str(run_dir / saved["weights"]))
    except (OSError, KeyError, TypeError, SafetensorError) as error:
        raise damaged(error) from None
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    optimizer_state = optimizer.state_dict()
    optimizer_state["state"] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            optimizer_state["state"].setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(optimizer_state)
    return Progress(saved["epoch"], saved["step"], saved["train_seconds"], saved["history"])


def _rank_checksums(model: nn.Module, ranks: Ranks) -> list[float]:
    """Sum of |w| over all parameters on each rank, gathered to every rank."""
    mine = torch.stack([p.detach().double().abs().sum() for p in model.parameters()]).sum().reshape(1)
    if not ranks.distributed:
        return [mine.item()]
    gathered = [torch.zeros_like(mine) for _ in range(ranks.world_size)]
    torch.distributed.all_gather(gathered, mine)
    return [g.item() for g in gathered]


def _clear_resume(run_dir: Path) -> None:
    for path in [run_dir / RESUME_RECORD, *run_dir.glob("state-epoch*.safetensors")]:
        path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------------------------
# The loop


def _train_epoch(net: nn.Module, optimizer, pipeline: AugmentPipeline, images: torch.Tensor, labels: torch.Tensor,
                 recipe: Recipe, progress: Progress, total_steps: int, batch: int, generator: torch.Generator,
                 device: torch.device, precision: str, bar: tqdm, num_classes: int) -> torch.Tensor:
    """One pass over this rank's shard; returns [loss sum, correct, count] as a device tensor."""
    net.train()
    order = torch.randperm(len(images), generator=generator, device=device)
    totals = torch.zeros(3, device=device)
    count = torch.full((), float(batch), device=device)  # filled on the device: no host-to-device copy per step
    for index in range(len(images) // batch):
        chosen = order[index * batch:(index + 1) * batch]
        augmented = pipeline(to_float_batch(images[chosen]), labels[chosen], num_classes=num_classes,
                             generator=generator)
        inputs = prepare_batch(normalize(augmented.images), precision)
        for group in optimizer.param_groups:
            group["lr"] = recipe.learning_rate(progress.step, total_steps)
        with autocast(precision, device):
            logits = net(inputs)
        loss = F.cross_entropy(logits.float(), augmented.targets, label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        progress.step += 1
        correct = (logits.argmax(1) == augmented.targets.argmax(1)).sum()
        totals += torch.stack([loss.detach() * batch, correct.float(), count])
        bar.update(1)
        if index % 20 == 0 and not bar.disable:  # a host sync: only as often as the bar needs it
            bar.set_postfix(loss=f"{totals[0].item() / totals[2].item():.3f}", acc=f"{totals[1].item() / totals[2].item():.3f}")
    return totals


def _validate(model: nn.Module, split: Split, device: torch.device, recipe: Recipe,
              precision: str) -> tuple[float, float]:
    logits = predict_logits(model, split.images, device=device, batch_size=recipe.eval_batch_size,
                            precision=precision)
    labels = torch.from_numpy(split.labels)
    return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()


def train_model(name: str, data: CIFAR10, recipe: Recipe, out_dir: str | Path, *, device: torch.device,
                ranks: Ranks = Ranks(), subset: int | None = None, model_options: dict | None = None,
                recipe_overrides: dict | None = None, fresh: bool = False, progress: bool = True,
                precision: str = "auto") -> RunRecord | None:
    """Train ``name`` with ``recipe``, write ``<out_dir>/<name>/`` and return the run record (None on ranks > 0).
    ``precision`` is ``auto``, ``bf16`` or ``fp32`` (``cifar_models.precision``); the record keeps what it resolved to."""
    started = time.perf_counter()
    precision = resolve_precision(precision, device)
    run_dir = Path(out_dir) / name
    model_options = dict(model_options or {})
    if subset is not None:
        check_subset(subset, recipe.batch_size, data)
    train, val, test = subset_splits(data, subset, recipe.seed)
    if recipe.batch_size % ranks.world_size:
        raise ValueError(f"batch_size {recipe.batch_size} does not divide among {ranks.world_size} ranks")
    batch = recipe.batch_size // ranks.world_size
    per_rank = len(train) // ranks.world_size  # equal shards: every rank takes the same number of steps
    if per_rank < batch:
        raise ValueError(f"{per_rank} training images per rank are fewer than one batch of {batch}")
    shard = train.subset(np.arange(ranks.rank, per_rank * ranks.world_size, ranks.world_size))  # this rank's share
    identity = {"model": name, "model_options": model_options, "recipe": recipe.to_dict(),
                "data_fingerprint": data.fingerprint, "subset": subset, "world_size": ranks.world_size,
                "precision": precision, "split": {"train": len(train), "val": len(val),
                          "val_digest": hashlib.sha256(val.images.tobytes()).hexdigest()[:16]}}

    torch.manual_seed(recipe.seed)  # the same initial weights on every rank
    model = prepare_model(build_model(name, **model_options).to(device), precision)
    optimizer = make_optimizer(model, recipe)
    if fresh and ranks.is_writer:
        _clear_resume(run_dir)
    barrier(ranks)
    state = _load_resume(run_dir, identity, model, optimizer) or Progress()
    net: nn.Module = model
    if ranks.distributed:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if recipe.compile and device.type == "cuda":
        net = torch.compile(net)

    images = torch.from_numpy(shard.images).to(device)  # uint8 on the device: 3 KB an image
    labels = torch.from_numpy(shard.labels).to(device)
    pipeline = AugmentPipeline(recipe.augment)
    generator = torch.Generator(device)
    steps_per_epoch = len(shard) // batch
    total_steps = steps_per_epoch * recipe.epochs
    show = progress and ranks.is_writer
    if show and state.epoch:
        tqdm.write(f"{name}: resuming after epoch {state.epoch}/{recipe.epochs} from {run_dir / RESUME_RECORD}")

    for epoch in range(state.epoch + 1, recipe.epochs + 1):
        _reseed(recipe, epoch, ranks, generator)
        bar = tqdm(total=steps_per_epoch, desc=f"{name} {epoch}/{recipe.epochs}", unit="step", leave=False,
                   disable=not show)
        _synchronise(device)
        epoch_started = time.perf_counter()
        totals = _train_epoch(net, optimizer, pipeline, images, labels, recipe, state, total_steps, batch,
                              generator, device, precision, bar, data.num_classes)
        _synchronise(device)
        seconds = time.perf_counter() - epoch_started
        bar.close()
        loss_sum, correct, count = all_reduce_sum(totals, ranks).tolist()
        if not math.isfinite(loss_sum):
            diverged = f"{name}: the training loss became {loss_sum / count} in epoch {epoch}."
            if not state.epoch:
                raise TrainingDiverged(f"{diverged} No epoch had finished, so no state was kept; lower the learning "
                                       "rate with --recipe and train again.")
            raise TrainingDiverged(
                f"{diverged} The last good state (epoch {state.epoch}) is kept in {run_dir / RESUME_RECORD} for "
                "inspection; to train again, lower the learning rate with --recipe and add --fresh (which discards "
                "that state).")
        val_loss, val_acc = _validate(model, val, device, recipe, precision)
        state.epoch = epoch
        state.train_seconds += seconds
        state.history.append({"epoch": epoch, "train_loss": loss_sum / count, "train_acc": correct / count,
                              "val_loss": val_loss, "val_acc": val_acc, "lr": recipe.learning_rate(state.step - 1, total_steps),
                              "epoch_seconds": seconds, "images_per_s": count / seconds})
        if show:
            tqdm.write(f"{name} epoch {epoch:3d}/{recipe.epochs}  loss {loss_sum / count:.3f}  acc {correct / count:.3f}"
                       f"  val {val_acc:.3f}  {seconds:.2f} s  {count / seconds:,.0f} img/s")
        if ranks.is_writer:
            _save_resume(run_dir, identity, model, optimizer, state)
        barrier(ranks)

    checksums = _rank_checksums(model, ranks)
    if not ranks.is_writer:
        return None
    # Evaluate the weights as the checkpoint stores them (fp16), so reloading it reproduces the recorded accuracy.
    model.load_state_dict({k: v.half().to(v.dtype) if v.is_floating_point() else v
                           for k, v in model.state_dict().items()})
    test_metrics = evaluate_test(model, test.images, test.labels, device=device, num_classes=data.num_classes,
                                 batch_size=recipe.eval_batch_size, precision=precision)
    # parsed as every reader parses it, so a field the readers would refuse fails here, before anything is written
    record = RunRecord.from_json({
        "model": name,
        "model_options": model_options,
        "params": model.num_parameters(),
        "macs": model.macs_per_image(),
        "classes": list(data.classes),
        "recipe": recipe.to_dict(),
        "recipe_overrides": recipe_overrides or {},
        "data_fingerprint": data.fingerprint,
        "data": {"source": str(data.source), "train": len(train), "val": len(val), "test": len(test), "subset": subset},
        "git_commit": _git_commit(),
        "device": _device_name(device),
        "precision": precision,  # of training and of the test metrics below
        "world_size": ranks.world_size,
        "rank_weight_checksums": checksums,  # one per rank: equal when DDP kept the replicas in step
        "torch_version": torch.__version__,
        "train_seconds": state.train_seconds,
        "wall_seconds": time.perf_counter() - started,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "history": state.history,
        "test": test_metrics,
    }, run_dir / RECORD_FILE)
    save_checkpoint(model, record, run_dir)
    _clear_resume(run_dir)
    return record
