"""Accuracy against cost over training budgets: the reader of ``<checkpoints>/budgets/`` (cifar_models.budgets), the
Compare page's views of it (dashboard/views/budgets.py and its chart), then Compare and Home in AppTest on a budget
tree of synthetic run records."""
import json
from dataclasses import replace

import numpy as np
import pytest

from cifar_models.budgets import BUDGETS_FOLDER, budget_folder, budgets_present, read_budgets
from cifar_models.checkpoint import RECORD_FILE, write_json
from cifar_models.models import model_colour
from cifar_models.recipe import DEFAULT_RECIPE
from cifar_models.verdict import GroundTruth, judge
from dashboard import settings
from dashboard.views import budgets
from dashboard.views.charts import budget_chart
from run_records import budget_tree, run_record, write_budgets, write_runs

from apptest_helpers import HOME, chart_frames, page_text

COMPARE = "app_pages/compare.py"


def test_budgets_are_the_positive_integer_folders_in_ascending_epochs_and_a_damaged_record_is_named(tmp_path):
    write_budgets(tmp_path, {80: {"senet": [0.90, 0.91]}, 10: {"senet": [0.80]},
                             20: {"senet": [0.85], "plain_cnn": [0.80]}})
    for name in ("010", "0", "-5", "ten", "1e2"):  # not budgets, though each holds a run record
        write_runs(tmp_path / BUDGETS_FOLDER / name, {"senet": [0.5]})
    (tmp_path / BUDGETS_FOLDER / "40").mkdir()  # a budget folder without records: nothing to show
    (tmp_path / BUDGETS_FOLDER / "20" / "plain_cnn" / RECORD_FILE).write_text("{ damaged")

    assert budgets_present(tmp_path) == [10, 20, 40, 80]
    found = read_budgets(tmp_path)
    assert [budget.epochs for budget in found] == [10, 20, 80]
    twenty = found[1]
    assert twenty.folder == tmp_path / BUDGETS_FOLDER / "20"
    assert [record.accuracy for record in twenty.records["senet"]] == [0.85] and twenty.records["plain_cnn"] == []
    [(folder, problem)] = twenty.problems.items()
    assert folder == tmp_path / BUDGETS_FOLDER / "20" / "plain_cnn" and str(folder / RECORD_FILE) in problem
    assert [record.seed for record in found[2].records["senet"]] == [0, 1]
    assert {record.epochs_run for budget in found for records in budget.records.values() for record in records} == {
        10, 20, 80}
    assert read_budgets(tmp_path / "nowhere") == []


def test_budget_points_are_each_models_mean_lowest_and_highest_over_its_seeds(tmp_path):
    write_budgets(tmp_path, {10: {"senet": [0.80], "plain_cnn": [0.70]}, 40: {"senet": [0.88, 0.90, 0.86]}},
                  seconds_per_epoch={"senet": 2.0, "plain_cnn": 0.5})
    unmeasured = budget_folder(tmp_path, 10) / "senet" / RECORD_FILE  # a record without its training time
    write_json(unmeasured, {**json.loads(unmeasured.read_text()), "train_seconds": None})
    points = budgets.budget_points(read_budgets(tmp_path)).set_index(["model", "epochs"])
    assert np.isnan(points.loc[("senet", 10), "seconds"])  # unknown, never a mean of nothing
    assert list(points.index) == [("plain_cnn", 10), ("senet", 10), ("senet", 40)]  # display order in each budget
    senet = points.loc[("senet", 40)]
    assert senet["seeds"] == 3 and senet["seed list"] == "0, 1, 2"
    assert senet["accuracy"] == pytest.approx(0.88) and (senet["low"], senet["high"]) == (0.86, 0.90)
    assert senet["tta"] == pytest.approx(0.884)  # run_records' TTA: 0.4 points over the single view
    assert senet["seconds"] == pytest.approx(80 * 1.01)  # 2 s an epoch, 1% more a later seed: the mean
    assert points.loc[("plain_cnn", 10), "seconds"] == pytest.approx(5.0)
    assert points.loc[("plain_cnn", 10), "low"] == points.loc[("plain_cnn", 10), "high"] == 0.70  # one seed


