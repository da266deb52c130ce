"""Altair pieces the pages share: each model in its one look (the registry's title and colour), and the charts that
are more than one encoding."""
from __future__ import annotations

from typing import Iterable

import altair as alt
import pandas as pd

from cifar_models.images import ColourScale
from cifar_models.models import model_colour, model_title

# Merged legends take their symbols from the first layer: drawn at full strength whatever that layer's opacity; under
# the plot, so that two charts fit side by side at 1024 px.
LEGEND = alt.Legend(symbolOpacity=1, orient="bottom", direction="vertical", labelLimit=0)
SPLIT_ORDER = ["train", "validation"]
# Every chart is sized by its categories: a band axis gives each category CATEGORY_STEP px (room for a 11 px label),
# a grouped band each model BAR_STEP px, and a quantitative plot is at least PLOT_HEIGHT px tall.
CATEGORY_STEP = 20
BAR_STEP = 6
PLOT_HEIGHT = 200
FOREST_MIN_HEIGHT = 120  # px: the verdict's picture, small as it is on Home
# every nominal label drawn in full: Vega-Lite otherwise cuts labels at 180 px with "…" and thins out overlapping ones
FULL_LABELS = {"labelLimit": 0, "labelOverlap": False}


def nominal_axis(**options) -> alt.Axis:
    """An axis of categories that draws every label, whole."""
    return alt.Axis(**FULL_LABELS, **options)


def model_colours(names: Iterable[str], *, title: str | None = "model", legend: alt.Legend = LEGEND) -> alt.Color:
    """A colour encoding of the ``model`` field, which holds the models' titles (see :func:`titled`), each model in
    its registered colour."""
    names = list(names)
    return alt.Color("model:N", scale=alt.Scale(domain=[model_title(name) for name in names],
                                                range=[model_colour(name) for name in names]),
                     title=title, legend=legend)


def model_picker() -> alt.Parameter:
    """A click on a model's legend entry (shift-click for more) shows that model and fades the others."""
    return alt.selection_point(fields=["model"], bind="legend")


def picked(selection: alt.Parameter, shown: float, faded: float) -> alt.OpacityValue:
    return alt.condition(selection, alt.value(shown), alt.value(faded))


