"""Is one model's lead real? Paired tests on the test split's per-image predictions.

For every pair of models: McNemar's exact test (statsmodels) on the images one model gets right and the other
wrong, a paired bootstrap 95% interval of the accuracy difference (scipy, resampling test images), and Holm's
correction over the pairs (statsmodels). The verdict's rule is in ``cifar_models.verdict``.

Several seeds: seed k of one model is paired with seed k of the other on the same images. A pair's p-value is the
largest over the seed pairs, so a lead counts only when it is significant for every seed (an intersection-union
test, which needs no further correction over the seeds); the bootstrap resamples test images with all seeds of an
image kept together (a cluster bootstrap), so the interval covers the test set's noise around the seed average.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats

# statsmodels is imported where the tests run, not here: training prints the verdict (cifar_models.verdict imports this
# module) on machines without it, such as the lent GPU machine, where the paired tests are left for later.

SIGNIFICANCE = 0.05  # of McNemar's test, after Holm's correction over the pairs

SeedPredictions = dict[int, np.ndarray]  # recipe seed -> predicted class of each test image


@dataclass(frozen=True)
class PairComparison:
    model_a: str
    model_b: str
    seeds: tuple[int, ...]  # the recipe seeds both models have: seed k of A is paired with seed k of B
    images: int  # test images per seed
    accuracy_a: float  # mean over the paired seeds
    accuracy_b: float
    difference: float  # accuracy_a - accuracy_b
    interval_low: float  # paired bootstrap 95% interval of the difference
    interval_high: float
    a_only: int  # images only A gets right (summed over seed pairs)
    b_only: int
    p_value: float  # McNemar's exact test; the largest over seed pairs
    p_corrected: float  # Holm over the pairs
    significant: bool


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Two-sided p-value of McNemar's exact test on paired correctness vectors (booleans, same images)."""
    from statsmodels.stats.contingency_tables import mcnemar

    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    table = [[np.sum(correct_a & correct_b), np.sum(correct_a & ~correct_b)],
             [np.sum(~correct_a & correct_b), np.sum(~correct_a & ~correct_b)]]
    return float(mcnemar(table, exact=True).pvalue)


def paired_bootstrap_interval(correct_a: np.ndarray, correct_b: np.ndarray, *, confidence: float = 0.95,
                              resamples: int = 5000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(correct_a) - mean(correct_b)``, resampling the images (axis -1)
    with their pairing kept; with a leading seed axis, an image's seeds are resampled together."""
    per_image_a = np.asarray(correct_a, float).reshape(-1, np.shape(correct_a)[-1]).mean(0)
    per_image_b = np.asarray(correct_b, float).reshape(-1, np.shape(correct_b)[-1]).mean(0)
    if np.array_equal(per_image_a, per_image_b):  # no discordant image: every resample gives 0
        return 0.0, 0.0
    result = stats.bootstrap((per_image_a, per_image_b), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
                             paired=True, vectorized=True, n_resamples=resamples, confidence_level=confidence,
                             method="percentile", rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def compare_models(predictions: dict[str, SeedPredictions], labels: np.ndarray, *, resamples: int = 5000,
                   seed: int = 0) -> list[PairComparison]:
    """Every pair of models that share a recipe seed. ``predictions[name][k]`` is seed ``k``'s predicted class for
    each of the test images in ``labels``; seed k of one model is paired with seed k of the other (never by position:
    a model missing a seed leaves that seed out of its pairs)."""
    labels = np.asarray(labels)
    correct = {name: {k: _correct(name, k, predicted, labels) for k, predicted in sorted(by_seed.items())}
               for name, by_seed in predictions.items()}
    rows = []
    for name_a, name_b in combinations(correct, 2):
        seeds = tuple(k for k in correct[name_a] if k in correct[name_b])
        if not seeds:
            continue
        a = np.stack([correct[name_a][k] for k in seeds])
        b = np.stack([correct[name_b][k] for k in seeds])
        low, high = paired_bootstrap_interval(a, b, resamples=resamples, seed=seed)
        rows.append(dict(model_a=name_a, model_b=name_b, seeds=seeds, images=len(labels),
                         accuracy_a=float(a.mean()), accuracy_b=float(b.mean()), difference=float(a.mean() - b.mean()),
                         interval_low=low, interval_high=high, a_only=int(np.sum(a & ~b)), b_only=int(np.sum(~a & b)),
                         p_value=max(mcnemar_exact(a[k], b[k]) for k in range(len(seeds)))))
    if not rows:
        return []
    from statsmodels.stats.multitest import multipletests

    rejected, corrected, _, _ = multipletests([row["p_value"] for row in rows], alpha=SIGNIFICANCE, method="holm")
    return [PairComparison(**row, p_corrected=float(p), significant=bool(reject))
            for row, p, reject in zip(rows, corrected, rejected)]


def _correct(name: str, seed: int, predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    predicted = np.asarray(predicted)
    if predicted.shape != labels.shape:
        raise ValueError(f"{name} seed {seed}: {len(predicted)} predictions for {len(labels)} test images; compare "
                         "models evaluated on the same test images")
    return predicted == labels


def mean_and_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) of per-seed figures."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
