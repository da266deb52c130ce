"""The dashboard in a real browser: `streamlit run dashboard/Home.py` on a free local port, every page opened in
headless Chromium (the system's, e.g. Debian's `chromium`, else Playwright's own; driven by Playwright) at 1440, 1280
and 1024 px wide, its screenshots kept in artifacts/screenshots/ (git-ignored; every run leaves them in its
checkout). Without a Chromium these tests fail with a message saying how to install one (scripts/setup_test_env.sh,
which the README's test command runs)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from cifar_models.checkpoint import find_checkpoints
from cifar_models.recipe import load_recipe_file
from conftest import REPO
from dashboard import navigation
# the helpers that serve the dashboard and drive Chromium, shared with the benchmark
from dashboard.browser import EVERYTHING_DRAWN, RUN_FINISHED, open_page, serve_dashboard

# URL path -> the title the page shows; every page file that exists is covered.
PAGES = {navigation.url_path(page): page.shown_title for page in navigation.available_pages()}
EXCEPTION = '[data-testid="stException"]'
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
LAYOUT_WIDTHS = (1440, 1280, 1024)  # a desktop and two laptops
MIN_CHART_WIDTH = 240  # px: at 1024 no chart may collapse below this (the TTA chart was a sliver)
# Each rendered chart's box, and the main column's right edge: a chart that is too narrow or runs off the page.
MEASURE_CHARTS = """() => {
  const main = document.querySelector('[data-testid="stMainBlockContainer"]').getBoundingClientRect();
  return [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map(chart => {
    const box = (chart.querySelector('svg') || chart).getBoundingClientRect();
    const title = chart.querySelector('.role-title-text');
    return {title: title ? title.textContent : '', width: box.width, right: box.right, mainRight: main.right,
            rendered: chart.querySelectorAll('.role-mark').length > 0,
            colourBar: chart.getAttribute('aria-label') === 'colour bar'};  // a key sized to its tiles, not a plot
  });
}"""


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {SCREENSHOTS}")
    return SCREENSHOTS


def test_a_deep_link_on_a_fresh_server_goes_through_home(browser, app_url, trained_checkpoints):
    """First in this module, so on a server no session has used yet (`app_url` serves the whole pytest session: a
    browser test in a file that sorts before this one would use it first): a page's URL in a fresh tab runs Home.py,
    whose st.navigation picks the page, so navigation and sidebar note are there."""
    page = open_page(browser, app_url, "compare")
    try:
        expect(page.locator("h1").first).to_contain_text("Compare")
        links = page.get_by_test_id("stSidebarNav").inner_text()
        assert all(spec.title in links for spec in navigation.available_pages())
        assert str(trained_checkpoints) in page.get_by_test_id("stSidebar").inner_text()
        assert page.locator(EXCEPTION).count() == 0
    finally:
        page.close()


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path or "home")
def test_page_shows_its_title_and_holds_its_layout_at_laptop_widths(browser, app_url, trained_checkpoints,
                                                                    screenshots, path):
    """Each page at 1440, 1280 and 1024 px (screenshots kept): its title, no exception and the sidebar's note on what
    is loaded; at 1024 every chart is at least MIN_CHART_WIDTH wide and none runs past the main column's right edge."""
    for width in LAYOUT_WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 3600})
        try:
            page.goto(f"{app_url}/{path}")
            page.wait_for_selector(RUN_FINISHED, timeout=120_000)
            expect(page.locator("h1").first).to_contain_text(PAGES[path])
            page.wait_for_function(EVERYTHING_DRAWN, timeout=60_000)
            page.screenshot(path=screenshots / f"{path or 'home'}-{width}.png")
            assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
            note = page.get_by_test_id("stSidebar").inner_text()  # what is loaded, on every page
            assert str(trained_checkpoints) in note and "fingerprint" in note
            charts = page.evaluate(MEASURE_CHARTS)
            if width == min(LAYOUT_WIDTHS):
                narrow = [(chart["title"], round(chart["width"])) for chart in charts
                          if chart["width"] < MIN_CHART_WIDTH and not chart["colourBar"]]
                assert not narrow, f"charts narrower than {MIN_CHART_WIDTH} px at {width} px: {narrow}"
            clipped = [chart["title"] for chart in charts if chart["right"] > chart["mainRight"] + 1]
            assert not clipped, f"charts running off the page at {width} px: {clipped}"
        finally:
            page.close()


# ----------------------------------------------------------------------------------------------------------------
# Interactions through the browser, one test each: open the page with open_page(browser, app_url, "<url path>"),
# act, wait for what the action shows (expect(...)) and for page.wait_for_selector(RUN_FINISHED), then assert what
# the reader sees and that no EXCEPTION element is there. Predict's upload test goes here.


def test_augmentation_recipe_downloads_as_a_file_training_accepts(browser, app_url, tmp_path):
    page = open_page(browser, app_url, "augmentation")
    try:
        with page.expect_download() as download:
            page.get_by_role("button", name="Download recipe.json").click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name == "recipe.json"
        assert load_recipe_file(saved).augment.cutout_size == 8  # the sliders' start: the default recipe
        page.wait_for_selector(RUN_FINISHED)  # the click reruns the page
        assert page.locator(EXCEPTION).count() == 0
    finally:
        page.close()


