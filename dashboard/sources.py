"""Where the pages' data comes from, each loader cached: the CIFAR-10 copy, the run records, the checkpoints (plain
and as captum needs them), and what is computed once per data set or per input (channel statistics, augmentation
previews, SE class averages, prepared uploads, attribution panels).

cache_resource for what every session only reads (the data set, models); cache_data for arrays and tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st
from torch import nn

from cifar_models import exemplars
from cifar_models.checkpoint import (RECORD_FILE, WEIGHTS_FILE, CheckpointError, LoadedCheckpoint, find_checkpoints,
                                     find_seed_checkpoints, load_checkpoint, read_record)
from cifar_models.data import CIFAR10, find_source, load_cifar10
from cifar_models.evaluation import predict_logits
from cifar_models.explain import class_average_gates
from cifar_models.robustness import ROBUSTNESS_FILE, read_robustness
from cifar_models.run_record import RunRecord
from cifar_models.trust import TRUST_FILE, TrustRecord, read_trust
from cifar_models.uploads import PreparedImage, prepare_upload
from dashboard.settings import checkpoint_root, data_location, train_command
from dashboard.views import augmentation, dataset, evidence, robustness

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


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@st.cache_data(show_spinner=False)
def _read_records(root: str, stamps: tuple) -> RunRecords:  # the stamps are in the cache key, unused in the body
    records, problems = {}, {}
    for name, folder in find_checkpoints(root).items():
        try:
            records[name] = read_record(folder)
        except CheckpointError as error:
            problems[name] = str(error)
    return RunRecords(Path(root), records, problems)


def load_records() -> RunRecords:
    """Every ``<root>/<model>/run.json``; read again when one of them changes (a new training run shows up)."""
    root = checkpoint_root()
    folders = find_checkpoints(root)
    stamps = tuple((name, _modified(folder / RECORD_FILE)) for name, folder in folders.items())
    return _read_records(str(root), stamps)


@st.cache_resource(show_spinner="Loading the checkpoint…", max_entries=6)
def _cached_checkpoint(folder: str, stamp: tuple) -> LoadedCheckpoint:  # the stamp is in the cache key only
    return load_checkpoint(folder)


def _checkpoint_stamp(folder: Path) -> tuple[int, int]:
    """When the run record and the weights last changed: part of the cache key of whatever is made from them."""
    return _modified(folder / RECORD_FILE), _modified(folder / WEIGHTS_FILE)


def load_model(name: str) -> LoadedCheckpoint:
    """The model ``name`` from the checkpoints folder, in eval mode on the CPU; CheckpointError says what to run."""
    folder = checkpoint_root() / name
    if not (folder / RECORD_FILE).is_file():
        raise CheckpointError(f"No checkpoint for {name} in {folder.resolve()}. Create it with `{train_command()}`.")
    return _cached_checkpoint(str(folder), _checkpoint_stamp(folder))


@st.cache_resource(show_spinner="Preparing the model for captum…", max_entries=6)
def _explainable_model(_checkpoint: LoadedCheckpoint, folder: str, created: str) -> nn.Module:
    from cifar_models.attribution import explainable_copy  # captum takes seconds to import: only when needed

    return explainable_copy(_checkpoint.model)


def load_explainable_model(name: str) -> nn.Module:
    """``load_model(name)``'s model as captum needs it (eval mode, fresh non-inplace ReLUs), made once per run."""
    checkpoint = load_model(name)
    return _explainable_model(checkpoint, str(checkpoint.directory), checkpoint.record.created)


@st.cache_data(show_spinner="Explaining the image with each model and method…", show_time=True, max_entries=32)
def _explanations(checkpoints: tuple, pixels: np.ndarray, methods: tuple[str, ...], target: int | None,
                  options: AttributionOptions, grad_cam_layers: tuple, _models: dict[str, nn.Module]
                  ) -> dict[str, ModelExplanation]:  # the checkpoints' stamps stand for _models in the cache key
    from cifar_models.attribution import explain_image

    return explain_image(_models, pixels, list(methods), target, options, dict(grad_cam_layers))


def explanations(models: dict[str, nn.Module], pixels: np.ndarray, methods: list[str], target: int | None,
                 options: AttributionOptions, grad_cam_layers: dict[str, str]) -> dict[str, ModelExplanation]:
    """The Attribution panel (:func:`cifar_models.attribution.explain_image`) of ``models``, loaded by
    :func:`load_explainable_model`, computed once per checkpoints, image and settings: redrawing with another
    opacity, coming back to an image or opening it in another tab costs nothing."""
    checkpoints = tuple((str(checkpoint_root() / name), _checkpoint_stamp(checkpoint_root() / name))
                        for name in models)
    return _explanations(checkpoints, pixels, tuple(methods), target, options, tuple(sorted(grad_cam_layers.items())),
                         models)


@st.cache_data(show_spinner="Averaging the SE gates over the class's test images…", max_entries=32)
def _class_gates(model_name: str, created: str, fingerprint: str, class_index: int, count: int,
                 _data: CIFAR10) -> dict[str, np.ndarray]:
    images = _data.test.images[_data.test.labels == class_index][:count]
    return class_average_gates(load_model(model_name).model, images)


def class_gates(model_name: str, created: str, data: CIFAR10, class_index: int, count: int) -> dict[str, np.ndarray]:
    """Mean SE gate per layer and channel over the first ``count`` test images of a class, computed once per run."""
    return _class_gates(model_name, created, data.fingerprint, class_index, count, data)


@st.cache_data(show_spinner=False, max_entries=16)
def prepared_upload(content: bytes, name: str) -> PreparedImage:
    return prepare_upload(content, name)  # an UploadError is not cached: the next rerun raises it again


