"""What the AppTest modules share: the dashboard's page list and ways to read a rendered page."""
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image
from streamlit.testing.v1 import AppTest

from cifar_models.checkpoint import find_checkpoints, read_record
from dashboard import navigation, settings
from dashboard.views.common import ordered

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard"

ENTRY = "Home.py"  # the script `streamlit run` starts; its navigation runs the default page, Home
HOME = navigation.PAGES[0].file
# Every page that exists, with the title it must show; pages added later are covered as they land.
PAGES = {page.file: page.shown_title for page in navigation.available_pages()}
NEED_NO_CHECKPOINTS = {"app_pages/dataset.py", "app_pages/augmentation.py"}
NEED_DATA = {"app_pages/dataset.py", "app_pages/augmentation.py"}
FEATURE_MAPS, ATTRIBUTION, PREDICT = "app_pages/feature_maps.py", "app_pages/attribution.py", "app_pages/predict.py"
AUGMENTATION = "app_pages/augmentation.py"


def open_app_on(monkeypatch, page: str, checkpoints: Path, data: Path | None = None) -> AppTest:
    """The app run on ``page`` with those checkpoints (and data)."""
    monkeypatch.setenv(settings.CHECKPOINTS_ENV, str(checkpoints))
    if data is not None:
        monkeypatch.setenv("CIFAR10_DATA", str(data))
    app = AppTest.from_file(str(DASHBOARD / ENTRY), default_timeout=120).run()
    if page != HOME:
        app.switch_page(page).run()
    return app


def assert_rendered(app: AppTest, page: str) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert app.title and app.title[0].value == PAGES[page]


def sidebar_note(app: AppTest) -> str:
    """The note on what is loaded, which Home.py writes into the sidebar before it runs the page."""
    return "\n".join(caption.value for caption in app.sidebar.caption)


def page_text(app: AppTest) -> str:
    """Everything a reader sees as text: markdown, code, alerts and captions."""
    parts = [element.value for kind in ("markdown", "code", "warning", "error", "info", "success", "caption")
             for element in getattr(app, kind)]
    return "\n".join(str(part) for part in parts)


def records_of(checkpoints: Path) -> dict:
    return ordered({name: read_record(folder) for name, folder in find_checkpoints(checkpoints).items()})


def chart_frames(app: AppTest) -> list:
    """The data of every Altair chart on the page, as pandas frames (Streamlit ships them as Arrow)."""
    return [pa.ipc.open_stream(dataset.data.data).read_pandas()
            for chart in app.get("vega_lite_chart") for dataset in chart.proto.datasets]




def png(pixels: np.ndarray, size: int | None = None) -> bytes:
    """The image as PNG bytes, resized to ``size`` x ``size`` (bicubic) where given: an upload."""
    image = Image.fromarray(pixels)
    if size:
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
