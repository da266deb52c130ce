"""Budgets (train_all.py --budgets) and model options (--model-option, a recipe file's model_options): the library
helpers, the refusals before any data loads, and one real sweep through the script."""
from __future__ import annotations

import inspect
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cifar_models import schema
from cifar_models.budgets import (BudgetError, budget_folder, budget_recipe, budgets_present, finished_record,
                                  parse_budgets)
from cifar_models.checkpoint import load_checkpoint, read_record, read_seed_records
from cifar_models.model_options import (ModelOptionError, checked_options, combined, described_options,
                                        options_from_assignments, resolved_options)
from cifar_models.models import MODELS
from cifar_models.models.plain_cnn import UNSTATED_OPTIONS, PlainCNN, PlainCNNOptions, plain_cnn
from cifar_models.models.registry import register_model
from cifar_models.recipe import DEFAULT_RECIPE, RecipeError, load_recipe_file, read_recipe_file
from conftest import REPO
from test_bad_input import NOWHERE, refused_recipe, train

COMMITTED = REPO / "checkpoints"


# ------------------------------------------------------------------------------------------------------------------
# The budget folders


def test_budgets_present_are_the_budget_folders_in_ascending_order(tmp_path):
    assert budgets_present(tmp_path) == []
    for name in ["80", "10", "20", "010", "0", "notes"]:
        (tmp_path / "budgets" / name).mkdir(parents=True)
    (tmp_path / "budgets" / "5").write_text("a file, not a budget")
    assert budgets_present(tmp_path) == [10, 20, 80]
    assert budget_folder(tmp_path, 20) == tmp_path / "budgets" / "20"


def test_a_budget_folder_reads_as_the_top_level_does(tmp_path):
    """The committed runs (two seeds of three models), laid out under budgets/40/: read_seed_records reads there the
    records it reads at the top level, seed by seed."""
    budget = budget_folder(tmp_path, 40)
    for record in COMMITTED.glob("**/run.json"):
        target = budget / record.relative_to(COMMITTED)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(record, target)
    top, top_unread = read_seed_records(COMMITTED)
    assert read_seed_records(budget) == (top, top_unread) and top_unread == {}
    assert all(len(records) == 2 for records in top.values())
    assert read_seed_records(tmp_path) == ({}, {})  # the budgets are not mistaken for top-level runs


def test_a_budget_stretches_the_one_cycle_schedule():
    short, long = budget_recipe(DEFAULT_RECIPE, 10), budget_recipe(DEFAULT_RECIPE, 80)
    assert (short.epochs, long.epochs) == (10, 80)
    assert short.updated(epochs=DEFAULT_RECIPE.epochs) == DEFAULT_RECIPE  # nothing but the epochs changes
    steps = 97  # per epoch
    for fraction in (0.05, 0.15, 0.5, 0.9):
        assert short.learning_rate(int(fraction * 10 * steps), 10 * steps) == pytest.approx(
            long.learning_rate(int(fraction * 80 * steps), 80 * steps), rel=0.02)


def test_budgets_parse_in_ascending_order_and_refuse_what_cannot_train():
    assert parse_budgets("80,10, 40,20") == (10, 20, 40, 80)
    for text, named in [("0,x", "'0'"), ("10,x", "'x'"), ("", "''"), ("10,,20", "''"), ("-5", "'-5'"),
                        ("2.5", "'2.5'"), ("10,20,10", "10 epochs is given twice")]:
        with pytest.raises(BudgetError, match=named):
            parse_budgets(text)


def test_a_finished_run_is_kept_only_when_it_trained_exactly_the_same(tmp_path):
    run_dir = tmp_path / "plain_cnn"
    run_dir.mkdir()
    shutil.copy(COMMITTED / "plain_cnn" / "run.json", run_dir / "run.json")
    record = read_record(run_dir)
    same = {"recipe": record.recipe, "model_options": {}, "subset": None, "data_fingerprint": record.data_fingerprint,
            "precision": record.precision}
    assert finished_record(run_dir, **same) == record
    seeds_in_full = {"drop_prob": 0.3, "drop_block_sizes": [8, 4, 2], "drop_schedule": "fixed"}  # as {} trained
    assert finished_record(run_dir, **{**same, "model_options": seeds_in_full}) == record
    for changed in [{"recipe": record.recipe.updated(epochs=3)}, {"model_options": {"drop_prob": 0.1}},
                    {"subset": 520}, {"data_fingerprint": "another data set"}, {"precision": "fp32"}]:
        assert record.precision != "fp32" and finished_record(run_dir, **{**same, **changed}) is None, changed
    (run_dir / "run.json").write_text("{")  # damaged: trained again, not trusted
    assert finished_record(run_dir, **same) is None
    assert finished_record(tmp_path / "nothing here", **same) is None


