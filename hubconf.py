"""torch.hub entry points, one per registered model:

    model = torch.hub.load("path/to/this/repo", "senet", source="local", pretrained=True)

gives the trained SENet of ``checkpoints/senet/`` in eval mode, its run record as ``model.run_record``;
``pretrained=False`` the untrained architecture. ``checkpoints=DIR`` loads from another folder of ``<model>/``
checkpoints. See ``cifar_models.pretrained``.
"""
# private names: torch.hub.list offers every public callable here as a model
from functools import partial as _partial
from functools import update_wrapper as _update_wrapper

from cifar_models.models import MODELS as _MODELS
from cifar_models.pretrained import hub_model as _hub_model

dependencies = ["torch", "safetensors", "numpy", "dropblock"]  # what importing the models needs


def _entry_point(name: str):
    entry = _update_wrapper(_partial(_hub_model, name), _hub_model)
    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = f"{_MODELS[name].title}: {_MODELS[name].summary}\n\n{_hub_model.__doc__}"
    return entry


globals().update({name: _entry_point(name) for name in _MODELS})  # the registry decides which models there are
