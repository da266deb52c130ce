"""The Streamlit app over :mod:`cifar_models`: ``streamlit run dashboard/Home.py``.

Layers, each importing only downward: ``app_pages/`` (thin page scripts) -> ``widgets`` (sidebar and choosers) ->
``sources`` (cached loaders) and ``state`` (choices kept across pages) -> ``views/`` (Streamlit-free tables, charts'
data, verdicts) -> the library.
"""
