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
import math
import subprocess
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn
from tqdm.auto import tqdm

from .advice import AdvisedError
from .augment import AugmentPipeline
from .checkpoint import RECORD_FILE, WEIGHTS_FILE, save_checkpoint
from .data import CIFAR10, CLASSES, Split, stratified_split
from .distributed import Ranks, all_reduce_sum, barrier
from .evaluation import evaluate_test, predict_logits
from .models import build_model
from .normalization import normalize, to_float_batch
from .precision import autocast, prepare_batch, prepare_model, resolve_precision
from .recipe import Recipe
from .resume import (RESUME_RECORD, OutputWriteError, ResumeState, RunIdentity, SplitIdentity, clear_resume_state,
                     io_reason, restore_tensors, resume_state_for, save_resume_state)
from .run_record import EpochRecord, RunRecord
from .step_modes import StaticStep, resolve_step_mode, sync_check, sync_check_mode, try_capture

REPO_ROOT = Path(__file__).resolve().parents[1]


class TrainingDiverged(AdvisedError, RuntimeError):
    """The loss, the weights or the model's outputs became NaN or infinite; the last good epoch's state is kept and
    nothing is saved as a checkpoint."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: what was kept (``epoch`` finished epochs of ``epochs`` in ``run_dir``, 0 when none)."""

    def __init__(self, model: str, epoch: int, epochs: int, run_dir: Path):
        super().__init__(f"{model}: interrupted after epoch {epoch} of {epochs}")
        self.model, self.epoch, self.epochs, self.run_dir = model, epoch, epochs, run_dir


class SubsetError(AdvisedError, ValueError):
    """A ``subset`` a run cannot use."""


class RunFolderError(AdvisedError, ValueError):
    """The run's folder (or a file the run writes in it) is in the way: a file where a folder goes, or the reverse."""


def check_subset(subset: int, batch_size: int, data: CIFAR10 | None = None) -> None:
    """Refuse (SubsetError) a ``subset`` a run cannot use, naming the valid range: at least one batch of training
    images (a whole number per class), at most the smallest class's training images times the classes. Without
    ``data`` only the lower bound is checked: it needs no data, so a script can refuse before loading any."""
    classes = data.num_classes if data is not None else len(CLASSES)
    low = -(-batch_size // classes) * classes
    high = int(data.train.class_counts().min()) * classes if data is not None else None
    valid = (f"the valid range is {low:,} to {high:,}" if high is not None else
             f"the valid range is {low:,} to the number of training images (45,000 in CIFAR-10)")
    if subset < low:
        raise SubsetError("{subset}{value} is too small: a run needs at least one batch of training images, "
                          "{low:,} with batch_size {batch_size} ({per_class} of each of the {classes} classes); "
                          "{valid}.", value=subset, low=low, batch_size=batch_size, per_class=low // classes,
                          classes=classes, valid=valid)
    if high is not None and subset > high:
        raise SubsetError("{subset}{value} is too large: the training split has {smallest:,} images of its smallest "
                          "class, so at most {high:,} ({classes} classes x {smallest:,}); {valid}, or leave "
                          "{subset_name} out to train on all {train:,}.", value=subset, smallest=high // classes,
                          high=high, classes=classes, valid=valid, train=len(data.train))


def check_run_folder(run_dir: str | Path) -> None:
    """Refuse (RunFolderError) a run folder that is a file, or that holds a folder where the run writes a file, so
    the run is refused before it trains rather than after."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError("{path} is a file, where the run writes its folder; move it away or choose another "
                             "{out}.", path=run_dir)
    for name in (WEIGHTS_FILE, RECORD_FILE, RESUME_RECORD):
        if (run_dir / name).is_dir():
            raise RunFolderError("{path} is a folder, where the run writes a file; move it away or choose another "
                                 "{out}.", path=run_dir / name)


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


def make_optimizer(model: nn.Module, recipe: Recipe, *, fused: bool = False) -> torch.optim.SGD:
    """SGD with weight decay on convolution and linear weights only (decaying BatchNorm scales and biases hurts).
    ``fused``: one kernel for the whole update, which takes the learning rate as a device tensor without reading it
    back to the host, so the update can be captured in a CUDA graph (the foreach update turns a tensor rate into a
    host number)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                           fused=fused or None)


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
# What a run trains on and where it writes


