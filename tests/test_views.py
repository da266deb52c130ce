"""The dashboard's views (dashboard/views/), without Streamlit: smoothing, tables, data statistics,
augmentation previews and the exported recipe."""
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cifar_models.attribution import Attribution, Faithfulness, ModelExplanation
from cifar_models.augment import AugmentPipeline
from cifar_models.checkpoint import DEFAULT_CHECKPOINT_DIR
from cifar_models.normalization import to_float_batch, to_uint8_images
from cifar_models.data import CLASSES
from cifar_models.images import ColourScale, enlarge
from cifar_models.models import MODELS, model_colour
from cifar_models.recipe import DEFAULT_RECIPE, load_recipe_file
from dashboard import settings
from dashboard.views import attribution as attribution_view
from dashboard.views import augmentation, compare, dataset, gallery
from cifar_models.exemplars import ChannelExemplars
from dashboard.views import exemplars
from dashboard.views.charts import (BAR_STEP, forest_plot, grouped_bars, learning_curve_chart, seed_accuracy_chart,
                                    tiles_colour_bar)
from dashboard.views.common import MISSING, format_count, format_points, format_seconds, written
from dashboard.views.home import model_card
from run_records import run_record, three


def tensorboard_smoothing(values, weight):
    """TensorBoard's ``resampleSmoothedData``, transcribed from its TypeScript, as the reference."""
    last, accumulated, out = 0.0, 0, []
    for value in values:
        if not math.isfinite(value):
            out.append(value)
            continue
        last = last * weight + (1 - weight) * value
        accumulated += 1
        debias = 1 if weight == 1 else 1 - weight**accumulated
        out.append(last / debias)
    return out


def test_debiased_ema_matches_tensorboard_and_starts_at_the_first_value():
    values = np.random.default_rng(0).normal(2.0, 0.5, 40)
    for weight in (0.0, 0.3, 0.6, 0.95):
        smoothed = compare.debiased_ema(values, weight)
        np.testing.assert_allclose(smoothed, tensorboard_smoothing(values, weight), rtol=1e-12)
        assert smoothed[0] == pytest.approx(values[0])  # no pull towards zero: that is the debiasing
    np.testing.assert_array_equal(compare.debiased_ema(values, 0.0), values)
    np.testing.assert_allclose(compare.debiased_ema([3.0] * 10, 0.9), 3.0)  # a constant stays constant
    # heavier smoothing leaves less of the noise
    assert np.std(np.diff(compare.debiased_ema(values, 0.9))) < np.std(np.diff(values))


def test_debiased_ema_passes_gaps_through_and_refuses_bad_weights():
    smoothed = compare.debiased_ema([1.0, float("nan"), 3.0], 0.5)
    assert smoothed[0] == 1.0 and math.isnan(smoothed[1])
    assert smoothed[2] == pytest.approx((0.5 * 0.5 * 1 + 0.5 * 3) / (1 - 0.25))
    for weight in (-0.1, 1.0):
        with pytest.raises(ValueError, match="smoothing weight"):
            compare.debiased_ema([1.0], weight)


def test_tables_carry_the_record_values():
    records = three(senet=0.95)
    costs = compare.cost_table(records)
    assert list(costs.index) == ["plain_cnn", "senet", "inception"]
    assert costs.loc["senet", "MACs per image"] == 5.5e8 and costs.loc["senet", "training seconds"] == 300
    assert costs.loc["senet", "TTA accuracy"] == pytest.approx(0.954)
    assert costs.loc["senet", "training images/s"] == 1001.0  # median over epochs
    seeds = compare.seed_accuracies({name: [record, record] for name, record in records.items()})
    assert set(seeds["evaluation"]) == {"single view", "with TTA"} and len(seeds) == 12  # models x evaluations x seeds
    assert list(seeds["model"].unique()) == ["plain_cnn", "senet", "inception"]
    per_class = compare.per_class_accuracy(records)
    assert len(per_class) == 30 and set(per_class["class"]) == set(CLASSES)
    bins = compare.reliability(records)
    assert len(bins) == 3  # the empty bins are left out
    curves = compare.learning_curves({name: record.history for name, record in records.items()}, 0.5)
    assert len(curves) == 3 * 4 * 3  # models x (loss, accuracy) x (train, validation) x epochs
    senet_val = curves.query("model == 'senet' and metric == 'accuracy' and split == 'validation'")
    assert list(senet_val["raw"]) == pytest.approx([0.25, 0.35, 0.45])


