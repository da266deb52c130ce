"""An interrupted run's state, typed and read in one place: ``<run dir>/state-epochNNNN.safetensors`` (weights and
optimiser tensors) and ``resume.json`` (a :class:`ResumeState`, written after the tensors, parsed by
``cifar_models.schema``).

The engine resumes from it; the dashboard's live view follows a run with the same reader (:func:`read_resume_state`).
A ``resume.json`` written before ``schema_version`` existed reads as version 1: every field added later has a default.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from . import schema
from .advice import AdvisedError
from .checkpoint import atomic_write_bytes, write_json
from .model_options import recorded_options
from .recipe import Recipe
from .run_record import EpochRecord, history_problems
from .schema import COUNT, Limits, SchemaError, spec

RESUME_RECORD = "resume.json"
RESUME_SCHEMA_VERSION = 1
STATE_FILE = re.compile(r"state-epoch\d{4}\.safetensors")


class ResumeStateError(AdvisedError, RuntimeError):
    """An interrupted run's state is damaged, does not fit its recipe, or was made with other settings."""


class OutputWriteError(AdvisedError, OSError):
    """A file of the run could not be written (a full disk, a size limit); what was there before is untouched."""


@dataclass(frozen=True)
class SplitIdentity:
    train: int = field(metadata=spec(limits=COUNT))  # training images
    val: int = field(metadata=spec(limits=COUNT))
    val_digest: str  # the validation images' SHA-256, first 16 hex digits


@dataclass(frozen=True)
class RunIdentity:
    """What a resumed run must share with the run that was interrupted."""

    model: str
    model_options: dict[str, Any]
    recipe: Recipe
    data_fingerprint: str
    subset: int | None
    world_size: int = field(metadata=spec(limits=Limits(1)))
    precision: str
    split: SplitIdentity

    def differences(self, saved: dict) -> list[str]:
        """The identity fields that ``saved`` (a resume.json as loaded) holds differently, lacks or cannot hold.
        Each is read as the schema reads it, so a recipe field added since (with its default) is no difference."""
        return [item.name for item in fields(RunIdentity) if not self._holds(item.name, saved.get(item.name))]

    def _holds(self, name: str, value: Any) -> bool:
        try:
            saved = schema.parse_field(RunIdentity, name, value, RESUME_RECORD)
        except SchemaError:
            return False
        if name == "model_options":  # a state saved before runs held all their options states only those given
            return recorded_options(self.model, saved) == recorded_options(self.model, self.model_options)
        return saved == getattr(self, name)


@dataclass(frozen=True)
class ResumeState(RunIdentity):
    """``resume.json``: the run's identity and where it stands after its last finished epoch."""

    weights: str  # the state-epochNNNN.safetensors beside it
    epoch: int = field(metadata=spec(limits=Limits(0)))  # epochs finished (0 only in memory, before the first)
    step: int = field(metadata=spec(limits=Limits(0)))  # optimiser steps taken
    train_seconds: float = field(metadata=spec(limits=Limits(0)))
    history: tuple[EpochRecord, ...]
    resume_command: str | None = None  # the command that resumes it, as the caller that started it wrote it
    schema_version: int = field(default=RESUME_SCHEMA_VERSION, metadata=spec(limits=Limits(1)))

    @property
    def epochs(self) -> int:
        """The epochs the run's recipe asks for."""
        return self.recipe.epochs

    def inconsistencies(self) -> Iterator[tuple[str, str]]:
        """(field, problem) where the state does not fit its recipe (the schema parser refuses the first)."""
        if self.schema_version > RESUME_SCHEMA_VERSION:
            yield "schema_version", f"is {self.schema_version}, newer than this code reads ({RESUME_SCHEMA_VERSION})"
        if not 1 <= self.epoch <= self.epochs:
            yield "epoch", f"is {self.epoch}, but the recipe has epochs 1 to {self.epochs}"
        if len(self.history) != self.epoch:
            yield "history", f"holds {len(self.history)} epochs, not the {self.epoch} finished"
        yield from history_problems(self.history, self.epochs)
        if not STATE_FILE.fullmatch(self.weights):
            yield "weights", f"must name a state-epochNNNN.safetensors beside it, got {self.weights!r}"

    def misfit_steps(self, steps_per_epoch: int) -> str | None:
        """What in this state does not fit ``steps_per_epoch`` (those of the run resuming it), or None."""
        if self.step != self.epoch * steps_per_epoch:
            return (f"step is {self.step} after epoch {self.epoch}, but an epoch takes {steps_per_epoch} steps, so "
                    f"{self.epoch * steps_per_epoch}")
        return None


def _damaged(path: Path, problem: str) -> ResumeStateError:
    return ResumeStateError("The interrupted run in {folder} is damaged: {problem}. Add {fresh} to discard it and "
                            "start again.", folder=path.parent, problem=problem)


def _resume_path(path_or_dir: str | os.PathLike) -> Path:
    path = Path(path_or_dir)
    return path / RESUME_RECORD if path.is_dir() else path


def _load(path: Path) -> Any:
    try:
        return schema.load_json(path)
    except SchemaError as error:
        raise _damaged(path, str(error)) from None