@dataclass(frozen=True)
class Splits:
    """The run's splits and this rank's equal share of the training split (every rank takes the same steps)."""

    train: Split
    val: Split
    test: Split
    shard: Split
    batch: int  # this rank's share of the global batch

    @property
    def steps_per_epoch(self) -> int:
        return len(self.shard) // self.batch


def _splits(data: CIFAR10, recipe: Recipe, ranks: Ranks, subset: int | None) -> Splits:
    if subset is not None:
        check_subset(subset, recipe.batch_size, data)
    train, val, test = subset_splits(data, subset, recipe.seed)
    if recipe.batch_size % ranks.world_size:
        raise ValueError(f"batch_size {recipe.batch_size} does not divide among {ranks.world_size} ranks")
    batch = recipe.batch_size // ranks.world_size
    per_rank = len(train) // ranks.world_size
    if per_rank < batch:
        raise ValueError(f"{per_rank} training images per rank are fewer than one batch of {batch}")
    shard = train.subset(np.arange(ranks.rank, per_rank * ranks.world_size, ranks.world_size))
    return Splits(train, val, test, shard, batch)


@dataclass(frozen=True)
class RunPlan:
    """One model's run: what it trains, on which data, where it writes and who reports."""

    name: str
    recipe: Recipe
    model_options: dict
    splits: Splits
    identity: RunIdentity
    run_dir: Path
    device: torch.device
    precision: str
    ranks: Ranks
    show: bool  # progress bars and per-epoch lines (the writing rank only)
    step_mode: str = "eager"  # asked for and available here (step_modes.resolve_step_mode); graphed may still fall back


def _identity(name: str, model_options: dict, recipe: Recipe, data: CIFAR10, subset: int | None, ranks: Ranks,
              precision: str, splits: Splits) -> RunIdentity:
    digest = hashlib.sha256(splits.val.images.tobytes()).hexdigest()[:16]
    return RunIdentity(name, model_options, recipe, data.fingerprint, subset, ranks.world_size, precision,
                       SplitIdentity(len(splits.train), len(splits.val), digest))


# ----------------------------------------------------------------------------------------------------------------
# The loop


class EpochProgress:
    """The progress bar's running loss and accuracy, read without making the host wait for the device: on CUDA the
    totals are copied into pinned memory behind the queued steps and shown once a CUDA event says the copy has
    landed (a few steps late); on a CPU they are read directly."""

    def __init__(self, bar: tqdm, device: torch.device):
        self.bar = bar
        self.on_cuda = device.type == "cuda" and not bar.disable
        self.host = torch.empty(3, pin_memory=True) if self.on_cuda else None
        self.copied = torch.cuda.Event() if self.on_cuda else None
        self.copying = False

    def show(self, totals: torch.Tensor) -> None:
        if self.bar.disable:
            return
        if not self.on_cuda:
            self._postfix(totals)
            return
        if self.copying and self.copied.query():
            self._postfix(self.host)
            self.copying = False
        if not self.copying:
            self.host.copy_(totals, non_blocking=True)
            self.copied.record()
            self.copying = True

    def _postfix(self, totals: torch.Tensor) -> None:
        loss, correct, count = totals.tolist()
        self.bar.set_postfix(loss=f"{loss / count:.3f}", acc=f"{correct / count:.3f}")