@pytest.mark.slow  # starts git
def test_a_budgets_weights_are_ignored_and_its_records_are_not():
    paths = {"checkpoints/budgets/10/plain_cnn/model.safetensors": True,
             "checkpoints/budgets/80/seed-1/senet/model.safetensors": True,
             "checkpoints/budgets/10/plain_cnn/exemplars.safetensors": True,
             "checkpoints/budgets/10/plain_cnn/state-epoch0003.safetensors": True,
             "checkpoints/budgets/10/plain_cnn/resume.json": True,
             "checkpoints/budgets/10/plain_cnn/run.json": False,
             "checkpoints/budgets/80/seed-1/senet/run.json": False,
             "checkpoints/plain_cnn/model.safetensors": False}  # the default run's weights stay committed
    for path, ignored in paths.items():
        result = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=REPO)
        assert result.returncode == (0 if ignored else 1), path


# ------------------------------------------------------------------------------------------------------------------
# Model options


def test_model_options_are_read_by_each_options_type_and_recorded_as_given():
    chosen = options_from_assignments(["plain_cnn.drop_prob=0", "plain_cnn.drop_block_sizes=5, 3",
                                       "plain_cnn.drop_schedule=linear"], "--model-option")
    assert chosen == {"plain_cnn": {"drop_prob": 0.0, "drop_block_sizes": [5, 3], "drop_schedule": "linear"}}
    assert type(chosen["plain_cnn"]["drop_prob"]) is float
    assert checked_options("plain_cnn", {"drop_prob": 0.1}, "here") == {"drop_prob": 0.1}  # the rest: defaults
    assert checked_options("senet", {}, "here") == {}
    assert combined({"plain_cnn": {"drop_prob": 0.3, "drop_schedule": "linear"}},
                    {"plain_cnn": {"drop_prob": 0.1}}, "here") == {"plain_cnn": {"drop_prob": 0.1,
                                                                                 "drop_schedule": "linear"}}


@pytest.mark.parametrize("text, message", [
    ("plain_cnn.drop_prob=2", "plain_cnn.drop_prob=2: drop_prob must be a number in [0, 1), got 2"),
    ("plain_cnn.drop_prob=high", "drop_prob must be a number in [0, 1), got \"high\""),
    ("plain_cnn.drop_rate=0.1", "unknown field(s) ['drop_rate']"),
    ("plain_cnn.drop_block_sizes=8,0", "drop_block_sizes[1] must be a whole number ≥ 1, got 0"),
    ("plain_cnn.drop_block_sizes=1,2,3,4,5,6", "drop_block_sizes holds at most 5 sizes"),
    ("plain_cnn.drop_schedule=cosine", "drop_schedule must be one of 'fixed', 'linear'"),
    ("senet.drop_prob=0.1", "senet takes no options, got drop_prob"),
    ("resnet.depth=18", "unknown model 'resnet'"),
    ("drop_prob=0.1", "write MODEL.OPTION=VALUE"),
])
def test_a_bad_model_option_is_refused_naming_it_before_data_loads(capsys, tmp_path, text, message):
    code, err = train(capsys, "--model-option", text, "--out", str(tmp_path / "out"), "--data", NOWHERE)
    assert code == 2 and err.count("\n") == 1
    assert f"argument --model-option {text}" in err and message in err
    assert not (tmp_path / "out").exists()


def test_an_option_given_twice_is_refused():
    with pytest.raises(ModelOptionError, match="plain_cnn.drop_prob is given twice"):
        options_from_assignments(["plain_cnn.drop_prob=0.1", "plain_cnn.drop_prob=0.2"], "--model-option")


def test_a_recipe_file_carries_model_options_and_old_ones_read_unchanged(tmp_path):
    old = read_recipe_file(REPO / "recipes" / "cpu.json")
    assert old.model_options == {} and old.recipe == load_recipe_file(REPO / "recipes" / "cpu.json")
    example = read_recipe_file(REPO / "recipes" / "plain_cnn_linear_dropblock.json")  # the README's example
    assert example.recipe == DEFAULT_RECIPE
    assert example.model_options == {"plain_cnn": {"drop_prob": 0.1, "drop_block_sizes": [8, 4, 2],
                                                   "drop_schedule": "linear"}}
    path = tmp_path / "recipe.json"
    path.write_text('{"epochs": 3, "model_options": {"plain_cnn": {"drop_prob": 0.1, "drop_block_sizes": [4]}}}')
    read = read_recipe_file(path)
    assert read.recipe == DEFAULT_RECIPE.updated(epochs=3)
    assert read.model_options == {"plain_cnn": {"drop_prob": 0.1, "drop_block_sizes": [4]}}
    path.write_text('{"model_options": {"plain_cnn": {"drop_prob": 1}}}')
    with pytest.raises(RecipeError, match=r"model_options\.plain_cnn: drop_prob must be a number in \[0, 1\)"):
        read_recipe_file(path)


