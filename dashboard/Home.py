"""The dashboard's entry point: ``streamlit run dashboard/Home.py [-- --data PATH]``.

Makes the process-wide settings, builds the navigation over ``app_pages/`` (see :mod:`dashboard.navigation`), notes
in the sidebar what is loaded, then runs the page the URL or the sidebar names.
"""
import streamlit as st

from cifar_models.explain import flush_denormals
from dashboard import navigation, widgets

flush_denormals()  # single-image explanations on a CPU: see the function
st.set_page_config(page_title="CIFAR-10 CNN Lab", page_icon=":material/science:", layout="wide")
page = navigation.navigation()
widgets.sidebar_sources()
page.run()
