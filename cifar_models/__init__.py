"""CIFAR-10 CNN Lab: data, augmentations, models, training, checkpoints and explanations (no Streamlit here)."""
from .models import MODELS, build_model
from .pretrained import load_pretrained

__all__ = ["MODELS", "build_model", "load_pretrained"]
