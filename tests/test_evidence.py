"""The one verdict (cifar_models.verdict.judge) and the Compare page's evidence tables, on synthetic run records whose
answer is known; then Home and Compare in AppTest on the committed records."""
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cifar_models.checkpoint import RECORD_FILE, find_seed_checkpoints, read_seed_records, write_json
from cifar_models.recipe import DEFAULT_RECIPE
from cifar_models.run_record import RunRecord
from cifar_models.verdict import MIN_LEAD, VERDICT_RULE, GroundTruth, judge
from dashboard.views.evidence import forest_rows, pair_table, seed_table
from run_records import run_record

from apptest_helpers import HOME, chart_frames, page_text

COMPARE = "app_pages/compare.py"
REPO = Path(__file__).resolve().parents[1]
FINGERPRINT = "same"  # the data fingerprint of tests/run_records.py's records


def record(name: str, predictions: np.ndarray, labels: np.ndarray, seed: int, **fields) -> RunRecord:
    made = run_record(name, float((predictions == labels).mean()), n=len(labels),
                      recipe=DEFAULT_RECIPE.updated(seed=seed).to_dict(), **fields)
    return replace(made, test=replace(made.test, predictions=tuple(predictions.tolist())))


def runs(lead_points: float, seeds: int = 2, n: int = 4000, rival: str = "plain_cnn"):
    """senet leads ``rival`` by ``lead_points`` on every seed: the rival gets 85%, senet those plus more."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    result = {rival: [], "senet": []}
    for seed in range(seeds):
        plain = np.where(rng.random(n) < 0.85, labels, (labels + 1) % 10)
        senet = plain.copy()
        fixed = np.flatnonzero(plain != labels)[:int(lead_points / 100 * n)]
        senet[fixed] = labels[fixed]
        result[rival].append(record(rival, plain, labels, seed))
        result["senet"].append(record("senet", senet, labels, seed))
    return result, GroundTruth(labels, FINGERPRINT)


def cut(run: RunRecord, keep: int) -> RunRecord:
    return replace(run, test=replace(run.test, predictions=run.test.predictions[:keep]))


def test_a_significant_three_point_lead_is_by_far_and_the_sentence_carries_its_figures():
    seed_records, labels = runs(3.0)
    verdict = judge(seed_records, labels, resamples=500)
    assert verdict.answer == "yes" and verdict.tested
    (pair,) = verdict.rivals
    assert (pair.model, pair.rival, pair.seeds, pair.images) == ("senet", "plain_cnn", (0, 1), 4000)
    assert pair.lead == pytest.approx(0.03) and pair.significant and pair.by_far
    low, high = pair.interval
    assert low < pair.lead < high and pair.p_corrected < 0.05
    assert verdict.sentence == (f"Yes: SENet leads every rival by at least 2 points, significantly (the closest, "
                                f"Plain CNN, by 3.00 points (95% interval {100 * low:+.2f} to {100 * high:+.2f}, "
                                f"Holm-corrected p = {pair.p_corrected:.3g}; 2 seeds)).")
    assert verdict.text.startswith(verdict.sentence) and VERDICT_RULE in verdict.details
    mean = np.mean([r.accuracy for r in seed_records["senet"]])
    assert f"SENet {mean:.2%} ± " in verdict.details and "On 4,000 test images, SENet against Plain CNN: +3.00" \
        in verdict.details


def test_the_forest_plot_rows_are_the_verdicts_rivals_in_points_and_untested_ones_are_not_drawn():
    seed_records, labels = runs(3.0)
    verdict = judge(seed_records, labels, resamples=500)
    (pair,) = verdict.rivals
    rows = forest_rows(verdict)
    assert rows.to_dict("records") == [{"pair": "SENet − Plain CNN", "lead": pytest.approx(3.0),
                                        "low": pytest.approx(100 * pair.interval[0]),
                                        "high": pytest.approx(100 * pair.interval[1]), "significant": True}]
    assert forest_rows(judge(seed_records)).empty  # without the labels nothing was tested: no interval to draw


def test_the_rule_takes_its_numbers_from_the_constants():
    assert f"at least {100 * MIN_LEAD:g} points" in VERDICT_RULE and "p < 0.05" in VERDICT_RULE


def test_a_significant_one_point_lead_is_not_by_far_and_robustness_is_named():
    seed_records, labels = runs(1.0)
    robustness = {"plain_cnn": {"mean_corruption_accuracy": 0.61}, "senet": {"mean_corruption_accuracy": 0.66}}
    verdict = judge(seed_records, labels, robustness=robustness, resamples=500)
    assert verdict.answer == "no" and verdict.rivals[0].significant and verdict.rivals[0].by_far is False
    assert verdict.sentence.startswith("No: SENet leads Plain CNN by only 1.00 points (95% interval")
    assert 'less than the 2 points that "by far" takes' in verdict.sentence
    assert "SENet holds up best (mean corruption accuracy: Plain CNN 61.00%, SENet 66.00%)" in verdict.details


def test_without_the_labels_the_leads_and_means_are_the_same_and_only_size_decides():
    for lead, answer in ((3.0, "cannot say"), (1.0, "no")):
        seed_records, labels = runs(lead)
        tested, untested = judge(seed_records, labels, resamples=200), judge(seed_records)
        assert untested.answer == answer and not untested.tested and untested.rivals[0].interval is None
        assert [p.lead for p in untested.rivals] == [p.lead for p in tested.rivals]  # the same numbers
        assert untested.models == tested.models
        assert "without the test labels (the data set) they cannot run." in untested.details
    assert untested.sentence == "No: SENet leads Plain CNN by only 1.00 points (2 seeds), less than the 2 points " \
                                'that "by far" takes.'


def test_a_model_behind_is_no_whatever_the_tests_say():
    seed_records, labels = runs(1.5, rival="inception")
    swapped = {"inception": seed_records["senet"], "senet": [replace(r, model="senet") for r in seed_records["inception"]]}
    verdict = judge(swapped, labels, resamples=200)
    assert verdict.answer == "no" and verdict.sentence.startswith("No: SENet trails Inception by 1.50 points")
    assert verdict.rivals[0].lead == pytest.approx(-0.015) and verdict.rivals[0].interval[1] < 0


def test_a_seed_with_short_predictions_is_left_out_by_name_not_compared_on_a_subset():
    seed_records, labels = runs(3.0)
    whole = judge({name: records[:1] for name, records in seed_records.items()}, labels, resamples=300)
    seed_records["senet"][1] = cut(seed_records["senet"][1], 2000)
    for given in (labels, None):
        verdict = judge(seed_records, given, resamples=300)
        assert verdict.left_out == ("SENet seed 1 is left out of the verdict: its record holds 2,000 per-image "
                                    "predictions for 4,000 test images, and the models are compared on the same "
                                    "images, never on a subset.",)
        assert verdict.rivals[0].seeds == (0,) and verdict.rivals[0].images == 4000
    assert verdict.rivals[0].lead == whole.rivals[0].lead  # seed 0 on every image, as if seed 1 never existed
    assert judge(seed_records, labels, resamples=300).rivals[0].interval == whole.rivals[0].interval


def test_pairs_go_by_seed_number_when_a_seed_is_missing():
    seed_records, labels = runs(3.0)
    # Plain CNN's seed 0 did not read: its seed 1 must meet SENet's seed 1, not SENet's seed 0 (the first in the list)
    seed_records["plain_cnn"] = seed_records["plain_cnn"][1:]
    seed_records["senet"][1] = record("senet", np.asarray(seed_records["plain_cnn"][0].test.predictions),
                                      labels.labels, 1)  # seed 1: the same answers as Plain CNN's seed 1
    verdict = judge(seed_records, labels, resamples=300)
    (pair,) = verdict.rivals
    assert pair.seeds == (1,) and pair.lead == 0 and pair.p_value == 1.0 and pair.interval == (0.0, 0.0)
    assert [model.seeds for model in verdict.models] == [(1,), (0, 1)]  # each model's mean over its own seeds


def test_records_of_other_images_or_data_are_left_out_or_untested():
    seed_records, labels = runs(3.0)
    wrong = seed_records["plain_cnn"][1]
    seed_records["plain_cnn"][1] = replace(wrong, test=replace(wrong.test, accuracy=wrong.accuracy + 0.01))
    verdict = judge(seed_records, labels, resamples=200)
    assert "Plain CNN seed 1 is left out of the verdict: its recorded accuracy" in verdict.left_out[0]
    other = judge(seed_records, GroundTruth(labels.labels, "another data set"), resamples=200)
    assert not other.tested and "the runs were tested on another data set (fingerprint same)" in other.untested
    assert other.untested in other.details and other.rivals == judge(seed_records).rivals  # unchecked: all kept
    unrecorded = dict(seed_records, senet=[replace(r, test=replace(r.test, predictions=())) for r in seed_records["senet"]])
    none = judge(unrecorded, labels)
    assert none.untested.endswith("and the records of SENet seed 0, SENet seed 1 hold none, so they cannot run.")
    assert none.answer == "cannot say" and none.rivals[0].lead == verdict.rivals[0].lead  # 3 points: a test decides


def three_models(senet: float, plain: float = 0.90, inception: float = 0.91, n: int = 4000):
    """One seed of each model with these accuracies, each right on the first images a model's share of them."""
    labels = np.random.default_rng(1).integers(0, 10, n)
    runs = {name: [record(name, np.where(np.arange(n) < round(accuracy * n), labels, (labels + 1) % 10), labels, 0)]
            for name, accuracy in (("plain_cnn", plain), ("senet", senet), ("inception", inception))}
    return runs, GroundTruth(labels, FINGERPRINT)


