"""Follow a training run while it goes: what `train_all.py` has written so far into its output folder.

Reads only what the engine writes atomically: each finished model's ``run.json``, each running model's
``resume.json`` (rewritten after every epoch, read with the engine's own reader), and the folder's lock file (held
while a run lives). A file that cannot be parsed is skipped on this refresh, never shown as an error.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

from cifar_models.checkpoint import RECORD_FILE, CheckpointError, read_record
from cifar_models.output_lock import running_holder
from cifar_models.resume import RESUME_RECORD, ResumeStateError, ResumeState, read_resume_state
from cifar_models.run_record import EpochRecord, RunRecord

from .common import format_seconds


@dataclass(frozen=True)
class LiveModel:
    name: str
    status: str  # "finished", "training" (a live run holds the folder) or "interrupted" (resumable)
    epoch: int  # epochs done
    epochs: int  # epochs the recipe asks for
    history: tuple[EpochRecord, ...]
    eta_seconds: float  # until this model is done; 0 when finished, NaN when unknown
    resume_command: str | None = None  # the command that resumes it, where the run that started it recorded one

    @property
    def fraction_done(self) -> float:
        return self.epoch / self.epochs if self.epochs else 0.0


@dataclass(frozen=True)
class LiveRun:
    folder: Path
    holder: str | None  # "PID 1234 on host" of the live run, None when no run writes here
    models: dict[str, LiveModel]

    @property
    def training(self) -> LiveModel | None:
        return next((m for m in self.models.values() if m.status == "training"), None)

    @property
    def interrupted(self) -> dict[str, LiveModel]:
        """The models an ended run left part-trained, which rerunning its command resumes."""
        return {name: model for name, model in self.models.items() if model.status == "interrupted"}


def _eta(history: tuple[EpochRecord, ...], epochs: int, last_written: float, now: float) -> float:
    """Mean epoch time so far times the epochs left, less the time since the last epoch ended."""
    seconds = [row.epoch_seconds for row in history if math.isfinite(row.epoch_seconds)]
    if not seconds:
        return math.nan
    return max(sum(seconds) / len(seconds) * (epochs - len(history)) - (now - last_written), 0.0)


def _resume_state(path: Path) -> ResumeState | None:
    """The state in a resume record, or None where there is none or it does not parse."""
    if not path.is_file():
        return None
    try:
        return read_resume_state(path)
    except ResumeStateError:
        return None


@functools.lru_cache(maxsize=64)
def _finished_record(folder: str, size: int, modified_ns: int) -> RunRecord:
    """A finished model's record, parsed again only when its file changes (size and time are in the key): Compare
    reads the live folder on every run, and parsing three records' predictions took 0.4 s of each."""
    return read_record(folder)


def _finished(folder: Path) -> RunRecord:
    stat = (folder / RECORD_FILE).stat()  # OSError where there is none: no finished model here
    return _finished_record(str(folder), stat.st_size, stat.st_mtime_ns)


def _part_trained(name: str, state: ResumeState, written: float, holder: str | None, now: float) -> LiveModel:
    history = state.history
    if holder:
        return LiveModel(name, "training", len(history), state.epochs, history,
                         _eta(history, state.epochs, written, now))
    return LiveModel(name, "interrupted", len(history), state.epochs, history, math.nan, state.resume_command)


def read_live_run(folder: str | Path, now: float | None = None) -> LiveRun:
    """What the run writing into ``folder`` has done so far (finished and in-progress models)."""
    folder = Path(folder)
    now = time.time() if now is None else now
    holder = running_holder(folder)
    models: dict[str, LiveModel] = {}
    subfolders = sorted(path for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []
    for subfolder in subfolders:
        resume_path = subfolder / RESUME_RECORD
        state = _resume_state(resume_path)
        if state is not None:
            try:
                written = resume_path.stat().st_mtime
            except OSError:
                continue
            models[subfolder.name] = _part_trained(subfolder.name, state, written, holder, now)
            continue
        try:
            record = _finished(subfolder)
        except (CheckpointError, OSError):
            continue
        models[subfolder.name] = LiveModel(subfolder.name, "finished", record.epochs_run, record.epochs_run,
                                           record.history, 0.0)
    return LiveRun(folder, holder, models)


def status_line(model: LiveModel) -> str:
    """'epoch 3 of 5 done · about 4 min left' and the like."""
    if model.status == "finished":
        return f"finished: {model.epochs} epochs"
    progress = f"epoch {model.epoch} of {model.epochs} done"
    if model.status == "interrupted":
        return f"{progress}; interrupted (rerun the same command to resume)"
    left = "ETA after the first epoch" if math.isnan(model.eta_seconds) else \
        f"about {format_seconds(model.eta_seconds)} left"
    return f"{progress} · {left}"