# ----------------------------------------------------------------------------------------------------------------
# Robustness


@st.cache_data(show_spinner="Reading the robustness results…")
def _read_robustness(folder: str, stamps: tuple) -> dict | None:  # the stamps are in the cache key only
    return read_robustness(folder)


def load_robustness(names: list[str]) -> dict[str, dict | None]:
    """Each model's ``robustness.json`` if it was measured on the weights now in its folder, else None; read again
    when the result or the weights change. A damaged one is named in a warning and counts as none."""
    root = checkpoint_root()
    results = {}
    for name in names:
        try:
            results[name] = _read_robustness(str(root / name), (_modified(root / name / ROBUSTNESS_FILE),
                                                                _modified(root / name / WEIGHTS_FILE)))
        except CheckpointError as error:  # not cached: read again on the next run, until it is measured again
            st.warning(str(error))
            results[name] = None
    return results


@st.cache_data(show_spinner=False)
def _read_trust(folder: str, stamps: tuple) -> TrustRecord | None:  # the stamps are in the cache key only
    return read_trust(folder)


def load_trust(names: list[str]) -> dict[str, TrustRecord]:
    """Each model's faithfulness over many images (``evaluate.py --faithfulness``) where it was measured on the
    weights now in its folder; read again when the result or the weights change."""
    root = checkpoint_root()
    found = {name: _read_trust(str(root / name), (_modified(root / name / TRUST_FILE),
                                                  _modified(root / name / WEIGHTS_FILE)))
             for name in names}
    return {name: record for name, record in found.items() if record is not None}


@st.cache_data(show_spinner="Degrading the images…", max_entries=64)
def degraded_images(images: np.ndarray, corruption: str, severity: int) -> np.ndarray:
    return robustness.degraded_images(images, corruption, severity)


@st.cache_data(show_spinner="Classifying the degraded images…", max_entries=64)
def _predicted_classes(_checkpoint: LoadedCheckpoint, folder: str, created: str, images: np.ndarray) -> np.ndarray:
    precision = _checkpoint.record.precision  # as evaluate.py --robustness measured it
    return predict_logits(_checkpoint.model, images, device="cpu", precision=precision).argmax(1).numpy()


def predicted_classes(name: str, images: np.ndarray) -> np.ndarray:
    """Model ``name``'s predicted class for each of ``images``, computed once per model and image set."""
    checkpoint = load_model(name)
    return _predicted_classes(checkpoint, str(checkpoint.directory), checkpoint.record.created, images)


# ----------------------------------------------------------------------------------------------------------------
# Several seeds and the verdict's statistics


@st.cache_data(show_spinner=False)
def _read_seed_records(root: str, stamps: tuple) -> evidence.SeedRecords:  # the stamps are in the cache key only
    seeds = {}
    for name, folders in find_seed_checkpoints(root).items():
        readable = []
        for folder in folders:
            try:
                readable.append(read_record(folder))
            except CheckpointError:
                continue  # the first seed's problem is shown by load_records; a damaged extra seed is left out
        seeds[name] = readable
    return seeds


def seed_stamps() -> tuple:
    """Every seed's run record and when it was written: what the seed views depend on."""
    root = checkpoint_root()
    return tuple((str(folder), _modified(folder / RECORD_FILE))
                 for folders in find_seed_checkpoints(root).values() for folder in folders)


def load_seed_records() -> evidence.SeedRecords:
    """Every model's run records over seeds (``<root>/<model>``, then ``<root>/seed-<k>/<model>``)."""
    return _read_seed_records(str(checkpoint_root()), seed_stamps())


@st.cache_data(show_spinner="Testing the pairs of models (McNemar, paired bootstrap)…", max_entries=8)
def _pair_comparisons(_seed_records: evidence.SeedRecords, stamps: tuple, _labels: np.ndarray,
                      fingerprint: str) -> list:  # the stamps and the fingerprint are the cache key
    return evidence.comparisons_for(_seed_records, _labels)


def pair_comparisons(seed_records: evidence.SeedRecords, data: CIFAR10) -> list:
    """The verdict's statistics for every pair of models, computed once per set of records and data."""
    return _pair_comparisons(seed_records, seed_stamps(), data.test.labels, data.fingerprint)


# ----------------------------------------------------------------------------------------------------------------
# Channel exemplars (computed once per checkpoint, stored beside it)


@st.cache_resource(show_spinner=False, max_entries=6)
def _stored_exemplars(folder: str, stamp: tuple, fingerprint: str, image_count: int) -> dict | None:
    return exemplars.stored_exemplars(folder, data_fingerprint=fingerprint, image_count=image_count)


def _exemplar_stamp(folder: Path) -> tuple:
    return _modified(folder / WEIGHTS_FILE), _modified(folder / exemplars.EXEMPLARS_FILE)


def stored_exemplars(name: str, data: CIFAR10) -> dict[str, exemplars.ChannelExemplars] | None:
    """Model ``name``'s channel exemplars on this data's test split, or None where they are not computed yet."""
    folder = load_model(name).directory
    return _stored_exemplars(str(folder), _exemplar_stamp(folder), data.fingerprint, len(data.test))


def compute_exemplars(name: str, data: CIFAR10) -> None:
    """Compute and store model ``name``'s exemplars (one pass over the test split; about a minute on a CPU)."""
    checkpoint = load_model(name)
    exemplars.cached_exemplars(checkpoint.directory, checkpoint.model, data.test.images, data.test.labels,
                               num_classes=data.num_classes, data_fingerprint=data.fingerprint, progress=False)
