"""Where the pages' data comes from, each loader cached: the CIFAR-10 copy, the run records, the checkpoints (plain
and as captum needs them), and what is computed once per data set or per input (channel statistics, augmentation
previews, SE class averages, prepared uploads, attribution panels).

cache_resource for what every session only reads (the data set, models); cache_data for arrays and tables.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st
from torch import nn

from cifar_models import exemplars
from cifar_models.budgets import Budget, budget_folder, budgets_present, read_budgets
from cifar_models.checkpoint import (RECORD_FILE, WEIGHTS_FILE, CheckpointError, LoadedCheckpoint, file_digest,
                                     find_checkpoints, find_seed_checkpoints, load_checkpoint, read_record,
                                     read_seed_records)
from cifar_models.data import CIFAR10, find_source, load_cifar10
from cifar_models.evaluation import predict_logits
from cifar_models.explain import class_average_gates
from cifar_models.robustness import ROBUSTNESS_FILE, read_robustness
from cifar_models.run_record import RunRecord
from cifar_models.trust import TRUST_FILE, TrustRecord, read_trust
from cifar_models.uploads import PreparedImage, prepare_upload
from cifar_models.verdict import GroundTruth, Verdict, judge
from dashboard import settings
from dashboard.settings import checkpoint_root, data_location
from dashboard.views import augmentation, dataset, robustness

if TYPE_CHECKING:  # captum takes seconds to import: only the pages that explain import it, when they need it
    from cifar_models.attribution import AttributionOptions, ModelExplanation

# ----------------------------------------------------------------------------------------------------------------
# Data


# cache_resource, not cache_data: the decoded set is 180 MB that every page only reads (pages must not write into
# it: all sessions share it); cache_data would hand each rerun a fresh unpickled copy.
@st.cache_resource(show_spinner="Loading CIFAR-10 (the first time decodes it into the cache; later loads are quick)…")
def _cached_data(location: str) -> CIFAR10:
    return load_cifar10(location, progress=False)


def load_data() -> CIFAR10 | None:
    """The data set of the scripts' setting, or None where there is none; a DataError where it is damaged."""
    location = data_location()
    if find_source(location) is None:
        return None
    return _cached_data(str(location.resolve()))


@st.cache_data(show_spinner="Computing per-channel statistics…")
def _channel_statistics(_data: CIFAR10, fingerprint: str, split: str) -> pd.DataFrame:
    return dataset.channel_statistics(getattr(_data, split).images)


def channel_statistics(data: CIFAR10, split: str) -> pd.DataFrame:
    """Per-channel mean and standard deviation of a split, computed once per data set (it reads every pixel)."""
    return _channel_statistics(data, data.fingerprint, split)


@st.cache_data(show_spinner=False, max_entries=64)
def augmentation_preview(images: np.ndarray, labels: np.ndarray, params: dict, draws: int,
                         seed: int) -> list[augmentation.AugmentedDraw]:
    """The augmented draws of a preview, kept so that coming back to a page with the same settings costs nothing."""
    return augmentation.augmentation_preview(images, labels, params, draws, seed)


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints and run records


@dataclass(frozen=True)
class RunRecords:
    root: Path
    records: dict[str, RunRecord] = field(default_factory=dict)  # model name -> its run.json
    problems: dict[str, str] = field(default_factory=dict)  # model name -> why its record could not be read
    # (the library's words: a page adds settings.retrain_advice)


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, modified: int) -> str:  # the size and time stand for the content in the key
    return file_digest(path)


def _file_identity(path: Path) -> str:
    """SHA-256 of a file ('' where there is none), hashed again only when its size or time changes."""
    try:
        stat = path.stat()
    except OSError:
        return ""
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


def checkpoint_identity(folder: Path) -> tuple[str, str]:
    """What every cache of a checkpoint is keyed by: the SHA-256 of its weights (the digest robustness.json and the
    exemplars are stored under) and of its run record (a records-only seed folder has no weights; a run rewrites its
    record after its weights)."""
    return _file_identity(folder / WEIGHTS_FILE), _file_identity(folder / RECORD_FILE)


