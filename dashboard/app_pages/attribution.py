"""Attribution: which pixels each model's decision rests on (captum), the three models side by side, with a
faithfulness score per method saying which map to trust."""
import streamlit as st

from cifar_models import explain, images
from cifar_models.images import enlarge
from cifar_models.models import model_title
from dashboard import sources, state, widgets
from dashboard.views.charts import grouped_bars
from dashboard.views.common import number_word, ordered

IMAGE_SCALE = 6
MAP_SCALE = 4
PROBABILITY_WIDTH = 260  # px of probability axis, beside the class names
PREDICTED = "each model's prediction"
DEFAULT_METHODS = ["integrated_gradients", "grad_cam", "saliency"]
EXPLAINED_KEY = "attribution_explained"  # the settings explained in this session: shown again without the button

st.title("Attribution")
with st.spinner("Loading captum and the models (the first visit only)…"):  # seconds: not a blank page meanwhile
    from cifar_models import attribution
    from dashboard.views import attribution as trust  # imports captum too
    runs = widgets.require_records()
    names = list(ordered(runs.records))
    classes = runs.records[names[0]].classes
    chosen = widgets.choose_image("attribution")
    models = widgets.load_models(names, sources.load_explainable_model)
names = list(models)
depths = explain.comparable_depths({name: model.inspectable_layers() for name, model in models.items()})

with st.sidebar:
    target_choice = st.selectbox("Target class", [PREDICTED, *classes])
    methods = st.multiselect("Methods", list(attribution.METHODS), default=DEFAULT_METHODS,
                             format_func=attribution.method_title)
    baseline = st.selectbox("Integrated Gradients baseline", list(attribution.BASELINES),
                            format_func=attribution.BASELINES.get)
    steps = st.slider("Integrated Gradients steps", 8, 128, attribution.AttributionOptions.ig_steps, step=8)
    depth = st.selectbox("Grad-CAM layer", ["deepest with 4x4 or more", *depths],
                         help="At a resolution: each model's last block there; the default is each model's deepest "
                              "block that still has 4x4 positions.")
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.6, step=0.05)
    st.button("Explain", type="primary", disabled=chosen is None or not methods,
              **state.on_click_sets(widgets.EXPLAIN_REQUESTED))

if chosen is None:
    st.stop()
facts = widgets.show_chosen_image(chosen, IMAGE_SCALE)

target = None if target_choice == PREDICTED else classes.index(target_choice)
options = attribution.AttributionOptions(baseline=baseline, ig_steps=steps)
grad_cam_layers = {name: layer for name, layer in depths.get(depth, {}).items() if layer is not None}
settings = (chosen.title, chosen.pixels.tobytes(), target, tuple(methods), options, tuple(grad_cam_layers.items()))
explained = st.session_state.setdefault(EXPLAINED_KEY, set())
if st.session_state.pop(widgets.EXPLAIN_REQUESTED, False):
    explained.add(settings)
if settings not in explained:
    st.info("Press **Explain** in the sidebar to compute the attributions for this image and these settings "
            f"({number_word(len(models))} models, each method: a few seconds on a CPU).")
    st.stop()
result = sources.explanations(models, chosen.pixels, methods, target, options, grad_cam_layers)

st.subheader("Class probabilities")
probabilities = explain.class_probability_table({name: r.probabilities for name, r in result.items()}, classes)
st.altair_chart(grouped_bars(probabilities, "class", classes, "probability", names, title="Each model, each class",
                             value_title="probability", width=PROBABILITY_WIDTH), width="content")
facts.markdown("**Explained class** " + " · ".join(f"{model_title(n)}: {classes[r.target]}"
                                                   for n, r in result.items()))

st.subheader("Which map to trust")
st.markdown("**This image.** " + trust.trust_summary(result))
for warning in trust.convergence_warnings(result):
    st.warning(warning)
first = next(iter(result.values())).faithfulness[methods[0]]
st.caption(f"Faithfulness: how much the explained class's probability drops when the {first.fraction:.0%} of pixels "
           "a map ranks highest are set to the mean colour, minus the drop for as many random pixels. Higher is "
           f"better ({trust.BEST}: each model's best); near zero or below, the map points at pixels that do not "
           "matter more than any others.")
st.table(trust.trust_table(result), width="content")  # static: it fits its columns, never scrolls
with st.expander("The drops behind the scores"):
    st.dataframe(trust.faithfulness_details(result), hide_index=True)
stored_trust = sources.load_trust(names)
if stored_trust:
    st.markdown(trust.trust_over_images_summary(stored_trust))
    st.caption("Over many images: each method's mean faithfulness on the first 10 test images of each class, each "
               "explained for the model's prediction, with its 95% interval over the images. One image's winner "
               "(above) can differ: trust a method whose interval is above zero and apart from the others'.")
    st.table(trust.trust_over_images_table(stored_trust), width="content")
missing_trust = [model_title(name) for name in names if name not in stored_trust]
if missing_trust:
    st.info(f"No faithfulness over many images for {', '.join(missing_trust)} (or it was measured on other "
            "weights): `python scripts/evaluate.py --faithfulness` computes it for every checkpoint (a few minutes "
            "a model on a CPU).")

for method in methods:
    st.subheader(attribution.method_title(method))
    for column, (name, explanation) in zip(st.columns(len(result)), result.items()):
        found = explanation.attributions[method]
        scale = found.colour_scale()
        column.markdown(f"**{model_title(name)}** · {classes[explanation.target]}")
        overlaid = images.overlay(attribution.denormalised_image(chosen.pixels), found.heatmap, opacity)
        column.image([enlarge(overlaid, MAP_SCALE),
                      enlarge(scale.colourise(found.heatmap, images.OVERLAY_COLOURS), MAP_SCALE)],
                     caption=["overlay", "heat map"], output_format="PNG", width=MAP_SCALE * 32)
        details = [f"faithfulness {trust.signed_percent(explanation.faithfulness[method].score)}",
                   f"{found.seconds:.2f} s",
                   f"scale {scale.describe()}"]
        if found.delta is not None:
            details.insert(1, f"convergence delta {found.delta:+.2g}")
        if found.layer is not None:
            details.insert(1, f"layer {found.layer}")
        column.caption(" · ".join(details))