@pytest.mark.parametrize(("devices", "title"), [
    (["NVIDIA H200"], "GPU training seconds (NVIDIA H200)"),
    (["AMD EPYC 7B13 (2 threads)"], "CPU training seconds (AMD EPYC 7B13, 2 threads)"),
    (["cpu"], "CPU training seconds (cpu)"),
    (["NVIDIA H200", "NVIDIA H100 80GB HBM3"], "training seconds (on 2 devices)"),
])
def test_the_seconds_axis_names_the_device_that_spent_them(tmp_path, devices, title):
    for epochs, device in zip((10, 20), devices * 2):
        write_budgets(tmp_path, {epochs: {"senet": [0.8]}}, device=device)
    assert budgets.seconds_title(read_budgets(tmp_path)) == title


def test_a_log_axis_is_ticked_at_round_numbers_within_its_values():
    assert budgets.log_ticks([6.0, 46.0, 181.8]) == [10.0, 20.0, 50.0, 100.0]
    assert budgets.log_ticks([0.3, 2.5]) == [0.5, 1.0, 2.0]
    assert budgets.log_ticks([31.0, 45.0]) is None  # no round number inside: Vega chooses
    assert budgets.log_ticks([float("nan"), 0.0, 6.0, 46.0]) == [10.0, 20.0] and budgets.log_ticks([float("nan")]) is None


def untested(leads: dict[int, float], rival: str = "inception") -> dict:
    """The verdict at each budget where SENet leads ``rival`` by ``leads[epochs]`` points (records without
    predictions: the leads are the records' accuracies, the answer what their size decides)."""
    return {epochs: judge({"senet": [run_record("senet", 0.85 + lead / 100)], rival: [run_record(rival, 0.85)]})
            for epochs, lead in leads.items()}


@pytest.mark.parametrize(("leads", "sentence"), [
    ({10: -1.3, 20: -0.9, 80: -0.4}, "SENet's gap to Inception narrows from 1.3 to 0.4 points from 10 to 80 epochs; "
                                     "the answer is \u201cno\u201d at every budget."),
    ({10: 1.0, 80: 3.0}, "SENet's lead over Inception widens from 1.0 to 3.0 points from 10 to 80 epochs; the answer "
                         "is \u201cno\u201d at 10 epochs, then \u201ccannot say\u201d at 80 epochs."),
    ({10: -1.3, 40: 0.4, 80: 0.5}, "SENet's place against Inception reverses, from 1.3 points behind at 10 epochs to "
                                   "0.5 points ahead at 80; the answer is \u201cno\u201d at every budget."),
    ({10: -1.2, 20: -1.3, 40: -1.1}, "SENet's gap to Inception stays at about 1.2 points from 10 to 40 epochs; the "
                                     "answer is \u201cno\u201d at every budget."),
    ({10: 2.5, 20: 1.0, 40: 3.0}, "SENet's lead over Inception widens from 2.5 to 3.0 points from 10 to 40 epochs; "
                                  "the answer is \u201ccannot say\u201d at 10 epochs, then \u201cno\u201d at 20 "
                                  "epochs, then \u201ccannot say\u201d at 40 epochs."),
])
def test_the_trend_says_how_the_decisive_gap_moves_with_its_verb(leads, sentence):
    assert budgets.trend_sentence(untested(leads)) == sentence


def test_the_trend_follows_the_closest_rival_at_the_largest_budget_and_needs_two_budgets():
    verdicts = {epochs: judge({"senet": [run_record("senet", senet)], "plain_cnn": [run_record("plain_cnn", plain)],
                               "inception": [run_record("inception", 0.85)]})
                for epochs, senet, plain in ((10, 0.80, 0.82), (80, 0.87, 0.80))}
    # at 10 epochs Plain CNN is the closest rival; at 80 it is Inception, whose gap the sentence follows
    assert budgets.trend_sentence(verdicts).startswith(
        "SENet's place against Inception reverses, from 5.0 points behind at 10 epochs to 2.0 points ahead at 80")
    assert budgets.trend_sentence(untested({40: 1.0})) == ""
    assert budgets.trend_sentence({}) == ""
    # the rival at the largest budget judged at only one budget: no trend to state
    assert budgets.trend_sentence({**untested({10: 1.0}, rival="plain_cnn"), **untested({80: 1.0})}) == ""


def with_predictions(name: str, labels: np.ndarray, right: int, seed: int, epochs: int):
    """A record of ``name`` whose predictions are right on the first ``right`` test images."""
    predictions = np.where(np.arange(len(labels)) < right, labels, (labels + 1) % 10)
    record = run_record(name, right / len(labels), n=len(labels), epochs=epochs,
                        recipe=DEFAULT_RECIPE.updated(epochs=epochs, seed=seed).to_dict())
    return replace(record, test=replace(record.test, predictions=tuple(predictions.tolist()),
                                        confidence=(0.9,) * len(labels)))


