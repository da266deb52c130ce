"""Every page of the dashboard run with Streamlit's AppTest on the real data and on checkpoints really trained on CPU
(the `trained_checkpoints` fixture), with no checkpoints, and with no data."""
import json
import re
import shutil
from dataclasses import replace

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cifar_models.checkpoint import RECORD_FILE, find_checkpoints, read_record, read_seed_records, write_json
from cifar_models.models import model_title
from cifar_models.verdict import GroundTruth, judge
from dashboard import state
from dashboard.views import compare
from dashboard.views.common import format_count, format_percent, format_seconds
from dashboard.views.home import model_card

from apptest_helpers import (ATTRIBUTION, HOME, NEED_DATA, NEED_NO_CHECKPOINTS, PAGES, assert_rendered, chart_frames, page_text,
                             records_of, sidebar_note)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_checkpoints(open_app, trained_checkpoints, page):
    app = open_app(page, trained_checkpoints)
    assert_rendered(app, page)
    assert f"**Checkpoints** `{trained_checkpoints}`" in sidebar_note(app) and "fingerprint" in sidebar_note(app)


@pytest.mark.slow  # the data pages decode the shared archive
@pytest.mark.parametrize("page", PAGES)
def test_every_page_says_how_to_train_when_there_are_no_checkpoints(open_app, tmp_path, page):
    app = open_app(page, tmp_path)
    assert not app.exception, [e.value for e in app.exception]
    if page in NEED_NO_CHECKPOINTS:
        assert_rendered(app, page)
        assert app.image  # the data pages work without models
    else:
        assert "python scripts/train_all.py --data " in page_text(app)
        assert f"--out {tmp_path}" in page_text(app)
    assert f"**Checkpoints** none in `{tmp_path}`" in sidebar_note(app)


@pytest.mark.parametrize("page", [HOME, "app_pages/dataset.py", "app_pages/augmentation.py", "app_pages/compare.py"])
def test_without_data_the_data_pages_offer_the_download_and_the_others_keep_working(open_app, trained_checkpoints,
                                                                                    tmp_path, page):
    nowhere = tmp_path / "no-data-here"
    app = open_app(page, trained_checkpoints, data=nowhere)
    assert not app.exception, [e.value for e in app.exception]
    if page in NEED_DATA:
        assert "CIFAR-10 was not found" in app.warning[0].value and str(nowhere.resolve()) in app.warning[0].value
        assert [button.label for button in app.button] == ["Download CIFAR-10"]  # offered, not clicked
        assert not app.image
    else:
        assert_rendered(app, page)
    assert f"**Data** none found at `{nowhere}`" in sidebar_note(app)


def test_home_cards_show_the_records(open_app, trained_checkpoints, cifar):
    app = open_app(HOME, trained_checkpoints)
    records = records_of(trained_checkpoints)
    assert [metric.value for metric in app.metric] == [format_percent(r.accuracy)
                                                      for r in records.values()]
    text = page_text(app)
    for record in records.values():
        card = model_card(record)
        assert f"**parameters**: {card['parameters']}" in text and f"**training time**: {card['training time']}" in text
    verdict = judge(read_seed_records(trained_checkpoints)[0], GroundTruth(cifar.test.labels, cifar.fingerprint))
    # the trained checkpoints are smoke runs: the verdict says they cannot answer, and why, in one sentence
    assert verdict.answer == "too weak" and verdict.sentence.startswith("Too weak to say: they are smoke runs on")
    assert verdict.tested and verdict.sentence in [text.value for text in app.markdown]


