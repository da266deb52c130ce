"""Which pixels a model's decision rests on, with captum: five methods, overlays and a faithfulness check.

Saliency (|gradient|), Integrated Gradients (path integral from a baseline; reports captum's convergence delta),
Grad-CAM on an inspectable layer (positive evidence only, upsampled to the image), Occlusion (the score lost when
a window is greyed out) and SmoothGrad (saliency averaged over noisy copies, through ``NoiseTunnel``).

Every method reduces to a (32, 32) heat map. :func:`faithfulness` says how much to trust one: it removes the
pixels the map ranks highest and measures how much the class probability drops, against removing as many random
pixels. Models are explained through :func:`explainable_copy` (eval mode, fresh non-inplace ReLUs).
"""
from __future__ import annotations

import copy
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Occlusion, Saliency
from torch import nn
from torchvision.transforms.functional import gaussian_blur

from .attribution_options import AttributionOptions
from .explain import deepest_block, intra_op_threads
from .images import ColourScale, colour_scale
from .models.base import CifarNet, evaluating
from .normalization import denormalize, model_input, normalize, to_uint8_images
from .precision import autocast, resolve_precision

BASELINES = {
    "black": "black image",
    "mean": "dataset mean colour",
    "blurred": "blurred copy of the image",
}


class AttributionError(RuntimeError):
    """An attribution that cannot be computed as asked (unknown method, layer or baseline)."""


@dataclass
class Attribution:
    method: str
    heatmap: np.ndarray  # (H, W) float32: higher means more evidence for the target class
    signed: bool  # whether negative values (evidence against) can occur
    seconds: float
    delta: float | None = None  # Integrated Gradients' convergence delta: sum(attributions) - (f(x) - f(baseline))
    layer: str | None = None  # Grad-CAM's layer

    def colour_scale(self) -> ColourScale:
        return colour_scale(self.heatmap)


def explainable_copy(model: nn.Module) -> nn.Module:
    """A copy in eval mode that captum can hook safely, leaving ``model`` as it is.

    An in-place ReLU overwrites the output a layer hook saved (Grad-CAM then reads the wrong tensor, or autograd
    refuses the in-place change), and one ReLU object registered in several places fires its hooks for all of them.
    So every ReLU becomes its own fresh, non-inplace module and any other in-place module is switched to out of
    place. Eval mode matters: DropBlock and dropout are the identity only then. The weights need no gradients.
    """
    explained = copy.deepcopy(model).eval()
    for path, module in list(explained.named_modules(remove_duplicate=False)):
        if isinstance(module, nn.ReLU):
            explained.set_submodule(path, nn.ReLU(inplace=False))
        elif getattr(module, "inplace", False):
            module.inplace = False
    explained.requires_grad_(False)
    return explained


def default_grad_cam_layer(model: CifarNet) -> str:
    """The deepest block output that still has 4x4 positions: deep enough for classes, enough positions to localise."""
    return deepest_block(model, 4)


def baseline_for(name: str, image_batch: torch.Tensor) -> torch.Tensor:
    """Integrated Gradients' baseline in the models' (normalised) input space, for a normalised batch."""
    if name == "black":
        return normalize(torch.zeros_like(image_batch))
    if name == "mean":
        return torch.zeros_like(image_batch)  # normalisation maps the dataset's mean colour to zero
    if name == "blurred":  # blurring is linear, so blurring the normalised image equals normalising the blurred one
        return gaussian_blur(image_batch, kernel_size=[9, 9], sigma=[3.0, 3.0])
    raise AttributionError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")


def _to_heatmap(attributions: torch.Tensor, reduce: str) -> np.ndarray:
    """(1, 3, H, W) attributions to (H, W): "sum" keeps completeness (IG), "max" the strongest channel (gradients),
    "mean" a value the method spread over the channels alike (occlusion)."""
    reducers = {"sum": lambda v: v.sum(0), "max": lambda v: v.max(0).values, "mean": lambda v: v.mean(0)}
    return reducers[reduce](attributions[0].detach().float()).cpu().numpy().astype(np.float32)


@dataclass(frozen=True)
class MethodResult:
    heatmap: np.ndarray
    delta: float | None = None
    layer: str | None = None


def _saliency(model: CifarNet, inputs: torch.Tensor, target: int, options: AttributionOptions) -> MethodResult:
    return MethodResult(_to_heatmap(Saliency(model).attribute(inputs, target=target, abs=True), "max"))


def _integrated_gradients(model: CifarNet, inputs: torch.Tensor, target: int,
                          options: AttributionOptions) -> MethodResult:
    with autocast(resolve_precision(options.ig_precision, inputs.device), inputs.device):
        attributions, deltas = IntegratedGradients(model).attribute(
            inputs, baselines=baseline_for(options.baseline, inputs), target=target, n_steps=options.ig_steps,
            internal_batch_size=options.internal_batch_size, return_convergence_delta=True)
    return MethodResult(_to_heatmap(attributions, "sum"), delta=float(deltas[0]))


