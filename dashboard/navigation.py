"""The app's pages, in the order the navigation lists them, and the navigation Home.py runs.

To add a page: write ``app_pages/<name>.py`` (its ``st.title`` is the page's title; ``<name>`` is its URL path) and add
a :class:`PageSpec` to :data:`PAGES`. The AppTest and browser tests cover every page listed here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

DASHBOARD_DIR = Path(__file__).resolve().parent
HOME_HEADING = "CIFAR-10 CNN Lab"


@dataclass(frozen=True)
class PageSpec:
    """A page file of the app. Its ``st.title`` is ``shown_title`` (the tests look for it)."""

    file: str  # relative to dashboard/; its name (without .py) is the page's URL path
    title: str  # in the navigation
    icon: str
    heading: str = ""  # the page's st.title where it differs from ``title``

    @property
    def shown_title(self) -> str:
        return self.heading or self.title


# The pages, in the order the navigation lists them; the first is the default (the URL "/"). A file that is not there
# (yet) is left out, so the app runs while a page is being written.
PAGES = (
    PageSpec("app_pages/home.py", "Home", ":material/home:", HOME_HEADING),
    PageSpec("app_pages/dataset.py", "Dataset", ":material/grid_view:"),
    PageSpec("app_pages/augmentation.py", "Augmentation", ":material/auto_fix_high:"),
    PageSpec("app_pages/compare.py", "Compare", ":material/leaderboard:"),
    PageSpec("app_pages/robustness.py", "Robustness", ":material/blur_on:"),
    PageSpec("app_pages/feature_maps.py", "Feature maps", ":material/layers:"),
    PageSpec("app_pages/attribution.py", "Attribution", ":material/visibility:"),
    PageSpec("app_pages/predict.py", "Predict", ":material/upload:"),
)


def available_pages() -> list[PageSpec]:
    return [page for page in PAGES if (DASHBOARD_DIR / page.file).is_file()]


def url_path(page: PageSpec) -> str:
    """The URL path Streamlit gives the page: '' for the default page, else its file name without .py."""
    return "" if page == PAGES[0] else Path(page.file).stem


def navigation() -> StreamlitPage:
    """The app's navigation: ``.run()`` runs the page the URL or the sidebar names (the first page by default)."""
    return st.navigation([st.Page(page.file, title=page.title, icon=page.icon, default=page == PAGES[0])
                          for page in available_pages()])
