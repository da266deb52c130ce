"""Checkpoint I/O: ``<dir>/<model>/model.safetensors`` (fp16 weights) and ``<dir>/<model>/run.json`` (the run record).

Writes are atomic (a temporary file in the same folder, then a rename), so an interrupted write never leaves a
half-written checkpoint under the real name. Nothing here unpickles anything. A CheckpointError names the file and what
is wrong with it; the scripts and the dashboard add the command that fixes it (they know their flags).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from . import schema
from .model_options import checked_options
from .models import MODELS, build_model
from .run_record import CheckpointError, RunRecord

WEIGHTS_FILE = "model.safetensors"
RECORD_FILE = "run.json"
DEFAULT_CHECKPOINT_DIR = Path("checkpoints")


@dataclass
class LoadedCheckpoint:
    model: nn.Module  # in eval mode
    record: RunRecord
    directory: Path


def atomic_write_bytes(path: Path, write) -> None:
    """Call ``write(file_path)`` on a temporary path next to ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


class FolderNotWritable(RuntimeError):
    """A result cannot be written beside a checkpoint; raised before it is computed, the message names the folder."""


def require_writable(folder: Path, result: str) -> None:
    """FolderNotWritable unless a file can be created in ``folder`` now: tried for real (a temporary file, removed at
    once), so a read-only mount, permissions and a full disk's quota all count, for root too."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise FolderNotWritable(f"{result} cannot be written into {folder}: {error.strerror}. Nothing was computed; "
                                "make the folder writable, or copy the checkpoints into a writable folder and use "
                                "that copy.") from None


def _json_safe(value):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, record: dict) -> None:
    text = json.dumps(_json_safe(record), indent=2)

    def write(temporary: str) -> None:
        Path(temporary).write_text(text + "\n")

    atomic_write_bytes(path, write)


def save_checkpoint(model: nn.Module, record: RunRecord, directory: str | os.PathLike) -> Path:
    """Write fp16 weights and the run record into ``directory``; returns the directory."""
    directory = Path(directory)
    state = {name: tensor.detach().to("cpu", torch.float16 if tensor.is_floating_point() else tensor.dtype).contiguous()
             for name, tensor in model.state_dict().items()}
    atomic_write_bytes(directory / WEIGHTS_FILE, lambda temporary: save_file(state, temporary, metadata={"model": record.model}))
    write_json(directory / RECORD_FILE, record.to_json())
    return directory


def read_record(directory: str | os.PathLike) -> RunRecord:
    """The run record in ``directory``; CheckpointError names the file, and the field when one is missing or wrong."""
    path = Path(directory) / RECORD_FILE
    if not path.is_file():
        raise CheckpointError(f"Run record {path} is missing.")
    try:
        return schema.read_json(path, RunRecord, f"Run record {path}")
    except schema.SchemaError as error:  # unreadable, or a field missing, wrongly typed, out of range or inconsistent
        raise CheckpointError(f"{error}.") from None


def load_checkpoint(directory: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Rebuild the model named in ``run.json`` and load its weights, checking they belong to that architecture."""
    directory = Path(directory)
    record = read_record(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"Weights {weights} are missing.")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"Weights {weights} are truncated or corrupt ({error}).") from None
    try:  # options a known model does not take are named as such, not as a Python TypeError
        if record.model in MODELS:
            checked_options(record.model, record.model_options, "its model_options")
        model = build_model(record.model, **record.model_options)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"Run record {directory / RECORD_FILE} names a model this code cannot build: {error}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        details = "; ".join(f"{label}: {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
                            for label, keys in (("missing", missing), ("unexpected", unexpected),
                                                ("wrong shape", wrong_shape)) if keys)
        raise CheckpointError(f"Weights {weights} do not match the architecture '{record.model}' named in "
                              f"{directory / RECORD_FILE} ({details}).")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return LoadedCheckpoint(model.to(device).eval(), record, directory)


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_digest(checkpoint_dir: str | os.PathLike) -> str:
    """SHA-256 of the checkpoint's weights file: the key of what is computed from these weights and cached beside
    them (new weights, new results)."""
    return file_digest(Path(checkpoint_dir) / WEIGHTS_FILE)


def find_checkpoints(root: str | os.PathLike = DEFAULT_CHECKPOINT_DIR) -> dict[str, Path]:
    """Model name -> folder, for every ``<root>/<name>/run.json``."""
    root = Path(root)
    if not root.is_dir():
        return {}
    return {p.parent.name: p.parent for p in sorted(root.glob(f"*/{RECORD_FILE}"))}


SEED_FOLDER_PREFIX = "seed-"


def seed_folder(root: str | os.PathLike, index: int) -> Path:
    """The checkpoint folder of a run's ``index``-th seed: ``root`` itself for the first (the single-seed layout,
    ``<root>/<model>/``), ``<root>/seed-<index>/`` for the others (``<root>/seed-1/<model>/``, ...): each is a
    complete checkpoint folder that every reader of ``find_checkpoints`` accepts."""
    return Path(root) if index == 0 else Path(root) / f"{SEED_FOLDER_PREFIX}{index}"


def find_seed_checkpoints(root: str | os.PathLike = DEFAULT_CHECKPOINT_DIR) -> dict[str, list[Path]]:
    """Model name -> its run folders over seeds, the first seed's first (``<root>/<name>``, then
    ``<root>/seed-<k>/<name>`` in the order of k)."""
    seeds: dict[str, list[Path]] = {name: [folder] for name, folder in find_checkpoints(root).items()}
    numbered = [p for p in Path(root).glob(f"{SEED_FOLDER_PREFIX}*")
                if p.is_dir() and p.name[len(SEED_FOLDER_PREFIX):].isdigit()]
    for seed_root in sorted(numbered, key=lambda p: int(p.name[len(SEED_FOLDER_PREFIX):])):
        for name, folder in find_checkpoints(seed_root).items():
            seeds.setdefault(name, []).append(folder)
    return seeds


def read_seed_records(root: str | os.PathLike = DEFAULT_CHECKPOINT_DIR
                      ) -> tuple[dict[str, list[RunRecord]], dict[Path, str]]:
    """Every model's run records over seeds (as :func:`find_seed_checkpoints` orders them), and for each record that
    does not read, its folder and why: the others are read all the same."""
    seeds: dict[str, list[RunRecord]] = {}
    problems: dict[Path, str] = {}
    for name, folders in find_seed_checkpoints(root).items():
        seeds[name] = []
        for folder in folders:
            try:
                seeds[name].append(read_record(folder))
            except CheckpointError as error:
                problems[folder] = str(error)
    return seeds, problems
