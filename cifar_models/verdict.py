"""The verdict on "is SENet the best by far?": one rule, one function (:func:`judge`), for every place that answers it
(the dashboard's Home and Compare pages, ``train_all.py``'s closing lines), so they all give the same answer and the
same numbers.

The rule (:data:`VERDICT_RULE`): "by far" means a lead that is significant (McNemar's exact test on the paired
per-image test predictions, p < :data:`~cifar_models.statistics.SIGNIFICANCE` after Holm's correction over the model
pairs, for every seed) and at least :data:`MIN_LEAD` of clean test accuracy. Seed k of one model is paired with seed k
of the other (by recipe seed, never by position); each model's accuracy is the mean ± std over its seeds.

The tests need the test split's labels, which the run records do not hold (they hold each image's prediction), from
the data set the runs were tested on, and every record's predictions (a record may hold none). Where the tests cannot
run, the verdict still answers what the size of the leads decides alone: a lead under :data:`MIN_LEAD` is "no" whatever
a test would say; a larger one "cannot say" until the tests can run. The leads come from the records' accuracies in
both cases, so they are the same numbers whether or not the tests ran.

A record whose per-image predictions cover only part of its test set, that was measured on another number of test
images, or whose accuracy does not match its predictions, is left out with a message (never compared on a silent
subset).
"Too weak to say" where the runs cannot answer at all: smoke runs, or a model within :data:`CHANCE_MARGIN` of chance.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .models import display_order, model_title
from .run_record import RunRecord
from .statistics import SIGNIFICANCE, PairComparison, compare_models, mean_and_std

MIN_LEAD = 0.02  # of clean test accuracy (two points): the least lead called "by far"
CHANCE_MARGIN = 0.10  # a model less than this above guessing has learnt too little for its rank to mean anything
QUESTION_MODEL = "senet"
RESAMPLES = 2000  # of the paired bootstrap


def points(fraction: float) -> str:
    """A fraction of accuracy in percentage points, as the verdict writes it: 0.02 -> '2'."""
    return f"{100 * fraction:g}"


VERDICT_RULE = (f'"By far" means a lead that is significant (McNemar\'s exact test, p < {SIGNIFICANCE:g} after Holm\'s '
                f'correction over the model pairs, for every seed) and at least {points(MIN_LEAD)} points of clean '
                'test accuracy.')


@dataclass(frozen=True)
class GroundTruth:
    """The test split's labels, and the fingerprint of the data set they come from (``CIFAR10.fingerprint``)."""

    labels: np.ndarray
    fingerprint: str


@dataclass(frozen=True)
class ModelAccuracy:
    """A model's clean test accuracy over the seeds the verdict uses."""

    name: str
    mean: float
    std: float  # sample standard deviation over the seeds; 0 with one seed
    seeds: tuple[int, ...]  # recipe seeds


@dataclass(frozen=True)
class PairEvidence:
    """The question model against one rival: one row of the verdict (and of a forest plot of it)."""

    model: str  # the question model
    rival: str
    lead: float  # model's accuracy minus the rival's (fraction), mean over the paired seeds; negative: it trails
    seeds: tuple[int, ...]  # the recipe seeds both have, paired seed k with seed k
    images: int  # test images per seed
    interval: tuple[float, float] | None = None  # paired bootstrap 95% interval of the lead; None: not tested
    p_value: float | None = None  # McNemar's exact test, the largest over the seed pairs
    p_corrected: float | None = None  # Holm-corrected over every pair of models
    significant: bool | None = None  # p_corrected < SIGNIFICANCE; None: not tested (no test labels)

    @property
    def by_far(self) -> bool | None:
        """Whether the lead is "by far" under the rule; None where only a test could decide it."""
        if self.lead < MIN_LEAD:
            return False
        return None if self.significant is None else self.significant


@dataclass(frozen=True)
class Verdict:
    """The answer, its reasoning and every figure it rests on."""

    question: str  # the model asked about ("senet")
    answer: str  # "yes", "no", "cannot say" (nothing to judge, or untested) or "too weak" (the runs cannot answer)
    sentence: str  # the answer in one sentence, with the decisive figures
    details: str  # the reasoning after it: the rule, each model's accuracy, each rival's lead, interval and p, cost
    rivals: tuple[PairEvidence, ...] = ()  # the question model against each rival, in display order
    models: tuple[ModelAccuracy, ...] = ()  # every model the verdict used, in display order
    comparisons: tuple[PairComparison, ...] = ()  # every pair of models (the Holm family); empty when untested
    left_out: tuple[str, ...] = ()  # each record left out, and why
    untested: str = ""  # why the paired tests did not run (no test labels, another data set, no predictions); '' ran
    min_lead: float = MIN_LEAD  # the rule's least lead called "by far" (a forest plot's band)

    @property
    def tested(self) -> bool:
        """Whether the paired tests ran: the rivals carry intervals and p-values."""
        return not self.untested

    @property
    def text(self) -> str:
        """The verdict in full: its sentence, then the details."""
        return f"{self.sentence} {self.details}"