def test_with_three_models_the_closest_rival_decides():
    verdict = judge(*three_models(0.95), resamples=200)
    assert verdict.answer == "yes" and [pair.rival for pair in verdict.rivals] == ["plain_cnn", "inception"]
    assert "(the closest, Inception, by 4.00 points" in verdict.sentence
    assert "SENet costs 1.0× Inception's multiply-accumulates" in verdict.details
    close = judge(*three_models(0.925), resamples=200)
    assert close.answer == "no" and close.sentence.startswith("No: SENet leads Inception by only 1.50 points")
    behind = judge(*three_models(0.89), resamples=200)
    assert behind.answer == "no" and behind.sentence.startswith("No: SENet trails Inception by 2.00 points")
    # two models at chance and one at 19%, once called a green "Yes."
    weak = judge(*three_models(0.19, plain=0.10, inception=0.10), resamples=200)
    assert weak.answer == "too weak"
    for title, shown in (("Plain CNN", "10.00%"), ("SENet", "19.00%"), ("Inception", "10.00%")):
        assert f"{title} reaches {shown}, within 10 points of chance (10.00%: guessing one of 10 classes)" \
            in weak.sentence
    assert judge(*three_models(0.95, plain=0.21), resamples=200).answer == "yes"  # 11 points above chance will do