def test_confusion_rows_are_fractions_of_the_true_class():
    counts = np.array([[8, 2, 0], [1, 1, 2], [0, 0, 0]])
    fractions = compare.normalized_confusion(counts)
    np.testing.assert_allclose(fractions[0], [0.8, 0.2, 0.0])
    np.testing.assert_allclose(fractions[1], [0.25, 0.25, 0.5])
    np.testing.assert_array_equal(fractions[2], 0)  # a class with no test images: zeros, not NaN
    frame = compare.confusion_frames(three(senet=0.95))
    sums = frame.groupby(["model", "true"])["fraction"].sum()
    np.testing.assert_allclose(sums, 1.0)


def test_recipe_table_shows_differences_only_when_asked():
    records = three(senet=0.95)
    records["senet"] = replace(records["senet"], recipe=DEFAULT_RECIPE.updated(lr=0.1, augment={"cutout_size": 0}))
    full = compare.recipe_table(records)
    assert "augment.cutout_size" in full.index and "epochs" in full.index
    differences = compare.recipe_table(records, differences_only=True)
    assert set(differences.index) == {"lr", "augment.cutout_size", "epochs"}  # epochs: 3 against the default
    assert differences.loc["lr", "senet"] == "0.1" and differences.loc["lr", "plain_cnn"] == "0.2"
    assert compare.recipe_table(three(senet=0.95), differences_only=True).empty


def test_model_card_and_formats():
    card = model_card(run_record("senet", 0.9312, seconds=754, macs=555_509_760))
    assert card == {"test accuracy": "93.12%", "parameters": "1.00 M", "multiply-accumulates": "555.5 M per image",
                    "training time": "12 min 34 s for 3 epochs", "device": "cpu", "precision": "bf16"}
    assert format_count(2_784_250) == "2.78 M" and format_count(float("nan")) == "—"
    assert format_seconds(7300) == "2 h 01 min" and format_seconds(4.25) == "4.2 s"


