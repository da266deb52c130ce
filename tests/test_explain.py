"""Feature maps, colour scales, comparable depths, first-layer filters, SE gates and Inception branch shares."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cifar_models.normalization import model_input
from cifar_models.checkpoint import load_checkpoint, read_record
from cifar_models.explain import (branch_shares, class_probability_table, comparable_depths, excitation_gates,
                                  feature_maps, filter_images, first_convolution, gate_comparison, intra_op_threads,
                                  map_tiles, misclassified, top_channels)
from cifar_models.images import ColourScale, colour_scale
from cifar_models.models.plain_cnn import ConvBlock


def test_intra_op_threads_are_given_back():
    before = torch.get_num_threads()
    with intra_op_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"), intra_op_threads(before + 1):
        raise RuntimeError("fails inside")
    assert torch.get_num_threads() == before


@pytest.fixture(scope="module")
def models(trained_checkpoints):
    return {name: load_checkpoint(trained_checkpoints / name).model for name in ("plain_cnn", "senet", "inception")}


@pytest.fixture(scope="module")
def image(cifar):
    return cifar.test.images[0]


def test_every_inspectable_layer_has_its_declared_shape(models, image):
    for model in models.values():
        layers = model.inspectable_layers()
        result = feature_maps(model, image, list(layers))
        assert result.probabilities.shape == (10,) and abs(result.probabilities.sum() - 1) < 1e-5
        for name, layer in layers.items():
            assert result.maps[name].shape == layer.shape, name


def test_feature_maps_are_what_the_block_computes(models, image):
    """The captured conv1 map is the first block's conv -> BN -> ReLU of the normalised image, in eval mode."""
    model = models["plain_cnn"]
    block: ConvBlock = model.features[0]
    with torch.no_grad():
        expected = block.relu(block.bn(block.conv(model_input(image[None]))))[0].numpy()
    np.testing.assert_allclose(feature_maps(model, image, ["conv1"]).maps["conv1"], expected, atol=1e-5)
    assert not model.training


def test_top_channels_are_ordered_by_mean_activation(models, image):
    maps = feature_maps(models["senet"], image, ["stage2.block1"]).maps["stage2.block1"]
    means = maps.mean((1, 2))
    order = top_channels(maps, None)
    assert sorted(order) == list(range(len(maps)))
    assert (np.diff(means[order]) <= 0).all()
    np.testing.assert_array_equal(top_channels(maps, 8), order[:8])


def test_colour_scale_is_diverging_only_for_signed_values():
    signed = colour_scale(np.array([-1.0, 3.0]))
    assert signed == ColourScale(-3.0, 3.0, diverging=True)
    assert colour_scale(np.array([0.0, 2.0])) == ColourScale(0.0, 2.0, diverging=False)
    assert colour_scale([np.array([0.5, 1.0]), np.array([2.0])]) == ColourScale(0.5, 2.0, diverging=False)
    zero_colour = signed.colourise(np.zeros((1, 1)))[0, 0]
    assert (zero_colour > 240).all(), "zero is white on a diverging scale"
    positive, negative = signed.colourise(np.array([[3.0, -3.0]]))[0]
    assert positive[0] > positive[2] and negative[2] > negative[0], "red for positive, blue for negative"


def test_map_tiles_scale_per_map_per_layer_or_across_models(models, image):
    plain = feature_maps(models["plain_cnn"], image, ["conv2"]).maps["conv2"]
    senet = feature_maps(models["senet"], image, ["stage2.block2"]).maps["stage2.block2"]
    channels = top_channels(plain, 4)

    per_map = map_tiles(plain, channels, "map")
    assert [t.scale for t in per_map] == [colour_scale(plain[c]) for c in channels]
    assert per_map[0].image.shape == (96, 96, 3) and per_map[0].image.dtype == np.uint8

    per_layer = map_tiles(plain, channels, "layer")
    assert {t.scale for t in per_layer} == {colour_scale(plain)}

    shared = colour_scale([plain, senet])
    across = map_tiles(plain, channels, "models", shared) + map_tiles(senet, top_channels(senet, 4), "models", shared)
    assert {t.scale for t in across} == {shared}
    with pytest.raises(ValueError, match="shared scale"):
        map_tiles(plain, channels, "models")
    with pytest.raises(ValueError, match="unknown colour scale scope"):
        map_tiles(plain, channels, "everything")


def test_comparable_depths_pair_the_last_block_at_each_resolution(models):
    depths = comparable_depths({name: model.inspectable_layers() for name, model in models.items()})
    assert list(depths)[:4] == ["32x32", "16x16", "8x8", "4x4"]
    assert depths["32x32"]["inception"] is None  # its stem halves the resolution at once
    assert depths["8x8"] == {"plain_cnn": "conv3", "senet": "stage3.block2", "inception": "stage2.module4"}
    for row in depths.values():
        for name, layer in row.items():
            if layer is not None:
                assert models[name].inspectable_layers()[layer].kind == "block"