def test_compare_shows_the_numbers_of_the_records(open_app, trained_checkpoints):
    app = open_app("app_pages/compare.py", trained_checkpoints)
    records = records_of(trained_checkpoints)
    costs = app.table[0].value  # a column per model (by title), a row per figure, written out
    assert list(costs.columns) == [model_title(name) for name in records]
    for name, record in records.items():
        column = costs[model_title(name)]
        assert column["parameters"] == format_count(record.params) and column["multiply-accumulates per image"] == \
            format_count(record.macs)
        assert column["training time"] == format_seconds(record.train_seconds)
        assert column["test accuracy"] == format_percent(record.accuracy)
        assert column["with flip TTA"] == format_percent(record.tta_accuracy)
        assert column["latency per image"] == f"{record.test.latency_ms:.2f} ms"
    assert format_percent(records["senet"].accuracy) in page_text(app)
    # with the data, the verdict rests on McNemar's test and the bootstrap interval (tests/test_evidence.py)
    assert '"By far" means a lead that is significant' in page_text(app) and "Holm-corrected p" in page_text(app)
    assert "Too weak to say: they are smoke runs on" in app.warning[0].value  # the verdict, as a warning
    assert list(app.table[1].value.index) == [model_title(name) for name in records]  # the seeds table

    frames = chart_frames(app)
    curves = learning_curves(app)
    per_class = next(frame for frame in frames if set(frame.columns) == {"model", "class", "accuracy"})
    for name, record in records.items():  # the charts name the models by title
        raw = curves.query(f"model == '{model_title(name)}' and metric == 'loss' and split == 'validation'")["raw"]
        assert list(raw) == pytest.approx([row.val_loss for row in record.history])
        shown = per_class.query(f"model == '{model_title(name)}'")["accuracy"]
        assert list(shown) == pytest.approx(record.test.per_class_accuracy)

    recipes = app.dataframe[0].value
    assert recipes.loc["lr", "SENet"] == json.dumps(records["senet"].recipe.lr)
    app.toggle(key=state.widget_key("compare_differences")).set_value(True).run()
    differing = compare.recipe_table(records, differences_only=True)
    if differing.empty:
        assert "The recipes are identical." in page_text(app)  # no recipe table; the evidence tables follow
    else:
        assert list(app.dataframe[0].value.index) == list(differing.index)


def test_a_new_run_record_shows_up_without_a_restart(open_app, trained_checkpoints, tmp_path):
    for folder in find_checkpoints(trained_checkpoints).values():
        (tmp_path / folder.name).mkdir()
        shutil.copy(folder / RECORD_FILE, tmp_path / folder.name / RECORD_FILE)
    app = open_app("app_pages/compare.py", tmp_path)
    record = read_record(tmp_path / "senet")
    assert app.table[0].value.loc["test accuracy", "SENet"] == format_percent(record.accuracy)
    retrained = replace(record, test=replace(record.test, accuracy=0.987))  # as if SENet had been retrained
    write_json(tmp_path / "senet" / RECORD_FILE, retrained.to_json())
    app.run()
    assert app.table[0].value.loc["test accuracy", "SENet"] == "98.70%"
    assert "98.70%" in page_text(app)


def learning_curves(app: AppTest):
    """The first learning-curve chart's data (the history, raw and smoothed); the verdict's forest plot comes first."""
    return next(frame for frame in chart_frames(app) if "raw" in frame)


def test_compare_smoothing_and_model_selector(open_app, trained_checkpoints):
    app = open_app("app_pages/compare.py", trained_checkpoints)
    before = learning_curves(app)
    app.slider(key=state.widget_key("compare_smoothing")).set_value(0.0).run()
    after = learning_curves(app)
    np.testing.assert_allclose(after["raw"], before["raw"])  # the raw curve stays as recorded
    np.testing.assert_allclose(after["smoothed"], after["raw"])  # no smoothing: the same curve
    assert not np.allclose(before["smoothed"], before["raw"])

    app.multiselect(key=state.widget_key("compare_models")).set_value(["senet", "plain_cnn"]).run()
    assert not app.exception
    assert list(app.table[0].value.columns) == ["Plain CNN", "SENet"]  # the cost table, in display order
    assert set(learning_curves(app)["model"]) == {"Plain CNN", "SENet"}  # the charts name models by title


def augmented(app: AppTest) -> tuple[list[str], list[str]]:
    """(URLs, captions) of the augmented images; a URL is a hash of the image's bytes."""
    images = [image for image in app.image if not image.captions[0].endswith("(original)")]
    return [image.value[0] for image in images], [image.captions[0] for image in images]


def test_augmentation_sliders_change_the_augmented_images(open_app, trained_checkpoints):
    app = open_app("app_pages/augmentation.py", trained_checkpoints)
    assert_rendered(app, "app_pages/augmentation.py")
    originals = [image.value for image in app.image if image.captions[0].endswith("(original)")]
    urls, captions = augmented(app)
    assert len(originals) == 4 and len(urls) == 4 * 3
    assert all("cutout at" in caption for caption in captions)

    app.slider(key=state.widget_key("augment_cutout_size")).set_value(0).run()
    no_cutout_urls, no_cutout_captions = augmented(app)
    assert not any("cutout" in caption for caption in no_cutout_captions)
    assert no_cutout_urls != urls
    assert [image.value for image in app.image if image.captions[0].endswith("(original)")] == originals
    assert json.loads(app.code[0].value)["augment"]["cutout_size"] == 0  # the recipe follows the sliders

    app.slider(key=state.widget_key("augment_rotate_degrees")).set_value(30).run()  # whole degrees
    rotated_urls, rotated_captions = augmented(app)
    assert all("rotated" in caption for caption in rotated_captions) and rotated_urls != no_cutout_urls
    assert [markdown.value for markdown in app.markdown][-4:] == ["**Original**", "**Draw 1**", "**Draw 2**",
                                                                  "**Draw 3**"]  # the columns' headers
    assert not app.sidebar.slider  # the controls are on the page, above the previews

    next(button for button in app.button if button.label == "Reseed").click().run()
    assert augmented(app)[0] != rotated_urls
    assert app.number_input(key=state.widget_key("augment_draw_seed")).value == 1
    assert not app.exception


