"""Home: what the lab shows, the models as cards read from their run records, and the verdict on SENet."""
import streamlit as st

from cifar_models.models import MODELS, model_title
from dashboard import navigation, settings, sources, widgets
from dashboard.views.budgets import budget_note
from dashboard.views.common import number_word
from dashboard.views.home import model_card

HOME_FOREST_WIDTH = 260  # the verdict's picture, small: Compare shows it large with the evidence

st.title(navigation.HOME_HEADING)
st.markdown(
    f"{number_word(len(MODELS)).capitalize()} CNN families trained on CIFAR-10 under one recipe — a plain CNN, a "
    "Squeeze-and-Excitation ResNet (SENet) and an Inception net — and the question: **is SENet really the best by far, at what cost, and what "
    "does each network look at?**\n\n"
    "How to read it: **Dataset** shows the images and their statistics; **Augmentation** previews, with the "
    "training code itself, what the models saw while learning, and exports the recipe; **Compare** puts the "
    f"{number_word(len(MODELS))} runs side by side — learning curves, accuracy per class, confusion, calibration and cost — and "
    "answers the question from the numbers. The remaining pages look inside one model at a time. Every figure "
    "comes from the run records that training wrote (`checkpoints/<model>/run.json`); nothing is typed in."
)
runs = sources.load_records()
if not runs.records:
    widgets.no_checkpoints_message(runs)
    st.stop()
for column, spec in zip(st.columns(len(MODELS)), MODELS.values()):
    name = spec.name
    with column.container(border=True):
        st.subheader(spec.title)
        st.caption(spec.summary)
        record = runs.records.get(name)
        if record is None:
            st.warning(runs.problems.get(name, "Not trained yet. Train it with:"))
            st.code(f"{settings.train_command()} --models {name}", language="bash")
            continue
        card = model_card(record)
        st.metric("Test accuracy", card.pop("test accuracy"))
        st.markdown("\n".join(f"- **{label}**: {value}" for label, value in card.items()))
verdict = sources.verdict(widgets.available_data()[0])  # the one verdict, as Compare shows it with its evidence
st.subheader(f"Is {model_title(verdict.question)} the best by far?")
st.markdown(verdict.sentence)
note = budget_note(runs.records, sources.load_budgets())  # where budgets exist: which one this answer is at
if note:
    st.caption(note)
widgets.verdict_picture(verdict, HOME_FOREST_WIDTH)
st.page_link("app_pages/compare.py", label="The evidence, on the Compare page", icon=":material/leaderboard:")
if note:
    st.page_link("app_pages/compare.py", label="The answer at each training budget, on the Compare page",
                 icon=":material/show_chart:")