def test_without_senet_the_verdict_cannot_say():
    seed_records, labels = runs(3.0, seeds=1)
    del seed_records["senet"]
    assert judge(seed_records, labels).answer == "cannot say"
    nothing = judge({}, labels)
    assert nothing.answer == "cannot say" and nothing.rivals == () and nothing.models == ()


def test_smoke_runs_and_models_near_chance_are_too_weak_to_say_but_keep_their_figures():
    seed_records, labels = runs(3.0)
    smoke = {name: [replace(r, data=replace(r.data, subset=2000)) for r in records]
             for name, records in seed_records.items()}
    verdict = judge(smoke, labels, resamples=300)
    assert verdict.answer == "too weak" and verdict.rivals[0].significant  # the evidence is kept, not hidden
    assert verdict.sentence == "Too weak to say: they are smoke runs on 2,000 training images, which say little " \
                               "about the full recipe."
    assert "The figures, for what they show: Yes: SENet leads every rival" in verdict.details

    near_chance = dict(seed_records, plain_cnn=[record("plain_cnn", np.zeros(4000, int), labels.labels, seed)
                                                for seed in (0, 1)])
    verdict = judge(near_chance, labels, resamples=300)
    chance = np.mean(labels.labels == 0)
    assert verdict.answer == "too weak"
    assert f"Plain CNN reaches {chance:.2%}, within 10 points of chance (10.00%: guessing one of 10 classes)" \
        in verdict.sentence


