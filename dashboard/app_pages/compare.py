"""Compare: the three runs side by side, from their run records, and the verdict on SENet."""
import altair as alt
import streamlit as st

from cifar_models.models import model_title
from dashboard import sources, state, widgets
from dashboard.settings import checkpoint_root
from dashboard.views import compare, evidence, live
from dashboard.views.charts import (fixed_width, labelled_heatmap, learning_curve_chart, model_colours, titled,
                                    titled_index)
from dashboard.views.common import ordered, provenance

LIVE_REFRESH_SECONDS = 5
PANEL_WIDTH = 300  # a chart's plotting width: two side by side at 1280 px, one under the other at 1024

st.title("Compare")


@st.fragment(run_every=LIVE_REFRESH_SECONDS)
def training_now() -> None:
    """The run writing into the checkpoints folder now: its curves so far, refreshed on their own (not the page)."""
    run = live.read_live_run(checkpoint_root())
    if run.holder is None:
        interrupted_ui(run)
        return
    st.subheader("Training now")
    st.caption(f"{run.holder} is writing into `{run.folder}`; this part refreshes every {LIVE_REFRESH_SECONDS} s.")
    for name, model in run.models.items():
        st.progress(model.fraction_done, text=f"{model_title(name)}: {live.status_line(model)}")
    so_far = {name: model.history for name, model in run.models.items() if model.history}
    if not so_far:
        st.caption("The first epoch is under way: its curves appear when it ends.")
        return
    curves = compare.learning_curves(so_far, 0.0)  # unsmoothed: the raw values as they come
    chart = learning_curve_chart(curves, "accuracy", list(so_far)).properties(title="Accuracy per epoch, so far")
    st.altair_chart(fixed_width(chart, 2 * PANEL_WIDTH), width="content")


def interrupted_ui(run: live.LiveRun) -> None:
    """A run that ended part-way (no process holds the folder): what it kept and the command that resumes it."""
    for name, model in run.interrupted.items():
        st.warning(f"{model_title(name)}: {live.status_line(model)}")
        if model.resume_command:
            st.code(model.resume_command, language="bash")


training_now()
runs = widgets.require_records()
records = ordered(runs.records)
names = list(records)
MODEL_COLOR = model_colours(names)  # each model in its registered title and colour on every chart
titles = [model_title(name) for name in names]

with st.sidebar:
    chosen = st.multiselect("Models", names, format_func=model_title,
                            **state.kept("compare_models", names, names))
    smoothing = st.slider("Curve smoothing", min_value=0.0, max_value=0.99, step=0.01,
                          help="TensorBoard's debiased exponential moving average; the raw curve stays visible, "
                               "faint.", **state.kept("compare_smoothing", 0.6))
    differences_only = st.toggle("Recipes: differences only", **state.kept("compare_differences", False))

seeds = sources.load_seed_records()
data, data_problem = widgets.available_data()
verdict = sources.verdict(data)  # the one verdict: Home gives its sentence, train_all.py prints it
st.subheader(f"Is {model_title(verdict.question)} the best by far?")
getattr(st, evidence.ANSWER_BOX[verdict.answer])(f"**{verdict.sentence}**")
st.markdown(verdict.details)
for message in [*verdict.left_out, *evidence.unread_seeds({folder: problem for folder, problem in seeds.problems.items()
                                                           if folder.parent != runs.root})]:
    st.warning(message)
widgets.record_problems(runs)
if not chosen:
    st.info("Choose at least one model in the sidebar.")
    st.stop()
shown = {name: records[name] for name in chosen}
st.markdown("**How each was made**  \n" + "  \n".join(f"{model_title(name)}: {provenance(record)}"
                                                       for name, record in shown.items()))


st.subheader("Learning curves")
curves = compare.learning_curves({name: record.history for name, record in shown.items()}, smoothing)
# Charts of a fixed width in rows that wrap: side by side where the page is wide, one under the other on a laptop.
with st.container(horizontal=True):
    for metric in ("loss", "accuracy"):
        st.altair_chart(fixed_width(learning_curve_chart(curves, metric, chosen), PANEL_WIDTH), width="content")
st.caption("Solid: train; dashed: validation. Faint lines are the raw values, bold ones smoothed.")

