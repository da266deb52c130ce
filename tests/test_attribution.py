"""Attributions with captum on trained checkpoints and real test images."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from cifar_models import MODELS
from cifar_models.attribution import (BASELINES, METHODS, AttributionError, AttributionOptions, attribute,
                                      baseline_for, class_probabilities, default_grad_cam_layer, denormalised_image,
                                      explain_image, explainable_copy, faithfulness, random_pixel_masks, score_drops,
                                      top_pixels_mask)
from cifar_models.normalization import model_input
from cifar_models.checkpoint import load_checkpoint
from cifar_models.images import overlay
from conftest import REPO

PATCH = 8


@pytest.fixture(scope="module")
def plain(trained_checkpoints):
    return explainable_copy(load_checkpoint(trained_checkpoints / "plain_cnn").model)


@pytest.fixture(scope="module")
def images(cifar):
    """32 test images, a few of every class, the same ones every run."""
    indices = np.random.default_rng(0).choice(len(cifar.test.images), 32, replace=False)
    return cifar.test.images[indices]


def test_explainable_copy_replaces_inplace_and_shared_relus(trained_checkpoints, images):
    original = load_checkpoint(trained_checkpoints / "plain_cnn").model
    reference = explainable_copy(original)
    # Break it the way other code does: in-place ReLUs, one ReLU object shared by two blocks.
    shared = nn.ReLU(inplace=True)
    original.features[0].relu = shared
    original.features[1].relu = shared
    original.features[2].relu.inplace = True
    original.head[2].inplace = True  # the head's LeakyReLU

    explained = explainable_copy(original)
    relus = [m for m in explained.modules() if isinstance(m, nn.ReLU)]
    assert len({id(m) for m in relus}) == len(relus) == 5, "one fresh ReLU per place"
    assert not any(getattr(m, "inplace", False) for m in explained.modules())
    assert original.features[0].relu is original.features[1].relu and shared.inplace, "the original is left alone"
    assert not explained.training and not any(p.requires_grad for p in explained.parameters())
    with torch.no_grad():
        torch.testing.assert_close(explained(model_input(images)), original.eval()(model_input(images)))
    # Grad-CAM on a ReLU's output (conv1 is the first block's ReLU) now matches the untouched model's.
    for layer in ("conv1", "conv3"):
        options = AttributionOptions(grad_cam_layer=layer)
        np.testing.assert_allclose(attribute(explained, images[0], 3, "grad_cam", options).heatmap,
                                   attribute(reference, images[0], 3, "grad_cam", options).heatmap, atol=1e-6)


def test_integrated_gradients_completeness(plain, images):
    """The attributions sum to f(x) - f(baseline), up to the convergence delta captum reports."""
    for baseline in BASELINES:
        for image in images[:4]:
            target = int(class_probabilities(plain, image).argmax())
            result = attribute(plain, image, target, "integrated_gradients",
                               AttributionOptions(baseline=baseline, ig_precision="fp32"))
            x = model_input(image[None])
            with torch.no_grad():
                gap = float(plain(x)[0, target] - plain(baseline_for(baseline, x))[0, target])
            assert result.delta is not None
            assert abs(float(result.heatmap.sum()) - gap) <= abs(result.delta) + 1e-4
            assert abs(result.delta) <= 0.05 * abs(gap) + 1e-3, "the default steps converge to within 5%"


def test_integrated_gradients_in_bf16_draws_the_fp32_map():
    """bf16 (the default where the CPU computes it natively) speeds Integrated Gradients up, and its map must stay the
    one fp32 draws: on the committed checkpoints, and a smooth synthetic image (the fast tier decodes no data)."""
    rows, columns = np.mgrid[0:32, 0:32]
    image = np.stack([128 + 100 * np.sin(columns / 5 + channel) * np.cos(rows / 7) for channel in range(3)], -1)
    image = image.astype(np.uint8)
    for name in MODELS:
        model = explainable_copy(load_checkpoint(REPO / "checkpoints" / name).model)
        target = int(class_probabilities(model, image).argmax())
        exact, fast = (attribute(model, image, target, "integrated_gradients", AttributionOptions(ig_precision=p))
                       for p in ("fp32", "bf16"))
        assert np.corrcoef(exact.heatmap.ravel(), fast.heatmap.ravel())[0, 1] > 0.99, name
        gap = float(exact.heatmap.sum()) - exact.delta  # f(image) - f(baseline), what both maps add up to
        assert abs(float(fast.heatmap.sum()) - gap) <= 0.05 * abs(gap), name


def test_integrated_gradients_batches_its_steps(plain, images):
    one_batch = attribute(plain, images[0], 1, "integrated_gradients", AttributionOptions(internal_batch_size=32))
    eight_at_a_time = attribute(plain, images[0], 1, "integrated_gradients", AttributionOptions(internal_batch_size=8))
    np.testing.assert_allclose(one_batch.heatmap, eight_at_a_time.heatmap, atol=1e-5)


def test_grad_cam_maps_have_the_image_size_and_no_negatives(trained_checkpoints, images):
    for name in ("plain_cnn", "senet", "inception"):
        model = explainable_copy(load_checkpoint(trained_checkpoints / name).model)
        blocks = list(model.inspectable_layers("block"))
        for layer in (blocks[0], default_grad_cam_layer(model), blocks[-1]):
            result = attribute(model, images[1], 5, "grad_cam", AttributionOptions(grad_cam_layer=layer))
            assert result.heatmap.shape == (32, 32), (name, layer)
            assert result.heatmap.min() >= 0, (name, layer)
            assert result.layer == layer


def test_every_method_gives_one_finite_map(plain, images):
    for method in METHODS:
        result = attribute(plain, images[2], 7, method)
        assert result.heatmap.shape == (32, 32) and np.isfinite(result.heatmap).all(), method
        assert (result.delta is not None) == (method == "integrated_gradients")
        assert result.signed == (method in ("integrated_gradients", "occlusion"))
        if not result.signed:
            assert result.heatmap.min() >= 0, method


def test_models_are_explained_in_eval_mode(trained_checkpoints, images):
    model = explainable_copy(load_checkpoint(trained_checkpoints / "plain_cnn").model)
    evaluated = attribute(model, images[3], 2, "saliency").heatmap
    model.train()  # DropBlock and dropout would draw random masks in training mode
    for _ in range(2):
        np.testing.assert_allclose(attribute(model, images[3], 2, "saliency").heatmap, evaluated, atol=1e-6)
    assert model.training, "the caller's mode is restored"


def test_bad_requests_are_refused(plain, images):
    with pytest.raises(AttributionError, match="unknown attribution method"):
        attribute(plain, images[0], 0, "lime")
    with pytest.raises(AttributionError, match="unknown baseline"):
        attribute(plain, images[0], 0, "integrated_gradients", AttributionOptions(baseline="gray"))
    with pytest.raises(AttributionError, match="unknown layer"):
        attribute(plain, images[0], 0, "grad_cam", AttributionOptions(grad_cam_layer="stage9"))


def test_se_gate_is_not_a_grad_cam_layer(trained_checkpoints, images):
    senet = explainable_copy(load_checkpoint(trained_checkpoints / "senet").model)
    with pytest.raises(AttributionError, match="SE gate"):
        attribute(senet, images[0], 0, "grad_cam", AttributionOptions(grad_cam_layer="stage1.block1.gate"))


def patch_mask(shape: tuple[int, int], top: int, left: int, size: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top:top + size, left:left + size] = True
    return mask


def most_attributed_patch(heatmap: np.ndarray, size: int) -> tuple[int, int]:
    """(top, left) of the ``size`` x ``size`` square with the largest total attribution."""
    values = torch.as_tensor(heatmap, dtype=torch.float32)[None, None]
    sums = torch.nn.functional.avg_pool2d(values, size, stride=1)[0, 0]  # every window's mean, one per position
    top, left = divmod(int(sums.argmax()), sums.shape[1])
    return top, left


@pytest.mark.parametrize("method", ["grad_cam", "integrated_gradients"])
def test_occluding_the_most_attributed_patch_hurts_more_than_a_random_patch(plain, images, method):
    rng = np.random.default_rng(1)
    top_drops, random_drops = [], []
    for image in images:
        target = int(class_probabilities(plain, image).argmax())
        top, left = most_attributed_patch(attribute(plain, image, target, method).heatmap, PATCH)
        corners = rng.integers(0, 32 - PATCH + 1, size=(8, 2))
        masks = np.stack([patch_mask((32, 32), top, left, PATCH)]
                         + [patch_mask((32, 32), row, column, PATCH) for row, column in corners])
        drops = score_drops(plain, image, target, masks)
        top_drops.append(drops[0])
        random_drops.append(drops[1:].mean())
    assert np.mean(top_drops) > np.mean(random_drops)


def test_most_attributed_patch_finds_the_hot_square():
    heatmap = np.zeros((32, 32), dtype=np.float32)
    heatmap[10:18, 20:28] = 1.0
    heatmap[0, 0] = 3.0  # one hot pixel does not outweigh a hot square
    assert most_attributed_patch(heatmap, PATCH) == (10, 20)


def test_faithfulness_compares_with_random_removal(plain, images):
    image = images[4]
    target = int(class_probabilities(plain, image).argmax())
    heatmap = attribute(plain, image, target, "grad_cam").heatmap
    mask = top_pixels_mask(heatmap, 0.1)
    assert mask.sum() == 102 and heatmap[mask].min() >= heatmap[~mask].max()
    randoms = random_pixel_masks((32, 32), 0.1, 8, seed=0)
    assert randoms.shape == (8, 32, 32) and (randoms.sum((1, 2)) == 102).all()
    saliency = attribute(plain, image, target, "saliency").heatmap
    scores = faithfulness(plain, image, target, {"grad_cam": heatmap, "saliency": saliency}, random_draws=8, seed=0)
    drops = score_drops(plain, image, target, np.concatenate([mask[None], top_pixels_mask(saliency, 0.1)[None],
                                                              randoms]))
    for row, name in enumerate(("grad_cam", "saliency")):  # each map's own removal, the same random ones
        assert scores[name].top_drop == pytest.approx(float(drops[row]), abs=1e-6)
        assert scores[name].random_drop == pytest.approx(float(drops[2:].mean()), abs=1e-6)
        assert scores[name].score == pytest.approx(scores[name].top_drop - scores[name].random_drop)
    alone = faithfulness(plain, image, target, {"grad_cam": heatmap})["grad_cam"]
    assert alone.top_drop == pytest.approx(scores["grad_cam"].top_drop, abs=1e-6), "the batch changes no score"
    assert faithfulness(plain, image, target, {}) == {}


def test_overlay_keeps_the_image_where_there_is_no_evidence(images):
    picture = denormalised_image(images[0])
    np.testing.assert_array_equal(picture, images[0])  # the de-normalised input is the image itself
    heatmap = np.zeros((32, 32), dtype=np.float32)
    heatmap[5, 5] = 2.0
    heatmap[6, 6] = -4.0  # negative evidence is not drawn
    drawn = overlay(picture, heatmap, opacity=1.0)
    mask = np.ones((32, 32), dtype=bool)
    mask[5, 5] = False
    np.testing.assert_array_equal(drawn[mask], picture[mask])
    assert not np.array_equal(drawn[5, 5], picture[5, 5])
    np.testing.assert_array_equal(overlay(picture, heatmap, opacity=0.0), picture)


def test_the_panel_explains_each_models_prediction(trained_checkpoints, images):
    models = {name: explainable_copy(load_checkpoint(trained_checkpoints / name).model)
              for name in ("plain_cnn", "senet", "inception")}
    methods = ["integrated_gradients", "grad_cam", "saliency"]
    results = explain_image(models, images[5], methods, grad_cam_layers={"senet": "stage3.block2"})
    assert list(results) == list(models)
    for name, explanation in results.items():
        assert explanation.target == int(explanation.probabilities.argmax())
        assert set(explanation.attributions) == set(explanation.faithfulness) == set(methods)
    assert results["senet"].attributions["grad_cam"].layer == "stage3.block2"
    assert results["plain_cnn"].attributions["grad_cam"].layer == default_grad_cam_layer(models["plain_cnn"])
    chosen = explain_image({"plain_cnn": models["plain_cnn"]}, images[5], ["saliency"], target=9)
    assert chosen["plain_cnn"].target == 9


def test_the_panel_gives_each_model_its_share_of_threads_and_the_same_results(untrained_checkpoints, images):
    """explain_image runs each model in a worker thread on its share of the caller's intra-op threads; the maps and
    scores are those of each method computed alone, one after another, with all of the caller's threads."""
    models = {name: explainable_copy(load_checkpoint(untrained_checkpoints / name).model) for name in MODELS}
    methods = ["integrated_gradients", "grad_cam", "saliency"]
    caller, caller_threads = threading.get_ident(), torch.get_num_threads()
    ran_with: dict[str, set[tuple[int, int]]] = {name: set() for name in models}  # (thread, its intra-op threads)

    def record(name):
        return lambda *_: ran_with[name].add((threading.get_ident(), torch.get_num_threads()))

    handles = [model.register_forward_hook(record(name)) for name, model in models.items()]
    try:
        panel = explain_image(models, images[6], methods)
    finally:
        for handle in handles:
            handle.remove()
    assert torch.get_num_threads() == caller_threads, "the caller's count is given back"
    for name, calls in ran_with.items():
        assert {threads for _, threads in calls} == {max(1, caller_threads // len(models))}, name
        assert caller not in {thread for thread, _ in calls}, name

    for name, model in models.items():
        explained = panel[name]
        for method in methods:
            alone = attribute(model, images[6], explained.target, method)
            np.testing.assert_allclose(explained.attributions[method].heatmap, alone.heatmap, rtol=1e-4, atol=1e-6,
                                       err_msg=f"{name} {method}")
            if method == "integrated_gradients":
                assert explained.attributions[method].delta == pytest.approx(alone.delta, rel=1e-4, abs=1e-6)
            scored = faithfulness(model, images[6], explained.target, {method: alone.heatmap})[method]
            assert explained.faithfulness[method].top_drop == pytest.approx(scored.top_drop, abs=1e-5)
            assert explained.faithfulness[method].random_drop == pytest.approx(scored.random_drop, abs=1e-5)

    with pytest.raises(AttributionError, match="SE gate"):  # a worker's error reaches the caller
        explain_image(models, images[6], ["grad_cam"], grad_cam_layers={"senet": "stage1.block1.gate"})
    assert torch.get_num_threads() == caller_threads
    assert explain_image({}, images[6], methods) == {}
