"""The dashboard's one helper module: the cached loaders, the choices kept across pages and the sidebar note on
what is loaded. Pages import it as ``from dashboard import loading``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Container

import numpy as np
import pandas as pd
import streamlit as st
from torch import nn

from cifar_models import reports
from cifar_models.checkpoint import (RECORD_FILE, WEIGHTS_FILE, CheckpointError,
                                     LoadedCheckpoint, find_checkpoints, load_checkpoint, read_record)
from cifar_models.data import (CIFAR10, GET_DATA_COMMAND, DataError, download_cifar10, find_source, load_cifar10,
                               missing_data_message)
from cifar_models.explain import excitation_gates, flush_denormals
from cifar_models.uploads import UPLOAD_EXTENSIONS, PreparedImage, UploadError, prepare_upload
from dashboard.settings import CHECKPOINTS_ENV, checkpoint_root, data_argument, data_location, train_command  # noqa: F401

DASHBOARD_DIR = Path(__file__).resolve().parent
flush_denormals()  # single-image explanations on a CPU: see the function
HOME_HEADING = "CIFAR-10 CNN Lab"


@dataclass(frozen=True)
class PageSpec:
    """A page file of the app. Its ``st.title`` is ``title`` (the browser test looks for it)."""

    file: str  # relative to dashboard/; its name (without .py) is the page's URL path
    title: str
    icon: str


# Home is Home.py's own function; these are the page files, in the order the navigation lists them. A file that is
# not there (yet) is left out of the navigation, so the app runs while pages are still being written.
PAGES = (
    PageSpec("app_pages/dataset.py", "Dataset", ":material/grid_view:"),
    PageSpec("app_pages/augmentation.py", "Augmentation", ":material/auto_fix_high:"),
    PageSpec("app_pages/compare.py", "Compare", ":material/leaderboard:"),
    PageSpec("app_pages/feature_maps.py", "Feature maps", ":material/layers:"),
    PageSpec("app_pages/attribution.py", "Attribution", ":material/visibility:"),
    PageSpec("app_pages/predict.py", "Predict", ":material/upload:"),
)


def available_pages() -> list[PageSpec]:
    return [page for page in PAGES if (DASHBOARD_DIR / page.file).is_file()]


def url_path(page: PageSpec) -> str:
    """The URL path Streamlit gives the page: its file name without .py."""
    return Path(page.file).stem


# ----------------------------------------------------------------------------------------------------------------
# Data


# cache_resource, not cache_data: the decoded set is 180 MB that every page only reads (pages must not write into
# it: all sessions share it); cache_data would hand each rerun a fresh unpickled copy.
@st.cache_resource(show_spinner="Loading CIFAR-10 (the first time decodes it into the cache; later loads are quick)…")
def _cached_data(location: str) -> CIFAR10:
    return load_cifar10(location, progress=False)


def load_data() -> CIFAR10 | None:
    """The data set of the scripts' setting, or None where there is none (nothing is shown)."""
    location = data_location()
    if find_source(location) is None:
        return None
    return _cached_data(str(location.resolve()))


def require_data() -> CIFAR10:
    """The data set, or (where there is none) a message saying where it looked, an offer to download it, and a stop."""
    try:
        data = load_data()
    except DataError as error:
        st.error(str(error))
        st.stop()
    if data is not None:
        return data
    st.warning(missing_data_message(data_argument()).replace("\n", "  \n"))
    location = data_location()
    if location.name.endswith((".tar.gz", ".tgz", ".tar")):
        st.info("Point `--data` or `$CIFAR10_DATA` at an existing archive, or at a folder to download into.")
        st.stop()
    st.markdown(f"Or download the original CIFAR-10 (163 MB, torchvision's copy) into `{location.resolve()}` now; "
                f"the same as `{GET_DATA_COMMAND}`.")
    if st.button("Download CIFAR-10", type="primary"):
        bar = st.progress(0.0, text="Downloading CIFAR-10…")
        try:
            download_cifar10(location, progress_callback=lambda fraction: bar.progress(fraction, text="Downloading "
                                                                                       f"CIFAR-10… {fraction:.0%}"))
        except DataError as error:
            st.error(str(error))
            st.stop()
        st.rerun()
    st.stop()


@st.cache_data(show_spinner="Computing per-channel statistics…")
def _channel_statistics(_data: CIFAR10, fingerprint: str, split: str) -> pd.DataFrame:
    return reports.channel_statistics(getattr(_data, split).images)


