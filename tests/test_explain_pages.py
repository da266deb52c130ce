"""The Feature maps, Attribution and Predict pages run with AppTest on the real data and really trained checkpoints
(and with none): their widgets, their button-driven computation and every kind of upload."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

# the shared AppTest helpers; open_app is in conftest.py
from apptest_helpers import ATTRIBUTION, AUGMENTATION, FEATURE_MAPS, PREDICT, assert_rendered, chart_frames, page_text, png
from cifar_models.checkpoint import read_record
from cifar_models.explain import misclassified
from dashboard import state

MODEL_WIDGET = state.widget_key(state.MODEL_CHOICE)


def image_captions(app) -> list[str]:
    """The caption of every image on the page, in order (one entry per image)."""
    return [image.caption for element in app.get("image") for image in element.proto.imgs]


@pytest.mark.parametrize("page", [FEATURE_MAPS, ATTRIBUTION, PREDICT])
def test_without_checkpoints_each_page_says_how_to_train(open_app, tmp_path, page):
    app = open_app(page, tmp_path, data=tmp_path / "no-data")  # the data is not the point: nothing to decode
    assert_rendered(app, page)
    assert "No trained models found" in page_text(app)
    assert "scripts/train_all.py" in page_text(app)


def test_feature_maps_grid_scales_and_the_three_models(open_app, trained_checkpoints):
    app = open_app(FEATURE_MAPS, trained_checkpoints)
    assert_rendered(app, FEATURE_MAPS)
    app.sidebar.selectbox(key=MODEL_WIDGET).set_value("plain_cnn").run()
    app.sidebar.selectbox(key="feature_maps_layer_plain_cnn").set_value("conv2").run()
    app.sidebar.slider[0].set_value(5).run()
    assert_rendered(app, FEATURE_MAPS)
    assert "5 of 64 channels" in page_text(app)
    for scope, words in (("layer", "per layer:"), ("models", "across models: each model on its own robust")):
        app.sidebar.radio(key="feature_maps_scope").set_value(scope).run()
        assert_rendered(app, FEATURE_MAPS)
        assert words in page_text(app)
        # a colour bar over the grid and one per model beside the side-by-side tiles, not a caption
        assert len([frame for frame in chart_frames(app) if "colour" in frame]) == 4
    # the side-by-side names each model's layer at the chosen resolution
    app.sidebar.selectbox[-1].set_value("8x8").run()
    text = page_text(app)
    assert "conv3 · top" in text and "stage3.block2 · top" in text and "stage2.module4 · top" in text
    app.sidebar.toggle[0].set_value(True).run()
    assert "64 of 64 channels" in page_text(app)
    assert "32 filters (7x7)" in page_text(app)


def test_feature_maps_se_gates_against_the_class_average(open_app, trained_checkpoints):
    app = open_app(FEATURE_MAPS, trained_checkpoints)
    app.sidebar.selectbox(key=MODEL_WIDGET).set_value("senet").run()
    assert_rendered(app, FEATURE_MAPS)
    [series] = [set(frame["series"]) for frame in chart_frames(app) if "series" in frame]
    assert series == {"this image"}
    app.sidebar.button(key="feature_maps_gate_button").click().run()
    assert_rendered(app, FEATURE_MAPS)
    [frame] = [frame for frame in chart_frames(app) if "series" in frame]
    assert set(frame["series"]) == {"this image", "class average"}
    assert frame["gate"].between(0, 1).all() and len(frame) == 2 * 512


def test_feature_maps_inception_branch_shares(open_app, trained_checkpoints):
    app = open_app(FEATURE_MAPS, trained_checkpoints)
    app.sidebar.selectbox(key=MODEL_WIDGET).set_value("inception").run()
    assert_rendered(app, FEATURE_MAPS)
    [frame] = [frame for frame in chart_frames(app) if "measure" in frame]
    # each branch by what it computes, not by its attribute's name
    assert set(frame["branch"]) == {"1x1 convolution", "3x3 convolution", "two 3x3 convolutions", "pooling, then 1x1"}
    sums = frame.groupby(["module", "measure"])["share"].sum()
    np.testing.assert_allclose(sums, 1.0, rtol=1e-6)


def test_feature_maps_of_an_upload(open_app, trained_checkpoints, cifar):
    app = open_app(FEATURE_MAPS, trained_checkpoints)
    app.sidebar.radio(key=state.widget_key(state.IMAGE_SOURCE_CHOICE)).set_value("My own image").run()
    assert "Upload an image" in page_text(app)
    app.sidebar.file_uploader[0].set_value(("truck.png", png(cifar.test.images[11], 200), "image/png")).run()
    assert_rendered(app, FEATURE_MAPS)
    assert image_captions(app)[0] == "truck.png (200x200 PNG)"


def test_an_upload_on_feature_maps_is_explained_on_attribution(open_app, trained_checkpoints, cifar):
    app = open_app(FEATURE_MAPS, trained_checkpoints)
    app.sidebar.radio(key=state.widget_key(state.IMAGE_SOURCE_CHOICE)).set_value("My own image").run()
    app.sidebar.file_uploader[0].set_value(("truck.png", png(cifar.test.images[11], 200), "image/png")).run()
    app.switch_page(ATTRIBUTION).run()
    assert_rendered(app, ATTRIBUTION)
    assert app.sidebar.radio(key=state.widget_key(state.IMAGE_SOURCE_CHOICE)).value == "My own image"
    assert image_captions(app)[0] == "truck.png (200x200 PNG)"  # carried over, not asked for again
    assert "uploaded on another page" in "\n".join(caption.value for caption in app.sidebar.caption)


def test_an_upload_on_feature_maps_is_augmented_on_augmentation_and_one_there_too(open_app, untrained_checkpoints,
                                                                                  cifar):
    app = open_app(FEATURE_MAPS, untrained_checkpoints)
    app.sidebar.radio(key=state.widget_key(state.IMAGE_SOURCE_CHOICE)).set_value("My own image").run()
    app.sidebar.file_uploader[0].set_value(("truck.png", png(cifar.test.images[11], 200), "image/png")).run()
    app.switch_page(AUGMENTATION).run()
    assert_rendered(app, AUGMENTATION)
    assert app.toggle(key=state.widget_key("augment_own_image")).value, "on at once: an image was uploaded before"
    originals = [image.captions[0] for image in app.image if "(original)" in image.captions[0]
                 or "(yours" in image.captions[0]]
    assert originals[0] == "image 0: truck.png (200x200 PNG) (yours, as the models see it)" and len(originals) == 5
    first_row = [image.captions[0] for image in app.image][1:4]  # the three draws beside it
    assert all("cutout at" in caption for caption in first_row)

    app.selectbox(key=state.widget_key("augment_own_class")).set_value("truck").run()
    app.selectbox(key=state.widget_key("augment_mix")).set_value("mixup").run()
    assert any("truck" in caption for caption in [image.captions[0] for image in app.image][1:4]), "MixUp mixes it"
    app.file_uploader[0].set_value(("ship.png", png(cifar.test.images[1], 64), "image/png")).run()
    assert [image.captions[0] for image in app.image][0].startswith("image 0: ship.png (64x64 PNG)")
    app.toggle(key=state.widget_key("augment_own_image")).set_value(False).run()
    assert not any("(yours" in image.captions[0] for image in app.image) and not app.exception


def test_attribution_runs_on_the_button_only(open_app, trained_checkpoints):
    app = open_app(ATTRIBUTION, trained_checkpoints)
    assert_rendered(app, ATTRIBUTION)
    assert "Press **Explain**" in page_text(app)
    assert not app.dataframe and not app.table, "nothing is computed before the button"
    app.sidebar.button[0].click().run()
    assert_rendered(app, ATTRIBUTION)
    trust, faithfulness = app.table[0].value, app.dataframe[0].value
    assert len(faithfulness) == 9  # three models x the default three methods, in the expander
    assert {"Integrated Gradients", "Grad-CAM", "Saliency"} == set(faithfulness["method"])
    # the compact table: a row per method, a column per model, each model's most faithful method starred
    assert list(trust.index) == ["Integrated Gradients", "Grad-CAM", "Saliency"]
    assert list(trust.columns) == ["Plain CNN", "SENet", "Inception"]
    assert all(trust[model].str.endswith("★").sum() == 1 for model in trust.columns)
    assert not any(cell.startswith(("-0%", "-0.0%")) for cell in trust.to_numpy().ravel())
    assert "Most faithful map per model — Plain CNN: **" in page_text(app)
    text = page_text(app)
    # one delta per model under its map, and a warning for each model whose delta is large (how many depends on the
    # trained weights)
    warned = sum("Integrated Gradients' convergence delta is" in warning.value for warning in app.warning)
    assert text.count("convergence delta") == 3 + warned and "layer conv4" in text
    # the image, then an overlay and a heat map per model and method
    assert image_captions(app) == [image_captions(app)[0]] + ["overlay", "heat map"] * 3 * 3
    [probabilities] = [frame for frame in chart_frames(app) if "probability" in frame]
    np.testing.assert_allclose(probabilities.groupby("model")["probability"].sum(), 1.0, rtol=1e-4)

    # Trained here, so no faithfulness over many images is stored yet: the page gives the command that computes it.
    [missing] = [info.value for info in app.info]
    assert "No faithfulness over many images for Plain CNN, SENet, Inception" in missing
    assert "evaluate.py --faithfulness" in missing

    # The opacity only redraws; a new target asks for the button again.
    app.sidebar.slider[-1].set_value(0.2).run()
    assert [info.value for info in app.info] == [missing] and len(app.table) == len(app.dataframe) == 1
    app.sidebar.selectbox[0].set_value("ship").run()
    assert "Press **Explain**" in page_text(app)
    app.sidebar.button[0].click().run()
    assert "Plain CNN: ship · SENet: ship · Inception: ship" in page_text(app)
    # Settings explained before come back without the button, the same figures (cached, not computed again).
    app.sidebar.selectbox[0].set_value("each model's prediction").run()
    assert [info.value for info in app.info] == [missing]
    pd.testing.assert_frame_equal(app.dataframe[0].value, faithfulness)


def test_attribution_other_methods_baseline_and_layer(open_app, trained_checkpoints):
    app = open_app(ATTRIBUTION, trained_checkpoints)
    app.sidebar.multiselect[0].set_value(["occlusion", "smoothgrad", "integrated_gradients"])
    app.sidebar.selectbox[1].set_value("blurred")
    app.sidebar.slider[0].set_value(16)
    app.sidebar.selectbox[2].set_value("16x16")
    app.run()
    app.sidebar.button[0].click().run()
    assert_rendered(app, ATTRIBUTION)
    assert [h.value for h in app.subheader][-3:] == ["Occlusion", "SmoothGrad", "Integrated Gradients"]


def test_predict_top5_of_an_upload_and_the_gallery(open_app, trained_checkpoints, cifar):
    app = open_app(PREDICT, trained_checkpoints)
    assert_rendered(app, PREDICT)
    app.sidebar.file_uploader[0].set_value(("big cat.png", png(cifar.test.images[0], 640), "image/png")).run()
    assert_rendered(app, PREDICT)
    top5 = [frame for frame in chart_frames(app) if "rank" in frame]
    assert len(top5) == 3 and all(len(frame) == 5 for frame in top5)
    specs = [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart") if '"rank"' in chart.proto.spec]
    for spec in specs:
        assert spec["height"] >= 5 * 30  # a row tall enough for each of the 5 class labels
        marks = {layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]}
        assert marks == {"bar", "text"}  # each bar carries its value
    assert "**big cat.png** · PNG · 640x640" in page_text(app)

    record = read_record(trained_checkpoints / "plain_cnn")
    predictions = record.test.predictions
    app.sidebar.selectbox(key=MODEL_WIDGET).set_value("plain_cnn")
    app.sidebar.selectbox[1].set_value("cat").run()
    wrong = misclassified(predictions, cifar.test.labels, true_class=cifar.classes.index("cat"))
    assert f"{len(wrong):,} of the {len(predictions):,} test images" in page_text(app)


def test_predict_gallery_pages_by_confidence_and_opens_one_in_attribution(open_app, trained_checkpoints, cifar):
    app = open_app(PREDICT, trained_checkpoints)
    app.sidebar.selectbox(key=MODEL_WIDGET).set_value("plain_cnn").run()
    record = read_record(trained_checkpoints / "plain_cnn")
    predictions, confidence = record.test.predictions, record.test.confidence
    wrong = misclassified(predictions, cifar.test.labels)
    by_confidence = sorted(wrong, key=lambda i: -confidence[i])
    gallery = [int(caption.split(" ")[0][1:]) for caption in image_captions(app) if caption.startswith("#")]
    assert gallery == by_confidence[:24]  # the first page, the most confident mistakes first
    app.sidebar.number_input(key=state.widget_key("predict_gallery_page")).set_value(2).run()
    gallery = [int(caption.split(" ")[0][1:]) for caption in image_captions(app) if caption.startswith("#")]
    assert gallery == by_confidence[24:48]
    explain_buttons = [button for button in app.button if button.label == "Explain"]
    explain_buttons[0].click().run()
    assert_rendered(app, ATTRIBUTION)  # moved to the Attribution page, on that image
    assert app.session_state[state.IMAGE_CHOICE] == by_confidence[24]
    assert image_captions(app)[0].startswith(f"test image #{by_confidence[24]} ·")
    # explained at once, with the page's default settings: no second click on the page's own button
    assert "Press **Explain**" not in page_text(app) and "Most faithful map per model" in page_text(app)
    assert image_captions(app)[1:] == ["overlay", "heat map"] * 3 * 3


def bad_uploads(photo: np.ndarray) -> dict[str, bytes]:
    complete = png(photo, 256)
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, "PNG")
    return {"notes.png": b"these are not pixels", "half.png": complete[: len(complete) // 2],
            "bomb.png": bomb.getvalue()}


def converted_uploads(photo: np.ndarray) -> dict[str, tuple[bytes, str]]:
    def saved(image: Image.Image, file_format: str) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, file_format)
        return buffer.getvalue()

    picture = Image.fromarray(photo)
    cutout = picture.convert("RGBA")
    cutout.putalpha(Image.linear_gradient("L").resize(picture.size))  # transparent at the top, opaque at the bottom
    return {"dot.bmp": (saved(Image.new("RGB", (1, 1), (9, 99, 199)), "BMP"), "single pixel"),
            "gray.jpg": (saved(picture.convert("L"), "JPEG"), "Grayscale"),
            "palette.png": (saved(picture.convert("P"), "PNG"), "Palette"),
            "cutout.webp": (saved(cutout, "WEBP"), "white background")}


def test_predict_refuses_bad_uploads_and_keeps_running(open_app, trained_checkpoints, cifar):
    app = open_app(PREDICT, trained_checkpoints)
    for name, content in bad_uploads(cifar.test.images[0]).items():
        app.sidebar.file_uploader[0].set_value((name, content, "image/png")).run()
        assert_rendered(app, PREDICT)
        assert [e.value for e in app.error][0].startswith(f"{name}: ")
        assert "Test images Plain CNN gets wrong" in [h.value for h in app.subheader][-1], "the gallery still shows"
    for name, (content, note) in converted_uploads(cifar.test.images[0]).items():
        app.sidebar.file_uploader[0].set_value((name, content, "application/octet-stream")).run()
        assert_rendered(app, PREDICT)
        assert not app.error and note in page_text(app), name
        assert len([frame for frame in chart_frames(app) if "rank" in frame]) == 3