@dataclass
class Trainer:
    """One rank's training: the model (``net`` is it wrapped for DDP or compiled), the optimiser, the shard on the
    device as uint8 and the schedule. :meth:`train_step` takes fixed-shape tensors (one batch, gathered and augmented
    on the device) and returns its figures on the device. With ``static`` (the graphed mode) each step goes through
    fixed buffers, the learning rate as a device tensor: what a CUDA graph replays (``step_modes.StaticStep``)."""

    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    pipeline: AugmentPipeline
    images: torch.Tensor  # this rank's shard, uint8, on the device
    labels: torch.Tensor
    recipe: Recipe
    batch: int
    steps_per_epoch: int
    precision: str
    num_classes: int
    step_mode: str = "eager"  # the mode that runs (graphed falls back to eager where its capture fails)
    static: StaticStep | None = None  # the step on static buffers (graphed), else None: eager or compiled
    generator: torch.Generator = field(init=False)
    count: torch.Tensor = field(init=False)  # the batch size, filled on the device: no host-to-device copy per step

    def __post_init__(self):
        self.generator = torch.Generator(self.images.device)
        self.count = torch.full((), float(self.batch), device=self.images.device)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.recipe.epochs

    def learning_rate(self, step: int) -> float:
        return self.recipe.learning_rate(step, self.total_steps)

    def train_epoch(self, first_step: int, bar: tqdm) -> torch.Tensor:
        """One pass over the shard, its steps numbered from ``first_step``; [loss sum, correct, count] on the
        device."""
        self.net.train()
        order = torch.randperm(len(self.images), generator=self.generator, device=self.images.device)
        totals = torch.zeros(3, device=self.images.device)
        progress = EpochProgress(bar, self.images.device)
        for index in range(self.steps_per_epoch):
            chosen = order[index * self.batch:(index + 1) * self.batch]
            self.model.follow_training(first_step + index, self.total_steps)  # e.g. DropBlock's ramp
            totals += self._step(chosen, self.learning_rate(first_step + index))
            bar.update(1)
            if index % 20 == 0:
                progress.show(totals)
        return totals

    def _step(self, chosen: torch.Tensor, lr: float) -> torch.Tensor:
        if self.static is None:
            return self.train_step(self.images[chosen], self.labels[chosen], lr)
        self.static.load(chosen, lr)
        return self.static.run()

    def train_step(self, images: torch.Tensor, labels: torch.Tensor, lr: float | torch.Tensor) -> torch.Tensor:
        """Augment one batch, take one SGD step at ``lr`` (a number, or a device tensor for a fused SGD); [loss x
        batch, correct, batch] on the device."""
        augmented = self.pipeline(to_float_batch(images), labels, num_classes=self.num_classes,
                                  generator=self.generator)
        inputs = prepare_batch(normalize(augmented.images), self.precision)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with autocast(self.precision, self.images.device, cache=self.static is None):
            logits = self.net(inputs)
        loss = F.cross_entropy(logits.float(), augmented.targets, label_smoothing=self.recipe.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        correct = (logits.argmax(1) == augmented.targets.argmax(1)).sum()
        return torch.stack([loss.detach() * self.batch, correct.float(), self.count])


def _initial_model(plan: RunPlan) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(plan.recipe.seed)  # the same initial weights on every rank
    model = prepare_model(build_model(plan.name, **plan.model_options).to(plan.device), plan.precision)
    return model, make_optimizer(model, plan.recipe, fused=plan.step_mode == "graphed")


def _trainer(plan: RunPlan, model: nn.Module, optimizer: torch.optim.Optimizer, num_classes: int) -> Trainer:
    """The trainer of ``model`` as it stands (resumed or new) in the plan's step mode: wrapped for DDP, compiled, or
    its step captured in a CUDA graph."""
    net: nn.Module = model
    if plan.ranks.distributed:  # wraps after a resume: DDP broadcasts rank 0's weights when it is built
        device_ids = [plan.device.index] if plan.device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if plan.step_mode != "eager":  # a scheduled value as a host number would recompile or be baked into the graph
        model.hold_schedules_on_device(plan.device)
    if plan.step_mode == "compiled":
        torch._dynamo.config.suppress_errors = True  # a compiler error runs that code eager: it costs speed, not the run
        net = torch.compile(net)
    shard = plan.splits.shard
    trainer = Trainer(model, net, optimizer, AugmentPipeline(plan.recipe.augment),
                      torch.from_numpy(shard.images).to(plan.device), torch.from_numpy(shard.labels).to(plan.device),
                      plan.recipe, plan.splits.batch, plan.splits.steps_per_epoch, plan.precision, num_classes,
                      plan.step_mode)
    if plan.step_mode == "graphed":
        _graph(trainer, plan.name)
    return trainer


def _graph(trainer: Trainer, name: str) -> None:
    """Capture the trainer's step in a CUDA graph, in training mode; where the capture fails (warned, naming the
    error), the trainer goes on eager."""
    trainer.static = StaticStep(trainer.train_step, trainer.images, trainer.labels, trainer.batch)
    trainer.net.train()
    if not try_capture(trainer.static, trainer.model, trainer.optimizer, trainer.generator, name):
        trainer.static, trainer.step_mode = None, "eager"


def _step_mode(name: str, recipe: Recipe, device: torch.device, ranks: Ranks, requested: str, show: bool) -> str:
    """The step mode ``name`` trains in (``requested``, or compiled for a recipe with ``compile``), a one-line note
    where it falls back to eager; a bad CIFAR_SYNC_CHECK is refused here, before any work."""
    sync_check_mode()
    requested = "compiled" if recipe.compile and requested == "eager" else requested
    mode, note = resolve_step_mode(requested, name, device, distributed=ranks.distributed,
                                   mixes_batches=recipe.augment.mix != "none")
    if note and show:
        tqdm.write(note)
    return mode


def _resume_or_start(plan: RunPlan, model: nn.Module, optimizer: torch.optim.Optimizer, fresh: bool,
                     resume_command: str | None) -> ResumeState:
    """The interrupted run's state restored into ``model`` and ``optimizer``, or a new run's state."""
    if fresh and plan.ranks.is_writer:
        clear_resume_state(plan.run_dir)
    barrier(plan.ranks)
    state = resume_state_for(plan.run_dir, plan.identity, plan.splits.steps_per_epoch)
    if state is None:
        return ResumeState(**vars(plan.identity), weights="", epoch=0, step=0, train_seconds=0.0, history=(),
                           resume_command=resume_command)
    restore_tensors(plan.run_dir, state, model, optimizer)
    if plan.show:
        tqdm.write(f"{plan.name}: resuming after epoch {state.epoch}/{plan.recipe.epochs} from "
                   f"{plan.run_dir / RESUME_RECORD}")
    return replace(state, resume_command=resume_command or state.resume_command)


def _validate(model: nn.Module, plan: RunPlan) -> tuple[float, float]:
    split = plan.splits.val
    logits = predict_logits(model, split.images, device=plan.device, batch_size=plan.recipe.eval_batch_size,
                            precision=plan.precision)
    labels = torch.from_numpy(split.labels)
    return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()


def _non_finite_tensors(model: nn.Module) -> int:
    """How many of the model's weights and buffers are NaN or infinite."""
    return sum(int((~torch.isfinite(t)).sum()) for t in model.state_dict().values() if t.is_floating_point())


def _diverged(plan: RunPlan, state: ResumeState, what: str) -> TrainingDiverged:
    """The refusal to go on (and to save) after ``what`` went wrong, saying which state was kept."""
    if not state.epoch:
        return TrainingDiverged("{model}: {what}. No epoch had finished, so no state was kept; lower the learning "
                                "rate with {recipe} and train again.", model=plan.name, what=what)
    return TrainingDiverged("{model}: {what}. The last good state (epoch {epoch}) is kept in {path} for inspection; "
                            "to train again, lower the learning rate with {recipe} and add {fresh} (which discards "
                            "that state).", model=plan.name, what=what, epoch=state.epoch,
                            path=plan.run_dir / RESUME_RECORD)


def _epoch_problem(trainer: Trainer, epoch: int, train_loss: float, val_loss: float) -> str | None:
    """Why the epoch's result must not be kept: a NaN or infinite loss, weight or validation loss."""
    if not math.isfinite(train_loss):
        return f"the training loss became {train_loss} in epoch {epoch}"
    broken = _non_finite_tensors(trainer.model)
    if broken:
        return f"{broken:,} weights became NaN or infinite in epoch {epoch} (its training loss was {train_loss:.4g})"
    if not math.isfinite(val_loss):
        return f"the validation loss became {val_loss} in epoch {epoch}"
    return None


def _run_epoch(trainer: Trainer, plan: RunPlan, state: ResumeState, epoch: int) -> ResumeState:
    """Train epoch ``epoch``, validate, and return the state after it (TrainingDiverged where it went wrong)."""
    _reseed(plan.recipe, epoch, plan.ranks, trainer.generator)
    bar = tqdm(total=trainer.steps_per_epoch, desc=f"{plan.name} {epoch}/{plan.recipe.epochs}", unit="step",
               leave=False, disable=not plan.show)
    _synchronise(plan.device)
    started = time.perf_counter()
    with sync_check(plan.device):  # CIFAR_SYNC_CHECK: prove the epoch never waits for the device
        totals = trainer.train_epoch(state.step, bar)
    _synchronise(plan.device)
    seconds = time.perf_counter() - started
    bar.close()
    loss_sum, correct, count = all_reduce_sum(totals, plan.ranks).tolist()
    val_loss, val_acc = (math.nan, math.nan) if not math.isfinite(loss_sum) else _validate(trainer.model, plan)
    problem = _epoch_problem(trainer, epoch, loss_sum / count, val_loss)
    if problem:
        raise _diverged(plan, state, problem)
    step = state.step + trainer.steps_per_epoch
    row = EpochRecord(epoch, loss_sum / count, correct / count, val_loss, val_acc, trainer.learning_rate(step - 1),
                      seconds, count / seconds)
    if plan.show:
        tqdm.write(f"{plan.name} epoch {epoch:3d}/{plan.recipe.epochs}  loss {row.train_loss:.3f}  acc "
                   f"{row.train_acc:.3f}  val {val_acc:.3f}  {seconds:.2f} s  {row.images_per_s:,.0f} img/s")
    return replace(state, weights=f"state-epoch{epoch:04d}.safetensors", epoch=epoch, step=step,
                   train_seconds=state.train_seconds + seconds, history=(*state.history, row))


def _run_epochs(trainer: Trainer, plan: RunPlan, state: ResumeState) -> ResumeState:
    """The epochs left, each saved as the state to resume from; Ctrl-C raises TrainingInterrupted saying what was
    kept (the last epoch whose state is whole on disk: a state is replaced only once its successor is)."""
    kept = state.epoch
    try:
        for epoch in range(state.epoch + 1, plan.recipe.epochs + 1):
            state = _run_epoch(trainer, plan, state, epoch)
            if plan.ranks.is_writer:
                save_resume_state(plan.run_dir, state, trainer.model, trainer.optimizer)
            kept = state.epoch
            barrier(plan.ranks)
    except KeyboardInterrupt:
        raise TrainingInterrupted(plan.name, kept, plan.recipe.epochs, plan.run_dir) from None
    return state


# ----------------------------------------------------------------------------------------------------------------
# The end: the checkpoint as it is stored (fp16), its test figures, its record


def _rank_checksums(model: nn.Module, ranks: Ranks) -> list[float]:
    """Sum of |w| over all parameters on each rank, gathered to every rank."""
    mine = torch.stack([p.detach().double().abs().sum() for p in model.parameters()]).sum().reshape(1)
    if not ranks.distributed:
        return [mine.item()]
    gathered = [torch.zeros_like(mine) for _ in range(ranks.world_size)]
    torch.distributed.all_gather(gathered, mine)
    return [g.item() for g in gathered]


def _as_stored(model: nn.Module, plan: RunPlan, state: ResumeState) -> None:
    """Round the weights to fp16 as the checkpoint stores them, so reloading it reproduces the recorded accuracy;
    TrainingDiverged where a weight does not fit in fp16."""
    model.load_state_dict({k: v.half().to(v.dtype) if v.is_floating_point() else v
                           for k, v in model.state_dict().items()})
    broken = _non_finite_tensors(model)
    if broken:
        raise _diverged(plan, state, f"{broken:,} weights are too large for the checkpoint's fp16 (beyond ±65,504)")


def _test_metrics(model: nn.Module, plan: RunPlan, state: ResumeState, num_classes: int) -> dict:
    test = plan.splits.test
    metrics = evaluate_test(model, test.images, test.labels, device=plan.device, num_classes=num_classes,
                            batch_size=plan.recipe.eval_batch_size, precision=plan.precision)
    if not all(math.isfinite(value) for value in metrics["confidence"]):
        raise _diverged(plan, state, "the model's test outputs are NaN or infinite")
    return metrics


def _record(plan: RunPlan, model: nn.Module, data: CIFAR10, state: ResumeState, test_metrics: dict,
            checksums: list[float], recipe_overrides: dict | None, wall_seconds: float) -> RunRecord:
    splits = plan.splits
    # parsed as every reader parses it, so a field the readers would refuse fails here, before anything is written
    return RunRecord.from_json({
        "model": plan.name,
        "model_options": plan.model_options,
        "params": model.num_parameters(),
        "macs": model.macs_per_image(),
        "classes": list(data.classes),
        "recipe": plan.recipe.to_dict(),
        "recipe_overrides": recipe_overrides or {},
        "data_fingerprint": data.fingerprint,
        "data": {"source": str(data.source), "train": len(splits.train), "val": len(splits.val),
                 "test": len(splits.test), "subset": plan.identity.subset},
        "git_commit": _git_commit(),
        "device": _device_name(plan.device),
        "precision": plan.precision,  # of training and of the test metrics below
        "step_mode": plan.step_mode,  # the one that ran
        "world_size": plan.ranks.world_size,
        "rank_weight_checksums": checksums,  # one per rank: equal when DDP kept the replicas in step
        "torch_version": torch.__version__,
        "train_seconds": state.train_seconds,
        "wall_seconds": wall_seconds,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "history": [vars(row) for row in state.history],
        "test": test_metrics,
    }, plan.run_dir / RECORD_FILE)


def _save(model: nn.Module, record: RunRecord, run_dir: Path) -> None:
    """The checkpoint, then the resume state goes; OutputWriteError (the earlier checkpoint kept) where it cannot be
    written."""
    try:
        save_checkpoint(model, record, run_dir)
    except (OSError, SafetensorError) as error:
        needed = sum(t.numel() * (2 if t.is_floating_point() else t.element_size()) for t in model.state_dict().values())
        raise OutputWriteError("Cannot write the checkpoint ({needed:,} bytes) into {folder}: {reason}. The earlier "
                               "checkpoint there is kept, and so is the last epoch's state ({resume}); free space there "
                               "and rerun the same command.", needed=needed, folder=run_dir,
                               reason=io_reason(error), resume=RESUME_RECORD) from None
    clear_resume_state(run_dir)


def train_model(name: str, data: CIFAR10, recipe: Recipe, out_dir: str | Path, *, device: torch.device,
                ranks: Ranks = Ranks(), subset: int | None = None, model_options: dict | None = None,
                recipe_overrides: dict | None = None, fresh: bool = False, progress: bool = True,
                precision: str = "auto", resume_command: str | None = None,
                step_mode: str = "eager") -> RunRecord | None:
    """Train ``name`` with ``recipe``, write ``<out_dir>/<name>/`` and return the run record (None on ranks > 0).
    ``precision`` is ``auto``, ``bf16`` or ``fp32`` (``cifar_models.precision``); the record keeps what it resolved to.
    ``step_mode`` is ``eager``, ``compiled``, ``graphed`` or ``auto`` (``cifar_models.step_modes``); the record keeps
    the one that ran.
    An interrupted run is resumed (``fresh=True`` discards it); ``resume_command``, kept beside its state, tells the
    dashboard how to resume it."""
    started = time.perf_counter()
    precision = resolve_precision(precision, device)
    run_dir = Path(out_dir) / name
    check_run_folder(run_dir)
    model_options = dict(model_options or {})
    splits = _splits(data, recipe, ranks, subset)
    show = progress and ranks.is_writer
    plan = RunPlan(name, recipe, model_options, splits,
                   _identity(name, model_options, recipe, data, subset, ranks, precision, splits), run_dir, device,
                   precision, ranks, show, _step_mode(name, recipe, device, ranks, step_mode, show))
    model, optimizer = _initial_model(plan)
    state = _resume_or_start(plan, model, optimizer, fresh, resume_command)
    trainer = _trainer(plan, model, optimizer, data.num_classes)
    plan = replace(plan, step_mode=trainer.step_mode)
    state = _run_epochs(trainer, plan, state)
    checksums = _rank_checksums(model, ranks)
    if not ranks.is_writer:
        return None
    _as_stored(model, plan, state)
    test_metrics = _test_metrics(model, plan, state, data.num_classes)
    record = _record(plan, model, data, state, test_metrics, checksums, recipe_overrides,
                     time.perf_counter() - started)
    _save(model, record, run_dir)
    return record