def titled(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a long-form frame whose ``model`` column holds the models' titles instead of their names."""
    return frame.assign(model=frame["model"].map(model_title))


def titled_index(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a table indexed by model name (other rows kept) with the models' titles as its index."""
    return frame.rename(index=model_title)


def learning_curve_chart(curves: pd.DataFrame, metric: str, names: list[str]) -> alt.LayerChart:
    """One metric's curves (from ``views.compare.learning_curves``): faint raw lines under bold smoothed ones, one
    colour per model, solid for train and dashed for validation, with a legend for both (drawn as strokes, so the
    dashes show). Drag to pan the epochs, scroll to zoom, click a model in the legend to pick it out."""
    frame = titled(curves[curves["metric"] == metric])
    # lines without dots: the legend then draws strokes, dashed for validation (a dot cannot show a dash)
    base = alt.Chart(frame).encode(
        x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
        color=model_colours(names),
        strokeDash=alt.StrokeDash("split:N", sort=SPLIT_ORDER, title="split", legend=LEGEND))
    # losses on a log scale: a diverging run would otherwise flatten the others into the axis
    scale = alt.Scale(type="log") if metric == "loss" else alt.Scale(zero=False)
    axis = alt.Axis(format="%") if metric == "accuracy" else alt.Axis()
    value_format = ".2%" if metric == "accuracy" else ".4f"
    pick = model_picker()
    # Both line layers carry the same colour and dash encodings, so Vega-Lite merges them into one legend; a layer
    # with legend=None would make the merged legend disappear altogether.
    raw = base.mark_line().encode(y=alt.Y("raw:Q", title=metric, scale=scale, axis=axis),
                                  opacity=picked(pick, 0.25, 0.04))
    smoothed = base.mark_line(strokeWidth=2).encode(y="smoothed:Q", opacity=picked(pick, 1.0, 0.1)).add_params(pick)
    # invisible points, outside the legends, carry the tooltips: visible ones hid the dashes
    hover = alt.Chart(frame).mark_point(opacity=0, size=80).encode(
        x="epoch:Q", y="smoothed:Q",
        tooltip=["model", "split", "epoch", alt.Tooltip("raw:Q", format=value_format),
                 alt.Tooltip("smoothed:Q", format=value_format)])
    return (raw + smoothed + hover).properties(title=f"{metric.capitalize()} per epoch", height=PLOT_HEIGHT
                                               ).interactive(bind_y=False)


BUDGET_BAND = "each model's lowest to highest seed"  # what the band of a budget chart spans, for its caption


def budget_chart(points: pd.DataFrame, cost: str, names: list[str], *, title: str, cost_title: str,
                 ticks: list[float] | None = None) -> alt.LayerChart:
    """Test accuracy against a cost over training budgets (``points`` from ``views.budgets.budget_points``; ``cost``
    its 'epochs' or 'seconds' column) on a log-scaled x: per model a line through the means over its seeds and a band
    from its lowest to its highest seed, a dot per budget with its figures in the tooltip. Drag to pan, scroll to
    zoom, click a model in the legend to pick it out (as on the learning curves)."""
    pick = model_picker()
    accuracy = alt.Axis(format="%", title="test accuracy")
    base = alt.Chart(titled(points)).encode(
        x=alt.X(f"{cost}:Q", title=cost_title, axis=alt.Axis(values=alt.Undefined if ticks is None else ticks, format=",~r"),
                scale=alt.Scale(type="log", nice=False, padding=16)),
        color=model_colours(names))
    band = base.mark_area().encode(y=alt.Y("low:Q", axis=accuracy, scale=alt.Scale(zero=False, padding=16)),
                                   y2="high:Q", opacity=picked(pick, 0.2, 0.03))
    line = base.mark_line(strokeWidth=2).encode(y=alt.Y("accuracy:Q", axis=accuracy), opacity=picked(pick, 1.0, 0.1))
    dots = base.mark_point(filled=True, size=60).encode(
        y=alt.Y("accuracy:Q", axis=accuracy), opacity=picked(pick, 1.0, 0.1),
        tooltip=["model", alt.Tooltip("epochs:Q", title="budget (epochs)"),
                 alt.Tooltip("accuracy:Q", format=".2%", title="test accuracy (mean)"),
                 alt.Tooltip("low:Q", format=".2%", title="lowest seed"),
                 alt.Tooltip("high:Q", format=".2%", title="highest seed"),
                 alt.Tooltip("tta:Q", format=".2%", title="with TTA (mean)"),
                 alt.Tooltip("seconds:Q", format=",.1f", title="training seconds (mean)"),
                 alt.Tooltip("seed list:N", title="seeds")]).add_params(pick)
    return (band + line + dots).properties(title=title, height=PLOT_HEIGHT).interactive()


COLOUR_BAR = "colour bar"  # the charts' description: a key, 12 px tall by design, not a plot


def colour_bar(scale: ColourScale, title: str, *, ends: tuple[str, str] | None = None, width: int = 260,
               steps: int = 48) -> alt.Chart:
    """The colour bar of ``scale``: its colours from ``low`` to ``high`` with the end values (or the words ``ends``,
    for a scale that differs per map) under it, and what the values are in ``title``."""
    values, colours = scale.stops(steps + 1)
    cells = pd.DataFrame({"from": values[:-1], "to": values[1:], "colour": colours[:-1]})
    ticks = [scale.low, scale.high] if not scale.diverging else [scale.low, 0.0, scale.high]
    if ends is None:
        axis = alt.Axis(values=ticks, format=".3~g", title=title, grid=False, titleFontSize=11)
    else:
        low_word, high_word = ends
        axis = alt.Axis(values=[scale.low, scale.high], title=title, grid=False, titleFontSize=11,
                        labelExpr=f"datum.value <= {scale.low} ? '{low_word}' : '{high_word}'")
    return fixed_width(alt.Chart(cells).mark_rect().encode(
        x=alt.X("from:Q", scale=alt.Scale(domain=[scale.low, scale.high], nice=False, zero=False), axis=axis),
        x2="to:Q", color=alt.Color("colour:N", scale=None),
    ).properties(height=12, description=COLOUR_BAR), width)


ACTIVATION = "activation"


def tiles_colour_bar(scale: ColourScale, *, per_map: bool, width: int = 260) -> alt.Chart:
    """The colour bar of feature-map tiles drawn with ``scale``; where each map has its own scale (``per_map``), the
    bar runs from 'lowest' to 'highest' of each map (signed maps: from minus to plus their largest magnitude)."""
    if not per_map:
        return colour_bar(scale, ACTIVATION, width=width)
    ends = ("−largest |value|", "+largest") if scale.diverging else ("lowest", "highest")
    return colour_bar(ColourScale(-1.0 if scale.diverging else 0.0, 1.0, scale.diverging),
                      f"{ACTIVATION}: each map's own scale", ends=ends, width=width)


def fixed_width(chart: alt.TopLevelMixin, width: int) -> alt.TopLevelMixin:
    """``chart`` with a plotting area ``width`` pixels wide, its axes, legends and title around it (autosize "pad").

    Shown with ``st.altair_chart(..., width="content")`` in a horizontal container, such charts sit side by side
    where the page is wide and wrap to the next row where it is not, instead of being squeezed to a sliver.
    """
    return chart.properties(width=width, autosize=alt.AutoSizeParams(type="pad"))


def labelled_heatmap(cells: alt.Chart, value: str, label: alt.Text, *, font_size: int) -> alt.LayerChart:
    """``cells`` (with x and y encoded) as rectangles coloured by ``value``, a fraction from 0 to 1, each written with
    ``label``: white on the dark half of the scale, black on the light half."""
    return (cells.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=alt.Scale(domain=[0, 1]), legend=None))
            + cells.mark_text(fontSize=font_size).encode(
                text=label, color=alt.condition(f"datum.{value} > 0.5", alt.value("white"), alt.value("black"))))