def judge(seed_records: Mapping[str, Sequence[RunRecord]], labels: GroundTruth | None = None, *,
          robustness: Mapping[str, Mapping | None] | None = None, question: str = QUESTION_MODEL,
          resamples: int = RESAMPLES) -> Verdict:
    """'Is ``question`` the best by far?', from each model's run records over seeds (``seed_records[name]``) and,
    where known, the test labels the records' predictions are paired with; ``robustness[name]`` (a
    ``robustness.json``, or None) adds the mean corruption accuracies to the text."""
    used, left_out = usable_records(seed_records, labels)
    untested = _untested(used, labels)
    labels = None if untested else labels
    models = tuple(_accuracy(name, by_seed) for name, by_seed in used.items())
    comparisons = ()
    if labels is not None and used:
        predictions = {name: {k: np.asarray(r.test.predictions) for k, r in by_seed.items()}
                       for name, by_seed in used.items()}
        images = min(record.test.n for by_seed in used.values() for record in by_seed.values())  # all the same
        comparisons = tuple(compare_models(predictions, labels.labels[:images], resamples=resamples))
    rivals = tuple(_pair(question, rival, used, comparisons, labels is not None) for rival in used if rival != question)
    rivals = tuple(pair for pair in rivals if pair is not None)
    answer, sentence = _answer(question, rivals)
    text = " ".join(part for part in (
        VERDICT_RULE, _accuracies(models), _rival_statements(question, rivals), untested,
        _robustness(question, robustness or {}), _cost(question, rivals, used), _comparability(used)) if part)
    verdict = Verdict(question, answer, sentence, text, rivals, models, comparisons, tuple(left_out), untested)
    return _too_weak(verdict, used)


def usable_records(seed_records: Mapping[str, Sequence[RunRecord]], labels: GroundTruth | None = None
                   ) -> tuple[dict[str, dict[int, RunRecord]], list[str]]:
    """Each model's records by recipe seed (in the registry's display order) that the verdict can use, and a message
    for each record it leaves out. All are compared on the same test images: the most any complete record measured
    (the whole test split, or a smoke run's first images)."""
    candidates = [(name, record) for name in display_order(seed_records) for record in seed_records[name]]
    complete = [record.test.n for _, record in candidates if not _incomplete(record)]
    images = max(complete, default=0)
    used: dict[str, dict[int, RunRecord]] = {}
    left_out = []
    for name, record in candidates:
        by_seed = used.setdefault(name, {})
        problem = _incomplete(record) or _unlike(record, images, labels, by_seed)
        if problem:
            left_out.append(f"{model_title(name)} seed {record.seed} is left out of the verdict: {problem}.")
        else:
            by_seed[record.seed] = record
    return {name: dict(sorted(by_seed.items())) for name, by_seed in used.items() if by_seed}, left_out


def _incomplete(record: RunRecord) -> str:
    """Why ``record`` lacks what the verdict needs, or ''."""
    n, predicted = record.test.n, len(record.test.predictions)
    if not math.isfinite(record.accuracy) or n == 0:
        return "its record has no test accuracy"
    if predicted not in (n, 0):  # none: not recorded, which leaves the leads but not the paired tests (_untested)
        return (f"its record holds {predicted:,} per-image predictions for {n:,} test images, and the models are "
                "compared on the same images, never on a subset")
    return ""


def _unlike(record: RunRecord, images: int, labels: GroundTruth | None, earlier: dict[int, RunRecord]) -> str:
    """Why ``record`` cannot be compared with the others on the first ``images`` test images, or ''."""
    if record.seed in earlier:
        return "a second run record with the same recipe seed (the first one read is used)"
    if record.test.n != images:
        return f"it was measured on {record.test.n:,} test images, the others on {images:,}"
    if labels is None or record.data_fingerprint != labels.fingerprint or not record.test.predictions:
        return ""  # nothing to check the predictions against (see _untested)
    if images > len(labels.labels):
        return f"it was measured on {images:,} test images, and the test split has {len(labels.labels):,}"
    measured = float(np.mean(np.asarray(record.test.predictions) == labels.labels[:images]))
    if abs(measured - record.accuracy) > 0.5 / images:
        return f"its recorded accuracy {record.accuracy:.2%} does not match its predictions ({measured:.2%})"
    return ""