def test_predict_upload_shows_what_the_models_see_and_refuses_a_non_image(browser, app_url, tmp_path, cifar):
    upload = tmp_path / "upload.png"
    Image.fromarray(cifar.test.images[1]).resize((300, 200)).save(upload)
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("these are not pixels")
    page = open_page(browser, app_url, "predict")
    try:
        file_input = page.get_by_test_id("stSidebar").locator('input[type="file"]')
        file_input.set_input_files(upload)
        expect(page.get_by_text("What the models see (32x32)")).to_be_visible(timeout=120_000)
        page.wait_for_selector(RUN_FINISHED, timeout=120_000)
        main = page.get_by_test_id("stMain")
        expect(main).to_contain_text("upload.png · PNG · 300x200")
        expect(main).to_contain_text("the centre 200x200 was kept")
        assert all(title in main.inner_text() for title in ("Plain CNN", "SENet", "Inception"))
        assert page.locator(EXCEPTION).count() == 0

        file_input.set_input_files(not_an_image)
        expect(main).to_contain_text("notes.png: not a PNG, JPEG, WebP or BMP image", timeout=120_000)
        page.wait_for_selector(RUN_FINISHED, timeout=120_000)
        expect(main).to_contain_text("gets wrong")  # the rest of the page keeps working
        assert page.locator(EXCEPTION).count() == 0
    finally:
        page.close()


def test_compare_learning_curves_render_a_legend_of_the_models(browser, app_url):
    """The rendered SVG of each curve chart holds legend groups naming every model by title, and the split."""
    page = open_page(browser, app_url, "compare")
    try:
        for title in ("Loss per epoch", "Accuracy per epoch"):
            chart = page.get_by_test_id("stVegaLiteChart").filter(has_text=title)
            expect(chart.locator("svg")).to_be_visible()
            legends = chart.locator("svg .role-legend")
            assert legends.count() >= 1, f"{title}: no legend in the rendered chart"
            words = " ".join(legend.text_content() for legend in legends.all())
            assert all(model in words for model in ("Plain CNN", "SENet", "Inception", "train", "validation")), words
        assert page.locator(EXCEPTION).count() == 0
    finally:
        page.close()


# ----------------------------------------------------------------------------------------------------------------
# The two features of "what a channel responds to" and "training now", on a copy of the trained checkpoints that this
# module's own server reads (computing exemplars and training write into the folder; the other tests keep theirs).


@pytest.fixture(scope="module")
def writable_app(trained_checkpoints, tmp_path_factory):
    """(URL, folder): the app served on a copy of the trained checkpoints' weights and records."""
    folder = tmp_path_factory.mktemp("writable") / "checkpoints"
    for name, source in find_checkpoints(trained_checkpoints).items():
        (folder / name).mkdir(parents=True)
        for file in ("model.safetensors", "run.json"):
            shutil.copy(source / file, folder / name / file)
    with serve_dashboard(folder, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url:
        yield url, folder


def test_feature_maps_shows_the_exemplars_of_a_channel(browser, writable_app, screenshots):
    """Computed on the page's button, a channel's 9 most activating test images and its class profile are drawn."""
    url, folder = writable_app
    page = open_page(browser, url, "feature_maps")
    try:
        page.get_by_role("button", name=re.compile("Compute the exemplars of")).click()
        main = page.get_by_test_id("stMain")
        expect(main).to_contain_text("test images with the largest mean activation", timeout=300_000)
        page.wait_for_selector(RUN_FINISHED, timeout=120_000)
        assert list(folder.glob("*/exemplars.safetensors"))  # stored beside the checkpoint
        caption = main.get_by_text("test images with the largest mean activation")
        assert re.search(r"the 9 test images", caption.inner_text())
        profile = page.get_by_test_id("stVegaLiteChart").filter(has_text="Class profile")
        expect(profile.locator("svg .role-mark").first).to_be_attached()
        caption.scroll_into_view_if_needed()
        page.screenshot(path=screenshots / "feature_maps-exemplars.png")
        assert page.locator(EXCEPTION).count() == 0
    finally:
        page.close()


def test_compare_follows_a_training_run_live(browser, writable_app, screenshots):
    """A real train_all.py started after Compare was opened: the page's "Training now" part appears and its epoch
    count rises without a reload (the fragment reruns on its own every few seconds)."""
    url, folder = writable_app
    page = open_page(browser, url, "compare")
    main = page.get_by_test_id("stMain")
    assert "Training now" not in main.inner_text()
    # more epochs than the test waits for: the run is still going when it is killed at the end
    training = subprocess.Popen(
        [sys.executable, "scripts/train_all.py", "--models", "plain_cnn", "--subset", "1000", "--epochs", "500",
         "--device", "cpu", "--precision", "fp32", "--out", str(folder), "--fresh", "--quiet"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        expect(main).to_contain_text("Training now", timeout=300_000)
        status = main.get_by_text(re.compile(r"Plain CNN: epoch [1-9]\d* of 500 done"))
        expect(status).to_be_visible(timeout=300_000)
        first = int(re.search(r"epoch (\d+) of", status.inner_text()).group(1))
        expect(main.get_by_text(re.compile(rf"Plain CNN: epoch (?!{first} )\d+ of 500 done"))).to_be_visible(
            timeout=300_000)  # a later epoch, shown without reloading the page
        chart = page.get_by_test_id("stVegaLiteChart").filter(has_text="Accuracy per epoch, so far")
        expect(chart.locator("svg .role-mark").first).to_be_attached(timeout=60_000)
        main.get_by_text("Training now").scroll_into_view_if_needed()
        page.screenshot(path=screenshots / "compare-training-now.png")
        assert page.locator(EXCEPTION).count() == 0
        assert training.poll() is None, training.stderr.read()[-2000:]
    finally:
        training.kill()
        training.wait()
        page.close()