def test_first_layer_filters_show_the_weights(models):
    for model in models.values():
        weights = first_convolution(model).weight.detach().numpy()
        images = filter_images(model, pixels=64)
        assert len(images) == len(weights)
        kernel = weights.shape[-1]
        factor = 64 // kernel
        assert images[0].shape == (kernel * factor, kernel * factor, 3)
        # the largest weight of each filter is black or white; the filter's pattern survives the scaling
        strongest = np.unravel_index(np.abs(weights[0]).argmax(), weights[0].shape)  # (channel, row, column)
        value = images[0][strongest[1] * factor, strongest[2] * factor, strongest[0]]
        assert value in (0, 255)


def test_se_gates_for_an_image_against_its_class_average(models, cifar):
    model = models["senet"]
    cats = cifar.test.images[cifar.test.labels == cifar.classes.index("cat")][:24]
    gates = excitation_gates(model, cats, batch_size=10)
    assert set(gates) == set(model.inspectable_layers("gate"))
    for name, values in gates.items():
        assert values.shape == (24, model.inspectable_layers()[name].shape[0])
        assert ((values > 0) & (values < 1)).all(), "sigmoid gates lie strictly between 0 and 1"
    table = gate_comparison(model, cats[0], cats)
    layer = next(iter(gates))
    rows = table[table["layer"] == layer]
    np.testing.assert_allclose(rows["class average"], gates[layer].mean(0), rtol=1e-5)
    np.testing.assert_allclose(rows["this image"], gates[layer][0], rtol=1e-5)
    with pytest.raises(ValueError, match="no Squeeze-and-Excitation gates"):
        excitation_gates(models["plain_cnn"], cats[:1])


def test_inception_branch_shares_add_up_to_the_module_output(models, image):
    model = models["inception"]
    table = branch_shares(model, image)
    modules = [name for name in model.inspectable_layers("block") if name.startswith("stage")]
    assert list(table["module"].unique()) == modules
    assert (table.groupby("module").size() == 4).all()
    for share in ("activation share", "channel share"):
        np.testing.assert_allclose(table.groupby("module")[share].sum(), 1.0, rtol=1e-6)
    # the branches are concatenated: their activations sum to the module's output
    outputs = feature_maps(model, image, modules).maps
    for module, rows in table.groupby("module"):
        assert rows["activation"].sum() == pytest.approx(float(outputs[module].sum()), rel=1e-4)
    with pytest.raises(ValueError, match="no Inception branches"):
        branch_shares(models["senet"], image)


def test_class_probability_table_lists_the_top_classes_best_first():
    probabilities = {"a": np.array([0.1, 0.6, 0.3]), "b": np.array([0.5, 0.2, 0.3])}
    table = class_probability_table(probabilities, ["cat", "dog", "frog"], top=2)
    assert table[table["model"] == "a"]["class"].tolist() == ["dog", "frog"]
    assert table[table["model"] == "b"]["probability"].tolist() == [0.5, 0.3]
    assert len(class_probability_table(probabilities, ["cat", "dog", "frog"])) == 6


def test_misclassified_filters_by_true_and_predicted_class(trained_checkpoints, cifar):
    record = read_record(trained_checkpoints / "plain_cnn")
    predictions = np.asarray(record.test.predictions)
    labels = cifar.test.labels[: len(predictions)]
    wrong = misclassified(predictions, cifar.test.labels)
    assert len(wrong) == round((1 - record.accuracy) * len(predictions))
    assert (predictions[wrong] != labels[wrong]).all()
    for true_class in range(10):
        subset = misclassified(predictions, cifar.test.labels, true_class=true_class)
        assert set(subset) == {i for i in wrong if labels[i] == true_class}
    predicted_class = int(np.bincount(predictions[wrong]).argmax())
    both = misclassified(predictions, cifar.test.labels, true_class=int(labels[wrong[0]]),
                         predicted_class=predicted_class)
    assert ((labels[both] == labels[wrong[0]]) & (predictions[both] == predicted_class)).all()


def test_a_robust_colour_scale_lets_a_few_extreme_values_saturate():
    """Across models each model's maps get a scale from their 1st to 99th percentile: one extreme activation no
    longer pushes every other value into the darkest colour, and the bar's stops are the tiles' colours."""
    values = np.concatenate([np.linspace(0.0, 1.0, 1000), [500.0]])
    full, robust = colour_scale(values), colour_scale(values, percentile=99)
    assert full.high == 500.0 and robust.high == pytest.approx(np.percentile(values, 99))
    assert robust.low == pytest.approx(np.percentile(values, 1))
    bright = robust.colourise(np.array([[0.9]]))[0, 0].astype(int).sum()
    assert bright > full.colourise(np.array([[0.9]]))[0, 0].astype(int).sum() + 150  # visible, not near-black
    signed = colour_scale(np.array([-2.0, *np.linspace(-1, 1, 200), 90.0]), percentile=99)
    assert signed.diverging and signed.low == -signed.high and signed.high < 2.0
    stops, colours = robust.stops(5)
    assert stops[0] == robust.low and stops[-1] == robust.high
    assert colours == ["#{:02x}{:02x}{:02x}".format(*rgb) for rgb in robust.colourise(stops[None])[0]]
