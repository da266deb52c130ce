"""The pieces several pages draw: what is loaded (the sidebar note), what to do when there is no data or no
checkpoint, and the image the explanation pages work on (a test image or an upload)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import streamlit as st

from cifar_models.checkpoint import RECORD_FILE, CheckpointError
from cifar_models.data import CIFAR10, DataError, download_cifar10, missing_data_message
from cifar_models.images import enlarge
from cifar_models.models import MODELS, model_title
from cifar_models.uploads import UPLOAD_EXTENSIONS, UploadError
from cifar_models.statistics import SIGNIFICANCE
from cifar_models.verdict import Verdict
from dashboard import sources
from dashboard.settings import (CHECKPOINTS_ENV, DOWNLOAD_COMMAND, data_advice, data_argument, data_location,
                                retrain_advice, train_command)
from dashboard.state import IMAGE_CHOICE, IMAGE_SOURCE_CHOICE, UPLOAD_CHOICE, kept
from dashboard.views import evidence
from dashboard.views.charts import forest_plot
from dashboard.views.common import number_word, ordered, provenance

# ----------------------------------------------------------------------------------------------------------------
# Data


def available_data() -> tuple[CIFAR10 | None, str]:
    """(the data set, '') or (None, why there is none: not found, or the damage the loader found), never raising.

    For the pages that work without data and only need it for a part of them.
    """
    try:
        data = sources.load_data()
    except DataError as error:
        return None, f"{error}{data_advice(error)}"
    return data, "" if data is not None else f"none found at `{data_location()}`"


def require_data() -> CIFAR10:
    """The data set, or (where there is none) a message saying where it looked, an offer to download it, and a stop."""
    try:
        data = sources.load_data()
    except DataError as error:
        st.error(f"{error}{data_advice(error)}")
        st.stop()
    if data is not None:
        return data
    st.warning(missing_data_message(data_argument()).replace("\n", "  \n"))
    location = data_location()
    if location.name.endswith((".tar.gz", ".tgz", ".tar")):
        st.info("Point `--data` or `$CIFAR10_DATA` at an existing archive, or at a folder to download into.")
        st.stop()
    st.markdown(f"Or download the original CIFAR-10 (163 MB, torchvision's copy) into `{location.resolve()}` now; "
                f"the same as `{DOWNLOAD_COMMAND}`.")
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


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints


def no_checkpoints_message(runs: sources.RunRecords) -> None:
    """What to do when no run record was found: where the app looked and the command that creates them."""
    if runs.root.is_file():  # the train command's --out would be refused too: only the setting can fix it
        st.warning(f"The checkpoints folder `{runs.root.resolve()}` (`${CHECKPOINTS_ENV}`, else `checkpoints/`) is a "
                   f"file, not a folder. Point `${CHECKPOINTS_ENV}` at the folder that holds `<model>/{RECORD_FILE}`, "
                   "or unset it to use `checkpoints/`.")
        return
    st.warning(f"No trained models found in `{runs.root.resolve()}` (looked for `<model>/{RECORD_FILE}`). "
               f"Train the {number_word(len(MODELS))} models with:")
    st.code(train_command(), language="bash")
    record_problems(runs)


def load_models(names: list[str], loader: Callable[[str], Any] = sources.load_model, *,
                stop_if_none: bool = True) -> dict[str, Any]:
    """``loader(name)`` for each model that loads; each one that does not is named with the reason, and the page
    goes on with the others (a stop when none loads, unless the page has more to show without them)."""
    loaded = {}
    for name in names:
        try:
            loaded[name] = loader(name)
        except CheckpointError as error:
            st.error(f"{model_title(name)} is left out: {error}")
    if not loaded and stop_if_none:
        st.stop()
    return loaded


def record_problems(runs: sources.RunRecords) -> None:
    """Each run record that could not be read, with the reason; each one of a model this code does not know, named
    as such with its folder (its record is shown, but nothing that needs its weights)."""
    for name, problem in runs.problems.items():
        st.error(f"{model_title(name)}: {problem} {retrain_advice(name)}")
    for name in runs.records:
        if name not in MODELS:
            st.warning(f"unknown model {name!r} in `{runs.root / name}`: this code builds only {', '.join(MODELS)}, "
                       "so its run record is shown but the pages that need its weights leave it out.")


def require_records() -> sources.RunRecords:
    """The run records for a page that needs them, or the message on how to create them and a stop."""
    runs = sources.load_records()
    if not runs.records:
        no_checkpoints_message(runs)
        st.stop()
    return runs


# ----------------------------------------------------------------------------------------------------------------
# The sidebar note


def sidebar_sources() -> None:
    """Which data copy and which checkpoints this session uses, at the top of the sidebar on every page."""
    data, problem = available_data()
    runs = sources.load_records()
    with st.sidebar.container(border=True):
        if data is not None:
            st.caption(f"**Data** `{data.source}` · fingerprint `{data.fingerprint[:12]}`")
        else:
            st.caption(f"**Data** {problem.splitlines()[0]}")
        if runs.records:
            models = "; ".join(f"{model_title(name)} ({provenance(record)}, {record.created[:10]})"
                               for name, record in ordered(runs.records).items())
            st.caption(f"**Checkpoints** `{runs.root}`: {models}")
        else:
            st.caption(f"**Checkpoints** none: `{runs.root}` is a file, not a folder" if runs.root.is_file()
                       else f"**Checkpoints** none in `{runs.root}`")


# ----------------------------------------------------------------------------------------------------------------
# The image the explanation pages work on


@dataclass(frozen=True)
class ChosenImage:
    pixels: np.ndarray  # (32, 32, 3) uint8: what the models see
    title: str
    label: int | None  # the true class of a test image; None for an upload
    notes: tuple[str, ...] = ()


TEST_IMAGE, UPLOADED_IMAGE = "A test image", "My own image"


def choose_image(page_key: str) -> ChosenImage | None:
    """Sidebar widgets for the image to explain: a test image (the index shared by the pages) or an upload (kept
    for the other pages: an image uploaded on Feature maps is the one Attribution explains).

    None (with the reason shown) when there is none yet or the upload is refused; the page keeps running.
    """
    data, _ = available_data()  # without data the upload still works; the data pages say what is wrong
    sources_offered = [TEST_IMAGE, UPLOADED_IMAGE] if data is not None else [UPLOADED_IMAGE]
    source = st.sidebar.radio("Image", sources_offered, horizontal=True,
                              **kept(IMAGE_SOURCE_CHOICE, sources_offered[0], sources_offered))
    if source == TEST_IMAGE:
        index = st.sidebar.number_input(f"Test image # (0–{len(data.test) - 1:,})", min_value=0,
                                         max_value=len(data.test) - 1, step=1,
                                         **kept(IMAGE_CHOICE, 0, range(len(data.test))))
        label = int(data.test.labels[index])
        return ChosenImage(data.test.images[index], f"test image #{index} · {data.classes[label]}", label)
    chosen = uploaded_image(page_key, st.sidebar)
    if chosen is None and UPLOAD_CHOICE not in st.session_state:
        st.info("Upload an image in the sidebar: it is centre-cropped and resized to 32x32, as the models see it.")
    return chosen


def uploaded_image(page_key: str, where) -> ChosenImage | None:
    """A file uploader in ``where`` (the sidebar, a column) and the reader's own image it keeps for every page: the
    upload of any page until another replaces it. None when there is none yet, or it is refused (the reason shown)."""
    upload = where.file_uploader("PNG, JPEG, WebP or BMP, any size", type=list(UPLOAD_EXTENSIONS),
                                 key=f"{page_key}_upload")
    if upload is not None:
        st.session_state[UPLOAD_CHOICE] = (upload.name, upload.getvalue())
    kept_upload = st.session_state.get(UPLOAD_CHOICE)
    if kept_upload is None:
        return None
    name, content = kept_upload
    if upload is None:
        where.caption(f"Showing **{name}**, uploaded on another page; upload another to replace it.")
    try:
        prepared = sources.prepared_upload(content, name)
    except UploadError as error:
        st.error(str(error))
        return None
    return ChosenImage(prepared.pixels, f"{prepared.name} ({prepared.size[0]}x{prepared.size[1]} {prepared.format})",
                       None, prepared.notes)


ATTRIBUTION_REQUESTED = "open_attribution_requested"
ATTRIBUTION_PAGE = "app_pages/attribution.py"
EXPLAIN_REQUESTED = "attribution_explain_requested"  # the Attribution page explains its image in its next run


def open_in_attribution(index: int) -> None:
    """A callback: make test image ``index`` the one the explanation pages show, and ask to move to Attribution (the
    page calls :func:`follow_attribution_request` first thing; a callback cannot switch pages), where it is explained
    at once: the user asked for that with the click, and a second click there would only repeat it."""
    st.session_state[IMAGE_CHOICE] = index
    st.session_state[IMAGE_SOURCE_CHOICE] = TEST_IMAGE
    st.session_state[ATTRIBUTION_REQUESTED] = True
    st.session_state[EXPLAIN_REQUESTED] = True


def follow_attribution_request() -> None:
    """Moves to the Attribution page when :func:`open_in_attribution` asked for it in this run."""
    if st.session_state.pop(ATTRIBUTION_REQUESTED, False):
        st.switch_page(ATTRIBUTION_PAGE)


CHOSEN_FRAME = 8  # px of a bordered container's padding each side


def picture_grid(pictures: list[np.ndarray], captions: list[str], ids: list[int], *, width: int, action: str,
                 on_pick: Callable[[int], None], key: str, chosen: int | None = None) -> None:
    """Pictures in rows that wrap at the page's width, each with a small button under it calling ``on_pick(id)``;
    the ``chosen`` one framed."""
    with st.container(horizontal=True, gap="small"):
        for picture, caption, ident in zip(pictures, captions, ids):
            with st.container(width=width + 16 + 2 * CHOSEN_FRAME * (ident == chosen), gap=None,
                              border=ident == chosen):
                st.image(picture, caption=caption, output_format="PNG", width=width)
                st.button(action, key=f"{key}_{ident}", on_click=on_pick, args=(ident,), type="tertiary",
                          help=f"{action}: #{ident}")


FACTS_WIDTH = 360  # beside the image where the page is wide enough, else under it (never over it)


def show_chosen_image(chosen: ChosenImage, scale: int):
    """The chosen image enlarged, with what was done to an upload beside it; returns that column for more facts."""
    with st.container(horizontal=True, gap="medium"):
        st.image(enlarge(chosen.pixels, scale), caption=chosen.title, output_format="PNG", width=scale * 32)
        facts = st.container(width=FACTS_WIDTH)
    for note in chosen.notes:
        facts.caption(note)
    return facts


def verdict_picture(verdict: Verdict, width: int) -> None:
    """The verdict as a forest plot: each rival's lead with its 95% interval over the band that is no lead by far;
    nothing where the pairs could not be tested (the verdict's sentence says why)."""
    rows = evidence.forest_rows(verdict)
    if rows.empty:
        return
    st.altair_chart(forest_plot(rows, 100 * verdict.min_lead, width=width), width="content")
    st.caption(f"Each line: {model_title(verdict.question)}'s lead over a rival in accuracy points, with its 95% "
               "interval (paired bootstrap over the test images); a filled dot is significant (McNemar, "
               f"Holm-corrected p < {SIGNIFICANCE:g}); the shaded band, within ±{100 * verdict.min_lead:g} points, "
               "is no lead by far; the dashed line is no difference.")
