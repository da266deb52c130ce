"""Channel exemplars: the top images per channel and class profiles match a brute-force pass, and the cache is
keyed by the weights."""
import numpy as np
import pytest
import torch

from safetensors.torch import save_file

from cifar_models import build_model
from cifar_models.normalization import model_input
from cifar_models.checkpoint import WEIGHTS_FILE
from cifar_models.exemplars import EXEMPLARS_FILE, TOP, cached_exemplars, compute_exemplars
from cifar_models.models.base import capture_activations

CLASSES = 10


@pytest.fixture(scope="module")
def images_and_labels():
    generator = np.random.default_rng(0)
    images = generator.integers(0, 256, (70, 32, 32, 3), dtype=np.uint8)
    return images, np.arange(70) % CLASSES


@pytest.mark.parametrize("name", ["plain_cnn", "senet", "inception"])
def test_exemplars_match_a_brute_force_pass(name, images_and_labels):
    images, labels = images_and_labels
    torch.manual_seed(0)
    model = build_model(name).eval()
    # batches of 32 over 70 images: the running top-k must carry across batch boundaries
    found = compute_exemplars(model, images, labels, num_classes=CLASSES, batch_size=32, precision="fp32",
                              progress=False)
    layers = model.inspectable_layers()
    assert set(found) == set(layers)
    with torch.no_grad():
        _, captured = capture_activations(model, model_input(images, torch.device("cpu")), list(layers))
    for layer_name, exemplars in found.items():
        means = captured[layer_name].float().mean((2, 3)).numpy()  # (N, C)
        assert exemplars.top_indices.shape == (layers[layer_name].shape[0], TOP)
        expected_top = np.sort(means, axis=0)[::-1][:TOP].T
        np.testing.assert_allclose(exemplars.top_values, expected_top, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(np.take_along_axis(means.T, exemplars.top_indices, 1), exemplars.top_values,
                                   rtol=1e-3, atol=1e-4)
        class_means = np.stack([means[labels == c].mean(0) for c in range(CLASSES)], 1)
        np.testing.assert_allclose(exemplars.class_means, class_means, rtol=1e-3, atol=1e-4)


def test_cache_is_reused_and_follows_the_weights(tmp_path, images_and_labels):
    images, labels = images_and_labels
    torch.manual_seed(0)
    model = build_model("plain_cnn").eval()
    save_file(model.state_dict(), tmp_path / WEIGHTS_FILE)
    arguments = dict(num_classes=CLASSES, data_fingerprint="test-data", precision="fp32", progress=False)
    first = cached_exemplars(tmp_path, model, images, labels, **arguments)
    stored = tmp_path / EXEMPLARS_FILE
    assert stored.is_file()
    written = stored.stat().st_mtime_ns
    again = cached_exemplars(tmp_path, model, images, labels, **arguments)
    assert stored.stat().st_mtime_ns == written  # read back, not recomputed
    for name in first:
        np.testing.assert_array_equal(first[name].top_indices, again[name].top_indices)

    torch.manual_seed(1)
    retrained = build_model("plain_cnn").eval()
    save_file(retrained.state_dict(), tmp_path / WEIGHTS_FILE)  # new weights: the stored exemplars are stale
    renewed = cached_exemplars(tmp_path, retrained, images, labels, **arguments)
    assert any(not np.array_equal(first[n].top_values, renewed[n].top_values) for n in first)

    stored.write_bytes(b"not a safetensors file")  # damaged: recomputed, not an error
    assert set(cached_exemplars(tmp_path, retrained, images, labels, **arguments)) == set(first)


@pytest.mark.slow
def test_evaluate_script_writes_exemplars_beside_each_checkpoint(run_script, trained_checkpoints, tmp_path):
    import json
    import shutil


    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(trained_checkpoints, checkpoints)
    result = run_script("scripts/evaluate.py", "--checkpoints", str(checkpoints), "--exemplars")
    lines = {line["model"]: line for line in map(json.loads, result.stdout.splitlines())}
    assert set(lines) == {"plain_cnn", "senet", "inception"}
    for name, line in lines.items():
        assert (checkpoints / name / EXEMPLARS_FILE).is_file()
        assert line["layers"] == len(build_model(name).inspectable_layers())


@pytest.mark.slow
def test_feature_maps_page_computes_and_shows_a_channels_exemplars(trained_checkpoints, tmp_path, open_app, archive):
    import shutil

    from apptest_helpers import FEATURE_MAPS

    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(trained_checkpoints, checkpoints)
    app = open_app(FEATURE_MAPS, checkpoints, archive)
    assert not app.exception
    compute = [button for button in app.button if button.key == "feature_maps_compute_exemplars"]
    assert compute, "the page offers to compute the exemplars"
    compute[0].click().run()
    assert not app.exception, [e.value for e in app.exception]
    model = app.sidebar.selectbox[0].value
    assert (checkpoints / model / EXEMPLARS_FILE).is_file()
    assert not [button for button in app.button if button.key == "feature_maps_compute_exemplars"]
    assert any("Class profile" in str(chart.proto.spec) for chart in app.get("vega_lite_chart"))
    assert any(f"the {TOP} test images with the largest mean activation" in caption.value for caption in app.caption)