@st.cache_data(show_spinner=False)
def _read_records(root: str, identities: tuple) -> RunRecords:  # the identities are in the cache key, unused here
    records, problems = {}, {}
    for name, folder in find_checkpoints(root).items():
        try:
            records[name] = read_record(folder)
        except CheckpointError as error:
            problems[name] = str(error)  # the pages add the command that fixes it
    return RunRecords(Path(root), records, problems)


def load_records() -> RunRecords:
    """Every ``<root>/<model>/run.json``; read again when one of them changes (a new training run shows up)."""
    root = checkpoint_root()
    identities = tuple((name, checkpoint_identity(folder)) for name, folder in find_checkpoints(root).items())
    return _read_records(str(root), identities)


@st.cache_resource(show_spinner="Loading the checkpoint…", max_entries=6)
def _cached_checkpoint(folder: str, identity: tuple) -> LoadedCheckpoint:  # the identity is in the cache key only
    return load_checkpoint(folder)


def load_model(name: str) -> LoadedCheckpoint:
    """The model ``name`` from the checkpoints folder, in eval mode on the CPU; CheckpointError says what to run."""
    folder = checkpoint_root() / name
    if not (folder / RECORD_FILE).is_file():
        raise CheckpointError(f"No checkpoint for {name} in {folder.resolve()}. {settings.retrain_advice(name)}")
    try:
        return _cached_checkpoint(str(folder), checkpoint_identity(folder))
    except CheckpointError as error:
        raise CheckpointError(f"{error} {settings.retrain_advice(name)}") from None


@st.cache_resource(show_spinner="Preparing the model for captum…", max_entries=6)
def _explainable_model(_checkpoint: LoadedCheckpoint, folder: str, identity: tuple) -> nn.Module:
    from cifar_models.attribution import explainable_copy  # captum takes seconds to import: only when needed

    return explainable_copy(_checkpoint.model)


def load_explainable_model(name: str) -> nn.Module:
    """``load_model(name)``'s model as captum needs it (eval mode, fresh non-inplace ReLUs), made once per run."""
    checkpoint = load_model(name)
    return _explainable_model(checkpoint, str(checkpoint.directory), checkpoint_identity(checkpoint.directory))


@st.cache_data(show_spinner="Explaining the image with each model and method…", show_time=True, max_entries=32)
def _explanations(checkpoints: tuple, pixels: np.ndarray, methods: tuple[str, ...], target: int | None,
                  options: AttributionOptions, grad_cam_layers: tuple, _models: dict[str, nn.Module]
                  ) -> dict[str, ModelExplanation]:  # the checkpoints' identities stand for _models in the key
    from cifar_models.attribution import explain_image

    return explain_image(_models, pixels, list(methods), target, options, dict(grad_cam_layers))


def explanations(models: dict[str, nn.Module], pixels: np.ndarray, methods: list[str], target: int | None,
                 options: AttributionOptions, grad_cam_layers: dict[str, str]) -> dict[str, ModelExplanation]:
    """The Attribution panel (:func:`cifar_models.attribution.explain_image`) of ``models``, loaded by
    :func:`load_explainable_model`, computed once per checkpoints, image and settings: redrawing with another
    opacity, coming back to an image or opening it in another tab costs nothing."""
    checkpoints = tuple((name, checkpoint_identity(checkpoint_root() / name)) for name in models)
    return _explanations(checkpoints, pixels, tuple(methods), target, options, tuple(sorted(grad_cam_layers.items())),
                         models)


@st.cache_data(show_spinner="Averaging the SE gates over the class's test images…", max_entries=32)
def _class_gates(model_name: str, identity: tuple, fingerprint: str, class_index: int, count: int,
                 _data: CIFAR10) -> dict[str, np.ndarray]:
    images = _data.test.images[_data.test.labels == class_index][:count]
    return class_average_gates(load_model(model_name).model, images)