def test_unequal_runs_get_a_caution_and_the_cost_is_stated():
    seed_records, labels = runs(3.0, seeds=1)
    assert "Caution" not in judge(seed_records).details
    plain = seed_records["plain_cnn"][0]
    seed_records["plain_cnn"][0] = replace(plain, recipe=plain.recipe.updated(epochs=7), macs=50_000_000)
    details = judge(seed_records).details
    assert "Caution: the runs differ in epochs, so this is not a like-for-like comparison." in details
    assert "SENet costs 2.0× Plain CNN's multiply-accumulates per image and 1.0× its training time." in details


def test_seed_and_pair_tables_come_from_the_verdict():
    seed_records, labels = runs(3.0)
    verdict = judge(seed_records, labels, resamples=300)
    table = seed_table(verdict)
    accuracies = [r.accuracy for r in seed_records["senet"]]
    assert list(table.index) == ["plain_cnn", "senet"]  # the registry's order
    assert table.loc["senet", "seeds"] == 2 and table.loc["senet", "recipe seeds"] == "0, 1"
    assert table.loc["senet", "mean test accuracy"] == pytest.approx(np.mean(accuracies))
    assert table.loc["senet", "std"] == pytest.approx(np.std(accuracies, ddof=1))
    pairs = pair_table(verdict.comparisons)
    assert pairs.loc["Plain CNN − SENet", "difference (points)"] == pytest.approx(-3.0)  # models by title
    assert pairs.loc["Plain CNN − SENet", "significant"] and pairs.loc["Plain CNN − SENet", "only SENet right"] > 0
    assert pairs.loc["Plain CNN − SENet", "seeds"] == "0, 1"


# ---------------------------------------------------------------------------------------------------------------
# The pages, on copies of the committed run records (no weights needed: Home and Compare read records only)


def committed_records(tmp_path):
    """A copy of the committed checkpoints' run records (both seeds), without the weights."""
    root = tmp_path / "checkpoints"
    for folders in find_seed_checkpoints(REPO / "checkpoints").values():
        for folder in folders:
            target = root / folder.relative_to(REPO / "checkpoints")
            target.mkdir(parents=True)
            shutil.copy(folder / RECORD_FILE, target / RECORD_FILE)
    return root