def test_data_statistics_on_the_real_data(cifar):
    sizes = dataset.split_sizes(cifar)
    assert sizes == {"train": len(cifar.train), "validation": len(cifar.val), "test": len(cifar.test)}
    counts = dataset.class_distribution(cifar)
    assert counts.groupby("split")["count"].sum().to_dict() == sizes
    assert (counts.query("split == 'validation'")["count"] == 500).all()

    images = cifar.train.images[:3000]
    statistics = dataset.channel_statistics(images, chunk=700)  # several chunks and a ragged last one
    pixels = images.reshape(-1, 3).astype(np.float64) / 255
    np.testing.assert_allclose(statistics["mean"], pixels.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(statistics["std"], pixels.std(axis=0), rtol=1e-8)
    assert list(statistics.index) == ["red", "green", "blue"]


@pytest.fixture(scope="module")
def synthetic_split():
    """Random uint8 images and labels shaped like a CIFAR-10 split: where what the pictures show is not the point."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (1000, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 1000)


def test_sample_order_and_pages(synthetic_split):
    images, labels = synthetic_split
    cats = dataset.sample_order(labels, CLASSES.index("cat"), seed=3)
    assert len(cats) == (labels == 3).sum() and (labels[cats] == 3).all()
    np.testing.assert_array_equal(cats, dataset.sample_order(labels, 3, seed=3))
    assert not np.array_equal(cats, dataset.sample_order(labels, 3, seed=4))
    assert sorted(dataset.sample_order(labels, None, 0)) == list(range(len(labels)))
    assert dataset.page_count(1000, 40) == 25 and dataset.page_count(0, 40) == 1
    np.testing.assert_array_equal(dataset.page_of(cats, 2, 40), cats[40:80])
    image = images[0]
    big = enlarge(image, 4)
    assert big.shape == (128, 128, 3) and (big[4:8, 8:12] == image[1, 2]).all()


def test_random_batch_and_typed_indices():
    batch = augmentation.random_batch(45_000, 6, seed=1)
    assert len(set(batch)) == 6 and list(batch) == list(augmentation.random_batch(45_000, 6, seed=1))
    assert augmentation.parse_indices("3, 17 42,3", 100) == [3, 17, 42]
    for text, message in (("", "at least one"), ("3, x", "whole numbers"), ("5, 100", "between 0 and 99")):
        with pytest.raises(ValueError, match=message):
            augmentation.parse_indices(text, 100)


def test_the_readers_own_image_leads_the_augmentation_preview(synthetic_split):
    images, labels = synthetic_split
    classes = [f"class {k}" for k in range(10)]
    plain = augmentation.preview_images(images, labels, [5, 2], classes)
    assert [row.caption for row in plain] == [f"image 0: #5 · {classes[labels[5]]} (original)",
                                              f"image 1: #2 · {classes[labels[2]]} (original)"]
    assert np.array_equal(plain[1].pixels, images[2]) and plain[1].label == labels[2]
    mine = np.full((32, 32, 3), 200, dtype=np.uint8)
    rows = augmentation.preview_images(images, labels, [5, 2], classes, own=(mine, 3, "cat.png (640x480 PNG)"))
    assert rows[0].caption == "image 0: cat.png (640x480 PNG) (yours, as the models see it)"
    assert rows[0].label == 3 and rows[0].pixels is mine
    assert [row.caption for row in rows[1:]] == [f"image 1: #5 · {classes[labels[5]]} (original)",
                                                 f"image 2: #2 · {classes[labels[2]]} (original)"]


def test_augmentation_preview_is_the_training_pipeline(synthetic_split):
    images, labels = synthetic_split[0][:4], synthetic_split[1][:4]
    params = {"crop_padding": 4, "flip_p": 0.5, "cutout_size": 8, "rotate_degrees": 10.0}
    previews = augmentation.augmentation_preview(images, labels, params, draws=3, seed=7)
    assert len(previews) == 3 and all(p.images.shape == images.shape for p in previews)
    # the same seed drives AugmentPipeline directly to the same pixels: the preview is the training code
    generator = torch.Generator().manual_seed(7)
    pipeline = AugmentPipeline.from_dict(params)
    for preview in previews:
        direct = pipeline(to_float_batch(images), torch.as_tensor(labels), generator=generator)
        np.testing.assert_array_equal(preview.images, to_uint8_images(direct.images))
    assert not np.array_equal(previews[0].images, previews[1].images)  # each draw is new
    again = augmentation.augmentation_preview(images, labels, params, draws=3, seed=7)
    assert all(np.array_equal(a.images, b.images) for a, b in zip(previews, again))
    # captions name the values drawn, for the steps that are on only
    caption = previews[0].captions[0]
    assert caption.startswith("shift (") and "rotated " in caption and "cutout at (" in caption
    assert "×" not in caption and "λ" not in caption and "label" not in caption
    # a jitter names only the factors switched on (no 'c×1.00, s×1.00')
    bright = augmentation.augmentation_preview(images, labels, {"brightness": 0.2}, 1, 0)[0].captions[0]
    assert "b×" in bright and "c×" not in bright and "s×" not in bright
    # MixUp and CutMix show the label they mix, as training sees it
    for mode in ("mixup", "cutmix"):
        mixed = augmentation.augmentation_preview(images, labels, {"mix": mode, "crop_padding": 0, "flip_p": 0.0},
                                                  1, 0)[0].captions
        assert all(caption.startswith("λ=") and " · label " in caption for caption in mixed)
        assert any("% " in caption.split(" · label ")[1] for caption in mixed)  # a partner other than itself
    assert augmentation.mixed_label(np.array([0, 0, 0, 0.62, 0, 0.38, 0, 0, 0, 0])) == "62% cat + 38% dog"
    assert augmentation.mixed_label(np.eye(10)[3]) == "cat"
    assert augmentation.augmentation_preview(images, labels, {"crop_padding": 0, "flip_p": 0.0}, 1, 0)[0].captions == \
        ["unchanged"] * 4


def test_sliders_start_at_the_default_recipe_and_the_recipe_exports_for_training(tmp_path):
    assert augmentation.slider_spec("cutout_size") == {"min_value": 0, "max_value": 32, "default": 8, "step": 1,
                                                  "help": "side of the grey square cut out (0: off)"}
    rotation = augmentation.slider_spec("rotate_degrees")  # whole degrees: shown as 0 / 45, not 0.00 / 45.00
    assert (rotation["min_value"], rotation["max_value"], rotation["step"]) == (0, 45, 1)
    assert all(isinstance(rotation[key], int) for key in ("min_value", "max_value", "step", "default"))
    assert augmentation.slider_spec("flip_p")["step"] == 0.05 and isinstance(augmentation.slider_spec("flip_p")["default"],
                                                                       float)
    augment = {**augmentation.default_augmentation(), "rotate_degrees": 12.0, "mix": "cutmix", "mix_alpha": 0.5}
    recipe = augmentation.training_recipe(augment)
    assert recipe["augment"] == augment and recipe["epochs"] == DEFAULT_RECIPE.epochs
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe, indent=2))
    assert load_recipe_file(path).to_dict() == recipe  # what `train_all.py --recipe FILE` reads


def test_learning_curves_have_one_legend_of_titles_for_both_layers():
    """Both layers encode colour and dash with a legend (a layer with legend=None drops Vega-Lite's merged legend:
    the curves had none), the models by title in their registered colours, accuracy in percent."""
    curves = compare.learning_curves({name: record.history for name, record in three(0.92).items()}, 0.6)
    spec = learning_curve_chart(curves, "accuracy", list(three(0.92))).to_dict()
    layers = spec["layer"][:2]  # the lines; the third, invisible, carries the tooltips
    assert len(spec["layer"]) == 3
    for layer in layers:
        encoding = {**spec.get("encoding", {}), **layer.get("encoding", {})}
        assert encoding["color"].get("legend", {}) is not None and encoding["strokeDash"].get("legend", {}) is not None
        assert encoding["color"]["scale"]["domain"] == ["Plain CNN", "SENet", "Inception"]
        assert encoding["color"]["scale"]["range"] == [model_colour(name) for name in MODELS]
    data = spec["datasets"][spec["data"]["name"]]
    assert {row["model"] for row in data} == {"Plain CNN", "SENet", "Inception"}
    raw_axis = next(layer["encoding"]["y"] for layer in layers if layer["encoding"]["y"]["field"] == "raw")
    assert raw_axis["axis"]["format"] == "%"


def test_cost_display_has_a_column_per_model_by_title_with_the_figures_written_out():
    records = three(senet=0.95)
    shown = compare.cost_display(compare.cost_table(records))
    assert list(shown.columns) == ["Plain CNN", "SENet", "Inception"]  # narrow: fits a laptop's width
    assert shown.loc["test accuracy", "SENet"] == "95.00%" and shown.loc["with flip TTA", "SENet"] == "95.40%"
    assert shown.loc["multiply-accumulates per image", "SENet"] == "550.0 M"
    assert shown.loc["training time", "SENet"] == "5 min 00 s" and shown.loc["training images/s (median epoch)",
                                                                           "SENet"] == "1,001"
    assert shown.loc["latency per image", "Plain CNN"] == "3.00 ms" and shown.loc["precision", "Inception"] == "bf16"


def test_feature_map_colour_bar_shows_the_tiles_colours_and_their_ends():
    scale = ColourScale(0.0, 0.47, diverging=False)
    spec = tiles_colour_bar(scale, per_map=False).to_dict()
    cells = spec["datasets"][spec["data"]["name"]]
    assert cells[0]["colour"] == scale.stops(49)[1][0] and cells[-1]["to"] == pytest.approx(0.47)
    assert spec["encoding"]["x"]["axis"]["values"] == [0.0, 0.47] and spec["encoding"]["x"]["axis"]["title"] == "activation"
    per_map = tiles_colour_bar(scale, per_map=True).to_dict()["encoding"]["x"]["axis"]
    assert "lowest" in per_map["labelExpr"] and "highest" in per_map["labelExpr"]  # each map has its own range
    signed = tiles_colour_bar(ColourScale(-2.0, 2.0, diverging=True), per_map=False).to_dict()
    assert signed["encoding"]["x"]["axis"]["values"] == [-2.0, 0.0, 2.0]  # white at zero is marked


def explanation_with(scores: dict[str, float], ig_sum: float = 1.0, ig_delta: float = 0.01) -> ModelExplanation:
    """A model's explanation with these faithfulness scores; its Integrated Gradients map sums to ``ig_sum``."""
    heatmap = np.full((32, 32), ig_sum / 1024, dtype=np.float32)
    return ModelExplanation(np.full(10, 0.1), 3,
                            {"integrated_gradients": Attribution("integrated_gradients", heatmap, True, 0.1, ig_delta)},
                            {method: Faithfulness(score + 0.05, 0.05, 0.1) for method, score in scores.items()})


def test_which_map_to_trust_stars_each_models_best_and_never_shows_minus_zero():
    result = {"plain_cnn": explanation_with({"integrated_gradients": 0.12, "grad_cam": 0.30, "saliency": -0.0004}),
              "inception": explanation_with({"integrated_gradients": 0.20, "grad_cam": 0.01, "saliency": -0.05},
                                            ig_sum=0.8, ig_delta=0.35)}
    table = attribution_view.trust_table(result)
    assert list(table.columns) == ["Plain CNN", "Inception"]
    assert list(table.index) == ["Integrated Gradients", "Grad-CAM", "Saliency"]
    assert table.loc["Grad-CAM", "Plain CNN"] == "+30.0% ★" and table.loc["Integrated Gradients", "Inception"] == "+20.0% ★"
    assert table.loc["Saliency", "Plain CNN"] == "0.0%" and table.loc["Saliency", "Inception"] == "-5.0%"
    assert attribution_view.signed_percent(-0.0004) == "0.0%"
    summary = attribution_view.trust_summary(result)
    assert "Plain CNN: **Grad-CAM** (+30.0%)" in summary and "Inception: **Integrated Gradients**" in summary
    [warning] = attribution_view.convergence_warnings(result)  # Plain CNN's delta is 1% of its sum: no warning
    assert warning.startswith("Inception: Integrated Gradients' convergence delta is +0.35, 78% of")


def test_gallery_order_by_confidence_puts_unrecorded_last():
    confidence = [0.9, None, 0.2, 0.6]
    indices = np.array([0, 1, 2, 3])
    assert list(gallery.gallery_order(indices, confidence, gallery.MOST_CONFIDENT)) == [0, 3, 2, 1]
    assert list(gallery.gallery_order(indices, confidence, gallery.LEAST_CONFIDENT)) == [2, 3, 0, 1]
    assert list(gallery.gallery_order(indices[::-1], confidence, gallery.BY_INDEX)) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="unknown gallery order"):
        gallery.gallery_order(indices, confidence, "by colour")


