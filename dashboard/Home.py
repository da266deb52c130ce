"""The dashboard's entry point: ``streamlit run dashboard/Home.py [-- --data PATH]``.

Makes the process-wide settings, builds the navigation over ``app_pages/`` (see :mod:`dashboard.navigation`), notes
in the sidebar what is loaded, then runs the page the URL or the sidebar names.
"""
import streamlit as st

from dashboard import navigation

st.set_page_config(page_title="CIFAR-10 CNN Lab", page_icon=":material/science:", layout="wide")
page = navigation.navigation()
# The first visit after the server starts imports PyTorch, SciPy and the lab (seconds on a busy laptop): the
# navigation above and this spinner show at once instead of a blank page. Later runs find them imported.
with st.spinner("Starting the lab: loading PyTorch, the run records and the data (only after the server starts)…"):
    from cifar_models.explain import flush_denormals
    from dashboard import widgets

    flush_denormals()  # single-image explanations on a CPU: see the function
    widgets.sidebar_sources()
page.run()