def test_home_and_compare_give_the_one_verdict_and_name_a_cut_or_unreadable_seed(open_app, tmp_path):
    """A seed's record cut to 5,000 predictions is refused when it is read (the schema), so it is named as a record
    that does not read; judge's own check (above) holds where a record gets past the parser."""
    root = committed_records(tmp_path)
    senet = root / "seed-1" / "senet" / RECORD_FILE
    seed_records, _ = read_seed_records(root)
    write_json(senet, cut(seed_records["senet"][1], 5000).to_json())  # seed 1 of SENet cut to 5,000 images
    (root / "seed-1" / "plain_cnn" / RECORD_FILE).write_text("{ damaged")
    expected = judge(read_seed_records(root)[0])  # no data in these tests: the untested verdict
    nowhere = tmp_path / "no-data"
    assert expected.answer == "no" and expected.rivals[-1].seeds == (0,)
    home = open_app(HOME, root, data=nowhere)
    assert not home.exception and expected.sentence in [text.value for text in home.markdown]
    compare = open_app(COMPARE, root, data=nowhere)
    assert not compare.exception and compare.info[0].value == f"### {expected.sentence}"
    assert not [frame for page in (home, compare) for frame in chart_frames(page) if "pair" in frame]  # untested
    warnings = [box.value for box in compare.warning]
    for folder in ("senet", "plain_cnn"):
        assert any(f"seed-1/{folder}` is left out of the verdict: " in text and "run.json" in text for text in warnings)
    assert any("test.predictions must hold one value per test image (n = 10000) or none, got 5000" in text
               for text in warnings)
    assert expected.details in page_text(compare)


def test_with_the_data_home_and_compare_show_the_same_tested_figures(open_app, tmp_path, cifar):
    root = committed_records(tmp_path)
    expected = judge(read_seed_records(root)[0], GroundTruth(cifar.test.labels, cifar.fingerprint))
    assert expected.tested and expected.sentence.startswith("No: SENet trails Inception by 1.01 points (95% interval")
    home, compare = open_app(HOME, root), open_app(COMPARE, root)
    assert expected.sentence in [text.value for text in home.markdown]
    assert compare.info[0].value == f"### {expected.sentence}" and expected.details in page_text(compare)
    # The verdict as a picture, the same rows on both pages: each rival's lead and interval in points
    rows = forest_rows(expected)
    assert list(rows["pair"]) == ["SENet − Plain CNN", "SENet − Inception"]
    assert rows.loc[1, "lead"] == pytest.approx(-1.01, abs=0.005) and rows["significant"].all()
    for page in (home, compare):
        [drawn] = [frame for frame in chart_frames(page) if "pair" in frame]
        pd.testing.assert_frame_equal(drawn[list(rows.columns)], rows, check_dtype=False)
        assert "the shaded band, within ±2 points, is no lead by far" in page_text(page)


def test_train_all_closes_with_the_same_verdict_and_names_what_it_left_out(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_all", REPO / "scripts" / "train_all.py")
    train_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_all)
    root = committed_records(tmp_path)
    (root / "seed-1" / "plain_cnn" / RECORD_FILE).write_text("{ damaged")
    lines = train_all.closing_verdict(str(root), None).splitlines()
    assert lines[0] == judge(read_seed_records(root)[0]).text  # the one verdict, word for word
    assert lines[1].startswith(f"note: {root / 'seed-1' / 'plain_cnn'} is left out: ") and len(lines) == 2


def test_compare_pairs_by_seed_number_when_the_first_seeds_record_is_damaged(open_app, tmp_path):
    root = committed_records(tmp_path)
    (root / "plain_cnn" / RECORD_FILE).write_text("{ damaged")  # Plain CNN has seed 1 only
    seeds = read_seed_records(root)[0]
    senet, plain = {r.seed: r for r in seeds["senet"]}, {r.seed: r for r in seeds["plain_cnn"]}
    assert list(plain) == [1]
    lead = 100 * (senet[1].accuracy - plain[1].accuracy)  # seed 1 with seed 1, not SENet's first-listed seed 0
    compare = open_app(COMPARE, root, data=tmp_path / "no-data")
    assert not compare.exception
    assert f"against Plain CNN: {lead:+.2f} points (seed 1)" in page_text(compare)
    assert f"{100 * (senet[0].accuracy - plain[1].accuracy):+.2f} points" not in page_text(compare)
    assert any(error.value.startswith("Plain CNN: ") and "plain_cnn/run.json" in error.value and "--models plain_cnn"
               in error.value for error in compare.error)  # seed 0's problem, with the command that retrains it
