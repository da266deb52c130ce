"""Altair pieces the pages share: each model in its one look (the registry's title and colour), and the charts that
are more than one encoding."""
from __future__ import annotations

from typing import Iterable

import altair as alt
import pandas as pd

from cifar_models.images import ColourScale
from cifar_models.models import model_colour, model_title

# Merged legends take their symbols from the first layer: drawn at full strength whatever that layer's opacity; under
# the plot, so that two charts fit side by side at 1280 px.
LEGEND = alt.Legend(symbolOpacity=1, orient="bottom", direction="vertical")
SPLIT_ORDER = ["train", "validation"]


def model_colours(names: Iterable[str], *, title: str | None = "model") -> alt.Color:
    """A colour encoding of the ``model`` field, which holds the models' titles (see :func:`titled`), each model in
    its registered colour."""
    names = list(names)
    return alt.Color("model:N", scale=alt.Scale(domain=[model_title(name) for name in names],
                                                range=[model_colour(name) for name in names]),
                     title=title, legend=LEGEND)


def titled(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a long-form frame whose ``model`` column holds the models' titles instead of their names."""
    return frame.assign(model=frame["model"].map(model_title))


def titled_index(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a table indexed by model name (other rows kept) with the models' titles as its index."""
    return frame.rename(index=model_title)


def learning_curve_chart(curves: pd.DataFrame, metric: str, names: list[str]) -> alt.LayerChart:
    """One metric's curves (from ``views.compare.learning_curves``): faint raw lines under bold smoothed ones, one
    colour per model, solid for train and dashed for validation, with a legend for both."""
    base = alt.Chart(titled(curves[curves["metric"] == metric])).encode(
        x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
        color=model_colours(names),
        strokeDash=alt.StrokeDash("split:N", sort=SPLIT_ORDER, title="split", legend=LEGEND))
    # losses on a log scale: a diverging run would otherwise flatten the others into the axis
    scale = alt.Scale(type="log") if metric == "loss" else alt.Scale(zero=False)
    axis = alt.Axis(format="%") if metric == "accuracy" else alt.Axis()
    value_format = ".2%" if metric == "accuracy" else ".4f"
    # Both layers carry the same colour and dash encodings, so Vega-Lite merges them into one legend; a layer with
    # legend=None would make the merged legend disappear altogether.
    raw = base.mark_line(opacity=0.25).encode(y=alt.Y("raw:Q", title=metric, scale=scale, axis=axis))
    smoothed = base.mark_line(point=True).encode(
        y="smoothed:Q",
        tooltip=["model", "split", "epoch", alt.Tooltip("raw:Q", format=value_format),
                 alt.Tooltip("smoothed:Q", format=value_format)])
    return (raw + smoothed).properties(title=f"{metric.capitalize()} per epoch", height=300)


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
    ).properties(height=12), width)


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
