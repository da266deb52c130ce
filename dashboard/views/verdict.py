"""The verdict on "is SENet the best by far?", computed from the run records."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from cifar_models.models import model_title

from .common import Records, format_percent, ordered
from .compare import cost_table, recipe_table

# "By far" needs a lead this large (percentage points of test accuracy) on top of being larger than the noise band.
BY_FAR_POINTS = 2.0
# Two-sided 95% normal quantile: the half-width of the noise band of an accuracy difference.
Z_95 = 1.96
# A model less than this many points above guessing has learnt too little for its rank to mean anything.
CHANCE_MARGIN_POINTS = 10.0


@dataclass(frozen=True)
class Verdict:
    answer: str  # "yes", "no", "cannot say" (a record is missing) or "too weak" (the runs cannot answer it)
    text: str  # the reasoning in plain words, with the figures it rests on


def noise_band(accuracy_a: float, accuracy_b: float, n: int) -> float:
    """Half-width of the 95% band of the difference of two accuracies measured on ``n`` test images each.

    It treats the two as independent binomial estimates; the models see the same images, so the true band of their
    difference is narrower and this one errs on the side of calling a lead noise.
    """
    variance = (accuracy_a * (1 - accuracy_a) + accuracy_b * (1 - accuracy_b)) / max(n, 1)
    return Z_95 * math.sqrt(variance)


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.1f}×" if math.isfinite(numerator / denominator) else "an unknown multiple of"


def _comparability(records: Records) -> str:
    """A warning when the runs did not get the same budget, data or evaluation, or only a subset, else ''."""
    differing = list(recipe_table(records, differences_only=True).index)
    for label, read in (("data subset", lambda r: r.data.subset),
                        ("data set", lambda r: r.data_fingerprint),
                        ("number of test images", lambda r: r.test.n)):
        if len({json.dumps(read(r), default=str) for r in records.values()}) > 1:
            differing.append(label)
    warning = (f" Caution: the runs differ in {', '.join(differing)}, so this is not a like-for-like comparison."
               if differing else "")
    return warning


def weakness(records: Records) -> str:
    """Why these runs are too weak to say whether one model is the best by far (a sentence), or '' when they are
    not: smoke runs (trained on a subset), or a model within :data:`CHANCE_MARGIN_POINTS` of chance."""
    reasons = []
    subsets = sorted({r.data.subset for r in records.values() if r.is_smoke_run})
    if subsets:
        reasons.append(f"they are smoke runs on {' and '.join(f'{n:,}' for n in subsets)} training images, which say "
                       "little about the full recipe")
    for name, record in ordered(records).items():  # in the registry's order, whatever order they were read in
        chance = 1 / len(record.classes)
        if record.accuracy - chance < CHANCE_MARGIN_POINTS / 100:
            reasons.append(f"{model_title(name)} reaches {format_percent(record.accuracy)}, within "
                           f"{CHANCE_MARGIN_POINTS:g} points of chance ({format_percent(chance)}: guessing one of "
                           f"{len(record.classes)} classes)")
    if not reasons:
        return ""
    return ("Too weak to say: " + "; ".join(reasons) + ". Yes, no or not by far is said only of full runs that "
            "all learnt well beyond chance.")


def too_weak(verdict: Verdict, records: Records) -> Verdict:
    """``verdict``, or where the runs are too weak to answer, a "too weak" one that keeps its figures."""
    reason = weakness(records)
    return Verdict("too weak", f"{reason} The figures, for what they show: {verdict.text}") if reason else verdict


def senet_verdict(records: Records) -> Verdict:
    """'Is SENet the best by far?', answered from the records' test accuracies, sizes and training times.

    By far means a lead of at least :data:`BY_FAR_POINTS` percentage points over the runner-up that is also larger
    than the noise band of the difference (:func:`noise_band`). Runs too weak to say (:func:`weakness`) get a "too
    weak" verdict that still gives the figures.
    """
    table = cost_table(records)
    if "senet" not in table.index:
        return Verdict("cannot say", "There is no SENet run record to judge, so the question stays open.")
    scored = table[table["test accuracy"].notna()]
    if "senet" not in scored.index or len(scored) < 2:
        return Verdict("cannot say", "SENet needs a test accuracy and at least one other model with one to be "
                                     "compared against.")
    ranking = scored.sort_values("test accuracy", ascending=False)
    senet = ranking.loc["senet"]
    best_name = ranking.index[0]
    others = ranking.drop(index="senet")
    rival_name = best_name if best_name != "senet" else others.index[0]
    rival = ranking.loc[rival_name]
    n = min(records[name].test.n for name in (rival_name, "senet"))
    if n == 0:
        return Verdict("cannot say", "The records do not say how many test images the accuracies rest on.")
    lead = 100 * (senet["test accuracy"] - rival["test accuracy"])
    band = 100 * noise_band(senet["test accuracy"], rival["test accuracy"], n)
    cost = (f" SENet costs {_ratio(senet['MACs per image'], rival['MACs per image'])} {model_title(rival_name)}'s "
            f"multiply-accumulates per image and {_ratio(senet['training seconds'], rival['training seconds'])} "
            f"its training time.")
    figures = (f"SENet reaches {format_percent(senet['test accuracy'])} test accuracy, {model_title(rival_name)} "
               f"{format_percent(rival['test accuracy'])}")
    noise = f"on {n:,} test images a difference within ±{band:.2f} points can be chance"
    if best_name != "senet":
        answer = "no"
        text = (f"No. {model_title(best_name)} is the most accurate. {figures}: SENet trails by {-lead:.2f} points "
                f"({noise}).")
    elif lead <= band:
        answer = "no"
        text = f"No. {figures}: SENet leads by {lead:.2f} points, but {noise}, so this is a tie."
    elif lead < BY_FAR_POINTS:
        answer = "no"
        text = (f"Best, but not by far. {figures}: SENet leads by {lead:.2f} points, more than the ±{band:.2f} "
                f"points of chance on {n:,} test images but less than the {BY_FAR_POINTS:g} points we call 'by far'.")
    else:
        answer = "yes"
        text = (f"Yes. {figures}: SENet leads by {lead:.2f} points, beyond the ±{band:.2f} points of chance on "
                f"{n:,} test images and beyond the {BY_FAR_POINTS:g} points we call 'by far'.")
    return too_weak(Verdict(answer, text + cost + _comparability(records)), records)
