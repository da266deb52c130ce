"""Screenshots of dashboard pages on the committed checkpoints for docs/screenshots/, as palette PNGs (small files).

    python scripts/docs_screenshots.py                          # Home and Compare at 1024 and 1440 px
    python scripts/docs_screenshots.py --pages attribution --widths 1024
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from PIL import Image

from cifar_models.arguments import ScriptParser
from dashboard.browser import EVERYTHING_DRAWN, RUN_FINISHED, launch_chromium, serve_dashboard

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"


def take(browser, url: str, page_path: str, width: int, target: Path) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(f"{url}/{page_path}")
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
                take(browser, url, "" if name == "home" else name, width, OUT / f"{name}-{width}.png")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
