"""The Compare page's verdict with evidence, on synthetic run records whose answer is known."""
from dataclasses import replace

import numpy as np
import pytest

from cifar_models.recipe import DEFAULT_RECIPE
from cifar_models.run_record import RunRecord
from dashboard.views.common import format_percent
from dashboard.views.evidence import comparisons_for, evidence_verdict, pair_table, paired_predictions, seed_table
from run_records import run_record


def record(predictions: np.ndarray, labels: np.ndarray, seed: int) -> RunRecord:
    made = run_record("senet", float((predictions == labels).mean()), n=len(labels),
                      recipe=DEFAULT_RECIPE.updated(seed=seed).to_dict())
    return replace(made, test=replace(made.test, predictions=tuple(predictions.tolist())))


def runs(lead_points: float, seeds: int = 2, n: int = 4000):
    """senet leads plain_cnn by ``lead_points`` on every seed: plain_cnn gets 85%, senet those plus more."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    result = {"plain_cnn": [], "senet": []}
    for seed in range(seeds):
        plain = np.where(rng.random(n) < 0.85, labels, (labels + 1) % 10)
        senet = plain.copy()
        wrong = np.flatnonzero(plain != labels)
        fixed = wrong[:int(lead_points / 100 * n)]
        senet[fixed] = labels[fixed]
        result["plain_cnn"].append(record(plain, labels, seed))
        result["senet"].append(record(senet, labels, seed))
    return result, labels


def test_seed_table_gives_mean_and_std_over_seeds():
    seed_records, labels = runs(3.0)
    table = seed_table(seed_records)
    accuracies = [r.accuracy for r in seed_records["senet"]]
    assert table.loc["senet", "seeds"] == 2 and table.loc["senet", "recipe seeds"] == "0, 1"
    assert table.loc["senet", "mean test accuracy"] == pytest.approx(np.mean(accuracies))
    assert table.loc["senet", "std"] == pytest.approx(np.std(accuracies, ddof=1))


def test_a_significant_three_point_lead_is_by_far():
    seed_records, labels = runs(3.0)
    comparisons = comparisons_for(seed_records, labels, resamples=500)
    verdict = evidence_verdict(comparisons, seed_records, {})
    assert verdict.answer == "yes" and verdict.text.startswith("Yes, by far.")
    assert '"By far" means a lead that is significant' in verdict.text and "against Plain CNN: +3.00 points" in verdict.text
    mean = np.mean([r.accuracy for r in seed_records["senet"]])
    assert "Test accuracy (mean over seeds): Plain CNN " in verdict.text and f"SENet {format_percent(mean)}." in verdict.text
    table = pair_table(comparisons)
    assert table.loc["Plain CNN − SENet", "difference (points)"] == pytest.approx(-3.0)  # models by title
    assert table.loc["Plain CNN − SENet", "significant"] and table.loc["Plain CNN − SENet", "only SENet right"] > 0


def test_a_significant_one_point_lead_is_not_by_far_and_robustness_is_named():
    seed_records, labels = runs(1.0)
    robustness = {"plain_cnn": {"mean_corruption_accuracy": 0.61}, "senet": {"mean_corruption_accuracy": 0.66}}
    verdict = evidence_verdict(comparisons_for(seed_records, labels, resamples=500), seed_records, robustness)
    assert verdict.answer == "no" and "not by 2 points" in verdict.text
    assert "SENet holds up best (mean corruption accuracy: Plain CNN 61.00%, SENet 66.00%)" in verdict.text


def test_models_evaluated_on_different_test_counts_are_compared_on_the_common_images():
    seed_records, labels = runs(3.0, seeds=1)
    plain = seed_records["plain_cnn"][0]
    seed_records["plain_cnn"][0] = replace(plain, test=replace(plain.test, predictions=plain.test.predictions[:1000]))
    predictions, n = paired_predictions(seed_records)
    assert n == 1000 and predictions["senet"].shape == (1, 1000)


def test_without_a_senet_run_the_verdict_cannot_say():
    seed_records, labels = runs(3.0, seeds=1)
    del seed_records["senet"]
    assert evidence_verdict(comparisons_for(seed_records, labels), seed_records, {}).answer == "cannot say"


def test_smoke_runs_and_models_near_chance_are_too_weak_to_say_but_keep_their_figures():
    seed_records, labels = runs(3.0)
    comparisons = comparisons_for(seed_records, labels, resamples=500)
    smoke = {name: [replace(r, data=replace(r.data, subset=2000)) for r in records]
             for name, records in seed_records.items()}
    verdict = evidence_verdict(comparisons, smoke, {})
    assert verdict.answer == "too weak"
    assert verdict.text.startswith("Too weak to say: they are smoke runs on 2,000 training images")
    assert "The figures, for what they show: Yes, by far." in verdict.text  # the evidence is kept, not hidden

    near_chance = dict(seed_records, plain_cnn=[replace(r, test=replace(r.test, accuracy=0.19))
                                                for r in seed_records["plain_cnn"]])
    verdict = evidence_verdict(comparisons, near_chance, {})
    assert verdict.answer == "too weak"
    assert "Plain CNN reaches 19.00%, within 10 points of chance (10.00%: guessing one of 10 classes)" in verdict.text
