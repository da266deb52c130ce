"""CIFAR-10 CNN Lab: data, augmentations, models, training, checkpoints and explanations (no Streamlit here)."""
from .models import MODELS, build_model

__all__ = ["MODELS", "build_model"]