# ----------------------------------------------------------------------------------------------------------------
# Charts that show their data (issue 21): sized by their categories, every label whole, what each mark is


def nominal_axes(spec: dict) -> list[dict]:
    """Every nominal position axis of a chart spec, in its layers too."""
    layers = [spec, *spec.get("layer", [])]
    return [layer["encoding"][channel].get("axis", {}) for layer in layers for channel in ("x", "y")
            if channel in layer.get("encoding", {}) and layer["encoding"][channel].get("type") == "nominal"]


def test_grouped_bars_give_each_model_a_bar_of_its_own_and_every_class_its_whole_label():
    frame = compare.per_class_accuracy(three(0.92))
    spec = grouped_bars(frame, "class", list(CLASSES), "accuracy", list(MODELS), title="Per class",
                        value_title="test accuracy", width=190).to_dict()
    assert spec["height"] == {"step": BAR_STEP, "for": "offset"}  # 3 models x 6 px: each class gets 18 px or more
    assert len(MODELS) * BAR_STEP >= 12
    assert spec["width"] == 190 and spec["autosize"]["type"] == "pad"  # the plot's size, not the whole chart's
    assert spec["encoding"]["y"]["sort"] == list(CLASSES)
    assert all(axis["labelLimit"] == 0 and axis["labelOverlap"] is False for axis in nominal_axes(spec))
    assert spec["encoding"]["color"]["scale"]["range"] == [model_colour(name) for name in MODELS]