def _untested(used: dict[str, dict[int, RunRecord]], labels: GroundTruth | None) -> str:
    """Why the paired tests cannot run on these records and labels (a sentence), or '' where they can."""
    pairing = "McNemar's test and the bootstrap interval pair each test prediction with its label"
    if labels is None:
        return f"{pairing}: without the test labels (the data set) they cannot run."
    others = sorted({r.data_fingerprint[:12] for by_seed in used.values() for r in by_seed.values()
                     if r.data_fingerprint != labels.fingerprint})
    if others:
        return (f"{pairing}, and the runs were tested on another data set (fingerprint {', '.join(others)}) than the "
                f"one loaded ({labels.fingerprint[:12]}), so they cannot run.")
    unrecorded = [f"{model_title(name)} seed {seed}" for name, by_seed in used.items()
                  for seed, record in by_seed.items() if not record.test.predictions]
    if unrecorded:
        return f"{pairing}, and the records of {', '.join(unrecorded)} hold none, so they cannot run."
    return ""


def _accuracy(name: str, by_seed: dict[int, RunRecord]) -> ModelAccuracy:
    mean, std = mean_and_std([record.accuracy for record in by_seed.values()])
    return ModelAccuracy(name, mean, std, tuple(by_seed))


def _pair(question: str, rival: str, used: dict[str, dict[int, RunRecord]], comparisons: tuple[PairComparison, ...],
          tested: bool) -> PairEvidence | None:
    """The question model against ``rival`` on their common seeds; the lead from the records' accuracies (the same
    number whether or not the tests ran), the interval and p from the paired tests where they ran."""
    if question not in used:
        return None
    seeds = tuple(k for k in used[question] if k in used[rival])
    if not seeds:
        return None
    lead = float(np.mean([used[question][k].accuracy - used[rival][k].accuracy for k in seeds]))
    pair = PairEvidence(question, rival, lead, seeds, used[question][seeds[0]].test.n)
    if not tested:
        return pair
    (found,) = [c for c in comparisons if {c.model_a, c.model_b} == {question, rival}]
    sign = 1 if found.model_a == question else -1
    low, high = sorted((sign * found.interval_low, sign * found.interval_high))
    return PairEvidence(question, rival, lead, seeds, found.images, (low, high), found.p_value, found.p_corrected,
                        found.significant)


def _figures(pair: PairEvidence) -> str:
    """'(95% interval +4.72 to +5.82, Holm-corrected p = 6e-47; 2 seeds)' or, untested, '(2 seeds)'."""
    parts = []
    if pair.interval is not None:
        parts.append(f"95% interval {100 * pair.interval[0]:+.2f} to {100 * pair.interval[1]:+.2f}, "
                     f"Holm-corrected p = {pair.p_corrected:.3g}")
    parts.append(f"{len(pair.seeds)} seeds" if len(pair.seeds) > 1 else f"seed {pair.seeds[0]}")
    return f"({'; '.join(parts)})"


def _answer(question: str, rivals: tuple[PairEvidence, ...]) -> tuple[str, str]:
    """The answer under the rule and the one sentence that says it, with the decisive pair's figures."""
    title = model_title(question)
    if not rivals:
        return "cannot say", (f"Cannot say: there is no {title} run and rival with complete test results to "
                              "compare.")
    closest = min(rivals, key=lambda pair: pair.lead)
    rival, lead = model_title(closest.rival), 100 * closest.lead
    untested = [pair for pair in rivals if pair.significant is None]
    not_significant = [pair for pair in rivals if pair.significant is False]
    if closest.lead < 0:
        return "no", f"No: {title} trails {rival} by {-lead:.2f} points {_figures(closest)}."
    if closest.lead < MIN_LEAD:
        return "no", (f"No: {title} leads {rival} by only {lead:.2f} points {_figures(closest)}, less than the "
                      f"{points(MIN_LEAD)} points that \"by far\" takes.")
    if not_significant:
        weakest = max(not_significant, key=lambda pair: pair.p_corrected)
        return "no", (f"No: {title} leads {model_title(weakest.rival)} by {100 * weakest.lead:.2f} points, but not "
                      f"significantly {_figures(weakest)}.")
    if untested:
        return "cannot say", (f"Cannot say yet: {title} leads every rival by at least {points(MIN_LEAD)} points "
                              f"(the closest, {rival}, by {lead:.2f}), but whether that is beyond chance takes the "
                              "paired tests, which could not run.")
    return "yes", (f"Yes: {title} leads every rival by at least {points(MIN_LEAD)} points, significantly (the "
                   f"closest, {rival}, by {lead:.2f} points {_figures(closest)}).")


