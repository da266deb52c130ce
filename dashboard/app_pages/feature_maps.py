"""Feature maps: what each layer computes for one image, the three models at comparable depths, the first layer's
filters, SENet's excitation gates and the Inception branches' shares."""
import altair as alt
import pandas as pd
import streamlit as st

from cifar_models import explain
from cifar_models.checkpoint import FolderNotWritable
from cifar_models.images import colour_scale
from cifar_models.models import model_colour, model_title
from dashboard import sources, state, widgets
from dashboard.views import exemplars
from dashboard.views.charts import CATEGORY_STEP, PLOT_HEIGHT, fixed_width, nominal_axis, tiles_colour_bar
from dashboard.views.common import number_word, ordered

TILE_PIXELS = 96
SMALL_TILE_PIXELS = 48
FILTER_PIXELS = 56
IMAGE_SCALE = 6
EXEMPLAR_SCALE = 3
CLASS_AVERAGE_IMAGES = 100
PROFILE_WIDTH = 260
ROBUST_PERCENTILE = 99  # across models: each model's scale ends at the 1st and 99th percentile of its maps
BRANCH_TITLES = {  # each Inception branch by what it computes, not by its attribute's name
    "branch1x1": "1x1 convolution",
    "branch3x3": "3x3 convolution",
    "branch_double3x3": "two 3x3 convolutions",
    "branch_pool": "pooling, then 1x1",
}
SCOPE_NOTES = {
    "map": "each map from its own lowest to its highest value (under each tile: its highest).",
    "layer": "one scale for the layer's channels, so their strengths compare.",
    "models": "each model on its own robust scale (its maps' 1st to 99th percentile), so the models' patterns "
              "compare at the same depth even where their activations differ in size by orders of magnitude; a "
              "few extreme values saturate.",
}


st.title("Feature maps")
runs = widgets.require_records()
names = list(ordered(runs.records))

models = {name: checkpoint.model for name, checkpoint in widgets.load_models(names).items()}
names = list(models)
with st.sidebar:
    model_name = st.selectbox("Model", names, format_func=model_title,
                              **state.kept(state.MODEL_CHOICE, names[0], names))
chosen = widgets.choose_image("feature_maps")
model = models[model_name]
# SE gates are one number per channel, not maps: they have their own section below.
layers = {name: layer for name, layer in model.inspectable_layers().items() if layer.kind != "gate"}
depths = explain.comparable_depths({name: m.inspectable_layers() for name, m in models.items()})

with st.sidebar:
    # The default: the deepest maps that still show a spatial pattern.
    layer_name = st.selectbox("Layer", list(layers), index=list(layers).index(explain.deepest_block(model, 8)),
                              format_func=lambda n: f"{n} · {layers[n].kind} · {'x'.join(map(str, layers[n].shape))}",
                              key=f"feature_maps_layer_{model_name}")
    channel_count = layers[layer_name].shape[0]
    show_all = st.toggle("All channels", value=False, help="Otherwise the top-k by mean activation")
    top_k = None if show_all else st.slider("Top-k channels", 1, min(channel_count, 64), min(16, channel_count))
    scope = st.radio("Colour scale", list(explain.SCALE_SCOPES), format_func=explain.SCALE_SCOPES.get,
                     key="feature_maps_scope",
                     help="Per map shows each map's pattern; per layer compares channels; across models compares "
                          "the models at the same depth. Signed values get a diverging scale, white at zero.")
    depth = st.selectbox("Depth for the side-by-side", list(depths), index=min(2, len(depths) - 1),
                         help="The last block of each model at this spatial resolution")

if chosen is None:
    st.stop()

facts = widgets.show_chosen_image(chosen, IMAGE_SCALE)

side_by_side = {name: layer for name, layer in depths[depth].items() if layer is not None}
needed = {name: {side_by_side[name]} if name in side_by_side else set() for name in names}
needed[model_name].add(layer_name)
results = {name: explain.feature_maps(models[name], chosen.pixels, sorted(wanted))
           for name, wanted in needed.items() if wanted}
probabilities = results[model_name].probabilities
facts.markdown(f"**{model_title(model_name)}** predicts "
               + ", ".join(f"{runs.records[model_name].classes[i]} {probabilities[i]:.0%}"
                           for i in probabilities.argsort()[::-1][:3]))

# Across models, each model gets one robust scale over all its maps shown (the grid's layer, the compared depth):
# a scale shared by all three let one model's large activations turn the others' tiles uniformly dark.
model_scales = {name: colour_scale([results[name].maps[layer] for layer in wanted], ROBUST_PERCENTILE)
                for name, wanted in needed.items() if wanted} if scope == "models" else {}

