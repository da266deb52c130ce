"""How long each dashboard page takes to appear with warm caches (target: at most 1.5 s each), and what a user waits
for after clicking Explain (target: at most 3 s with one of two cores busy).

    python scripts/benchmark_dashboard.py --checkpoints checkpoints --data ../shared/datasets/cifar10-jpeg.tar.gz

Three figures per page, each the median of --repeats visits after one warm-up visit per page:

* script: the page's script run (Home.py, which runs the page) in a fresh AppTest session, in this process;
* sidebar click: in Chromium on a real `streamlit run` server, from clicking the page in the navigation until its
  run has finished (what a reader moving between pages waits for);
* new tab: the same page opened in a new tab, which also loads Streamlit's frontend and opens a session.

Then, in Chromium, from the click to the last map drawn (every image loaded, every chart's marks in its SVG), each on
a test image not explained before, the median of --repeats after one warm-up, with the machine idle and again with
one core kept busy (cifar_models.benchmarking):

* Explain on Attribution: the sidebar's Explain button with the page's defaults;
* Explain on Predict: a misclassified image's Explain button in Predict's gallery, which opens Attribution and
  explains it there.

And once, the first page load: from starting `streamlit run` to the navigation shown in Chromium, and to Home drawn.

The server and Chromium helpers are dashboard/browser.py's, shared with tests/test_browser.py.
"""
from __future__ import annotations

import os
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cifar_models.arguments import ScriptParser
from cifar_models.benchmarking import CONDITIONS
from dashboard import navigation, settings
from dashboard.browser import EVERYTHING_DRAWN, REPO, RUN_FINISHED, launch_chromium, open_page, serve_dashboard

DASHBOARD = REPO / "dashboard"
TARGET_SECONDS = 1.5
EXPLAIN_TARGET_SECONDS = 3.0
EXPLAINED = "Which map to trust"  # the first heading an explanation draws
NOT_EXPLAINED = "to compute the attributions"  # the page's hint before Explain is pressed
FIRST_IMAGE = 100  # Attribution's test images from here on, one per visit; Predict's gallery gives its own


def page_paths() -> dict[str, str]:
    """URL path -> the page's file relative to dashboard/ ('' is Home)."""
    return {navigation.url_path(page): page.file for page in navigation.available_pages()}


def script_seconds(page_file: str, repeats: int) -> list[float]:
    """Script-run seconds of ``page_file`` in fresh AppTest sessions (caches of this process warm after the first)."""
    from streamlit.testing.v1 import AppTest

    timings = []
    for attempt in range(repeats + 1):  # the first visit warms the caches and is not counted
        app = AppTest.from_file(str(DASHBOARD / "Home.py"), default_timeout=300)
        start = time.perf_counter()
        app.run()
        if page_file != navigation.PAGES[0].file:
            start = time.perf_counter()  # Home's run only opens the session; the page is the next run
            app.switch_page(page_file).run()
        elapsed = time.perf_counter() - start
        if app.exception:
            raise RuntimeError(f"{page_file} raised: {app.exception[0].value}")
        if attempt:
            timings.append(elapsed)
    return timings


def switch_to(page, title: str, heading: str) -> None:
    """Click ``title`` in the sidebar navigation and wait until that page shows ``heading`` and its run finished."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    page.locator("h1", has_text=heading).first.wait_for(timeout=120_000)
    page.wait_for_selector(RUN_FINISHED, timeout=120_000)


@dataclass
class BrowserFigures:
    """Seconds per visit: per URL path (switching to it in the sidebar; a new tab), per condition and Explain flow."""

    first_paint: float = 0.0  # from starting `streamlit run` to the navigation shown in a new tab
    first_load: float = 0.0  # ... to Home drawn
    switching: dict[str, list[float]] = field(default_factory=dict)
    new_tab: dict[str, list[float]] = field(default_factory=dict)
    explain: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def page_visits(figures: BrowserFigures, browser, url: str, pages: dict[str, tuple[str, str]], repeats: int) -> None:
    """Each page switched to in the sidebar of an open app, then opened in a new tab; a warm-up round first."""
    app = open_page(browser, url, "")
    for attempt in range(repeats + 1):
        for path, (title, heading) in pages.items():
            start = time.perf_counter()
            switch_to(app, title, heading)
            if attempt:
                figures.switching.setdefault(path, []).append(time.perf_counter() - start)
            start = time.perf_counter()
            tab = open_page(browser, url, path)
            tab.locator("h1").first.wait_for()
            if attempt:
                figures.new_tab.setdefault(path, []).append(time.perf_counter() - start)
            tab.close()
    app.close()


def until_explained(page, start: float) -> float:
    """Seconds from ``start`` until the explanation's run has finished and everything it sent is drawn."""
    page.get_by_text(EXPLAINED).first.wait_for(timeout=180_000)
    page.wait_for_selector(RUN_FINISHED, timeout=180_000)
    page.wait_for_function(EVERYTHING_DRAWN, timeout=60_000)
    return time.perf_counter() - start


def explain_on_attribution(page, url: str, visit: int) -> float:
    """Attribution on a test image not explained before, then its Explain button clicked."""
    page.goto(f"{url}/attribution")
    page.wait_for_selector(RUN_FINISHED, timeout=180_000)
    sidebar = page.get_by_test_id("stSidebar")
    index = sidebar.get_by_label(re.compile("^Test image #"))
    index.fill(str(FIRST_IMAGE + visit))
    index.press("Enter")
    page.get_by_text(NOT_EXPLAINED).wait_for(timeout=180_000)
    page.wait_for_selector(RUN_FINISHED, timeout=180_000)
    start = time.perf_counter()
    sidebar.get_by_role("button", name="Explain").click()
    return until_explained(page, start)