def _grad_cam_method(model: CifarNet, inputs: torch.Tensor, target: int, options: AttributionOptions) -> MethodResult:
    layer = options.grad_cam_layer or default_grad_cam_layer(model)
    return MethodResult(_grad_cam(model, inputs, target, layer), layer=layer)


def _occlusion(model: CifarNet, inputs: torch.Tensor, target: int, options: AttributionOptions) -> MethodResult:
    window, stride = options.occlusion_window, options.occlusion_stride
    positions = ((inputs.shape[-1] - window) // stride + 1) ** 2
    attributions = Occlusion(model).attribute(
        inputs, sliding_window_shapes=(3, window, window), strides=(3, stride, stride),
        baselines=0.0,  # the dataset's mean colour, as faithfulness removes pixels
        target=target, perturbations_per_eval=positions)  # every window in one batch
    return MethodResult(_to_heatmap(attributions, "mean"))  # the window covers all channels alike


def _smoothgrad(model: CifarNet, inputs: torch.Tensor, target: int, options: AttributionOptions) -> MethodResult:
    noise = options.smoothgrad_noise * float(inputs.detach().max() - inputs.detach().min())
    attributions = NoiseTunnel(Saliency(model)).attribute(
        inputs, nt_type="smoothgrad", nt_samples=options.smoothgrad_samples,
        nt_samples_batch_size=options.smoothgrad_samples, stdevs=noise, target=target, abs=True)
    return MethodResult(_to_heatmap(attributions, "max"))


@dataclass(frozen=True)
class Method:
    """An attribution method: everything about it in one place."""

    name: str
    title: str
    compute: Callable[[CifarNet, torch.Tensor, int, AttributionOptions], MethodResult]
    input_gradients: bool  # differentiates with respect to the input (captum would switch it on with a warning)
    signed: bool  # whether its map can hold negative values (evidence against)


METHODS: dict[str, Method] = {method.name: method for method in (
    Method("saliency", "Saliency", _saliency, input_gradients=True, signed=False),
    Method("integrated_gradients", "Integrated Gradients", _integrated_gradients, input_gradients=False, signed=True),
    Method("grad_cam", "Grad-CAM", _grad_cam_method, input_gradients=False, signed=False),
    Method("occlusion", "Occlusion", _occlusion, input_gradients=False, signed=True),
    Method("smoothgrad", "SmoothGrad", _smoothgrad, input_gradients=True, signed=False),
)}


def method_title(name: str) -> str:
    return METHODS[name].title


def attribute(model: CifarNet, image: np.ndarray, target: int, method: str,
              options: AttributionOptions = AttributionOptions()) -> Attribution:
    """Attribute ``model``'s score for class ``target`` on one uint8 (32, 32, 3) image with ``method``.

    Pass a model from :func:`explainable_copy`; it runs in eval mode here in any case.
    """
    if method not in METHODS:
        raise AttributionError(f"unknown attribution method {method!r}; choose from {', '.join(METHODS)}")
    chosen = METHODS[method]
    device = next(model.parameters()).device
    inputs = model_input(image[None], device).requires_grad_(chosen.input_gradients)
    started = time.perf_counter()
    with evaluating(model):
        result = chosen.compute(model, inputs, target, options)
    return Attribution(method, result.heatmap, chosen.signed, time.perf_counter() - started, result.delta,
                       result.layer)


def _grad_cam(model: CifarNet, inputs: torch.Tensor, target: int, layer_name: str) -> np.ndarray:
    layers = model.inspectable_layers()
    if layer_name not in layers:
        raise AttributionError(f"unknown layer {layer_name!r} for Grad-CAM; this model has {', '.join(layers)}")
    if layers[layer_name].kind == "gate":
        raise AttributionError(f"{layer_name} is an SE gate (1x1 per channel): Grad-CAM needs a spatial layer")
    module = model.get_submodule(layers[layer_name].path)
    calls = 0

    def count(*_):
        nonlocal calls
        calls += 1

    handle = module.register_forward_hook(count)
    try:
        cam = LayerGradCam(model, module).attribute(inputs, target=target, relu_attributions=True)
    finally:
        handle.remove()
    if calls != 1:  # a module reused within one forward pass: captum would mix its outputs
        raise AttributionError(f"layer {layer_name} runs {calls} times per forward pass; Grad-CAM needs a layer that "
                               f"runs once")
    upsampled = LayerAttribution.interpolate(cam, tuple(inputs.shape[-2:]), interpolate_mode="bilinear")
    return upsampled[0, 0].detach().float().cpu().numpy()


# ----------------------------------------------------------------------------------------------------------------
# Faithfulness: does removing what the map points at hurt the class score?


@torch.no_grad()
def score_drops(model: CifarNet, image: np.ndarray, target: int, masks: np.ndarray) -> np.ndarray:
    """Drop in the ``target`` probability when each mask's pixels (M, H, W, bool) are set to the dataset mean."""
    device = next(model.parameters()).device
    batch = model_input(image[None], device)
    keep = torch.as_tensor(~masks, device=device)[:, None].to(batch.dtype)  # (M, 1, H, W)
    with evaluating(model):
        original = torch.softmax(model(batch), 1)[0, target]
        removed = torch.softmax(model(batch * keep), 1)[:, target]  # zero is the mean colour after normalisation
    return (original - removed).cpu().numpy()


def top_pixels_mask(heatmap: np.ndarray, fraction: float) -> np.ndarray:
    """The ``fraction`` of pixels the heat map ranks highest."""
    count = max(int(round(fraction * heatmap.size)), 1)
    mask = np.zeros(heatmap.size, dtype=bool)
    mask[np.argsort(-heatmap.ravel(), kind="stable")[:count]] = True
    return mask.reshape(heatmap.shape)


def random_pixel_masks(shape: tuple[int, int], fraction: float, draws: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    size = shape[0] * shape[1]
    count = max(int(round(fraction * size)), 1)
    masks = np.zeros((draws, size), dtype=bool)
    for row in masks:
        row[rng.choice(size, count, replace=False)] = True
    return masks.reshape(draws, *shape)


@dataclass
class Faithfulness:
    top_drop: float  # probability lost when the top-ranked pixels are removed
    random_drop: float  # mean probability lost when as many random pixels are removed
    fraction: float

    @property
    def score(self) -> float:
        """Positive: the map finds pixels that matter more than random ones. Near zero or negative: do not trust it."""
        return self.top_drop - self.random_drop


def faithfulness(model: CifarNet, image: np.ndarray, target: int, heatmaps: dict[str, np.ndarray],
                 fraction: float = 0.1, random_draws: int = 8, seed: int = 0) -> dict[str, Faithfulness]:
    """For each of ``heatmaps`` (name -> (H, W) map of one image): remove the ``fraction`` of pixels it ranks highest
    and compare with random removals.

    The random removals are the same for every map, so they go through the model once, in the same batch as every
    map's own removal.
    """
    if not heatmaps:
        return {}
    shape = next(iter(heatmaps.values())).shape
    masks = np.concatenate([np.stack([top_pixels_mask(heatmap, fraction) for heatmap in heatmaps.values()]),
                            random_pixel_masks(shape, fraction, random_draws, seed)])
    drops = score_drops(model, image, target, masks)
    random_drop = float(drops[len(heatmaps):].mean())
    return {name: Faithfulness(float(drop), random_drop, fraction) for name, drop in zip(heatmaps, drops)}


# ----------------------------------------------------------------------------------------------------------------
# The panel: several models, several methods, one image


@dataclass
class ModelExplanation:
    probabilities: np.ndarray  # (classes,)
    target: int
    attributions: dict[str, Attribution] = field(default_factory=dict)
    faithfulness: dict[str, Faithfulness] = field(default_factory=dict)


@torch.no_grad()
def class_probabilities(model: CifarNet, image: np.ndarray) -> np.ndarray:
    device = next(model.parameters()).device
    with evaluating(model):
        return torch.softmax(model(model_input(image[None], device))[0].float(), 0).cpu().numpy()


def explain_model(model: CifarNet, image: np.ndarray, methods: list[str], target: int | None = None,
                  options: AttributionOptions = AttributionOptions()) -> ModelExplanation:
    """Every method for one model on one image, with their faithfulness scores (``target`` None: its prediction)."""
    probabilities = class_probabilities(model, image)
    explanation = ModelExplanation(probabilities, int(probabilities.argmax()) if target is None else target)
    for method in methods:
        explanation.attributions[method] = attribute(model, image, explanation.target, method, options)
    heatmaps = {method: found.heatmap for method, found in explanation.attributions.items()}
    explanation.faithfulness = faithfulness(model, image, explanation.target, heatmaps)
    return explanation


def explain_image(models: dict[str, CifarNet], image: np.ndarray, methods: list[str], target: int | None = None,
                  options: AttributionOptions = AttributionOptions(),
                  grad_cam_layers: dict[str, str] | None = None) -> dict[str, ModelExplanation]:
    """:func:`explain_model` for every model on one image, the models side by side in threads of their own.

    ``grad_cam_layers`` picks Grad-CAM's layer per model (e.g. from :func:`cifar_models.explain.comparable_depths`).
    Each model gets an equal share of the caller's intra-op threads (one each on 2 cores): models that do not wait
    for each other keep both cores busy, and when another process holds one core they share the other one instead
    of every small operation waiting for its half on the held core (:func:`intra_op_threads`).
    """
    if not models:
        return {}
    share = max(1, torch.get_num_threads() // len(models))

    def explain_one(name: str) -> ModelExplanation:
        layer = (grad_cam_layers or {}).get(name)
        with intra_op_threads(share):
            return explain_model(models[name], image, methods, target,
                                 options if layer is None else replace(options, grad_cam_layer=layer))

    # The caller's block is left last, so its count is the one restored whatever order the workers end in.
    with intra_op_threads(share), ThreadPoolExecutor(max_workers=len(models)) as pool:
        return dict(zip(models, pool.map(explain_one, models)))


def denormalised_image(image: np.ndarray) -> np.ndarray:
    """The model's input de-normalised back to uint8 (32, 32, 3): the picture the overlays are drawn on."""
    return to_uint8_images(denormalize(model_input(image[None])))[0]