st.subheader(f"{model_title(model_name)} · {layer_name}")
maps = results[model_name].maps[layer_name]
channels = explain.top_channels(maps, top_k)
tiles = explain.map_tiles(maps, channels, scope, model_scales.get(model_name), TILE_PIXELS)
st.caption(f"{len(channels)} of {channel_count} channels, largest mean activation first; colour scale "
           f"{explain.SCALE_SCOPES[scope]}: {SCOPE_NOTES[scope]}")
st.altair_chart(tiles_colour_bar(tiles[0].scale, per_map=scope == "map"), width="content")
st.image([t.image for t in tiles], caption=[t.caption(with_range=scope == "map") for t in tiles],
         output_format="PNG", width=TILE_PIXELS)

st.subheader("What a channel responds to")
all_layers = model.inspectable_layers()
exemplar_layer = st.selectbox(
    "Layer of the channel", list(all_layers), index=list(all_layers).index(layer_name), key=f"feature_maps_exemplar_layer_{model_name}",
    format_func=lambda n: f"{n} · {all_layers[n].kind}", help="Any inspectable layer, SENet's gates included")
# The grid's layer lists its channels as the grid does (most active for this image first); others by number.
channel_order = explain.top_channels(maps, None).tolist() if exemplar_layer == layer_name \
    else list(range(all_layers[exemplar_layer].shape[0]))
channel = st.selectbox("Channel", channel_order, key=f"feature_maps_channel_{model_name}_{exemplar_layer}",
                       format_func=lambda c: f"#{c}")
data, problem = widgets.available_data()
found = sources.stored_exemplars(model_name, data) if data is not None else None
if data is None:
    st.info(f"Exemplars need the test images: data {problem.splitlines()[0]} (see the Dataset page).")
elif found is None:
    st.caption("A channel's exemplars are the test images that activate it most, with its mean activation per "
               "class: one pass over the 10,000 test images per model, stored beside the checkpoint "
               "(or run `python scripts/evaluate.py --exemplars` once for all models).")
    if st.button(f"Compute the exemplars of {model_title(model_name)}", key="feature_maps_compute_exemplars"):
        try:
            with st.spinner(f"Running {model_title(model_name)} over the test split (about a minute on a CPU)…"):
                sources.compute_exemplars(model_name, data)
        except FolderNotWritable as error:  # refused before the pass over the test split
            st.error(str(error))
        else:
            st.rerun()
else:
    classes = runs.records[model_name].classes
    tiles = exemplars.exemplar_tiles(found[exemplar_layer], channel, data.test.images, data.test.labels, classes,
                                     EXEMPLAR_SCALE)
    examples_and_profile = st.container(horizontal=True, gap="medium")  # the profile wraps under on a laptop
    examples_column = examples_and_profile.container(width=3 * (EXEMPLAR_SCALE * 32 + 16))
    profile_column = examples_and_profile.container(width="content")
    tied = exemplars.tie_note(found[exemplar_layer], channel)
    if tied:
        examples_column.warning(tied)
    examples_column.caption(f"{exemplar_layer} #{channel}: " + (f"{len(tiles)} of the test images that tie at its "
                            "highest value" if tied else f"the {len(tiles)} test images with the largest mean "
                            "activation") + " (class · test index · activation)")
    examples_column.image([t.image for t in tiles], caption=[t.caption for t in tiles], output_format="PNG",
                          width=EXEMPLAR_SCALE * 32)
    profile = exemplars.class_profile(found[exemplar_layer], channel, classes)
    profile_column.altair_chart(fixed_width(alt.Chart(profile).mark_bar(color=model_colour(model_name)).encode(
        y=alt.Y("class:N", sort=None, title=None, axis=nominal_axis()),
        x=alt.X("mean activation:Q", title="mean activation over the class's test images"),
        tooltip=["class", alt.Tooltip("mean activation:Q", format=".3g"), alt.Tooltip("share:Q", format=".1%")],
    ).properties(title="Class profile", height=alt.Step(CATEGORY_STEP)), PROFILE_WIDTH), width="content")

st.subheader(f"The {number_word(len(names))} models at {depth}")
st.caption("The same image through each model, at its last block with this spatial resolution: each has downsampled "
           "the image as often, so the maps are comparable in scale.")