def grid_captions(app: AppTest) -> list[str]:
    """The Dataset grid's captions ('#index · label'), one per thumbnail."""
    return [image.captions[0] for image in app.image if image.captions and image.captions[0].startswith("#")]


def test_dataset_thumbnail_enlarges_on_click(open_app, trained_checkpoints):
    app = open_app("app_pages/dataset.py", trained_checkpoints)
    third = int(grid_captions(app)[2].split(" ")[0][1:])
    enlarge_buttons = [button for button in app.button if button.label == "Enlarge"]
    assert len(enlarge_buttons) == 40  # one under each thumbnail
    enlarge_buttons[2].click().run()
    assert_rendered(app, "app_pages/dataset.py")
    assert f"**Index** {third} in the train split" in page_text(app)
    assert app.number_input(key=state.widget_key("dataset_image_train")).value == third


def test_dataset_choices_are_kept_across_pages(open_app, trained_checkpoints):
    app = open_app("app_pages/dataset.py", trained_checkpoints)
    app.selectbox(key=state.widget_key("dataset_split")).set_value("test").run()
    app.selectbox(key=state.widget_key(state.CLASS_CHOICE)).set_value("cat").run()
    app.number_input(key=state.widget_key(state.IMAGE_CHOICE)).set_value(1234).run()
    grid = grid_captions(app)
    assert len(grid) == 40 and all(caption.endswith("· cat") for caption in grid)

    next(button for button in app.button if button.label == "Reshuffle").click().run()
    assert grid_captions(app) != grid and all(caption.endswith("· cat") for caption in grid_captions(app))

    app.switch_page("app_pages/compare.py").run()
    app.switch_page("app_pages/dataset.py").run()
    assert not app.exception
    assert app.selectbox(key=state.widget_key(state.CLASS_CHOICE)).value == "cat"
    assert app.selectbox(key=state.widget_key("dataset_split")).value == "test"
    assert app.number_input(key=state.widget_key(state.IMAGE_CHOICE)).value == 1234
    assert "**Index** 1234 in the test split" in page_text(app)
    assert app.session_state[state.IMAGE_CHOICE] == 1234  # where the model pages read it


RAW_MODEL_IDS = re.compile(r"\b(plain_cnn|senet|inception)\b")


def what_names_models(app: AppTest) -> list[str]:
    """Every string that can name a model to a reader: the widgets' options, the tables (index, columns, cells),
    the charts' model fields and titles."""
    shown = []
    for kind in ("selectbox", "multiselect", "radio"):
        shown += [str(option) for widget in app.get(kind) for option in widget.options]
    for frame in (element.value for element in (*app.dataframe, *app.table)):
        shown += [str(label) for label in (*frame.index, *frame.columns)]
        shown += [str(cell) for cell in frame.to_numpy().ravel()]
    shown += [str(model) for frame in chart_frames(app) if "model" in frame for model in frame["model"]]
    shown += [str(json.loads(chart.proto.spec).get("title", "")) for chart in app.get("vega_lite_chart")]
    return shown


@pytest.mark.parametrize("page", PAGES)
def test_every_page_names_the_models_by_their_titles(open_app, trained_checkpoints, page):
    """One look per model: no raw id (plain_cnn) in any widget, table, legend or chart title; on Attribution after
    its computation."""
    app = open_app(page, trained_checkpoints)
    if page == ATTRIBUTION:
        app.sidebar.button[0].click().run()
    assert_rendered(app, page)
    raw = [text for text in what_names_models(app) if RAW_MODEL_IDS.search(text)]
    assert not raw, raw


@pytest.mark.parametrize("page", [page for page in PAGES if page not in (HOME, "app_pages/compare.py")])
def test_every_image_is_served_as_png(open_app, trained_checkpoints, page):
    """Nearest-neighbour enlarged CIFAR pixels stay crisp squares: PNG, not JPEG with its chroma bleed."""
    app = open_app(page, trained_checkpoints)
    if page == ATTRIBUTION:
        app.sidebar.button[0].click().run()
    assert_rendered(app, page)
    urls = [image.url for element in app.get("image") for image in element.proto.imgs]
    assert urls and all(url.endswith(".png") for url in urls), urls[:5]