def test_the_verdict_table_has_a_row_per_budget_with_the_closest_rivals_lead_interval_and_p():
    labels = np.random.default_rng(0).integers(0, 10, 2000)
    runs = {epochs: {"senet": [with_predictions("senet", labels, senet, seed, epochs) for seed in seeds],
                     "inception": [with_predictions("inception", labels, 1700, seed, epochs) for seed in seeds]}
            for epochs, senet, seeds in ((10, 1600, (0,)), (80, 1800, (0, 1)))}
    verdicts = {epochs: judge(records, GroundTruth(labels, "same"), resamples=200) for epochs, records in runs.items()}
    table = budgets.verdict_table(verdicts)
    assert list(table.index) == ["10 epochs", "80 epochs"] and table.index.name == "budget"
    assert list(table.columns) == budgets.VERDICT_COLUMNS
    ten, eighty = table.loc["10 epochs"], table.loc["80 epochs"]
    assert (ten["answer"], ten["closest rival"], ten["lead (points)"], ten["seeds"]) == ("No", "Inception", "-5.00",
                                                                                         "0")
    assert (eighty["answer"], eighty["lead (points)"], eighty["seeds"]) == ("Yes", "+5.00", "0, 1")
    pair = verdicts[80].rivals[0]
    assert eighty["95% interval (points)"] == f"{100 * pair.interval[0]:+.2f} to {100 * pair.interval[1]:+.2f}"
    assert eighty["Holm p"] == f"{pair.p_corrected:.3g}" and pair.p_corrected < 0.05
    # without the data the leads stay; the interval and p cannot be computed, and say so with a dash
    table = budgets.verdict_table({epochs: judge(records) for epochs, records in runs.items()})
    assert list(table.loc["80 epochs"]) == ["Cannot say", "Inception", "+5.00", "–", "–", "0, 1"]


def test_a_budget_without_a_rival_is_a_row_of_dashes_and_every_problem_names_its_budget(tmp_path):
    write_budgets(tmp_path, {1: {"senet": [0.8]}, 20: {"senet": [0.8], "inception": [0.8, 0.9]}})
    (tmp_path / BUDGETS_FOLDER / "20" / "seed-1" / "inception" / RECORD_FILE).write_text("{ damaged")
    found = read_budgets(tmp_path)
    verdicts = {budget.epochs: judge(budget.records) for budget in found}
    table = budgets.verdict_table(verdicts)
    assert list(table.index) == ["1 epoch", "20 epochs"]  # a budget of one epoch, in the singular
    assert list(table.loc["1 epoch"]) == ["Cannot say", "–", "–", "–", "–", "–"]
    [problem] = budgets.budget_problems(found, verdicts)
    damaged = tmp_path / BUDGETS_FOLDER / "20" / "seed-1" / "inception"
    assert problem.startswith(f"`{damaged}` is left out of the 20-epoch budget: cannot read Run record "
                              f"{damaged / RECORD_FILE}: ")
    left_out = replace(verdicts[20], left_out=("SENet seed 1 is left out of the verdict: reasons.",))
    assert budgets.budget_problems(found, {20: left_out})[-1] == ("At 20 epochs: SENet seed 1 is left out of the "
                                                                  "verdict: reasons.")


def test_homes_note_names_the_committed_budget_and_those_compare_shows(tmp_path):
    write_budgets(tmp_path, {10: {"senet": [0.8]}, 20: {"senet": [0.8]}, 80: {"senet": [0.8]}})
    records = {"senet": run_record("senet", 0.8, epochs=40), "inception": run_record("inception", 0.8, epochs=40)}
    assert budgets.budget_note(records, read_budgets(tmp_path)) == (
        "This answer is at 40 epochs, the committed checkpoints' budget; Compare gives it at 10, 20 and 80 epochs.")
    assert budgets.budget_note(records, []) == ""