def class_gates(model_name: str, data: CIFAR10, class_index: int, count: int) -> dict[str, np.ndarray]:
    """Mean SE gate per layer and channel over the first ``count`` test images of a class, computed once per
    checkpoint and data set."""
    identity = checkpoint_identity(checkpoint_root() / model_name)
    return _class_gates(model_name, identity, data.fingerprint, class_index, count, data)


@st.cache_data(show_spinner=False, max_entries=16)
def prepared_upload(content: bytes, name: str) -> PreparedImage:
    return prepare_upload(content, name)  # an UploadError is not cached: the next rerun raises it again


# ----------------------------------------------------------------------------------------------------------------
# Robustness


@st.cache_data(show_spinner="Reading the robustness results…")
def _read_robustness(folder: str, identity: tuple, result: str) -> dict | None:  # identities: in the cache key only
    return read_robustness(folder)


def _stored_results(names: list[str], read, file: str) -> dict:
    """Per model, the result ``read`` (cached, keyed by the weights' and the result's identities) finds in its folder's
    ``file``, None where there is none or it is stale; a damaged one is named in a warning and counts as none (not
    cached: read again on the next run, until it is measured again)."""
    root = checkpoint_root()
    results = {}
    for name in names:
        try:
            results[name] = read(str(root / name), checkpoint_identity(root / name), _file_identity(root / name / file))
        except CheckpointError as error:
            st.warning(str(error))
            results[name] = None
    return results


def load_robustness(names: list[str]) -> dict[str, dict | None]:
    """Each model's ``robustness.json`` if it was measured on the weights now in its folder, else None; read again
    when the result or the weights change. A damaged one is named in a warning and counts as none."""
    return _stored_results(names, _read_robustness, ROBUSTNESS_FILE)


@st.cache_data(show_spinner=False)
def _read_trust(folder: str, identity: tuple, result: str) -> TrustRecord | None:  # identities: in the cache key only
    return read_trust(folder)


def load_trust(names: list[str]) -> dict[str, TrustRecord]:
    """Each model's faithfulness over many images (``evaluate.py --faithfulness``) where it was measured on the
    weights now in its folder; read again when the result or the weights change. A damaged one is named in a
    warning and counts as none, as a damaged robustness result does."""
    found = _stored_results(names, _read_trust, TRUST_FILE)
    return {name: record for name, record in found.items() if record is not None}


@st.cache_data(show_spinner="Degrading the images…", max_entries=64)
def degraded_images(images: np.ndarray, corruption: str, severity: int) -> np.ndarray:
    return robustness.degraded_images(images, corruption, severity)


@st.cache_data(show_spinner="Classifying the degraded images…", max_entries=64)
def _predicted_classes(_checkpoint: LoadedCheckpoint, folder: str, identity: tuple, images: np.ndarray) -> np.ndarray:
    precision = _checkpoint.record.precision  # as evaluate.py --robustness measured it
    return predict_logits(_checkpoint.model, images, device="cpu", precision=precision).argmax(1).numpy()


def predicted_classes(name: str, images: np.ndarray) -> np.ndarray:
    """Model ``name``'s predicted class for each of ``images``, computed once per model and image set."""
    checkpoint = load_model(name)
    return _predicted_classes(checkpoint, str(checkpoint.directory), checkpoint_identity(checkpoint.directory), images)


# ----------------------------------------------------------------------------------------------------------------
# Several seeds and the verdict's statistics


@dataclass(frozen=True)
class SeedRecords:
    records: dict[str, list[RunRecord]]  # model name -> its run records, one per seed that reads
    problems: dict[Path, str]  # the folder of each record that does not read -> why


@st.cache_data(show_spinner=False)
def _read_seed_records(root: str, identities: tuple) -> SeedRecords:  # the identities are in the cache key only
    return SeedRecords(*read_seed_records(root))


def seed_identities() -> tuple:
    """Every seed's checkpoint identity: what the seed views depend on."""
    return tuple((str(folder), checkpoint_identity(folder))
                 for folders in find_seed_checkpoints(checkpoint_root()).values() for folder in folders)