def test_learning_curves_draw_dashes_in_their_legend_zoom_and_pick_a_model_from_the_legend():
    curves = compare.learning_curves({name: record.history for name, record in three(0.92).items()}, 0.6)
    spec = learning_curve_chart(curves, "accuracy", list(MODELS)).to_dict()
    raw, smoothed, hover = spec["layer"]
    assert raw["mark"]["type"] == smoothed["mark"]["type"] == "line" and "point" not in smoothed["mark"]  # a
    # dot on the line (and so in the legend) cannot show a dash
    assert hover["mark"] == {"type": "point", "opacity": 0, "size": 80} and "tooltip" in hover["encoding"]
    assert "color" not in hover["encoding"] and "strokeDash" not in hover["encoding"]  # outside the legends
    params = [param for part in (spec, *spec["layer"]) for param in part.get("params", [])]
    assert any(param.get("bind") == "legend" and param["select"]["fields"] == ["model"] for param in params)
    assert any(param.get("bind") == "scales" and param["select"]["encodings"] == ["x"] for param in params)
    assert "condition" in raw["encoding"]["opacity"] and "condition" in smoothed["encoding"]["opacity"]


def test_smoothing_lag_measures_how_far_the_end_of_a_smoothed_curve_trails_its_raw_value():
    history = {"senet": three(0.92)["senet"].history}
    assert compare.smoothing_lag(compare.learning_curves(history, 0.0)) == 0.0
    rising = compare.smoothing_lag(compare.learning_curves(history, 0.9))
    last = compare.learning_curves(history, 0.9).query("metric == 'accuracy'").groupby("split").last()
    assert rising == pytest.approx(float((last["raw"] - last["smoothed"]).abs().max())) and rising > 0.01


