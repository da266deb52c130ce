"""The verdict's statistics on synthetic predictions whose answers are known."""
import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from cifar_models.statistics import compare_models, mcnemar_exact, mean_and_std, paired_bootstrap_interval


def paired(n_both: int, n_a_only: int, n_b_only: int, n_neither: int, seed: int = 0):
    """Correctness vectors with the given contingency counts, in shuffled order."""
    a = np.array([1] * n_both + [1] * n_a_only + [0] * n_b_only + [0] * n_neither, bool)
    b = np.array([1] * n_both + [0] * n_a_only + [1] * n_b_only + [0] * n_neither, bool)
    order = np.random.default_rng(seed).permutation(len(a))
    return a[order], b[order]


def test_mcnemar_exact_is_the_binomial_test_on_the_discordant_pairs():
    a, b = paired(50, 12, 3, 35)
    assert mcnemar_exact(a, b) == pytest.approx(stats.binomtest(3, 15, 0.5).pvalue)
    assert mcnemar_exact(a, b) == pytest.approx(0.03515625)
    assert mcnemar_exact(b, a) == pytest.approx(mcnemar_exact(a, b))


def test_mcnemar_without_discordant_pairs_finds_nothing():
    a, _ = paired(80, 0, 0, 20)
    assert mcnemar_exact(a, a) == 1.0


def test_bootstrap_interval_covers_the_difference_with_the_normal_width():
    a, b = paired(800, 100, 40, 60)  # difference 0.06 on 1,000 images
    low, high = paired_bootstrap_interval(a, b, resamples=4000)
    assert low < 0.06 < high and low > 0
    # the paired difference per image is +1, -1 or 0: its standard error
    diff = a.astype(float) - b.astype(float)
    half_width = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff))
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.15)


def test_bootstrap_is_seeded_and_zero_for_identical_models():
    a, b = paired(500, 30, 20, 50)
    assert paired_bootstrap_interval(a, b, seed=3) == paired_bootstrap_interval(a, b, seed=3)
    assert paired_bootstrap_interval(a, a) == (0.0, 0.0)


def three_models(n: int = 2000):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, n)
    wrong = (labels + 1) % 10
    strong = np.where(rng.random(n) < 0.92, labels, wrong)
    # weak: strong with 200 of its right answers made wrong and 40 of its wrong answers made right (-8 points)
    weak = strong.copy()
    right, missed = np.flatnonzero(strong == labels), np.flatnonzero(strong != labels)
    weak[right[:200]] = wrong[right[:200]]
    weak[missed[:40]] = labels[missed[:40]]
    # twin: strong with 10 answers changed each way (the same accuracy, not a real difference)
    twin = strong.copy()
    twin[right[-10:]] = wrong[right[-10:]]
    twin[missed[-10:]] = labels[missed[-10:]]
    return labels, {"strong": strong, "weak": weak, "twin": twin}


def one_seed(predictions: dict) -> dict:
    return {name: {0: predicted} for name, predicted in predictions.items()}


def test_compare_models_finds_the_real_lead_only_and_applies_holm():
    labels, predictions = three_models()
    rows = {(r.model_a, r.model_b): r for r in compare_models(one_seed(predictions), labels, resamples=2000)}
    assert set(rows) == {("strong", "weak"), ("strong", "twin"), ("weak", "twin")}
    lead = rows[("strong", "weak")]
    assert (lead.a_only, lead.b_only, lead.seeds, lead.images) == (200, 40, (0,), 2000)
    assert lead.difference == pytest.approx(160 / 2000)
    assert lead.interval_low < lead.difference < lead.interval_high and lead.significant
    tie = rows[("strong", "twin")]
    assert tie.difference == 0 and not tie.significant
    raw = [r.p_value for r in rows.values()]
    assert [r.p_corrected for r in rows.values()] == pytest.approx(list(multipletests(raw, method="holm")[1]))


def test_a_significant_lead_under_two_points_is_significant():
    labels, predictions = three_models(20000)
    strong = predictions["strong"]
    slightly_weaker = strong.copy()
    right = np.flatnonzero(strong == labels)
    slightly_weaker[right[:300]] = (labels[right[:300]] + 1) % 10  # 1.5 points, all one way: highly significant
    (row,) = compare_models(one_seed({"strong": strong, "weaker": slightly_weaker}), labels, resamples=500)
    assert row.significant and row.difference == pytest.approx(0.015)  # the verdict's size rule is tested there


def test_with_seeds_a_lead_must_hold_for_every_seed():
    labels, predictions = three_models()
    strong, weak = predictions["strong"], predictions["weak"]
    holds = compare_models({"a": {0: strong, 1: strong}, "b": {0: weak, 1: weak}}, labels, resamples=500)[0]
    assert holds.significant and holds.accuracy_a == pytest.approx((strong == labels).mean())
    fails = compare_models({"a": {0: strong, 1: strong}, "b": {0: weak, 1: strong}}, labels, resamples=500)[0]
    assert fails.p_value == 1.0 and not fails.significant
    assert fails.accuracy_b == pytest.approx(((weak == labels).mean() + (strong == labels).mean()) / 2)


def test_seeds_are_paired_by_number_never_by_position():
    labels, predictions = three_models()
    strong, weak = predictions["strong"], predictions["weak"]
    # b has no seed 0: its seed 1 (= a's seed 1) is paired with a's seed 1, not with a's first listed seed
    (row,) = compare_models({"a": {0: weak, 1: strong}, "b": {1: strong}}, labels, resamples=200)
    assert row.seeds == (1,) and row.difference == 0 and row.p_value == 1.0 and (row.a_only, row.b_only) == (0, 0)
    assert compare_models({"a": {0: strong}, "b": {1: strong}}, labels) == []  # no seed in common: no pair


def test_predictions_for_other_images_are_refused_by_name():
    labels, predictions = three_models(100)
    with pytest.raises(ValueError, match="weak seed 0: 50 predictions for 100 test images"):
        compare_models(one_seed({"strong": predictions["strong"], "weak": predictions["weak"][:50]}), labels)


def test_mean_and_std_over_seeds():
    assert mean_and_std([0.9]) == (0.9, 0.0)
    mean, std = mean_and_std([0.90, 0.92, 0.94])
    assert mean == pytest.approx(0.92) and std == pytest.approx(0.02)