def explain_on_predict(page, url: str, visit: int) -> float:
    """Predict's gallery, the ``visit``-th image's Explain button: it opens Attribution and explains there."""
    page.goto(f"{url}/predict")
    page.wait_for_selector(RUN_FINISHED, timeout=180_000)
    page.wait_for_function(EVERYTHING_DRAWN, timeout=60_000)
    start = time.perf_counter()
    page.get_by_role("button", name="Explain").nth(visit).click()
    page.locator("h1", has_text="Attribution").wait_for(timeout=180_000)
    return until_explained(page, start)


EXPLAIN_FLOWS = {"Explain on Attribution": explain_on_attribution, "Explain on Predict": explain_on_predict}


def explain_visits(figures: BrowserFigures, browser, url: str, repeats: int) -> None:
    """Every Explain flow under every condition, each visit on an image not explained before; a warm-up first."""
    page = browser.new_page(viewport={"width": 1280, "height": 3600})
    visit = 0
    for condition, making in CONDITIONS.items():
        with making():
            for flow, explain in EXPLAIN_FLOWS.items():
                timings = [explain(page, url, visit + attempt) for attempt in range(repeats + 1)][1:]
                figures.explain.setdefault(condition, {})[flow] = timings
            visit += repeats + 1
    page.close()


def browser_figures(pages: dict[str, tuple[str, str]], checkpoints: Path, repeats: int,
                    log_path: Path) -> BrowserFigures:
    """Everything measured in Chromium on one `streamlit run` server, started here."""
    from playwright.sync_api import sync_playwright

    figures = BrowserFigures()
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        start = time.perf_counter()
        with serve_dashboard(checkpoints, log_path) as url:
            home = browser.new_page(viewport={"width": 1280, "height": 3600})
            home.goto(url)
            home.get_by_test_id("stSidebarNav").wait_for(timeout=180_000)
            figures.first_paint = time.perf_counter() - start
            home.locator("h1", has_text=navigation.HOME_HEADING).wait_for(timeout=180_000)
            home.wait_for_selector(RUN_FINISHED, timeout=180_000)
            home.wait_for_function(EVERYTHING_DRAWN, timeout=60_000)
            figures.first_load = time.perf_counter() - start
            home.close()
            page_visits(figures, browser, url, pages, repeats)
            explain_visits(figures, browser, url, repeats)
        browser.close()
    return figures


def print_explain(figures: BrowserFigures, repeats: int) -> list[str]:
    """The Explain table; the flows over target."""
    print(f"\nExplain, from the click to the last map drawn in Chromium (medians of {repeats}; target "
          f"{EXPLAIN_TARGET_SECONDS} s with one core busy):")
    print(f"{'':<24}" + "".join(f"{condition:>16}" for condition in figures.explain))
    slow = []
    for flow in EXPLAIN_FLOWS:
        medians = {condition: statistics.median(found[flow]) for condition, found in figures.explain.items()}
        slow += [f"{flow} ({condition})" for condition, seconds in medians.items() if seconds > EXPLAIN_TARGET_SECONDS]
        print(f"{flow:<24}" + "".join(f"{seconds:>16.2f}" for seconds in medians.values()))
    return slow


def main(argv: list[str] | None = None) -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--checkpoints", default=os.environ.get(settings.CHECKPOINTS_ENV, "checkpoints"),
                        help="checkpoint folder (default: $CIFAR10_CHECKPOINTS, else checkpoints/)")
    parser.add_argument("--data", help="CIFAR-10 location (default: $CIFAR10_DATA, else ./data)")
    parser.add_argument("--repeats", type=int, default=3, help="timed visits per page (after one warm-up)")
    parser.add_argument("--no-browser", action="store_true", help="only the script runs, no Chromium")
    args = parser.parse_args(argv)

    checkpoints = Path(args.checkpoints).resolve()
    os.environ[settings.CHECKPOINTS_ENV] = str(checkpoints)
    if args.data:
        os.environ["CIFAR10_DATA"] = str(Path(args.data).resolve())
    os.chdir(REPO)
    files = page_paths()
    # URL path -> (title in the navigation, heading on the page)
    pages = {navigation.url_path(page): (page.title, page.shown_title) for page in navigation.available_pages()}
    print(f"checkpoints {checkpoints}; data {settings.data_location()}")
    script = {path: script_seconds(file, args.repeats) for path, file in files.items()}
    figures = BrowserFigures(switching={path: [float("nan")] for path in files},
                             new_tab={path: [float("nan")] for path in files})
    if not args.no_browser:
        with tempfile.TemporaryDirectory() as scratch:
            figures = browser_figures(pages, checkpoints, args.repeats, Path(scratch) / "streamlit.log")

    print(f"\nmedians of {args.repeats} visits, seconds; the target ({TARGET_SECONDS} s) applies to opening a page "
          "in the running app (script, sidebar click); a new tab adds loading Streamlit's frontend")
    print(f"{'page':<14}{'script':>8}{'sidebar click':>15}{'new tab':>9}")
    slow = []
    for path in files:
        medians = [statistics.median(timings[path]) for timings in (script, figures.switching, figures.new_tab)]
        if max(medians[:2]) > TARGET_SECONDS:
            slow.append(path or "home")
        print(f"{path or 'home':<14}{medians[0]:>8.2f}{medians[1]:>15.2f}{medians[2]:>9.2f}")
    if not args.no_browser:
        slow += print_explain(figures, args.repeats)
        print(f"\nfirst page load, from starting `streamlit run`: the navigation shown at {figures.first_paint:.1f} s, "
              f"Home drawn at {figures.first_load:.1f} s")
    print(f"\n{'every page within target' if not slow else 'over target: ' + ', '.join(slow)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
