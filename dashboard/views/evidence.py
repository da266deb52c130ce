"""The verdict with statistical evidence: mean ± std over seeds, and for every pair of models McNemar's exact test and
a paired bootstrap interval on the test predictions (``cifar_models.statistics``), plus robustness where measured."""
from __future__ import annotations

import numpy as np
import pandas as pd

from cifar_models.models import model_title
from cifar_models.run_record import RunRecord
from cifar_models.statistics import VERDICT_RULE, PairComparison, compare_models, leads_by_far, mean_and_std

from .common import format_percent, ordered
from .verdict import Verdict, too_weak

SeedRecords = dict[str, list[RunRecord]]  # model name -> its run records, one per seed


def seed_table(seed_records: SeedRecords) -> pd.DataFrame:
    """Per model: seeds, the test accuracy's mean and standard deviation over them, and the seeds used."""
    rows = {}
    for name, records in ordered(seed_records).items():
        accuracies = [r.accuracy for r in records if not np.isnan(r.accuracy)]
        mean, std = mean_and_std(accuracies) if accuracies else (np.nan, np.nan)
        rows[name] = {"seeds": len(accuracies), "mean test accuracy": mean, "std": std,
                      "recipe seeds": ", ".join(str(r.seed) for r in records)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def paired_predictions(seed_records: SeedRecords) -> tuple[dict[str, np.ndarray], int]:
    """Each model's test predictions ``(seeds, n)`` over the seeds that predicted the same number ``n`` of test
    images (the smallest count among the models), and that ``n``."""
    counts = [len(r.test.predictions) for records in seed_records.values() for r in records]
    n = min((count for count in counts if count), default=0)
    predictions = {}
    for name, records in ordered(seed_records).items():
        rows = [r.test.predictions[:n] for r in records if len(r.test.predictions) >= n]
        if rows and n:
            predictions[name] = np.array(rows)
    return predictions, n


def pair_table(comparisons: list[PairComparison]) -> pd.DataFrame:
    """One row per pair: the accuracy difference in points, its 95% interval, McNemar's p raw and Holm-corrected."""
    return pd.DataFrame([{
        "pair": f"{model_title(c.model_a)} − {model_title(c.model_b)}", "difference (points)": 100 * c.difference,
        "95% interval (points)": f"{100 * c.interval_low:+.2f} to {100 * c.interval_high:+.2f}",
        f"only {model_title(c.model_a)} right": c.a_only, f"only {model_title(c.model_b)} right": c.b_only,
        "McNemar p": c.p_value, "Holm p": c.p_corrected, "significant": c.significant,
    } for c in comparisons]).set_index("pair") if comparisons else pd.DataFrame()


def evidence_verdict(comparisons: list[PairComparison], seed_records: SeedRecords,
                     robustness: dict[str, dict | None], question_model: str = "senet") -> Verdict:
    """'Is ``question_model`` the best by far?' under ``VERDICT_RULE``, with each model's test accuracy (the mean over
    its seeds), the pairs' figures and, where measured, the mean corruption accuracies; "too weak" where the runs are
    (``verdict.weakness``)."""
    title = model_title(question_model)
    pairs = [c for c in comparisons if question_model in (c.model_a, c.model_b)]
    if not pairs:
        return Verdict("cannot say", f"There is no {title} run with test predictions to compare. " + VERDICT_RULE)
    accuracies = seed_table(seed_records)["mean test accuracy"]
    several = any(len(records) > 1 for records in seed_records.values())
    statements, by_far = [], []
    for c in pairs:
        rival = model_title(c.model_b if c.model_a == question_model else c.model_a)
        lead = 100 * (c.difference if c.model_a == question_model else -c.difference)
        low, high = sorted(100 * v * (1 if c.model_a == question_model else -1) for v in (c.interval_low,
                                                                                           c.interval_high))
        statements.append(f"against {rival}: {lead:+.2f} points (95% interval {low:+.2f} to {high:+.2f}), "
                          f"Holm-corrected p = {c.p_corrected:.3g}")
        by_far.append(leads_by_far(c, question_model))
    seed_note = ", ".join(f"{model_title(name)} {len(records)}" for name, records in seed_records.items())
    shown = ", ".join(f"{model_title(name)} {format_percent(accuracy)}" for name, accuracy in accuracies.items())
    text = (f"{VERDICT_RULE} Test accuracy{' (mean over seeds)' if several else ''}: {shown}. {title} "
            + "; ".join(statements) + f" (seeds: {seed_note}).")
    measured = {name: r for name, r in robustness.items() if r}
    if question_model in measured and len(measured) > 1:
        best = max(measured, key=lambda name: measured[name]["mean_corruption_accuracy"])
        figures = ", ".join(f"{model_title(name)} {format_percent(r['mean_corruption_accuracy'])}"
                            for name, r in measured.items())
        text += (f" Under the CIFAR-10-C corruptions {model_title(best)} holds up best (mean corruption accuracy: "
                 f"{figures}).")
    if all(by_far):
        verdict = Verdict("yes", f"Yes, by far. {text}")
    elif all(c.significant and (c.difference > 0) == (c.model_a == question_model) for c in pairs):
        verdict = Verdict("no", f"Best, and significantly so, but not by 2 points against every rival. {text}")
    else:
        verdict = Verdict("no", f"No. {text}")
    return too_weak(verdict, {name: records[0] for name, records in seed_records.items() if records})


def comparisons_for(seed_records: SeedRecords, labels: np.ndarray, resamples: int = 2000) -> list[PairComparison]:
    """The pairs' statistics over the test images every model predicted (the first ``n`` of ``labels``)."""
    predictions, n = paired_predictions(seed_records)
    return compare_models(predictions, np.asarray(labels)[:n], resamples=resamples) if len(predictions) > 1 else []
