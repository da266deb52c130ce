"""The verdict's evidence as the Compare page shows it: mean ± std over seeds and the table of model pairs, from the
one verdict (:func:`cifar_models.verdict.judge`)."""
from __future__ import annotations

import pandas as pd

from cifar_models.models import model_title
from cifar_models.statistics import PairComparison
from cifar_models.verdict import Verdict

# how a page shows each answer: Streamlit's box of that name (success, info, warning)
ANSWER_BOX = {"yes": "success", "no": "info", "cannot say": "warning", "too weak": "warning"}


def seed_table(verdict: Verdict) -> pd.DataFrame:
    """Per model the verdict used: seeds, the test accuracy's mean and standard deviation over them, the seeds."""
    return pd.DataFrame.from_dict({model.name: {
        "seeds": len(model.seeds), "mean test accuracy": model.mean, "std": model.std,
        "recipe seeds": ", ".join(str(seed) for seed in model.seeds)} for model in verdict.models},
        orient="index").rename_axis("model")


def pair_table(comparisons: tuple[PairComparison, ...]) -> pd.DataFrame:
    """One row per pair: the accuracy difference in points, its 95% interval, McNemar's p raw and Holm-corrected."""
    return pd.DataFrame([{
        "pair": f"{model_title(c.model_a)} − {model_title(c.model_b)}", "difference (points)": 100 * c.difference,
        "95% interval (points)": f"{100 * c.interval_low:+.2f} to {100 * c.interval_high:+.2f}",
        f"only {model_title(c.model_a)} right": c.a_only, f"only {model_title(c.model_b)} right": c.b_only,
        "McNemar p": c.p_value, "Holm p": c.p_corrected, "significant": c.significant,
        "seeds": ", ".join(str(seed) for seed in c.seeds),
    } for c in comparisons]).set_index("pair") if comparisons else pd.DataFrame()


def unread_seeds(problems: dict) -> list[str]:
    """A message per seed record that does not read: it is left out of the verdict, the others are used."""
    return [f"`{folder}` is left out of the verdict: {problem}" for folder, problem in problems.items()]


def forest_rows(verdict: Verdict) -> pd.DataFrame:
    """The tested rivals of the verdict as a forest plot's rows (``views.charts.forest_plot``): the pair, the question
    model's lead and its 95% interval in accuracy points, and whether the lead is significant (Holm-corrected)."""
    return pd.DataFrame([
        {"pair": f"{model_title(row.model)} − {model_title(row.rival)}", "lead": 100 * row.lead,
         "low": 100 * row.interval[0], "high": 100 * row.interval[1], "significant": bool(row.significant)}
        for row in verdict.rivals if row.interval is not None],
        columns=["pair", "lead", "low", "high", "significant"])