@pytest.mark.parametrize("text, message", [
    ('{"model_options": {"plain_cnn": {"drop_prob": -0.1}}}', "model_options.plain_cnn: drop_prob must be"),
    ('{"model_options": {"plain_cnn": 0.1}}', "model_options must be an object of objects"),
    ('{"model_options": {"inception": {"width": 2}}}', "model_options.inception: inception takes no options"),
])
def test_a_recipe_files_bad_model_option_is_refused_naming_it(capsys, tmp_path, text, message):
    recipe, err = refused_recipe(capsys, tmp_path, text)
    assert err.startswith(f"error: recipe {recipe}: {message}")


def test_the_builder_without_an_option_builds_what_records_without_it_trained():
    """The builder's and the class's own defaults are the model's registered unstated options, the seed's fixed 0.3
    DropBlock, pinned for the records that state fewer options; the lab's defaults (PlainCNNOptions's) are what
    training records in full. Each option has an unstated value, or the model does not register."""
    assert MODELS["plain_cnn"].unstated_options == UNSTATED_OPTIONS == {
        "drop_prob": 0.3, "drop_block_sizes": (8, 4, 2), "drop_schedule": "fixed"}
    assert list(UNSTATED_OPTIONS) == list(vars(PlainCNNOptions()))
    for signature in (inspect.signature(plain_cnn).parameters, inspect.signature(PlainCNN).parameters):
        for name, value in UNSTATED_OPTIONS.items():
            assert signature[name].default == value, name
    assert resolved_options("plain_cnn", {"drop_prob": 0.1}, "here") == {
        **schema.to_json(vars(PlainCNNOptions())), "drop_prob": 0.1}
    assert resolved_options("senet", {}, "here") == {} and MODELS["senet"].unstated_options == {}
    with pytest.raises(ValueError, match=r"unstated_options must give a value for each option"):
        register_model("half_stated", title="x", summary="x", order=9, colour="#000000", options=PlainCNNOptions,
                       unstated_options={"drop_prob": 0.3})
    assert "half_stated" not in MODELS
    assert [line.split(" ")[0] for line in described_options()] == [f"plain_cnn.{name}" for name in
                                                                    vars(PlainCNNOptions())]


# ------------------------------------------------------------------------------------------------------------------
# The flags of a sweep


@pytest.mark.parametrize("argv, message", [
    (["--budgets", "0,x"], "argument --budgets: each budget must be a whole number of epochs ≥ 1, got '0'"),
    (["--budgets", "10,20,10"], "argument --budgets: 10 epochs is given twice"),
    (["--budgets", "10,20", "--epochs", "5"], "argument --budgets: not allowed with --epochs"),
])
def test_bad_budgets_are_refused_naming_the_flag_before_data_loads(capsys, tmp_path, argv, message):
    code, err = train(capsys, *argv, "--out", str(tmp_path / "out"), "--data", NOWHERE)
    assert code == 2 and err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_a_sweep_trains_each_budget_into_its_folder_and_keeps_finished_runs(run_script, tmp_path):
    """One real sweep of two budgets, with DropBlock options; the same command again keeps both runs."""
    out = tmp_path / "out"
    argv = ["scripts/train_all.py", "--subset", "520", "--budgets", "2,1", "--models", "plain_cnn", "--device", "cpu",
            "--out", str(out), "--quiet", "--model-option", "plain_cnn.drop_prob=0.1",
            "--model-option", "plain_cnn.drop_schedule=linear"]
    first = run_script(*argv)
    assert "[1/2] budget 1 epochs, seed 0: plain_cnn\n" in first.stdout
    assert "[2/2] budget 2 epochs, seed 0: plain_cnn\n" in first.stdout
    assert json.loads(first.stdout.splitlines()[-1])["budgets"] == [1, 2]
    assert budgets_present(out) == [1, 2] and not (out / "plain_cnn").exists()
    for epochs in (1, 2):
        seeds, unread = read_seed_records(budget_folder(out, epochs))
        (record,) = seeds["plain_cnn"]
        assert unread == {} and record.recipe.epochs == epochs and len(record.history) == epochs
        chosen = {**schema.to_json(vars(PlainCNNOptions())), "drop_prob": 0.1, "drop_schedule": "linear"}
        written_options = json.loads((budget_folder(out, epochs) / "plain_cnn" / "run.json").read_text())
        assert record.model_options == written_options["model_options"] == chosen  # all of them, as written
        assert record.recipe == DEFAULT_RECIPE.updated(epochs=epochs)
        assert f"budget {epochs} epochs ({budget_folder(out, epochs)}):" in first.stdout
        layers = load_checkpoint(budget_folder(out, epochs) / "plain_cnn").model.features[0].drop
        assert (layers.target_prob, layers.ramp) == (0.1, True)  # the recorded options rebuild what trained
    created = [read_record(budget_folder(out, epochs) / "plain_cnn").created for epochs in (1, 2)]
    again = run_script(*argv)
    assert again.stdout.count("finished already, kept (--fresh trains it again)") == 2
    assert [read_record(budget_folder(out, epochs) / "plain_cnn").created for epochs in (1, 2)] == created
