"""Augmentation: training images beside several draws of the training pipeline, and the recipe they amount to."""
import json

import streamlit as st

import numpy as np

from cifar_models.images import enlarge
from cifar_models.models import MODELS
from dashboard import sources, state, widgets
from dashboard.state import UPLOAD_CHOICE
from dashboard.settings import TRAIN_SCRIPT
from dashboard.views import augmentation
from dashboard.views.common import number_word

SCALE = 8  # 32 px images sent at 256 px, each pixel a crisp square, then fitted to their column (never overlapping)
RANDOM_BATCH = "Seeded random batch"
BY_INDEX = "By index"

st.title("Augmentation")
data = widgets.require_data()
split = data.train


def own_image_ui(where, classes: tuple[str, ...]) -> tuple | None:
    """The reader's own image for the preview (the one kept across pages; on at once where one was uploaded before):
    (pixels, the class it is given, its name), or None."""
    toggle_column, upload_column, class_column = where.columns([3, 4, 2])
    if not toggle_column.toggle(widgets.UPLOADED_IMAGE, help="Preview the augmentations on an image of yours too: the "
                                "one uploaded on another page, or one uploaded here (PNG, JPEG, WebP or BMP; "
                                "centre-cropped and resized to 32x32, as the models see it)",
                                **state.kept("augment_own_image", UPLOAD_CHOICE in st.session_state)):
        return None
    with upload_column:
        mine = widgets.uploaded_image("augmentation", st)
    own_class = class_column.selectbox("Its class", classes, help="The label MixUp and CutMix mix for it",
                                       **state.kept("augment_own_class", classes[0], classes))
    return None if mine is None else (mine.pixels, classes.index(own_class), mine.title)


def reseed() -> None:
    st.session_state["augment_draw_seed"] = st.session_state.get("augment_draw_seed", 0) + 1


# The controls sit above the previews (in the sidebar, Reseed was off-screen at 900 px): images, augmentations, draws.
controls = st.expander("Images, augmentations and draws", expanded=True, icon=":material/tune:")
images_column, geometry_column, colour_column, mixing_column = controls.columns(4)
GROUP_COLUMNS = {"geometry": geometry_column, "colour": colour_column, "mixing": mixing_column}  # by field metadata
with images_column:
    st.markdown("**Images** (training split)")
    source = st.radio("Choose", [RANDOM_BATCH, BY_INDEX], horizontal=True,
                      **state.kept("augment_source", RANDOM_BATCH, [RANDOM_BATCH, BY_INDEX]))
    if source == RANDOM_BATCH:
        count = st.slider("Images", min_value=2, max_value=8, **state.kept("augment_count", 4))
        batch_seed = st.number_input("Batch seed", min_value=0, step=1, **state.kept("augment_batch_seed", 0))
        indices = augmentation.random_batch(len(split), count, int(batch_seed))
    else:
        typed = st.text_input(f"Indices (0–{len(split) - 1:,})", **state.kept("augment_indices", "0, 1, 2, 3"))
        try:
            indices = augmentation.parse_indices(typed, len(split))
        except ValueError as error:
            st.error(str(error))
            st.stop()
rows = augmentation.preview_images(split.images, split.labels, indices, data.classes,
                                   own_image_ui(controls, data.classes))

params = {}
for parameter in augmentation.parameters():
    name, spec = parameter.name, parameter.spec
    with GROUP_COLUMNS[spec.group]:
        if spec.choices:
            choices = list(spec.choices)
            params[name] = st.selectbox(spec.label, choices, help=spec.help,
                                        **state.kept(f"augment_{name}", augmentation.default_augmentation()[name],
                                                     choices))
            continue
        slider = augmentation.slider_spec(name)
        params[name] = st.slider(spec.label, min_value=slider["min_value"], max_value=slider["max_value"],
                                 step=slider["step"], help=slider["help"],
                                 **state.kept(f"augment_{name}", slider["default"]))

with mixing_column:
    draws = st.slider("Augmented draws per image", min_value=1, max_value=5, **state.kept("augment_draws", 3))
    draw_seed = st.number_input("Draw seed", min_value=0, step=1, **state.kept("augment_draw_seed", 0))
    st.button("Reseed", on_click=reseed, help="Draw new random values (the next seed)")

st.caption("Each row: a training image, then independent draws of `cifar_models.augment.AugmentPipeline` — the code "
           "training runs — with the values each draw took. MixUp/CutMix pair an image with another of this batch "
           "(numbered from 0).")
previews = sources.augmentation_preview(np.stack([row.pixels for row in rows]), np.array([row.label for row in rows]),
                                        params, int(draws), int(draw_seed))
for column, header in zip(st.columns(1 + len(previews)),
                          ["Original", *(f"Draw {number}" for number in range(1, len(previews) + 1))]):
    column.markdown(f"**{header}**")
for number, row in enumerate(rows):
    columns = st.columns(1 + len(previews))
    columns[0].image(enlarge(row.pixels, SCALE), output_format="PNG", width="stretch", caption=row.caption)
    for column, preview in zip(columns[1:], previews):
        column.image(enlarge(preview.images[number], SCALE), output_format="PNG", width="stretch",
                     caption=preview.captions[number])

st.subheader("The recipe training would use")
recipe_text = json.dumps(augmentation.training_recipe(params), indent=2)
st.code(recipe_text, language="json")
st.download_button("Download recipe.json", recipe_text, file_name="recipe.json", mime="application/json",
                   icon=":material/download:")
st.caption(f"Train the {number_word(len(MODELS))} models with exactly these settings: "
           f"`{TRAIN_SCRIPT} --recipe recipe.json`.")