def test_test_accuracy_chart_shows_the_mean_over_seeds_and_each_seed_on_a_zoomed_axis():
    first, second = three(0.92), three(0.90, plain=0.89, inception=0.93)
    seeds = compare.seed_accuracies({name: [first[name], second[name]] for name in first})
    spec = seed_accuracy_chart(seeds, list(MODELS), width=190).to_dict()
    dots, means = spec["layer"]
    assert spec["title"] == "Mean of 2 seeds and each seed" and "the mean" in dots["encoding"]["x"]["title"]
    assert dots["encoding"]["x"]["scale"]["zero"] is False  # a point's gap would vanish on an axis from 0
    assert means["transform"][0]["aggregate"][0]["op"] == "mean"
    assert means["encoding"]["shape"]["legend"]["symbolFillColor"] == "gray"  # shapes in the legend, not black boxes
    assert all(axis["labelLimit"] == 0 for axis in nominal_axes(dots))


def test_tables_write_missing_values_as_a_dash_never_none():
    frame = compare.pd.DataFrame({"Holm p": [0.0123, None], "significant": [True, None]})
    shown = written(frame, compare.PAIR_FORMATS)
    assert shown.to_dict("list") == {"Holm p": ["0.0123", MISSING], "significant": ["yes", MISSING]}
    assert format_points(0.0123) == "1.23 points"


def test_a_channel_whose_top_images_tie_is_flagged_as_no_ranking():
    tied = ChannelExemplars(top_indices=np.arange(18).reshape(2, 9),
                            top_values=np.array([[0.50390625] * 9, np.linspace(3.0, 1.0, 9)], dtype=np.float32),
                            class_means=np.array([np.linspace(0.496, 0.4998, 10), np.linspace(0.1, 1.0, 10)],
                                                 dtype=np.float32))
    note = exemplars.tie_note(tied, 0)
    assert "barely varies" in note and "0.504" in note and "0.496" in note
    assert exemplars.tie_note(tied, 1) == ""


def test_forest_plot_draws_each_pair_with_its_interval_over_the_band_that_is_no_lead_by_far():
    rows = compare.pd.DataFrame({"pair": ["SENet − Plain CNN", "SENet − Inception"], "lead": [5.24, -1.01],
                                 "low": [4.72, -1.43], "high": [5.82, -0.59], "significant": [True, True]})
    spec = forest_plot(rows, 2.0, width=300).to_dict()
    band, zero, intervals, leads = spec["layer"]
    assert spec["datasets"][band["data"]["name"]] == [{"from": -2.0, "to": 2.0}]
    assert spec["datasets"][zero["data"]["name"]] == [{"at": 0.0}]
    assert intervals["encoding"]["x"]["field"] == "low" and intervals["encoding"]["x2"]["field"] == "high"
    assert "±2" in intervals["encoding"]["x"]["title"]
    assert leads["encoding"]["y"]["sort"] == list(rows["pair"]) and leads["encoding"]["y"]["axis"]["labelLimit"] == 0
    assert spec["height"] >= max(120, 12 * len(rows)) and spec["width"] == 300


def test_the_train_command_names_the_checkpoint_folder_only_where_it_is_not_the_default(tmp_path):
    data = "../shared/datasets/cifar10-jpeg.tar.gz"
    default = settings.train_command(data, DEFAULT_CHECKPOINT_DIR)
    assert default == f"{settings.TRAIN_SCRIPT} --data {data}"
    assert settings.train_command(data, Path(DEFAULT_CHECKPOINT_DIR).resolve()) == default, "the same folder, absolute"
    assert settings.train_command(data, tmp_path) == f"{default} --out {tmp_path}"
    assert settings.budgets_command(data, tmp_path) == f"{default} --out {tmp_path} --budgets 10,20,40,80"