st.subheader("Test accuracy")
tta = titled(compare.tta_accuracies(shown))
evaluations = ["single view", "with TTA"]
# horizontal bars: the models' names and both evaluations stay readable in a narrow column
tta_bars = alt.Chart(tta).encode(
    y=alt.Y("model:N", sort=titles, title=None),
    yOffset=alt.YOffset("evaluation:N", sort=evaluations),
    x=alt.X("accuracy:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
    tooltip=["model", "evaluation", alt.Tooltip("accuracy:Q", format=".2%")])
st.altair_chart(fixed_width((tta_bars.mark_bar().encode(
    color=MODEL_COLOR.legend(None),
    opacity=alt.Opacity("evaluation:N", sort=evaluations, scale=alt.Scale(domain=evaluations, range=[1.0, 0.5]),
                        title="evaluation", legend=alt.Legend(orient="bottom")))
    + tta_bars.mark_text(align="left", dx=3, fontSize=11).encode(text=alt.Text("accuracy:Q", format=".1%")))
    .properties(title="Single view and with test-time augmentation (flip)", height=alt.Step(16)), PANEL_WIDTH),
    width="content")
per_class = titled(compare.per_class_accuracy(shown))
st.altair_chart(alt.Chart(per_class).mark_bar().encode(
    x=alt.X("class:N", sort=None, title=None),
    xOffset=alt.XOffset("model:N", sort=titles),
    y=alt.Y("accuracy:Q", axis=alt.Axis(format="%")),
    color=MODEL_COLOR,
    tooltip=["model", "class", alt.Tooltip("accuracy:Q", format=".2%")],
).properties(title="Per class", height=300), width="stretch")

st.subheader("Confusion matrices")
st.caption("Each row is a true class and sums to 100: the percentage of its test images each model called each "
           "class (rows: true class; columns: predicted).")
confusion = compare.confusion_frames(shown)
with st.container(horizontal=True):
    for name in shown:
        cells = titled(confusion[confusion["model"] == name]).assign(percent=lambda frame: 100 * frame["fraction"])
        heatmap = alt.Chart(cells).encode(
            # every class label shown, angled, never thinned out; the cells hold whole percentages without the sign
            x=alt.X("predicted:N", sort=None, title=None, axis=alt.Axis(labelAngle=-45, labelOverlap=False)),
            y=alt.Y("true:N", sort=None, title=None, axis=alt.Axis(labelOverlap=False)),
            tooltip=["true", "predicted", "count", alt.Tooltip("fraction:Q", format=".1%")],
        )
        st.altair_chart(labelled_heatmap(heatmap, "fraction", alt.Text("percent:Q", format=".0f"), font_size=8)
                        .properties(title=model_title(name), width=alt.Step(24), height=alt.Step(20)),
                        width="content")

st.subheader("Cost")
costs = compare.cost_table(shown)
# one column per model, so the table fits a laptop's width whatever the number of figures
st.dataframe(compare.cost_display(costs))
st.caption("Latency: one image at a time. Training images/s: the median epoch (the first also pays for warm-up).")
scatter_data = titled(costs.reset_index())
scatters = st.container(horizontal=True)
for cost, scale in (("MACs per image", alt.Scale(type="log")), ("training seconds", alt.Scale(zero=False))):
    points = alt.Chart(scatter_data).encode(
        x=alt.X(f"{cost}:Q", scale=scale), y=alt.Y("test accuracy:Q", axis=alt.Axis(format="%"),
                                                   scale=alt.Scale(zero=False)),
        color=MODEL_COLOR, tooltip=["model", alt.Tooltip(f"{cost}:Q", format=",.0f"),
                                    alt.Tooltip("test accuracy:Q", format=".2%")])
    scatters.altair_chart(fixed_width((points.mark_circle(size=120) + points.mark_text(dy=-12).encode(text="model:N"))
                                      .properties(title=f"Accuracy against {cost}", height=300), PANEL_WIDTH),
                          width="content")

st.subheader("Calibration")
bins = titled(compare.reliability(shown))
diagonal = alt.Chart(alt.Data(values=[{"x": 0, "y": 0}, {"x": 1, "y": 1}])).mark_line(
    color="gray", strokeDash=[4, 4]).encode(x="x:Q", y="y:Q")  # the axes' formats come from the curve layer
reliability_chart = alt.Chart(bins).mark_line(point=True).encode(
    x=alt.X("confidence:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"),
            title="mean confidence in the bin"),
    y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title="accuracy in the bin"),
    color=MODEL_COLOR, tooltip=["model", "count", alt.Tooltip("confidence:Q", format=".1%"),
                                alt.Tooltip("accuracy:Q", format=".1%")])
st.altair_chart(fixed_width((diagonal + reliability_chart).properties(title="Reliability diagram (15 confidence bins)",
                                                                      height=360), PANEL_WIDTH), width="content")
st.caption("On the dashed diagonal a model is as sure as it is right; below it, over-confident.")

st.subheader("Recipes")
recipes = compare.recipe_table(shown, differences_only)
if recipes.empty:
    st.info("The recipes are identical." if differences_only else "The records hold no recipes.")
else:
    st.dataframe(recipes.rename(columns=model_title), height="content")

st.subheader("The evidence: seeds and every pair of models")
st.dataframe(titled_index(evidence.seed_table(verdict)), column_config={
    "mean test accuracy": st.column_config.NumberColumn(format="percent"),
    "std": st.column_config.NumberColumn(format="percent", help="Over the seeds (0 with one seed)")})
if verdict.tested:
    st.dataframe(evidence.pair_table(verdict.comparisons), column_config={
        "difference (points)": st.column_config.NumberColumn(format="%+.2f"),
        "McNemar p": st.column_config.NumberColumn(format="%.3g", help="Exact test; the largest over seeds"),
        "Holm p": st.column_config.NumberColumn(format="%.3g", help="Corrected for the number of pairs")})
elif data is None:
    st.info(f"McNemar's test pairs each test prediction with its label, which needs the data set: {data_problem}.")