def grouped_bars(frame: pd.DataFrame, category: str, categories: list[str], value: str, names: list[str], *,
                 title: str, value_title: str, width: int) -> alt.Chart:
    """A fraction per category and model (long form, ``model`` by name) as horizontal bars from 0 to 100%: one row
    per category, every label whole, one bar of BAR_STEP px per model in it, in the models' colours."""
    titles = [model_title(name) for name in names]
    chart = alt.Chart(titled(frame)).mark_bar().encode(
        y=alt.Y(f"{category}:N", sort=categories, title=None, axis=nominal_axis()),
        yOffset=alt.YOffset("model:N", sort=titles, scale=alt.Scale(domain=titles)),
        x=alt.X(f"{value}:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=value_title),
        color=model_colours(names),
        tooltip=["model", category, alt.Tooltip(f"{value}:Q", format=".2%")])
    return fixed_width(chart.properties(title=title, height=alt.Step(BAR_STEP, **{"for": "offset"})), width)


def seed_accuracy_chart(accuracies: pd.DataFrame, names: list[str], *, width: int) -> alt.LayerChart:
    """Test accuracy per model and evaluation (long form: model by name, evaluation, seed, accuracy): the mean over
    the seeds as a large mark (its value in the tooltip), each seed as a small dot, on an axis zoomed to the values (a point's
    gap would vanish on 0–100%). The legend shows what each mark is: models by colour, evaluations by shape."""
    titles = [model_title(name) for name in names]
    evaluations = list(dict.fromkeys(accuracies["evaluation"]))
    seeds = int(accuracies.groupby(["model", "evaluation"]).size().max())  # runs per model
    base = alt.Chart(titled(accuracies)).encode(
        y=alt.Y("model:N", sort=titles, title=None, axis=nominal_axis()),
        yOffset=alt.YOffset("evaluation:N", sort=evaluations, scale=alt.Scale(domain=evaluations)),
        x=alt.X("accuracy:Q", scale=alt.Scale(zero=False, nice=True), axis=alt.Axis(format="%"),
                title="test accuracy (large: the mean; small: each seed)"),
        color=model_colours(names))
    means = base.transform_aggregate(accuracy="mean(accuracy)", groupby=["model", "evaluation"])
    shape = alt.Shape("evaluation:N", sort=evaluations, title="evaluation",
                      legend=alt.Legend(orient="bottom", direction="vertical", symbolFillColor="gray",
                                        symbolStrokeColor="gray", labelLimit=0))
    mean_marks = means.mark_point(size=140, filled=True, opacity=1).encode(
        shape=shape, tooltip=["model", "evaluation", alt.Tooltip("accuracy:Q", format=".2%", title="mean")])
    seed_dots = base.mark_point(size=30, filled=True, opacity=0.6).encode(
        tooltip=["model", "evaluation", "seed", alt.Tooltip("accuracy:Q", format=".2%")])
    return fixed_width((seed_dots + mean_marks).properties(
        title=f"Mean of {seeds} seed{'s' * (seeds != 1)} and each seed",  # narrower than the chart: it would widen it
        height=alt.Step(20, **{"for": "offset"})), width)


def forest_plot(rows: pd.DataFrame, min_lead: float, *, width: int = 300) -> alt.LayerChart:
    """Each pair's lead in accuracy points with its 95% interval (``rows``: pair, lead, low, high, significant), over
    the band of ±``min_lead`` points that is no lead 'by far' and a rule at zero. A filled dot is a significant lead."""
    pairs = list(rows["pair"])
    band = alt.Chart(pd.DataFrame({"from": [-min_lead], "to": [min_lead]})).mark_rect(color="#dddddd", opacity=0.6
                                                                                       ).encode(x="from:Q", x2="to:Q")
    zero = alt.Chart(pd.DataFrame({"at": [0.0]})).mark_rule(color="gray", strokeDash=[4, 4]).encode(x="at:Q")
    base = alt.Chart(rows).encode(y=alt.Y("pair:N", sort=pairs, title=None, axis=nominal_axis()))
    intervals = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("low:Q", title=f"lead in accuracy points (shaded: within ±{min_lead:g}, not by far)"), x2="high:Q")
    leads = base.mark_point(size=90, strokeWidth=2).encode(
        x="lead:Q", fill=alt.condition("datum.significant", alt.value("black"), alt.value("white")),
        color=alt.value("black"),
        tooltip=["pair", alt.Tooltip("lead:Q", format="+.2f"), alt.Tooltip("low:Q", format="+.2f"),
                 alt.Tooltip("high:Q", format="+.2f"), "significant"])
    # a row of room per pair, and never less than a readable plot: two pairs alone would make a 56 px strip
    height = max(FOREST_MIN_HEIGHT, (CATEGORY_STEP + 8) * len(pairs))
    return fixed_width((band + zero + intervals + leads).properties(height=height), width)
