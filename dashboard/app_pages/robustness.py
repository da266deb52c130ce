"""Robustness: the CIFAR-10-C corruptions on the same test images with each model's prediction, and each model's
accuracy per corruption x severity from ``evaluate.py --robustness``."""
import altair as alt
import streamlit as st

from cifar_models.corruptions import CORRUPTION_NAMES, CORRUPTIONS, SEVERITIES
from cifar_models.images import enlarge
from cifar_models.models import model_title
from dashboard import sources, state, widgets
from dashboard.views import robustness
from dashboard.views.charts import CATEGORY_STEP, labelled_heatmap, nominal_axis, titled_index
from dashboard.views.common import format_percent, ordered, written

SCALE = 3  # 32x32 shown at 96x96

st.title("Robustness")
st.caption("The 15 common corruptions of CIFAR-10-C (Hendrycks & Dietterich, ICLR 2019) at 5 severities, with the "
           "CIFAR parameters of the paper's code, generated from our test split.")
runs = widgets.require_records()
names = list(ordered(runs.records))

with st.sidebar:
    corruption = st.selectbox("Corruption", CORRUPTION_NAMES, format_func=robustness.corruption_label,
                              **state.kept("robustness_corruption", CORRUPTION_NAMES[0], CORRUPTION_NAMES))
    severity = st.slider("Severity", min_value=SEVERITIES[0], max_value=SEVERITIES[-1],
                         **state.kept("robustness_severity", 3, SEVERITIES))
    draw = st.number_input("Image draw", min_value=0, max_value=9_999, step=1,
                           help="Which test image of each class is shown (a seed)",
                           **state.kept("robustness_draw", 0))

st.subheader(f"{CORRUPTIONS[corruption].title}, severity {severity}: the same test images, degraded")
data, problem = widgets.available_data()
if data is None:
    st.info(f"The degraded examples need the data set: {problem}.")
else:
    indices = robustness.example_indices(data.test.labels, draw)
    clean = data.test.images[indices]
    degraded = sources.degraded_images(clean, corruption, severity)
    # each original above its degraded version, the pairs in a row that wraps: never a pair split across rows
    with st.container(horizontal=True, gap="small"):
        for number, (index, original, worse) in enumerate(zip(indices, clean, degraded), start=1):
            st.image([enlarge(original, SCALE), enlarge(worse, SCALE)], output_format="PNG", width=32 * SCALE,
                     caption=[f"#{index}", f"image {number}, degraded"])
    # a model whose checkpoint does not load is left out with the reason; the results below do not need it
    loaded = widgets.load_models(names, stop_if_none=False)
    predicted = {name: sources.predicted_classes(name, degraded) for name in loaded}
    # one row per image, one column per model: ten rows fit any width, ten columns did not
    st.table(robustness.prediction_table(predicted, data.test.labels[indices]).T.rename(columns=model_title))

st.subheader("Accuracy per corruption and severity")
results = sources.load_robustness(names)
missing = robustness.missing_results(names, results)
if missing:
    st.info(f"No current robustness result for {', '.join(map(model_title, missing))} (never measured, or measured on other "
            f"weights). Compute it with:")
    st.code(f"{robustness.ROBUSTNESS_COMMAND} --checkpoints {runs.root}", language="bash")
grid = robustness.accuracy_grid(results)
if grid.empty:
    st.stop()
st.markdown(robustness.robustness_ranking(results))
st.table(written(titled_index(robustness.summary_table(results)),
                 {column: format_percent for column in ("clean accuracy", "mean corruption accuracy",
                                                        robustness.MCE_COLUMN)}))
st.caption("Clean accuracy: on the same subset, uncorrupted. Mean corruption accuracy: over the 75 corruption x "
           "severity cells. mCE: errors summed over severities relative to Plain CNN's, averaged over the "
           "corruptions (ImageNet-C's mCE with Plain CNN in AlexNet's place); lower is more robust.")
corruption_order = [robustness.corruption_label(name) for name in CORRUPTION_NAMES]
measured = [name for name in names if results.get(name)]
grids = st.container(horizontal=True)  # side by side where they fit, else one under the other: never squeezed
for name in measured:
    cells = alt.Chart(grid[grid["model"] == name]).encode(
        x=alt.X("severity:O", title="severity", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("corruption:N", sort=corruption_order, title=None, axis=nominal_axis()),  # all 15, whole
        tooltip=["corruption", "severity", alt.Tooltip("accuracy:Q", format=".1%")])
    grids.altair_chart(labelled_heatmap(cells, "accuracy", alt.Text("accuracy:Q", format=".0%"), font_size=9)
                        .properties(title=model_title(name), width=alt.Step(28), height=alt.Step(CATEGORY_STEP)),
                        width="content")
