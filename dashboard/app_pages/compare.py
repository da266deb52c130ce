"""Compare: the three runs side by side, from their run records, and the verdict on SENet."""
import altair as alt
import streamlit as st

from cifar_models.budgets import BUDGETS_FOLDER
from cifar_models.data import CIFAR10
from cifar_models.models import display_order, model_title
from dashboard import settings, sources, state, widgets
from dashboard.settings import checkpoint_root
from dashboard.views import budgets, compare, evidence, live
from dashboard.views.charts import (BUDGET_BAND, PLOT_HEIGHT, budget_chart, fixed_width, grouped_bars,
                                    labelled_heatmap, learning_curve_chart, model_colours, nominal_axis,
                                    seed_accuracy_chart, titled, titled_index)
from dashboard.views.common import format_percent, format_points, ordered, provenance, written

LIVE_REFRESH_SECONDS = 5
PANEL_WIDTH = 190  # a chart's plotting width: two side by side at 1024 px (564 px of page), three at 1440 (980 px)
FOREST_WIDTH = 380  # the verdict's forest plot: its pair labels beside it within 564 px of page at 1024 px
MAX_SMOOTHING = 0.9  # beyond it the average spans most of a 40-epoch run and its end trails the raw value by points

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


def budgets_ui(chosen: list[str], listed: list[str], data: CIFAR10 | None) -> None:
    """Accuracy against epochs and against training seconds over the training budgets, of the ``chosen`` models and
    of those the sidebar does not list, the verdict at each budget and its trend in one sentence; one line with the
    command that makes them where there are none."""
    sweep = sources.load_budgets()
    if not sweep:
        st.info(f"Accuracy against cost over training budgets needs runs at several budgets, and "
                f"`{checkpoint_root() / BUDGETS_FOLDER}` holds none: train them with `{settings.budgets_command()}`.")
        return
    st.subheader("At each training budget")
    verdicts = sources.budget_verdicts(sweep, data)
    for message in budgets.budget_problems(sweep, verdicts):
        st.warning(message)
    points = budgets.budget_points(sweep)
    models = [name for name in display_order(set(points["model"])) if name in chosen or name not in listed]
    points = points[points["model"].isin(models)]
    if not points.empty:
        with st.container(horizontal=True):
            for cost, title, axis, ticks in (
                    ("epochs", "Accuracy against epochs", "training budget (epochs)", sorted(set(points["epochs"]))),
                    ("seconds", "Accuracy against training time", budgets.seconds_title(sweep),
                     budgets.log_ticks(points["seconds"]))):
                st.altair_chart(fixed_width(budget_chart(points, cost, models, title=title, cost_title=axis,
                                                         ticks=ticks), PANEL_WIDTH), width="content")
        st.caption(f"Lines: the mean test accuracy over the seeds; bands: {BUDGET_BAND}; both x axes are "
                   "logarithmic (equal steps, equal ratios). Drag to pan, scroll to "
                   "zoom, double-click to reset; click a model in the legend to pick it out (shift-click for more).")
    trend = budgets.trend_sentence(verdicts)
    if trend:
        st.markdown(trend)
    st.table(budgets.verdict_table(verdicts))
    first = next(iter(verdicts.values()))
    st.caption(f"Lead: {model_title(first.question)}'s test accuracy minus its closest rival's at that budget, in "
               "points, the mean over their paired seeds; the interval (paired bootstrap) and Holm-corrected "
               f"McNemar p as in the verdict above. {first.untested}")


training_now()
runs = widgets.require_records()
records = ordered(runs.records)
names = list(records)
MODEL_COLOR = model_colours(names)  # each model in its registered title and colour on every chart

with st.sidebar:
    chosen = st.multiselect("Models", names, format_func=model_title,
                            **state.kept("compare_models", names, names))
    smoothing = st.slider("Curve smoothing", min_value=0.0, max_value=MAX_SMOOTHING, step=0.01,
                          help="TensorBoard's debiased exponential moving average; the raw curve stays visible, "
                               "faint.", **state.kept("compare_smoothing", 0.6))
    differences_only = st.toggle("Recipes: differences only", **state.kept("compare_differences", False))

seeds = sources.load_seed_records()
data, data_problem = widgets.available_data()
verdict = sources.verdict(data)  # the one verdict: Home gives its sentence, train_all.py prints it
st.subheader(f"Is {model_title(verdict.question)} the best by far?")
getattr(st, evidence.ANSWER_BOX[verdict.answer])(f"### {verdict.sentence}")
widgets.verdict_picture(verdict, FOREST_WIDTH)
st.markdown(verdict.details)
for message in [*verdict.left_out, *evidence.unread_seeds({folder: problem for folder, problem in seeds.problems.items()
                                                           if folder.parent != runs.root})]:
    st.warning(message)
widgets.record_problems(runs)
budgets_ui(chosen, names, data)
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
lag = compare.smoothing_lag(curves)
st.caption("Solid: train; dashed: validation. Faint lines are the raw values, bold ones smoothed. Drag to pan the "
           "epochs, scroll to zoom, double-click to reset; click a model in the legend to pick it out (shift-click "
           "for more). " + (f"At this smoothing the end of a bold accuracy line trails its raw value by up to "
                            f"{100 * lag:.1f} points (an average over past epochs lags a rising curve): read final "
                            "values on the faint line or in the tooltip." if lag >= 0.005 else ""))

st.subheader("Test accuracy")
accuracy_charts = st.container(horizontal=True)  # side by side from 1024 px, never squeezed
seed_runs = compare.seed_accuracies({name: seeds.records[name] for name in chosen if name in seeds.records})
if not seed_runs.empty:
    accuracy_charts.altair_chart(seed_accuracy_chart(seed_runs, chosen, width=PANEL_WIDTH), width="content")
