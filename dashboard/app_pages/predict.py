"""Predict: the user's own image through the three models (what they see, their top-5), and a gallery of the test
images each model gets wrong, filtered by true and predicted class."""
import altair as alt
import streamlit as st

from cifar_models import explain
from cifar_models.evaluation import predict_proba
from cifar_models.precision import SINGLE_IMAGE_PRECISION
from cifar_models.images import enlarge
from cifar_models.models import model_colour, model_title
from cifar_models.uploads import MAX_PIXELS, UPLOAD_EXTENSIONS, UploadError
from dashboard import settings, sources, state, widgets
from dashboard.views import dataset, gallery
from dashboard.views.charts import fixed_width, nominal_axis
from dashboard.views.common import ordered, provenance

SEEN_SCALE = 8
TOP_ROW_PIXELS = 36  # per class of the top-5 charts
TOP_FIVE_WIDTH = 280
CLASS_LABEL_PIXELS = 70  # 'automobile' at 11 px
GALLERY_SCALE = 3
GALLERY_PER_PAGE = 24
ANY_CLASS = "any class"

# A gallery image's Explain was clicked (its callback ran before this run): go to Attribution at once, without drawing
# this page again first (that cost the reader 0.3-0.5 s on a 2-core CPU with one core busy).
widgets.follow_attribution_request()
st.title("Predict")
runs = widgets.require_records()
names = list(ordered(runs.records))
classes = runs.records[names[0]].classes

with st.sidebar:
    upload = st.file_uploader("Your image: PNG, JPEG, WebP or BMP, any size", type=list(UPLOAD_EXTENSIONS),
                              key="predict_upload",
                              help=f"Centre-cropped to a square and resized to 32x32; at most {MAX_PIXELS:,} pixels.")
    st.divider()
    gallery_model = st.selectbox("Gallery: model", names, format_func=model_title,
                                 **state.kept(state.MODEL_CHOICE, names[0], names))
    true_choice = st.selectbox("True class", [ANY_CLASS, *classes])
    predicted_choice = st.selectbox("Predicted class", [ANY_CLASS, *classes])
    gallery_order = st.radio("Order", gallery.ORDERS, help="By the model's confidence in its wrong answer",
                             **state.kept("predict_gallery_order", gallery.MOST_CONFIDENT, gallery.ORDERS))

st.subheader("Your image")
if upload is None:
    st.info("Upload an image in the sidebar to see what the models make of it.")
else:
    try:
        prepared = sources.prepared_upload(upload.getvalue(), upload.name)
    except UploadError as error:
        st.error(str(error))
        prepared = None
    if prepared is not None:
        seen_and_facts = st.container(horizontal=True, gap="medium")  # the facts wrap under, never over, the image
        seen, facts = seen_and_facts.container(width="content"), seen_and_facts.container(width=widgets.FACTS_WIDTH)
        seen.image(enlarge(prepared.pixels, SEEN_SCALE), caption="What the models see (32x32)",
                   output_format="PNG", width=SEEN_SCALE * 32)
        left, top, right, bottom = prepared.crop_box
        facts.markdown(f"**{prepared.name}** · {prepared.format} · {prepared.size[0]}x{prepared.size[1]} · mode "
                       f"{prepared.mode}  \nCentre square ({left}, {top}) to ({right}, {bottom}), resized to 32x32.")
        for note in prepared.notes:
            facts.caption(note)
        probabilities = {name: predict_proba(checkpoint.model, prepared.pixels[None],
                                             precision=SINGLE_IMAGE_PRECISION)[0]
                         for name, checkpoint in widgets.load_models(names).items()}
        top = explain.class_probability_table(probabilities, classes, top=5)
        top_fives = st.container(horizontal=True, gap="medium")  # wrap rather than squeeze on a laptop
        for name in probabilities:
            column = top_fives.container(width=TOP_FIVE_WIDTH)
            rows = top[top["model"] == name]
            column.markdown(f"**{model_title(name)}**: {rows['class'].iloc[0]}")
            bars = alt.Chart(rows).encode(
                # the same room for the class names on every chart, so the three probability axes line up
                y=alt.Y("class:N", sort=rows["class"].tolist(), title=None,
                        axis=nominal_axis(minExtent=CLASS_LABEL_PIXELS, maxExtent=CLASS_LABEL_PIXELS)),
                x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
                tooltip=["rank", "class", alt.Tooltip("probability:Q", format=".1%")])
            # every one of the 5 classes gets a row tall enough for its label, and each bar its value
            chart = (bars.mark_bar(color=model_colour(name))
                     + bars.mark_text(align="left", dx=3).encode(text=alt.Text("probability:Q", format=".0%")))
            column.altair_chart(fixed_width(chart.properties(height=TOP_ROW_PIXELS * len(rows)),
                                            TOP_FIVE_WIDTH - CLASS_LABEL_PIXELS - 40), width="content")

st.subheader(f"Test images {model_title(gallery_model)} gets wrong")
st.caption(f"{model_title(gallery_model)}: {provenance(runs.records[gallery_model])}")
data, data_problem = widgets.available_data()
record_test = runs.records[gallery_model].test
predictions = record_test.predictions
if data is None:
    st.warning(f"The gallery needs the test images. Data {data_problem}".replace("\n", "  \n"))
elif runs.records[gallery_model].data_fingerprint != data.fingerprint:
    st.warning(f"{model_title(gallery_model)} was evaluated on another copy of CIFAR-10 than the one loaded "
               f"(`{data.source}`), whose test images may be in another order: the gallery would show the wrong "
               "images. Start the dashboard with the data the model was trained on.")
elif not predictions:
    st.warning(f"The run record of {model_title(gallery_model)} keeps no test predictions; retrain it with "
               f"`{settings.train_command()} --models {gallery_model}`.")
else:
    true_class = None if true_choice == ANY_CLASS else classes.index(true_choice)
    predicted_class = None if predicted_choice == ANY_CLASS else classes.index(predicted_choice)
    wrong = explain.misclassified(predictions, data.test.labels, true_class, predicted_class)
    confidence = record_test.confidence or [None] * len(predictions)
    wrong = gallery.gallery_order(wrong, confidence, gallery_order)
    pages = dataset.page_count(len(wrong), GALLERY_PER_PAGE)
    page = st.sidebar.number_input(f"Gallery page (of {pages:,})", min_value=1, max_value=pages, step=1,
                                   **state.kept("predict_gallery_page", 1, range(1, pages + 1)))
    st.caption(f"{len(wrong):,} of the {len(predictions):,} test images the run evaluated, {gallery_order}; page "
               f"{page} of {pages:,}. Under each: index · true → predicted (confidence); **Explain** opens it on "
               "the Attribution page.")
    if len(wrong):
        shown = [int(i) for i in dataset.page_of(wrong, int(page), GALLERY_PER_PAGE)]
        widgets.picture_grid([enlarge(data.test.images[i], GALLERY_SCALE) for i in shown],
                             [f"#{i} · {classes[data.test.labels[i]]} → {classes[predictions[i]]}"
                              + (f" ({confidence[i]:.0%})" if confidence[i] is not None else "") for i in shown],
                             shown, width=GALLERY_SCALE * 32, action="Explain", on_pick=widgets.open_in_attribution,
                             key="predict_gallery")
    else:
        st.success("No mistakes with these filters.")
