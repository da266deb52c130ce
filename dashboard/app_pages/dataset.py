"""Dataset: a page of samples per class and split, one image enlarged, class counts, channel statistics, split sizes."""
import altair as alt
import streamlit as st

from cifar_models.normalization import MEAN, STD
from cifar_models.images import enlarge
from dashboard import sources, state, widgets
from dashboard.views import dataset
from dashboard.views.charts import fixed_width, nominal_axis

PER_PAGE = 40
GRID_SCALE = 3  # 32 px images drawn at 96 px
ENLARGED_SCALE = 10
ALL_CLASSES = "all classes"
SPLIT_COLOURS = ("#4c78a8", "#f58518", "#54a24b")  # train, validation, test

st.title("Dataset")
data = widgets.require_data()
splits = list(dataset.SPLIT_TITLES)


def next_seed() -> None:
    st.session_state["dataset_seed"] = st.session_state.get("dataset_seed", 0) + 1


with st.sidebar:
    split_name = st.selectbox("Split", splits, format_func=dataset.SPLIT_TITLES.get,
                              **state.kept("dataset_split", "train", splits))
    class_options = [ALL_CLASSES, *data.classes]
    class_name = st.selectbox("Class", class_options, **state.kept(state.CLASS_CHOICE, ALL_CLASSES, class_options))
    seed = st.number_input("Shuffle seed", min_value=0, step=1, **state.kept("dataset_seed", 0))
    st.button("Reshuffle", on_click=next_seed, help="Draw the next seed's order")
    split = getattr(data, split_name)
    order = dataset.sample_order(split.labels, None if class_name == ALL_CLASSES else data.classes.index(class_name),
                                 int(seed))
    pages = dataset.page_count(len(order), PER_PAGE)
    page = st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1,
                           **state.kept("dataset_page", 1, range(1, pages + 1)))
    shown = dataset.page_of(order, int(page), PER_PAGE)
    # the test split's image is the one the model pages explain, so it is shared with them
    image_key = state.IMAGE_CHOICE if split_name == "test" else f"dataset_image_{split_name}"
    chosen = st.number_input(f"Enlarge image # (0–{len(split) - 1:,})", min_value=0, max_value=len(split) - 1,
                             step=1, help="The index under each image of the grid",
                             **state.kept(image_key, int(shown[0]) if len(shown) else 0, range(len(split))))

sizes = dataset.split_sizes(data)
for column, (title, size) in zip(st.columns(len(sizes)), sizes.items()):
    column.metric(f"{title.capitalize()} images", f"{size:,}")
st.caption(f"The {sizes['validation']:,} validation images are held out of the original training set, "
           "stratified by class and seeded, so the split is the same on every machine.")

st.subheader(f"{class_name.capitalize()} · {dataset.SPLIT_TITLES[split_name]} split")
st.caption(f"{len(order):,} images in the order of seed {seed}; page {page} of {pages:,}. Under each: index · label; "
           "**Enlarge** shows it enlarged (and below, framed in the grid).")


ENLARGE_REQUESTED = "dataset_enlarge_requested"


def enlarge_image(index: int) -> None:
    st.session_state[image_key] = index
    st.session_state[ENLARGE_REQUESTED] = True


def show_enlarged(index: int) -> None:
    """The image drawn ENLARGED_SCALE times, its index and label beside it (under it where the page is narrow)."""
    enlarged = st.container(horizontal=True, gap="medium")  # the facts wrap under, never over, the image
    picture, facts = enlarged.container(width="content"), enlarged.container(width=widgets.FACTS_WIDTH)
    picture.image(enlarge(split.images[index], ENLARGED_SCALE), output_format="PNG", width=32 * ENLARGED_SCALE)
    facts.markdown(f"**Index** {index} in the {dataset.SPLIT_TITLES[split_name]} split  \n"
                   f"**Label** {data.classes[split.labels[index]]}  \n"
                   f"**Size** 32 × 32 pixels, drawn {ENLARGED_SCALE}× without smoothing")


# where the reader is looking: over the grid, not 600 px under the window
enlarged_dialog = st.dialog("Enlarged", width="medium")(show_enlarged)
widgets.picture_grid([enlarge(split.images[i], GRID_SCALE) for i in shown],
                     [f"#{i} · {data.classes[split.labels[i]]}" for i in shown], [int(i) for i in shown],
                     width=32 * GRID_SCALE, action="Enlarge", on_pick=enlarge_image, key=f"dataset_grid_{split_name}",
                     chosen=int(chosen))
if st.session_state.pop(ENLARGE_REQUESTED, False):
    enlarged_dialog(int(chosen))

st.subheader("Enlarged")
show_enlarged(int(chosen))

st.subheader("Images per class")
counts = dataset.class_distribution(data)
# one chart per split (each on its own count scale), in a row that wraps at the page's width
split_charts = st.container(horizontal=True)
for colour, title in zip(SPLIT_COLOURS, dataset.SPLIT_TITLES.values()):
    split_charts.altair_chart(fixed_width(alt.Chart(counts[counts["split"] == title]).mark_bar(color=colour).encode(
        x=alt.X("class:N", sort=list(data.classes), title=None, axis=nominal_axis()),
        y=alt.Y("count:Q", title="images"),
        tooltip=["split", "class", alt.Tooltip("count:Q", format=",")],
    ).properties(title=title, height=200), 200), width="content")

st.subheader("Per-channel mean and standard deviation")
statistics = sources.channel_statistics(data, split_name)
statistics["model input mean"] = MEAN
statistics["model input std"] = STD
st.dataframe(statistics, column_config={name: st.column_config.NumberColumn(format="%.4f") for name in statistics})
st.caption(f"Pixel values on the [0, 1] scale over the {len(split):,} images of the {dataset.SPLIT_TITLES[split_name]} "
           "split, beside the constants every model's input is normalised with (the original CIFAR-10 training "
           "set's statistics).")