def _parse_state(saved: Any, path: Path) -> ResumeState:
    try:
        return schema.parse(ResumeState, saved, path)
    except SchemaError as error:
        raise _damaged(path, str(error)) from None


def read_resume_state(path_or_dir: str | os.PathLike) -> ResumeState:
    """The ``resume.json`` at ``path_or_dir`` (the file, or the run folder holding it), or ResumeStateError naming
    the file and what is wrong with it."""
    path = _resume_path(path_or_dir)
    return _parse_state(_load(path), path)


def resume_state_for(run_dir: Path, identity: RunIdentity, steps_per_epoch: int) -> ResumeState | None:
    """The interrupted run in ``run_dir`` to resume as ``identity``, None when there is none, or ResumeStateError
    when it was made with other settings, is damaged, or does not fit its recipe."""
    path = run_dir / RESUME_RECORD
    if not path.exists():
        return None
    saved = _load(path)
    different = identity.differences(saved) if isinstance(saved, dict) else []
    if different:
        raise ResumeStateError("{path} holds an interrupted run with a different {fields}. Rerun with the same "
                               "settings to resume it, or add {fresh} to discard it.", path=path,
                               fields=", ".join(different))
    state = _parse_state(saved, path)
    misfit = state.misfit_steps(steps_per_epoch)
    if misfit:
        raise _damaged(path, f"{path}: {misfit}")
    return state


# ----------------------------------------------------------------------------------------------------------------
# The tensors


def _state_tensors(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous()
    return tensors


def io_reason(error: Exception) -> str:
    """An OSError's or SafetensorError's reason as the OS words it ("No space left on device")."""
    code = error.errno if isinstance(error, OSError) else re.search(r"\(os error (\d+)\)", str(error))
    if isinstance(code, re.Match):
        code = int(code.group(1))
    return os.strerror(code) if isinstance(code, int) else str(error)


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` atomically, or OutputWriteError naming the file and the bytes it needed; a file already
    there under that name is left as it was."""
    try:
        atomic_write_bytes(path, lambda temporary: save_file(tensors, temporary, metadata=metadata))
    except (OSError, SafetensorError) as error:
        needed = sum(tensor.numel() * tensor.element_size() for tensor in tensors.values())
        raise OutputWriteError("Cannot write {path} ({needed:,} bytes): {reason}. What was there before is kept; free "
                               "space in {folder} and rerun the same command.", path=path, needed=needed,
                               reason=io_reason(error), folder=path.parent) from None


def save_resume_state(run_dir: Path, state: ResumeState, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """The tensors, then ``resume.json`` (so the record never names a file that is not there), then the older
    tensors go."""
    write_safetensors(run_dir / state.weights, _state_tensors(model, optimizer))
    try:
        write_json(run_dir / RESUME_RECORD, schema.to_json(state))
    except OSError as error:
        raise OutputWriteError("Cannot write {path}: {reason}. Free space in {folder} and rerun the same command.",
                               path=run_dir / RESUME_RECORD, reason=io_reason(error), folder=run_dir) from None
    for old in run_dir.glob("state-epoch*.safetensors"):
        if old.name != state.weights:
            old.unlink()


def _misfit_tensors(tensors: dict[str, torch.Tensor], model: nn.Module, optimizer: torch.optim.Optimizer) -> str | None:
    """What in a state file does not fit ``model`` and ``optimizer`` (a tensor of another shape, one it lacks)."""
    expected = {f"model.{k}": v for k, v in model.state_dict().items()}
    optimised = [p for group in optimizer.param_groups for p in group["params"]]  # the optimiser's state indices
    for key, value in tensors.items():
        reference = expected.get(key)
        if key.startswith("optim."):
            index = key.split(".")[1]
            reference = optimised[int(index)] if index.isdigit() and int(index) < len(optimised) else None
        if reference is None:
            return f"which holds a tensor {key} this model does not have"
        if reference.shape != value.shape:
            return f"whose tensor {key} has the shape {tuple(value.shape)}, not {tuple(reference.shape)}"
    missing = sorted(key for key in expected if key not in tensors)
    return f"which lacks {len(missing)} of the model's tensors ({missing[0]}, ...)" if missing else None


def restore_tensors(run_dir: Path, state: ResumeState, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Load the state's weights and optimiser tensors into ``model`` and ``optimizer``, or ResumeStateError naming the
    file when they are missing, damaged or of other shapes."""
    path = run_dir / state.weights
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as error:
        tensors, problem = {}, f"which cannot be read ({error})"
    else:
        problem = _misfit_tensors(tensors, model, optimizer)
    if problem:
        raise _damaged(path, f"{run_dir / RESUME_RECORD} names {path.name}, {problem}")
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    optimizer_state = optimizer.state_dict()
    optimizer_state["state"] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            optimizer_state["state"].setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(optimizer_state)


def clear_resume_state(run_dir: Path) -> None:
    for path in [run_dir / RESUME_RECORD, *run_dir.glob("state-epoch*.safetensors")]:
        path.unlink(missing_ok=True)
