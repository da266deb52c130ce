"""How the engine takes a training step: ``eager``, ``compiled`` or ``graphed`` (a run option, recorded in run.json).

- ``eager``: PyTorch as written, each step's kernels launched from Python. The default, and the only mode on a CPU,
  where a run and its resumption retrace each other bit for bit.
- ``compiled``: the model through ``torch.compile`` (CUDA only), the step around it eager. The default compile mode:
  ``max-autotune-no-cudagraphs`` autotunes for minutes per model, more than a lent GPU call can spend, and
  ``reduce-overhead``'s graphs are what ``graphed`` does for the whole step.
- ``graphed``: the whole step (augmentation, forward, backward, the SGD update) captured once in a CUDA graph and
  replayed: a handful of launches per step instead of hundreds. CUDA only, one process, no batch mixing (MixUp and
  CutMix draw their mixing weight on the host). What changes every step lives in device tensors filled in place before
  each replay: the batch (copied into static buffers), the learning rate (SGD is built ``fused``, which takes it as a
  tensor without reading it back) and a ramped DropBlock's rate.

A mode that cannot run where it was asked falls back to ``eager`` with a one-line note, and a capture that fails on
the GPU falls back with a warning naming the error: the run is never lost to its step mode.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

STEP_MODES = ("eager", "compiled", "graphed")
AUTO = "auto"  # the measured fastest mode of each model (FASTEST_STEP_MODE), eager for one not measured
STEP_MODE_CHOICES = (*STEP_MODES, AUTO)  # what a run may ask for

# The fastest mode per model, as scripts/benchmark_training.py measured it on a GPU (it prints this table); ``auto``
# reads it. Empty until a GPU session fills it in, so ``auto`` means eager.
FASTEST_STEP_MODE: dict[str, str] = {}

# "warn" or "error": every host synchronisation inside a training epoch on CUDA warns with its stack, or raises
SYNC_CHECK_VARIABLE = "CIFAR_SYNC_CHECK"
SYNC_CHECK_MODES = ("warn", "error")


# ----------------------------------------------------------------------------------------------------------------
# Which mode runs


def _needs_cuda(device: torch.device, distributed: bool, mixes_batches: bool) -> str | None:
    return None if device.type == "cuda" else f"CUDA (this run is on {device.type})"


def _needs_one_process(device: torch.device, distributed: bool, mixes_batches: bool) -> str | None:
    return "a single process (DDP's gradient hooks are not captured)" if distributed else None


def _needs_no_batch_mixing(device: torch.device, distributed: bool, mixes_batches: bool) -> str | None:
    return "a recipe without MixUp or CutMix (they draw on the host)" if mixes_batches else None


# what each mode needs, each check giving the reason it cannot run (None where it can)
REQUIREMENTS: dict[str, tuple[Callable[[torch.device, bool, bool], str | None], ...]] = {
    "eager": (),
    "compiled": (_needs_cuda,),
    "graphed": (_needs_cuda, _needs_one_process, _needs_no_batch_mixing),
}


def resolve_step_mode(requested: str, model: str, device: torch.device, *, distributed: bool = False,
                      mixes_batches: bool = False) -> tuple[str, str | None]:
    """The mode ``model`` trains in when ``requested`` (one of STEP_MODES or ``auto``) is asked, and the one-line note
    saying why it falls back to eager (None when it does not)."""
    if requested not in STEP_MODE_CHOICES:
        raise ValueError(f"step mode must be one of {', '.join(STEP_MODE_CHOICES)}, not {requested!r}")
    mode = FASTEST_STEP_MODE.get(model, "eager") if requested == AUTO else requested
    reason = missing_for(mode, device, distributed=distributed, mixes_batches=mixes_batches)
    return ("eager", f"{model}: the {mode} step mode needs {reason}; training eager") if reason else (mode, None)


def missing_for(mode: str, device: torch.device, *, distributed: bool = False, mixes_batches: bool = False) -> str | None:
    """What ``mode`` (one of STEP_MODES) needs that this run lacks, e.g. "CUDA (this run is on cpu)"; None where it
    can run."""
    reasons = (requirement(device, distributed, mixes_batches) for requirement in REQUIREMENTS[mode])
    return next((reason for reason in reasons if reason), None)


# ----------------------------------------------------------------------------------------------------------------
# The step on static buffers, and its capture


class StaticStep:
    """The training step on fixed buffers, as a CUDA graph replays it: :meth:`load` copies one batch (chosen by index
    from the device-resident shard) and the learning rate into the buffers, :meth:`run` takes the step on them and
    returns its figures. Before :func:`capture_step` (and on a CPU, which rehearses this path) ``run`` executes the
    step; after it, ``run`` replays the graph."""

    def __init__(self, step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                 images: torch.Tensor, labels: torch.Tensor, batch: int):
        self.step = step
        self.source_images, self.source_labels = images, labels
        self.images, self.labels = images[:batch].clone(), labels[:batch].clone()  # valid data for the capture
        self.lr = torch.zeros((), device=images.device)  # float32, as the fused SGD kernels read it
        self.graph: torch.cuda.CUDAGraph | None = None
        self.output: torch.Tensor | None = None  # the graph's figures, rewritten by each replay

    def load(self, chosen: torch.Tensor, lr: float) -> None:
        torch.index_select(self.source_images, 0, chosen, out=self.images)
        torch.index_select(self.source_labels, 0, chosen, out=self.labels)
        self.lr.fill_(lr)

    def run(self) -> torch.Tensor:
        if self.graph is None:
            return self.step(self.images, self.labels, self.lr)
        self.graph.replay()
        return self.output


@contextmanager
def state_kept(model: nn.Module, optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Undo, in place, what steps taken in the block did to the weights, the BatchNorm statistics and SGD's momentum
    buffers (a CUDA graph holds these tensors' addresses, so they are copied into, never replaced). A momentum buffer
    the block created becomes zeros: SGD's next step then sets it to the gradient, exactly as a first step does."""
    weights = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    params = [p for group in optimizer.param_groups for p in group["params"]]
    momentum = {p: optimizer.state[p]["momentum_buffer"].clone() for p in params
                if "momentum_buffer" in optimizer.state[p]}
    try:
        yield
    finally:
        model.load_state_dict(weights)  # copies into the existing tensors
        for p in params:
            buffer = optimizer.state[p].get("momentum_buffer")
            if buffer is not None:
                buffer.copy_(momentum[p]) if p in momentum else buffer.zero_()