SIDE_BY_SIDE_WIDTH = 3 * SMALL_TILE_PIXELS + 26  # three tiles a row: the three models side by side from 1024 px
side_by_side_row = st.container(horizontal=True, gap="small")
for name in names:
    column = side_by_side_row.container(width=SIDE_BY_SIDE_WIDTH)
    column.markdown(f"**{model_title(name)}**")
    if name not in side_by_side:
        column.caption(f"No block at {depth}.")
        continue
    depth_maps = results[name].maps[side_by_side[name]]
    depth_tiles = explain.map_tiles(depth_maps, explain.top_channels(depth_maps, min(top_k or 8, 8)), scope,
                                    model_scales.get(name), SMALL_TILE_PIXELS)
    column.caption(f"{side_by_side[name]} · top {len(depth_tiles)} of {len(depth_maps)} channels")
    column.altair_chart(tiles_colour_bar(depth_tiles[0].scale, per_map=scope == "map", width=SIDE_BY_SIDE_WIDTH - 24),
                        width="content")
    column.image([t.image for t in depth_tiles], caption=[t.caption() for t in depth_tiles],
                 output_format="PNG", width=SMALL_TILE_PIXELS)

st.subheader("First-layer filters")
convolution = explain.first_convolution(model)
st.caption(f"The {convolution.out_channels} filters ({convolution.kernel_size[0]}x{convolution.kernel_size[1]}) that "
           "read the RGB image, as colours: mid-grey is zero, each filter scaled by its own largest weight.")
st.image(explain.filter_images(model, FILTER_PIXELS), output_format="PNG", width=FILTER_PIXELS)

if model.inspectable_layers("gate"):
    st.subheader("What SE re-weights: the excitation gates")
    classes = runs.records[model_name].classes
    class_index = chosen.label if chosen.label is not None else int(probabilities.argmax())
    gate_layers = list(model.inspectable_layers("gate"))
    gate_layer = st.sidebar.selectbox("SE gate", gate_layers, index=len(gate_layers) - 1)
    average_key = f"feature_maps_gates_{model_name}_{class_index}"
    st.sidebar.button(f"Compare the gates with the {classes[class_index]} average", key="feature_maps_gate_button",
                      **state.on_click_sets(average_key))
    st.caption(f"Each channel's gate (sigmoid, 0 to 1) for this image against the average over the first "
               f"{CLASS_AVERAGE_IMAGES} test images of its {'true' if chosen.label is not None else 'predicted'} "
               f"class, {classes[class_index]}. Channels are sorted by the class average.")
    own = explain.excitation_gates(model, chosen.pixels[None])[gate_layer][0]
    table = pd.DataFrame({"channel": range(len(own)), "this image": own})
    if st.session_state.get(average_key):
        data, problem = widgets.available_data()
        if data is None:
            st.info(f"The class average needs the test images: data {problem.splitlines()[0]} (see the Dataset page).")
        else:
            table["class average"] = sources.class_gates(model_name, data, class_index,
                                                         CLASS_AVERAGE_IMAGES)[gate_layer]
    order = table.sort_values(table.columns[-1])["channel"].tolist()
    long = table.melt("channel", var_name="series", value_name="gate")
    st.altair_chart(alt.Chart(long).mark_line(point=alt.OverlayMarkDef(size=12)).encode(
        x=alt.X("channel:O", sort=order, axis=alt.Axis(labels=False, ticks=False), title="channel (sorted)"),
        y=alt.Y("gate:Q", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("series:N", title=None, scale=alt.Scale(domain=["this image", "class average"],
                                                                 range=[model_colour(model_name), "#999999"])),
        tooltip=["channel", "series", alt.Tooltip("gate:Q", format=".3f")],
    ).properties(height=260), width="stretch")

if model.inspectable_layers("branch"):
    st.subheader("Inception branches: each one's share of its module's output")
    shares = explain.branch_shares(model, chosen.pixels)
    st.caption("Per module, the left bar splits the module's total activation for this image among its branches, "
               "the right bar splits its channels. A branch wider on the left than on the right carries more than "
               "its width suggests.")
    modules = shares["module"].unique().tolist()
    long = shares.assign(branch=shares["branch"].map(lambda branch: BRANCH_TITLES.get(branch, branch))).melt(
        ["module", "branch"], ["activation share", "channel share"], var_name="measure",
                       value_name="share")
    # two full-strength panels side by side: a pale second bar under the first was nearly invisible
    st.altair_chart(alt.Chart(long).mark_bar().encode(
        y=alt.Y("module:N", sort=modules, title=None),
        x=alt.X("share:Q", stack="normalize", axis=alt.Axis(format="%"), title=None),
        color=alt.Color("branch:N", title="branch", legend=alt.Legend(orient="bottom", columns=2, labelLimit=0),
                        sort=list(BRANCH_TITLES.values())),
        tooltip=["module", "branch", "measure", alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=200, height=max(PLOT_HEIGHT, CATEGORY_STEP * len(modules))).facet(
        column=alt.Column("measure:N", sort=["activation share", "channel share"], title=None,
                          header=alt.Header(labelFontSize=13))))
