"""The Attribution page's verdict on its maps: which method to trust per model, on this image and over many test
images, and when Integrated Gradients did not converge."""
from __future__ import annotations

import math

import pandas as pd

from cifar_models.attribution import ModelExplanation, method_title
from cifar_models.models import model_title
from cifar_models.trust import TrustRecord

# Integrated Gradients' attributions should add up to f(image) - f(baseline); a convergence delta beyond this share
# of that difference means the path integral is too coarse to read the map closely.
LARGE_DELTA_SHARE = 0.05
BEST = "★"


def signed_percent(fraction: float) -> str:
    """+12.3% or -4.0%; a value that rounds to zero is '0.0%' (never '-0%')."""
    if not math.isfinite(fraction):
        return "—"
    rounded = round(100 * fraction, 1)
    return "0.0%" if rounded == 0 else f"{rounded:+.1f}%"


def most_faithful(result: dict[str, ModelExplanation]) -> dict[str, str]:
    """Per model, the method with the highest faithfulness score."""
    return {name: max(explanation.faithfulness, key=lambda method: explanation.faithfulness[method].score)
            for name, explanation in result.items() if explanation.faithfulness}


def trust_table(result: dict[str, ModelExplanation]) -> pd.DataFrame:
    """Rows: methods (by title); columns: models (by title); cells: the faithfulness score, the most faithful method
    of each model starred."""
    best = most_faithful(result)
    methods = list(dict.fromkeys(method for explanation in result.values() for method in explanation.faithfulness))
    columns = {}
    for name, explanation in result.items():
        columns[model_title(name)] = [
            signed_percent(explanation.faithfulness[method].score) + (f" {BEST}" if best.get(name) == method else "")
            if method in explanation.faithfulness else "—" for method in methods]
    return pd.DataFrame(columns, index=pd.Index([method_title(method) for method in methods], name="method"))


def trust_summary(result: dict[str, ModelExplanation]) -> str:
    """One sentence: the map to trust for each model, or a warning where even the best is no better than random."""
    parts = []
    for name, method in most_faithful(result).items():
        score = result[name].faithfulness[method].score
        verdict = "" if score > 0.005 else " (no better than random pixels: trust none of its maps)"
        parts.append(f"{model_title(name)}: **{method_title(method)}** ({signed_percent(score)}){verdict}")
    return "Most faithful map per model — " + "; ".join(parts) + "." if parts else ""


def convergence_warnings(result: dict[str, ModelExplanation]) -> list[str]:
    """A warning per model whose Integrated Gradients' convergence delta is large against the score difference its
    attributions should add up to."""
    warnings = []
    for name, explanation in result.items():
        found = explanation.attributions.get("integrated_gradients")
        if found is None or found.delta is None:
            continue
        explained = float(found.heatmap.sum()) - found.delta  # f(image) - f(baseline), the sum's target
        share = abs(found.delta) / max(abs(explained), 1e-6)
        if share > LARGE_DELTA_SHARE:
            warnings.append(f"{model_title(name)}: Integrated Gradients' convergence delta is {found.delta:+.2g}, "
                            f"{share:.0%} of the score difference it explains ({explained:+.2g}): its map is a rough "
                            "approximation. Raise the steps in the sidebar.")
    return warnings


def faithfulness_details(result: dict[str, ModelExplanation]) -> pd.DataFrame:
    """model, method, top-pixel drop, random drop, faithfulness: the figures behind :func:`trust_table`."""
    return pd.DataFrame([
        {"model": model_title(name), "method": method_title(method), "top-pixel drop": signed_percent(f.top_drop),
         "random drop": signed_percent(f.random_drop), "faithfulness": signed_percent(f.score)}
        for name, explanation in result.items() for method, f in explanation.faithfulness.items()])


def trust_over_images_table(records: dict[str, TrustRecord]) -> pd.DataFrame:
    """Rows: methods; columns: models; cells: the mean faithfulness over the stored images with its 95% interval,
    each model's most faithful method starred (by its mean)."""
    summaries = {name: record.summary() for name, record in records.items()}
    methods = list(dict.fromkeys(method for summary in summaries.values() for method in summary))
    columns = {}
    for name, summary in summaries.items():
        best = max(summary, key=lambda method: summary[method].mean) if summary else None
        columns[model_title(name)] = [
            f"{signed_percent(found.mean)} ({signed_percent(found.low)} to {signed_percent(found.high)})"
            + (f" {BEST}" if method == best else "") if (found := summary.get(method)) else "—"
            for method in methods]
    return pd.DataFrame(columns, index=pd.Index([method_title(method) for method in methods], name="method"))


def trust_over_images_summary(records: dict[str, TrustRecord]) -> str:
    """One sentence per model: the method to trust over many images, and whether its lead over the runner-up is
    clear (their intervals apart) or within the noise of the images."""
    parts = []
    for name, record in records.items():
        ranked = sorted(record.summary().values(), key=lambda found: found.mean, reverse=True)
        if not ranked:
            continue
        best = ranked[0]
        if best.high <= 0:
            parts.append(f"{model_title(name)}: no method beats random pixels (best: {method_title(best.method)}, "
                         f"{signed_percent(best.mean)})")
            continue
        clear = len(ranked) == 1 or best.low > ranked[1].high
        lead = ("clearly ahead" if clear else
                f"within the noise of {method_title(ranked[1].method)} ({signed_percent(ranked[1].mean)})")
        parts.append(f"{model_title(name)}: **{method_title(best.method)}** ({signed_percent(best.mean)}, {lead})")
    images = {len(record.indices) for record in records.values()}
    over = f"over {images.pop()} test images" if len(images) == 1 else "over the stored test images"
    return f"Most faithful map per model {over} — " + "; ".join(parts) + "." if parts else ""
