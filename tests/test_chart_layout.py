"""Every chart and table of every page, measured in headless Chromium at 1024 px (a laptop): a chart's plot area is
at least MIN_PLOT_HEIGHT tall, each category of a band axis gets at least MIN_CATEGORY_PIXELS, every nominal label is
drawn whole (Vega cuts a long one with "…" and hides overlapping ones), and no table is wider than its container.

The checks read the SVG that vega-embed renders (`.role-frame`/`.role-scope` backgrounds are the plot areas,
`.role-axis-label` the labels) and the tables' scroll widths. They run on the committed checkpoints, the only set with
every figure a page can draw (robustness grids, exemplars, a second seed) and whose weights do not matter here."""
import re

import pytest
from playwright.sync_api import expect

from conftest import REPO
from dashboard import navigation
from dashboard.browser import EVERYTHING_DRAWN, RUN_FINISHED, serve_dashboard
from run_records import budget_tree

WIDTH = 1024
MIN_PLOT_HEIGHT = 120  # px: the class probabilities had 0, the per-class accuracies about 50
MIN_CATEGORY_PIXELS = 12  # px per category of a band axis: an 11 px label and a bar you can see
CHART_PAGES = [navigation.url_path(page) for page in navigation.available_pages()]
# Feature maps draws SENet's gates and Inception's branches only for those models: each is opened on its own too.
MODEL_VIEWS = [pytest.param(path, None, id=path or "home") for path in CHART_PAGES] + [
    pytest.param("feature_maps", model, id=f"feature_maps-{model}") for model in ("SENet", "Inception")]
MEASURE = """() => {
  const box = element => element.getBoundingClientRect();
  const number = /^[−+-]?[\\d.,]+\\s*[%kMG]?$/;  // a quantitative tick label: Vega spaces and thins those, not we
  const nominal = text => text.textContent.trim() !== '' && !number.test(text.textContent.trim());
  const shown = element => getComputedStyle(element).opacity !== '0' && element.getAttribute('opacity') !== '0';
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  const contentRight = box(main).right - parseFloat(getComputedStyle(main).paddingRight);
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map(chart => {
    const svg = chart.querySelector('svg');
    const plots = [...svg.querySelectorAll('.role-frame > g > path.background, .role-scope > g > path.background')]
      .filter(path => !path.closest('.role-legend')).map(box).filter(b => b.width > 0 && b.height > 0);
    const steps = [...svg.querySelectorAll('.role-axis')].map(axis => {
      const centres = [...axis.querySelectorAll('.role-axis-label text')].filter(shown).filter(nominal).map(box)
        .map(b => [b.left + b.width / 2, b.top + b.height / 2]);
      if (centres.length < 2) return null;
      const spread = i => Math.max(...centres.map(c => c[i])) - Math.min(...centres.map(c => c[i]));
      const along = spread(0) > spread(1) ? 0 : 1;
      const positions = centres.map(c => c[along]).sort((a, b) => a - b);
      return Math.min(...positions.slice(1).map((p, i) => p - positions[i]));
    }).filter(step => step !== null);
    const texts = [...svg.querySelectorAll('.role-axis-label text, .role-legend-label text, .role-title-text, '
                                           + '.role-axis-title text, .role-legend-title text')];
    return {title: [...svg.querySelectorAll('.role-title-text')].map(t => t.textContent).join(' / '),
            colourBar: chart.getAttribute('aria-label') === 'colour bar',
            plotHeight: Math.min(...plots.map(b => b.height)), step: Math.min(...steps),
            cut: texts.filter(t => t.textContent.includes('…')).map(t => t.textContent),
            thinned: [...svg.querySelectorAll('.role-axis-label text')].filter(nominal).filter(t => !shown(t))
              .map(t => t.textContent)};
  });
  const tables = [...document.querySelectorAll('[data-testid="stTable"], [data-testid="stDataFrame"]')].map(table => {
    const scroller = table.querySelector('.dvn-scroller') || table.querySelector('table')?.parentElement || table;
    return {head: table.innerText.split('\\n').filter(Boolean).slice(0, 3).join(' | '),
            hidden: scroller.scrollWidth - scroller.clientWidth, past: box(table).right - contentRight};
  });
  return {charts, tables};
}"""