def load_seed_records() -> SeedRecords:
    """Every model's run records over seeds (``<root>/<model>``, then ``<root>/seed-<k>/<model>``)."""
    return _read_seed_records(str(checkpoint_root()), seed_identities())


@st.cache_data(show_spinner="Testing the pairs of models (McNemar, paired bootstrap)…", max_entries=8)
def _verdict(identities: tuple, fingerprint: str | None, robustness: dict, _seed_records: dict,
             _labels: np.ndarray | None) -> Verdict:  # the identities and the fingerprint stand for what is unhashed
    labels = None if fingerprint is None else GroundTruth(_labels, fingerprint)
    return judge(_seed_records, labels, robustness=robustness)


def verdict(data: CIFAR10 | None) -> Verdict:
    """The verdict on SENet (:func:`cifar_models.verdict.judge`) from every seed's run record and, with the data,
    the paired tests on its test labels: computed once per set of checkpoints, data and robustness results."""
    seeds = load_seed_records()
    robustness = load_robustness(list(seeds.records))
    return _verdict(seed_identities(), None if data is None else data.fingerprint, robustness, seeds.records,
                    None if data is None else data.test.labels)


# ----------------------------------------------------------------------------------------------------------------
# Training budgets (``train_all.py --budgets``): records only, each budget read as a checkpoints folder


def budget_identities() -> tuple:
    """Every budget's records' identities: what the budget views depend on."""
    root = checkpoint_root()
    return tuple((str(folder), checkpoint_identity(folder)) for epochs in budgets_present(root)
                 for folders in find_seed_checkpoints(budget_folder(root, epochs)).values() for folder in folders)


@st.cache_data(show_spinner=False)
def _read_budgets(root: str, identities: tuple) -> list[Budget]:  # the identities are in the cache key only
    return read_budgets(root)


def load_budgets() -> list[Budget]:
    """Every budget under the checkpoints folder in ascending epochs; read again when one of its records changes."""
    return _read_budgets(str(checkpoint_root()), budget_identities())


@st.cache_data(show_spinner="Testing the pairs of models at each budget (McNemar, paired bootstrap)…", max_entries=4)
def _budget_verdicts(identities: tuple, fingerprint: str | None, _budgets: list[Budget],
                     _labels: np.ndarray | None) -> dict[int, Verdict]:  # the keys stand for what is unhashed
    labels = None if fingerprint is None else GroundTruth(_labels, fingerprint)
    return {budget.epochs: judge(budget.records, labels) for budget in _budgets}


def budget_verdicts(budgets: list[Budget], data: CIFAR10 | None) -> dict[int, Verdict]:
    """The verdict on SENet at each budget (epochs -> :func:`cifar_models.verdict.judge`), with the paired tests
    where the data is there: computed once per set of budget records and data."""
    return _budget_verdicts(budget_identities(), None if data is None else data.fingerprint, budgets,
                            None if data is None else data.test.labels)


# ----------------------------------------------------------------------------------------------------------------
# Channel exemplars (computed once per checkpoint, stored beside it)


@st.cache_resource(show_spinner=False, max_entries=6)
def _stored_exemplars(folder: str, identity: tuple, stored: str, fingerprint: str, image_count: int) -> dict | None:
    return exemplars.stored_exemplars(folder, data_fingerprint=fingerprint, image_count=image_count)


def stored_exemplars(name: str, data: CIFAR10) -> dict[str, exemplars.ChannelExemplars] | None:
    """Model ``name``'s channel exemplars on this data's test split, or None where they are not computed yet."""
    folder = load_model(name).directory
    return _stored_exemplars(str(folder), checkpoint_identity(folder), _file_identity(folder / exemplars.EXEMPLARS_FILE),
                             data.fingerprint, len(data.test))


def compute_exemplars(name: str, data: CIFAR10) -> None:
    """Compute and store model ``name``'s exemplars (one pass over the test split; about a minute on a CPU)."""
    checkpoint = load_model(name)
    exemplars.cached_exemplars(checkpoint.directory, checkpoint.model, data.test.images, data.test.labels,
                               num_classes=data.num_classes, data_fingerprint=data.fingerprint, progress=False)