def _accuracies(models: tuple[ModelAccuracy, ...]) -> str:
    if not models:
        return ""
    several = any(len(model.seeds) > 1 for model in models)
    shown = ", ".join(f"{model_title(m.name)} {m.mean:.2%}" + (f" ± {100 * m.std:.2f} ({len(m.seeds)} seeds)"
                                                                if several else "") for m in models)
    return f"Test accuracy{' (mean ± std over seeds, in points)' if several else ''}: {shown}."


def _rival_statements(question: str, rivals: tuple[PairEvidence, ...]) -> str:
    if not rivals:
        return ""
    statements = "; ".join(f"against {model_title(pair.rival)}: {100 * pair.lead:+.2f} points {_figures(pair)}"
                           for pair in rivals)
    return f"On {rivals[0].images:,} test images, {model_title(question)} {statements}."


def _robustness(question: str, robustness: Mapping[str, Mapping | None]) -> str:
    measured = {name: result for name, result in robustness.items() if result}
    if question not in measured or len(measured) < 2:
        return ""
    best = max(measured, key=lambda name: measured[name]["mean_corruption_accuracy"])
    figures = ", ".join(f"{model_title(name)} {measured[name]['mean_corruption_accuracy']:.2%}"
                        for name in display_order(measured))  # in the registry's order, as everywhere
    return (f"Under the CIFAR-10-C corruptions {model_title(best)} holds up best (mean corruption accuracy: "
            f"{figures}).")


def _ratio(numerator: float, denominator: float) -> str:
    ratio = numerator / denominator if denominator else math.inf
    return f"{ratio:.1f}×" if math.isfinite(ratio) else "an unknown multiple of"


def _cost(question: str, rivals: tuple[PairEvidence, ...], used: dict[str, dict[int, RunRecord]]) -> str:
    """What the question model costs against its most accurate rival (the first seed's runs)."""
    if not rivals:
        return ""
    best = min(rivals, key=lambda pair: pair.lead).rival
    model, rival = next(iter(used[question].values())), next(iter(used[best].values()))
    return (f"{model_title(question)} costs {_ratio(model.macs, rival.macs)} {model_title(best)}'s "
            f"multiply-accumulates per image and {_ratio(model.train_seconds, rival.train_seconds)} its training "
            "time.")


def _comparability(used: dict[str, dict[int, RunRecord]]) -> str:
    """A warning when the runs did not get the same recipe, data or evaluation, else ''."""
    firsts = [next(iter(by_seed.values())) for by_seed in used.values()]
    recipes = [{key: value for key, value in record.recipe.to_dict().items() if key != "seed"} for record in firsts]
    differing = [key for key in dict.fromkeys(key for recipe in recipes for key in recipe)
                 if len({json.dumps(recipe.get(key), sort_keys=True, default=str) for recipe in recipes}) > 1]
    for label, read in (("data subset", lambda r: r.data.subset), ("data set", lambda r: r.data_fingerprint),
                        ("number of test images", lambda r: r.test.n)):
        if len({json.dumps(read(record), default=str) for record in firsts}) > 1:
            differing.append(label)
    return (f"Caution: the runs differ in {', '.join(differing)}, so this is not a like-for-like comparison."
            if differing else "")


def weakness(used: Mapping[str, Mapping[int, RunRecord]]) -> list[str]:
    """Why these runs are too weak to say whether one model is the best by far: smoke runs (trained on a subset), or
    a model whose mean accuracy is within :data:`CHANCE_MARGIN` of chance; empty when they are not."""
    reasons = []
    subsets = sorted({r.data.subset for by_seed in used.values() for r in by_seed.values() if r.is_smoke_run})
    if subsets:
        reasons.append(f"they are smoke runs on {' and '.join(f'{n:,}' for n in subsets)} training images, which say "
                       "little about the full recipe")
    for name, by_seed in used.items():
        record = next(iter(by_seed.values()))
        chance, accuracy = 1 / len(record.classes), _accuracy(name, dict(by_seed)).mean
        if accuracy - chance < CHANCE_MARGIN:
            reasons.append(f"{model_title(name)} reaches {accuracy:.2%}, within {points(CHANCE_MARGIN)} points of "
                           f"chance ({chance:.2%}: guessing one of {len(record.classes)} classes)")
    return reasons


def _too_weak(verdict: Verdict, used: dict[str, dict[int, RunRecord]]) -> Verdict:
    """``verdict``, or where the runs are too weak to answer, a "too weak" one that keeps its figures (with nothing
    to compare, "cannot say" stands)."""
    reasons = weakness(used)
    if not reasons or not verdict.rivals:
        return verdict
    sentence = f"Too weak to say: {'; '.join(reasons)}."
    return replace(verdict, answer="too weak", sentence=sentence,
                   details=("Yes, no or not by far is said only of full runs that all learnt well beyond chance. The "
                            f"figures, for what they show: {verdict.text}"))
