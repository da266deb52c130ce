"""How long each dashboard page takes to appear with warm caches (target: at most 1.5 s each).

    python scripts/benchmark_dashboard.py --checkpoints checkpoints --data ../shared/datasets/cifar10-jpeg.tar.gz

Three figures per page, each the median of --repeats visits after one warm-up visit per page:

* script: the page's script run (Home.py, which runs the page) in a fresh AppTest session, in this process;
* sidebar click: in Chromium on a real `streamlit run` server, from clicking the page in the navigation until its
  run has finished (what a reader moving between pages waits for);
* new tab: the same page opened in a new tab, which also loads Streamlit's frontend and opens a session.

The server and Chromium helpers are dashboard/browser.py's, shared with tests/test_browser.py.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from cifar_models.arguments import ScriptParser
from dashboard import navigation, settings
from dashboard.browser import REPO, RUN_FINISHED, launch_chromium, open_page, serve_dashboard

DASHBOARD = REPO / "dashboard"
TARGET_SECONDS = 1.5


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


def browser_seconds(pages: dict[str, tuple[str, str]], checkpoints: Path, repeats: int,
                    log_path: Path) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per URL path, seconds until the page's run has finished in Chromium: (switching to it in the sidebar of an
    open app, opening it in a new tab: a new session that also loads Streamlit's frontend). A warm-up round first."""
    from playwright.sync_api import sync_playwright

    switching: dict[str, list[float]] = {path: [] for path in pages}
    new_tab: dict[str, list[float]] = {path: [] for path in pages}
    with serve_dashboard(checkpoints, log_path) as url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        app = open_page(browser, url, "")
        for attempt in range(repeats + 1):
            for path, (title, heading) in pages.items():
                start = time.perf_counter()
                switch_to(app, title, heading)
                if attempt:
                    switching[path].append(time.perf_counter() - start)
                start = time.perf_counter()
                tab = open_page(browser, url, path)
                tab.locator("h1").first.wait_for()
                if attempt:
                    new_tab[path].append(time.perf_counter() - start)
                tab.close()
        browser.close()
    return switching, new_tab


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
    switching = new_tab = {path: [float("nan")] for path in files}
    if not args.no_browser:
        with tempfile.TemporaryDirectory() as scratch:
            switching, new_tab = browser_seconds(pages, checkpoints, args.repeats, Path(scratch) / "streamlit.log")

    print(f"\nmedians of {args.repeats} visits, seconds; the target ({TARGET_SECONDS} s) applies to opening a page "
          "in the running app (script, sidebar click); a new tab adds loading Streamlit's frontend")
    print(f"{'page':<14}{'script':>8}{'sidebar click':>15}{'new tab':>9}")
    slow = []
    for path in files:
        figures = [statistics.median(timings[path]) for timings in (script, switching, new_tab)]
        if max(figures[:2]) > TARGET_SECONDS:
            slow.append(path or "home")
        print(f"{path or 'home':<14}{figures[0]:>8.2f}{figures[1]:>15.2f}{figures[2]:>9.2f}")
    print(f"\n{'every page within target' if not slow else 'over target: ' + ', '.join(slow)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