def test_the_budget_chart_is_log_scaled_zoomable_coloured_by_model_and_picks_a_model_from_its_legend(tmp_path):
    write_budgets(tmp_path, {10: {"senet": [0.8], "inception": [0.82]}, 40: {"senet": [0.9, 0.91]}})
    points = budgets.budget_points(read_budgets(tmp_path))
    spec = budget_chart(points, "epochs", ["senet", "inception"], title="Accuracy against epochs",
                        cost_title="training budget (epochs)", ticks=[10, 40]).to_dict()
    band, line, dots = spec["layer"]
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["area", "line", "point"]
    x = dots["encoding"]["x"]
    assert x["scale"]["type"] == "log" and x["axis"]["values"] == [10, 40] and x["title"] == "training budget (epochs)"
    assert (band["encoding"]["y"]["field"], band["encoding"]["y2"]["field"]) == ("low", "high")
    colour = line["encoding"]["color"]["scale"]
    assert colour["domain"] == ["SENet", "Inception"] and colour["range"] == [model_colour("senet"),
                                                                              model_colour("inception")]
    binds = {param["bind"]: param["select"] for param in spec["params"]}  # Altair hoists a layer's to the top
    assert binds["legend"]["fields"] == ["model"] and binds["scales"]["encodings"] == ["x", "y"]  # pick; zoom, pan
    assert {tooltip["field"] for tooltip in dots["encoding"]["tooltip"]} == {
        "model", "epochs", "accuracy", "low", "high", "tta", "seconds", "seed list"}
    frame = spec["datasets"][spec["data"]["name"]]
    assert {row["model"] for row in frame} == {"SENet", "Inception"}  # by title, never by raw id


# ---------------------------------------------------------------------------------------------------------------
# The pages, on a checkpoints folder of run records (Home and Compare read records only)


def test_compare_shows_accuracy_against_cost_the_verdict_at_each_budget_and_its_trend(open_app, tmp_path):
    root = tmp_path / "checkpoints"
    damaged = budget_tree(root)
    compare = open_app(COMPARE, root, data=tmp_path / "no-data")
    assert not compare.exception, [error.value for error in compare.exception]
    trend = ("SENet's gap to Inception narrows from 3.0 to 0.5 points from 10 to 80 epochs; the answer is "
             "\u201cno\u201d at every budget.")
    assert trend in [text.value for text in compare.markdown]
    [table] = [table.value for table in compare.table if table.value.index.name == "budget"]
    assert list(table.index) == ["10 epochs", "20 epochs", "40 epochs", "80 epochs"]
    assert list(table["lead (points)"]) == ["-3.00", "-1.50", "-1.00", "-0.50"]
    assert list(table["seeds"]) == ["0", "0", "0, 1", "0, 1"] and set(table["answer"]) == {"No"}
    assert any(text.startswith(f"`{damaged}` is left out of the 40-epoch budget: cannot read Run record "
                               f"{damaged / RECORD_FILE}: ") for text in [box.value for box in compare.warning])
    charts = [frame for frame in chart_frames(compare) if "seconds" in frame and "seed list" in frame]
    assert len(charts) == 2  # against epochs and against seconds, from the same points
    plain_40 = charts[0][(charts[0]["model"] == "Plain CNN") & (charts[0]["epochs"] == 40)]
    assert list(plain_40["seeds"]) == [1]  # the damaged seed is left out, the other shown
    specs = [chart.proto.spec for chart in compare.get("vega_lite_chart")]
    assert any("GPU training seconds (NVIDIA H200)" in spec for spec in specs)
    assert "lowest to highest seed" in page_text(compare)

    home = open_app(HOME, root, data=tmp_path / "no-data")
    assert not home.exception
    assert ("This answer is at 40 epochs, the committed checkpoints' budget; Compare gives it at 10, 20, 40 and 80 "
            "epochs.") in [caption.value for caption in home.caption]
    assert "The answer at each training budget, on the Compare page" in [link.proto.label
                                                                          for link in home.get("page_link")]


def test_without_budgets_compare_says_so_in_one_line_with_the_command(open_app, tmp_path):
    root = tmp_path / "checkpoints"
    write_runs(root, {"senet": [0.89], "inception": [0.90]}, epochs=40)
    compare = open_app(COMPARE, root, data=tmp_path / "no-data")
    assert not compare.exception
    [line] = [box.value for box in compare.info if box.value.startswith("Accuracy against cost over training budgets")]
    assert line.endswith(f"holds none: train them with `{settings.budgets_command()}`.")
    assert settings.budgets_command().endswith(f"--out {root} --budgets 10,20,40,80")
    assert not [table for table in compare.table if table.value.index.name == "budget"]
    home = open_app(HOME, root, data=tmp_path / "no-data")
    assert not home.exception and len(home.get("page_link")) == 1  # the evidence only