def channel_statistics(data: CIFAR10, split: str) -> pd.DataFrame:
    """Per-channel mean and standard deviation of a split, computed once per data set (it reads every pixel)."""
    return _channel_statistics(data, data.fingerprint, split)


@st.cache_data(show_spinner=False, max_entries=64)
def augmentation_preview(images: np.ndarray, labels: np.ndarray, params: dict, draws: int,
                         seed: int) -> list[reports.AugmentedDraw]:
    """The augmented draws of a preview, kept so that coming back to a page with the same settings costs nothing."""
    return reports.augmentation_preview(images, labels, params, draws, seed)


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints and run records


@dataclass(frozen=True)
class RunRecords:
    root: Path
    records: dict[str, dict] = field(default_factory=dict)  # model name -> run.json
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


def load_model(name: str) -> LoadedCheckpoint:
    """The model ``name`` from the checkpoints folder, in eval mode on the CPU; CheckpointError says what to run."""
    folder = checkpoint_root() / name
    if not (folder / RECORD_FILE).is_file():
        raise CheckpointError(f"No checkpoint for {name} in {folder.resolve()}. Create it with `{train_command()}`.")
    stamp = (_modified(folder / RECORD_FILE), _modified(folder / WEIGHTS_FILE))
    return _cached_checkpoint(str(folder), stamp)


def no_checkpoints_message(runs: RunRecords) -> None:
    """What to do when no run record was found: where the app looked and the command that creates them."""
    st.warning(f"No trained models found in `{runs.root.resolve()}` (looked for `<model>/{RECORD_FILE}`). "
               f"Train the three models with:")
    st.code(train_command(), language="bash")
    for name, problem in runs.problems.items():
        st.error(f"{name}: {problem}")


def require_records() -> RunRecords:
    """The run records for a page that needs them, or the message on how to create them and a stop."""
    runs = load_records()
    if not runs.records:
        no_checkpoints_message(runs)
        st.stop()
    return runs


# ----------------------------------------------------------------------------------------------------------------
# Choices kept across pages

# The shared choices: the model (a name), the class (a class name) and the image (an index into the test split).
MODEL_CHOICE = "model"
CLASS_CHOICE = "class"
IMAGE_CHOICE = "image"


def widget_key(name: str) -> str:
    """The key of the widget that shows kept choice ``name``."""
    return f"kept_widget_{name}"


def _store(name: str, key: str) -> None:
    st.session_state[name] = st.session_state[key]


def kept(name: str, default: Any, options: Container | None = None) -> dict[str, Any]:
    """Keyword arguments for a widget whose value is kept under ``name`` when the user moves between pages.

    Streamlit drops a widget's keyed value once its page is left, so the value is kept in a copy under ``name`` in
    session state: written into the widget's own key before the widget is drawn, copied back when the user changes
    it. A kept value that ``options`` no longer holds (for a list: any item of it) falls back to ``default``. Use it as
    ``st.sidebar.selectbox("Model", names, **kept(MODEL_CHOICE, names[0], names))`` and pass no ``value``/``index``.
    """
    key = widget_key(name)
    value = st.session_state.get(name, default)
    allowed = (lambda v: v in options) if options is not None else (lambda v: True)
    if not (all(map(allowed, value)) if isinstance(value, list) else allowed(value)):
        value = default
    st.session_state[name] = value
    st.session_state[key] = value
    return {"key": key, "on_change": _store, "args": (name, key)}


def _raise_flag(name: str) -> None:
    st.session_state[name] = True


def on_click_sets(name: str) -> dict[str, Any]:
    """Keyword arguments for a button that sets ``st.session_state[name] = True`` when clicked.

    A button's own value is True for the one script run its click starts, and a page may stop before it reads it;
    a callback runs before that run, so the request is kept until the page takes it. Use it as ``st.button("Go", **on_click_sets(FLAG))``, then
    ``if st.session_state.pop(FLAG, False): ...`` for one-off work.
    """
    return {"on_click": _raise_flag, "args": (name,)}


# ----------------------------------------------------------------------------------------------------------------
# The sidebar note