def capture_step(static: StaticStep, model: nn.Module, optimizer: torch.optim.Optimizer,
                 generator: torch.Generator, warmup_steps: int = 3) -> None:
    """Capture ``static``'s step in a CUDA graph, as torch's CUDA Graphs notes do for a whole network: warm-up steps
    on a side stream (they allocate the gradients, momentum buffers and cuDNN workspaces the graph will reuse), then
    one captured step. The augmentation's own generator is registered with the graph, so every replay draws new
    numbers from its current seed and offset (the default generator, behind dropout and DropBlock, torch registers
    itself); reseeding either between replays takes effect. What the warm-up and the capture did to the weights is
    undone (:func:`state_kept`), whether the capture succeeded or raised."""
    with state_kept(model, optimizer):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup_steps):
                static.run()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(generator)
        with torch.cuda.graph(graph):
            output = static.run()
        static.graph, static.output = graph, output


def try_capture(static: StaticStep, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
                name: str) -> bool:
    """:func:`capture_step`, or a warning naming the error and False, so the run goes on eager."""
    try:
        capture_step(static, model, optimizer, generator)
    except Exception as error:  # any failure to capture must cost the speed, never the run
        static.graph = static.output = None
        warnings.warn(f"{name}: capturing the training step in a CUDA graph failed ({type(error).__name__}: "
                      f"{error}); training eager", RuntimeWarning, stacklevel=2)
        return False
    return True


# ----------------------------------------------------------------------------------------------------------------
# Proving an epoch never waits for the GPU


def sync_check_mode() -> str | None:
    """The environment's CIFAR_SYNC_CHECK (``warn`` or ``error``), None when unset; ValueError for another value."""
    mode = os.environ.get(SYNC_CHECK_VARIABLE, "").strip()
    if mode and mode not in SYNC_CHECK_MODES:
        raise ValueError(f"{SYNC_CHECK_VARIABLE}={mode!r}: it takes {' or '.join(SYNC_CHECK_MODES)} (or leave it "
                         f"unset)")
    return mode or None


@contextmanager
def sync_check(device: torch.device) -> Iterator[None]:
    """With CIFAR_SYNC_CHECK set, ``torch.cuda.set_sync_debug_mode`` for the block: each host synchronisation in it
    (``.item()``, a blocking copy to the host, a data-dependent shape) warns with its stack or raises. CUDA only."""
    mode = sync_check_mode()
    if device.type != "cuda" or mode is None:
        yield
        return
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode(mode)
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(previous)