@pytest.fixture(scope="module")
def committed_app_url(tmp_path_factory):
    """The app served by a real `streamlit run` on the committed checkpoints (read only); stopped after this module."""
    with serve_dashboard(REPO / "checkpoints", tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url:
        yield url


def drawn_page(browser, url: str, path: str, model: str | None):
    """The page at WIDTH px with everything drawn: Attribution explained, Feature maps on ``model``."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 3600})
    page.goto(f"{url}/{path}")
    page.wait_for_selector(RUN_FINISHED, timeout=180_000)
    sidebar = page.get_by_test_id("stSidebar")
    if model is not None:
        sidebar.get_by_test_id("stSelectbox").filter(has_text="Model").click()
        page.get_by_role("option", name=model, exact=True).click()
    if path == "attribution":
        sidebar.get_by_role("button", name="Explain").click()
        page.get_by_text("Which map to trust").wait_for(timeout=180_000)
    page.wait_for_selector(RUN_FINISHED, timeout=180_000)
    for summary in page.locator('[data-testid="stExpander"] summary').all():  # what a reader can open is measured too
        summary.click()
    page.wait_for_function(EVERYTHING_DRAWN, timeout=60_000)
    return page


def measured(browser, url: str, path: str, model: str | None) -> dict:
    """What MEASURE finds on the page, drawn at WIDTH px; the page must not have raised."""
    page = drawn_page(browser, url, path, model)
    try:
        assert page.locator('[data-testid="stException"]').count() == 0
        return page.evaluate(MEASURE)
    finally:
        page.close()


@pytest.mark.parametrize(("path", "model"), MODEL_VIEWS)
def test_every_chart_shows_its_data_and_every_table_fits_at_1024_px(browser, committed_app_url, path, model):
    assert_shows_its_data(measured(browser, committed_app_url, path, model))


@pytest.fixture(scope="module")
def budgets_app_url(tmp_path_factory):
    """The app on run records with training budgets, which the committed checkpoints do not have (yet)."""
    root = tmp_path_factory.mktemp("budgets") / "checkpoints"
    budget_tree(root)
    with serve_dashboard(root, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url:
        yield url


def test_the_charts_of_accuracy_against_cost_over_budgets_show_their_data_at_1024_px(browser, budgets_app_url):
    found = measured(browser, budgets_app_url, "compare", None)
    titles = [chart["title"] for chart in found["charts"]]
    assert {"Accuracy against epochs", "Accuracy against training time"} <= set(titles), titles
    assert any(table["head"].startswith("budget") for table in found["tables"]), found["tables"]
    assert_shows_its_data(found)


def assert_shows_its_data(found: dict) -> None:
    """Every chart MEASURE found has a plot area MIN_PLOT_HEIGHT tall, MIN_CATEGORY_PIXELS per category and every
    label whole; no table is wider than its container."""
    plots = [chart for chart in found["charts"] if not chart["colourBar"]]
    short = [(chart["title"], round(chart["plotHeight"])) for chart in plots if chart["plotHeight"] < MIN_PLOT_HEIGHT]
    assert not short, f"plot areas under {MIN_PLOT_HEIGHT} px tall: {short}"
    crowded = [(chart["title"], round(chart["step"])) for chart in found["charts"]
               if chart["step"] < MIN_CATEGORY_PIXELS]
    assert not crowded, f"categories with under {MIN_CATEGORY_PIXELS} px each: {crowded}"
    cut = [(chart["title"], chart["cut"] + chart["thinned"]) for chart in found["charts"]
           if chart["cut"] or chart["thinned"]]
    assert not cut, f"labels cut or hidden: {cut}"
    wide = [(table["head"], round(table["hidden"]), round(table["past"])) for table in found["tables"]
            if table["hidden"] > 1 or table["past"] > 1]
    assert not wide, f"tables wider than their container (hidden px, px past the column): {wide}"


CAPTIONS = """() => [...document.querySelectorAll('[data-testid="stImageCaption"]')].map(caption => {
  const box = caption.getBoundingClientRect();
  return {text: caption.textContent, left: Math.round(box.left), top: Math.round(box.top)};
})"""


def test_pictures_that_belong_together_stay_together_at_1024_px(browser, committed_app_url):
    """Robustness: each original right above its degraded version; Feature maps: the three models in one row."""
    page = drawn_page(browser, committed_app_url, "robustness", None)
    try:
        captions = page.evaluate(CAPTIONS)
    finally:
        page.close()
    originals = [caption for caption in captions if caption["text"].startswith("#")]
    degraded = [caption for caption in captions if caption["text"].endswith(", degraded")]
    assert len(originals) == len(degraded) == 10
    assert all(a["left"] == b["left"] and a["top"] < b["top"] for a, b in zip(originals, degraded))

    page = drawn_page(browser, committed_app_url, "feature_maps", None)
    try:
        headers = [page.get_by_text(re.compile(r"top \d+ of \d+ channels")).nth(i).bounding_box()
                   for i in range(3)]
    finally:
        page.close()
    assert len({round(box["y"]) for box in headers}) == 1, headers  # one row, not two plus one


FRAMED = """() => [...document.querySelectorAll('[data-testid="stImageCaption"]')]
  .filter(caption => getComputedStyle(caption.closest('[data-testid="stVerticalBlock"]')).borderTopWidth !== '0px')
  .map(caption => caption.textContent)"""


def test_enlarge_shows_the_image_in_a_dialog_and_frames_its_thumbnail(browser, committed_app_url):
    """The enlarged image opens where the reader looks (a dialog over the grid), not 600 px under the window, and the
    thumbnail it came from is framed."""
    page = drawn_page(browser, committed_app_url, "dataset", None)
    try:
        picked = page.evaluate(CAPTIONS)[2]["text"]  # the grid's third picture: '#<index> · <class>'
        page.get_by_role("button", name="Enlarge", exact=True).nth(2).click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"Index {picked.split(' · ')[0][1:]} in", timeout=60_000)
        expect(dialog.get_by_role("img")).to_have_count(1)
        page.wait_for_selector(RUN_FINISHED, timeout=60_000)
        assert page.evaluate(FRAMED) == [picked]
    finally:
        page.close()