def sidebar_sources() -> None:
    """Which data copy and which checkpoints this session uses, at the top of the sidebar on every page."""
    try:
        data = load_data()
    except DataError as error:
        data, problem = None, str(error).splitlines()[0]
    else:
        problem = f"none found at `{data_location()}`"
    runs = load_records()
    with st.sidebar.container(border=True):
        if data is not None:
            st.caption(f"**Data** `{data.source}` · fingerprint `{data.fingerprint[:12]}`")
        else:
            st.caption(f"**Data** {problem}")
        if runs.records:
            models = ", ".join(f"{name} ({record.get('device', '?')}, {str(record.get('created', '?'))[:10]})"
                               for name, record in runs.records.items())
            st.caption(f"**Checkpoints** `{runs.root}`: {models}")
        else:
            st.caption(f"**Checkpoints** none in `{runs.root}`")


# ----------------------------------------------------------------------------------------------------------------
# The models and the image the explanation pages work on


@st.cache_resource(show_spinner="Preparing the model for captum…", max_entries=6)
def _explainable_model(_checkpoint: LoadedCheckpoint, folder: str, created: str) -> nn.Module:
    from cifar_models.attribution import explainable_copy  # captum takes seconds to import: only when needed

    return explainable_copy(_checkpoint.model)


def load_explainable_model(name: str) -> nn.Module:
    """``load_model(name)``'s model as captum needs it (eval mode, fresh non-inplace ReLUs), made once per run."""
    checkpoint = load_model(name)
    return _explainable_model(checkpoint, str(checkpoint.directory), str(checkpoint.record.get("created")))


@st.cache_data(show_spinner="Averaging the SE gates over the class's test images…", max_entries=32)
def _class_gates(model_name: str, created: str, fingerprint: str, class_index: int, count: int,
                 _data: CIFAR10) -> dict[str, np.ndarray]:
    images = _data.test.images[_data.test.labels == class_index][:count]
    return {name: gates.mean(0) for name, gates in excitation_gates(load_model(model_name).model, images).items()}


def class_gates(model_name: str, created: str, class_index: int, count: int) -> dict[str, np.ndarray] | None:
    """Mean SE gate per layer and channel over the first ``count`` test images of a class; None without data."""
    data = load_data()
    if data is None:
        return None
    return _class_gates(model_name, created, data.fingerprint, class_index, count, data)


@st.cache_data(show_spinner=False, max_entries=16)
def prepared_upload(content: bytes, name: str) -> PreparedImage:
    return prepare_upload(content, name)  # an UploadError is not cached: the next rerun raises it again


@dataclass(frozen=True)
class ChosenImage:
    pixels: np.ndarray  # (32, 32, 3) uint8: what the models see
    title: str
    label: int | None  # the true class of a test image; None for an upload
    notes: tuple[str, ...] = ()


TEST_IMAGE, UPLOADED_IMAGE = "A test image", "My own image"


def choose_image(page_key: str) -> ChosenImage | None:
    """Sidebar widgets for the image to explain: a test image (the index shared by the pages) or an upload.

    None (with the reason shown) when there is none yet or the upload is refused; the page keeps running.
    """
    try:
        data = load_data()
    except DataError:
        data = None  # the upload still works; the pages that need the data say what is wrong
    sources = [TEST_IMAGE, UPLOADED_IMAGE] if data is not None else [UPLOADED_IMAGE]
    source = st.sidebar.radio("Image", sources, key=f"{page_key}_image_source", horizontal=True)
    if source == TEST_IMAGE:
        index = st.sidebar.number_input(f"Test image # (0–{len(data.test) - 1:,})", min_value=0,
                                         max_value=len(data.test) - 1, step=1,
                                         **kept(IMAGE_CHOICE, 0, range(len(data.test))))
        label = int(data.test.labels[index])
        return ChosenImage(data.test.images[index], f"test image #{index} · {data.classes[label]}", label)
    upload = st.sidebar.file_uploader("PNG, JPEG, WebP or BMP, any size", type=list(UPLOAD_EXTENSIONS),
                                      key=f"{page_key}_upload")
    if upload is None:
        st.info("Upload an image in the sidebar: it is centre-cropped and resized to 32x32, as the models see it.")
        return None
    try:
        prepared = prepared_upload(upload.getvalue(), upload.name)
    except UploadError as error:
        st.error(str(error))
        return None
    return ChosenImage(prepared.pixels, f"{prepared.name} ({prepared.size[0]}x{prepared.size[1]} {prepared.format})",
                       None, prepared.notes)


def show_chosen_image(chosen: ChosenImage, scale: int):
    """The chosen image enlarged, with what was done to an upload beside it; returns that column for more facts."""
    picture, facts = st.columns([1, 3])
    picture.image(reports.enlarge(chosen.pixels, scale), caption=chosen.title, width=scale * 32)
    for note in chosen.notes:
        facts.caption(note)
    return facts