accuracy_charts.altair_chart(grouped_bars(compare.per_class_accuracy(shown), "class", records[chosen[0]].classes,
                                          "accuracy", chosen, title="Per class (first seed)",
                                          value_title="test accuracy", width=PANEL_WIDTH), width="content")
st.caption("Single view: the test image as it is; with TTA: averaged with its mirror image (test-time augmentation).")

st.subheader("Confusion matrices")
st.caption("Each row is a true class and sums to 100: the percentage of its test images each model called each "
           "class (rows: true class; columns: predicted).")
confusion = compare.confusion_frames(shown)
with st.container(horizontal=True):
    for name in shown:
        cells = titled(confusion[confusion["model"] == name]).assign(percent=lambda frame: 100 * frame["fraction"])
        heatmap = alt.Chart(cells).encode(
            # every class label shown, angled, never thinned out; the cells hold whole percentages without the sign
            x=alt.X("predicted:N", sort=None, title=None, axis=nominal_axis(labelAngle=-45)),
            y=alt.Y("true:N", sort=None, title=None, axis=nominal_axis()),
            tooltip=["true", "predicted", "count", alt.Tooltip("fraction:Q", format=".1%")],
        )
        st.altair_chart(labelled_heatmap(heatmap, "fraction", alt.Text("percent:Q", format=".0f"), font_size=8)
                        .properties(title=model_title(name), width=alt.Step(22), height=alt.Step(20)),
                        width="content")

st.subheader("Cost")
costs = compare.cost_table(shown)
# one column per model, so the table fits a laptop's width whatever the number of figures
st.table(compare.cost_display(costs))  # a static table fits its columns: a data frame scrolled inside itself
st.caption("Latency: one image at a time. Training images/s: the median epoch (the first also pays for warm-up).")
scatter_data = titled(costs.reset_index())
scatters = st.container(horizontal=True)
# padded scales: a model at the end of an axis keeps its whole dot and name inside the plot
for cost, scale in (("MACs per image", alt.Scale(type="log", padding=24)),
                    ("training seconds", alt.Scale(zero=False, padding=24))):
    points = alt.Chart(scatter_data).encode(
        x=alt.X(f"{cost}:Q", scale=scale), y=alt.Y("test accuracy:Q", axis=alt.Axis(format="%"),
                                                   scale=alt.Scale(zero=False, padding=24)),
        color=MODEL_COLOR, tooltip=["model", alt.Tooltip(f"{cost}:Q", format=",.0f"),
                                    alt.Tooltip("test accuracy:Q", format=".2%")])
    scatter = (points.mark_circle(size=120) + points.mark_text(dy=-12).encode(text="model:N")).properties(
        title=f"Accuracy against {cost}", height=PLOT_HEIGHT).interactive()  # drag to pan, scroll to zoom
    scatters.altair_chart(fixed_width(scatter, PANEL_WIDTH), width="content")

st.subheader("Calibration")
bins = titled(compare.reliability(shown))
diagonal = alt.Chart(alt.Data(values=[{"x": 0, "y": 0}, {"x": 1, "y": 1}])).mark_line(
    color="gray", strokeDash=[4, 4]).encode(x="x:Q", y="y:Q")  # the axes' formats come from the curve layer
reliability_chart = alt.Chart(bins).encode(
    x=alt.X("confidence:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"),
            title="mean confidence in the bin"),
    y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title="accuracy in the bin"),
    color=MODEL_COLOR, tooltip=["model", alt.Tooltip("count:Q", format=",", title="images in the bin"),
                                alt.Tooltip("confidence:Q", format=".1%"), alt.Tooltip("accuracy:Q", format=".1%")])
# each bin's point sized by its number of images: a bin of a few images is a small dot, not a dramatic miss
bin_points = reliability_chart.mark_circle(opacity=0.8).encode(
    size=alt.Size("count:Q", title="images in the bin", scale=alt.Scale(type="sqrt", range=[10, 500]),
                  legend=alt.Legend(orient="bottom", format="~s")))
st.altair_chart(fixed_width((diagonal + reliability_chart.mark_line(opacity=0.6) + bin_points).properties(
    title="Reliability diagram (15 confidence bins)", height=PANEL_WIDTH), PANEL_WIDTH), width="content")
st.caption("On the dashed diagonal a model is as sure as it is right; below it, over-confident. Each dot's area is "
           "its bin's number of test images: most sit in the top bin, a bin of a few images says little.")

st.subheader("Recipes")
recipes = compare.recipe_table(shown, differences_only)
if recipes.empty:
    st.info("The recipes are identical." if differences_only else "The records hold no recipes.")
else:
    st.dataframe(recipes.rename(columns=model_title), height="content")

st.subheader("The evidence: seeds and every pair of models")
# static tables, written out: they fit their columns (wrapping headers) at 1024 px instead of scrolling sideways
st.table(written(titled_index(evidence.seed_table(verdict)).rename(columns={"std": "std over the seeds"}),
                 {"mean test accuracy": format_percent, "std over the seeds": format_points}))
if verdict.tested:
    st.table(written(compare.pair_display(evidence.pair_table(verdict.comparisons)), compare.PAIR_FORMATS))
    st.caption("McNemar p: exact test, the largest over the seeds; Holm p: corrected for the number of pairs.")
elif data is None:
    st.info(f"McNemar's test pairs each test prediction with its label, which needs the data set: {data_problem}.")
