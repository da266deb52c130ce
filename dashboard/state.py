"""Choices kept across pages: a widget's value survives moving to another page and back, and the shared choices
(model, class, test image) follow the reader from page to page."""
from __future__ import annotations

from typing import Any, Container

import streamlit as st

# The shared choices: the model (a name), the class (a class name), the image (an index into the test split), where
# the explanation pages take their image from (a test image or the reader's own) and the reader's own image
# ((file name, bytes): uploaded on one page, explained on the others).
MODEL_CHOICE = "model"
CLASS_CHOICE = "class"
IMAGE_CHOICE = "image"
IMAGE_SOURCE_CHOICE = "image_source"
UPLOAD_CHOICE = "upload"


def widget_key(name: str) -> str:
    """The key of the widget that shows kept choice ``name``."""
    return f"kept_widget_{name}"


def _store(name: str, key: str) -> None:
    st.session_state[name] = st.session_state[key]


def kept(name: str, default: Any, options: Container | None = None) -> dict[str, Any]:
    """Keyword arguments for a widget whose value is kept under ``name`` when the user moves between pages.

    Streamlit drops a widget's keyed value once its page is left, so the value is kept in a copy under ``name`` in
    session state: written into the widget's own key before the widget is drawn, copied back when the user changes
    it. A kept value that ``options`` no longer holds (for a list: any item of it) falls back to ``default``. Use it as
    ``st.sidebar.selectbox("Model", names, **kept(MODEL_CHOICE, names[0], names))`` and pass no ``value``/``index``.
    """
    key = widget_key(name)
    value = st.session_state.get(name, default)
    allowed = (lambda v: v in options) if options is not None else (lambda v: True)
    if not (all(map(allowed, value)) if isinstance(value, list) else allowed(value)):
        value = default
    st.session_state[name] = value
    st.session_state[key] = value
    return {"key": key, "on_change": _store, "args": (name, key)}


def _raise_flag(name: str) -> None:
    st.session_state[name] = True


def on_click_sets(name: str) -> dict[str, Any]:
    """Keyword arguments for a button that sets ``st.session_state[name] = True`` when clicked.

    A button's own value is True for the one script run its click starts, and a page may stop before it reads it;
    a callback runs before that run, so the request is kept until the page takes it. Use it as ``st.button("Go", **on_click_sets(FLAG))``, then
    ``if st.session_state.pop(FLAG, False): ...`` for one-off work.
    """
    return {"on_click": _raise_flag, "args": (name,)}
