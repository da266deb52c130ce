"""Screenshots of dashboard pages on the committed checkpoints for docs/screenshots/, as palette PNGs (small files).

    python scripts/docs_screenshots.py                          # Home and Compare at 1024 and 1440 px
    python scripts/docs_screenshots.py --pages attribution --widths 1024

Attribution is shown explained (its Explain button clicked) and Augmentation with an image of the reader's own (test
image #11, enlarged to 200 px, uploaded through its "My own image" switch), as a reader would see them at work.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

from PIL import Image

from cifar_models.arguments import ScriptParser
from cifar_models.data import load_cifar10
from cifar_models.images import enlarge
from dashboard.browser import EVERYTHING_DRAWN, RUN_FINISHED, launch_chromium, serve_dashboard
from dashboard.widgets import UPLOADED_IMAGE

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
OWN_IMAGE = 11  # the test image Augmentation is shown with as the reader's own


def explain(page, scratch: Path) -> None:
    page.get_by_test_id("stSidebar").get_by_role("button", name="Explain").click()
    page.get_by_text("Which map to trust").first.wait_for(timeout=180_000)


def add_own_image(page, scratch: Path) -> None:
    upload = scratch / "my-photo.png"
    Image.fromarray(enlarge(load_cifar10(progress=False).test.images[OWN_IMAGE], 6)).resize((200, 200)).save(upload)
    page.get_by_text(UPLOADED_IMAGE).click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
    page.get_by_text("(yours, as the models see it)").first.wait_for(timeout=180_000)


# what is done on a page before its screenshot, so that it shows what the page is for
ACTIONS: dict[str, Callable] = {"attribution": explain, "augmentation": add_own_image}


def take(browser, url: str, page_path: str, width: int, target: Path, scratch: Path) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(f"{url}/{page_path}")
        page.wait_for_selector(RUN_FINISHED, timeout=180_000)
        if page_path in ACTIONS:
            ACTIONS[page_path](page, scratch)
            page.wait_for_selector(RUN_FINISHED, timeout=180_000)
        page.wait_for_function(EVERYTHING_DRAWN, timeout=60_000)
        # Streamlit scrolls inside its own container: grow the window to the content's height for a whole-page shot
        height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
        page.set_viewport_size({"width": width, "height": min(int(height) + 40, 6000)})
        page.wait_for_timeout(500)
        shot = Path(tempfile.mkstemp(suffix=".png")[1])
        page.screenshot(path=str(shot))
    finally:
        page.close()
    Image.open(shot).convert("RGB").quantize(256).save(target, optimize=True)
    shot.unlink()
    print(f"{target} ({target.stat().st_size // 1024} KiB)")


def main(argv: list[str] | None = None) -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--pages", default="home,compare", help="comma-separated page paths (home is the start page)")
    parser.add_argument("--widths", default="1024,1440", help="comma-separated window widths in px")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, serve_dashboard(REPO / "checkpoints",
                                                                   Path(scratch) / "server.log") as url, \
            sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for name in args.pages.split(","):
            for width in (int(value) for value in args.widths.split(",")):
                take(browser, url, "" if name == "home" else name, width, OUT / f"{name}-{width}.png", Path(scratch))
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
